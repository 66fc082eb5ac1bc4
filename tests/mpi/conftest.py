"""Plumbing for tests that run inside mpiexec, on every rank at once.

A test that fails on one rank fails on every rank: after each test the ranks agree on the
verdict, so no rank moves on to the next test's collectives while another is stuck.
"""

from __future__ import annotations

import os

import pytest

from bench.mpienv import request_thread_level

request_thread_level(None)  # MPI starts at collbench's default level (single), as the CLI starts it
from mpi4py import MPI
from ranks_agree import pytest_runtest_call  # noqa: F401  (the ranks agree on every verdict)


def pytest_configure(config):
    # One base temporary directory per rank: ranks sharing one would delete each other's.
    base = os.environ.get("COLLBENCH_MPI_BASETEMP")
    if base:
        config.option.basetemp = os.path.join(base, f"rank{MPI.COMM_WORLD.Get_rank()}")


@pytest.fixture
def comm():
    return MPI.COMM_WORLD


@pytest.fixture
def shared_tmp(tmp_path, comm):
    """A temporary directory made by rank 0 and known to every rank."""
    return comm.bcast(tmp_path if comm.Get_rank() == 0 else None, root=0)
