"""A pytest hook for suites that run inside mpiexec: every rank agrees on each test's verdict.

Import it into such a suite's conftest.py (``from ranks_agree import pytest_runtest_call``). After
each test the ranks sum their failures; a test that failed on one rank fails on all of them, so
no rank moves on to the next test's collectives while another is stuck or has given up.
"""

from __future__ import annotations

import pytest
from mpi4py import MPI


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    outcome = yield
    exc = outcome.exception
    failed = exc is not None and not isinstance(exc, pytest.skip.Exception)
    elsewhere = MPI.COMM_WORLD.allreduce(int(failed), op=MPI.SUM)
    if elsewhere and not failed:
        outcome.force_exception(AssertionError(f"failed on {elsewhere} other rank(s)"))
