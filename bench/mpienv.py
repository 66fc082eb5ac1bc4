"""Knowing this process's rank before and after MPI starts, and stopping every rank together."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID", "MPI_LOCALRANKID")


def launcher_rank() -> int:
    """This process's rank as the launcher announced it in the environment (0 when launched alone)."""
    for name in _RANK_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 0


def is_root() -> bool:
    """Whether this process prints for the job: rank 0 of COMM_WORLD once MPI runs, else the launcher's rank 0."""
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is not None and mpi.Is_initialized() and not mpi.Is_finalized():
        return mpi.COMM_WORLD.Get_rank() == 0
    return launcher_rank() == 0


def abort(code: int) -> None:
    """End every rank of the job with ``code`` when MPI is running and has more than one rank."""
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is not None and mpi.Is_initialized() and not mpi.Is_finalized() and mpi.COMM_WORLD.Get_size() > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        mpi.COMM_WORLD.Abort(code)


def agree(comm: Any, step: Callable[[], T]) -> T:
    """Run ``step`` on every rank; if it raised UsageError anywhere, raise it everywhere.

    A check that fails on one rank only (no GPU there, say) must stop every rank with the same
    message, or the ranks that passed would wait in the next collective forever.
    """
    from .errors import UsageError

    result, error = None, None
    try:
        result = step()
    except UsageError as exc:
        error = f"rank {comm.Get_rank()}: {exc}" if comm.Get_size() > 1 else str(exc)
    errors = [e for e in comm.allgather(error) if e]
    if errors:
        raise UsageError(errors[0])
    return result  # type: ignore[return-value]
