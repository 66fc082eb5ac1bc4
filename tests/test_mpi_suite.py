"""Runs tests/mpi under mpiexec at 1 to 4 ranks, the algorithm matrix at 5, 6 and 8 ranks too (6
across emulated nodes where this machine can make them), and the fake-GPU matrix at 5.

Oversubscribed here (8 ranks on 2 cores), as on any laptop; written to pass at any rank count.
"""

from __future__ import annotations

import pytest
from capabilities import namespaces_missing
from conftest import mpiexec, run_mpi_pytest

# Not 7: a second prime past a power of two, as 5 (the fold, a 1 x p mesh), for 45 s of the suite's 15 minutes
SUITES = [(n, "tests/mpi") for n in (1, 2, 3, 4)] + [(n, "tests/mpi/test_algorithms.py") for n in (5, 6, 8)]
SUITES += [(5, "tests/mpi/test_fake_gpu.py")]  # not 6 too: 21 s of the suite's 15 minutes, and 5 is the odd case


@pytest.mark.parametrize("nranks, path", SUITES)
def test_mpi_suite(nranks, path, tmp_path):
    if (nranks, path) == (6, "tests/mpi/test_algorithms.py") and namespaces_missing() is None:
        pytest.skip("the matrix at 6 ranks runs across 3 emulated nodes x 2 ranks (tests/test_cluster_matrix.py)")
    run_mpi_pytest([mpiexec(), "-n", str(nranks)], path, tmp_path, f"at {nranks} ranks")
