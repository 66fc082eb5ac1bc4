"""The collbench harness: sweeps, timing, correctness, statistics, results and the CLI."""

__version__ = "0.1.0"
