"""Assertions that every rank evaluates together."""

from __future__ import annotations

from mpi4py import MPI


def assert_all(comm, condition: bool, message: str = "") -> None:
    """Assert ``condition`` on every rank; all ranks fail when any rank's condition is false."""
    bad = comm.allreduce(0 if condition else 1, op=MPI.SUM)
    assert bad == 0, f"{message} (false on {bad} of {comm.Get_size()} ranks)"
