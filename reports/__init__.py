"""collbench's reports: HTML and comparisons built from stored result files; never runs MPI."""
