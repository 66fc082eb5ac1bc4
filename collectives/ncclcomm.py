"""NCCL through CuPy, shared by the ``nccl`` baseline and the ``nccl-p2p`` transport.

One NCCL communicator per set of ranks, made the first time an algorithm asks for it and reused
across sizes, dtypes, ops and algorithms until :func:`release_all`. Creating one is collective:
rank 0 makes the unique id and broadcasts it over MPI (CuPy 14 returns bytes, CuPy 13 a tuple
of ints; both travel as they are), and every rank builds an ``NcclCommunicator``. The cache is
keyed by the ranks' places in ``MPI_COMM_WORLD``, in order, so a duplicate or a split of a
communicator with the same members (an algorithm's private copy, one node's ranks) shares it;
every member computes the same key, so either all of them find it or all of them make it.

Whatever goes wrong on any rank while making one (an ``NcclError``, a CUDA error, anything)
becomes the same :class:`~collectives.base.Unavailable` on every rank: the ranks always meet in
the allgather that compares verdicts, so none waits for another that gave up. (A rank that
fails inside ``ncclCommInitRank`` while the others succeed can still leave them waiting in NCCL
itself: CuPy exposes no non-blocking initialisation. ``--timeout`` ends such a job.)

NCCL refuses two ranks on one GPU (ncclInvalidUsage = 5: "Duplicate GPU detected" before 2.30,
"Multiple Ranks are using the same GPU" since) unless NCCL >= 2.30 runs with
NCCL_MULTI_RANK_GPU_ENABLE=1, an experimental mode; that case becomes a skip whose reason says so.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from .base import Unavailable

# NCCL's enum values (nccl.h): ncclDataType_t and ncclRedOp_t.
NCCL_DTYPES = {"int32": 2, "int64": 4, "float16": 6, "float32": 7, "float64": 8, "bfloat16": 9}
NCCL_OPS = {"sum": 0, "prod": 1, "max": 2, "min": 3, "avg": 4}
NCCL_AVG_SINCE = 21000  # ncclAvg arrived in NCCL 2.10
NCCL_BFLOAT16_SINCE = 21003  # ncclBfloat16 in 2.10.3
NCCL_INVALID_USAGE = 5
MULTI_RANK_GPU_SINCE = 23000  # NCCL 2.30: several ranks may share a GPU when asked to
MULTI_RANK_GPU_VARIABLE = "NCCL_MULTI_RANK_GPU_ENABLE"

_COMMS: dict[tuple[int, ...], Any] = {}


def nccl_version_text(code: int) -> str:
    """``22304`` -> ``"2.23.4"`` (NCCL encodes major*10000 + minor*100 + patch since 2.9)."""
    if code >= 10000:
        return f"{code // 10000}.{code % 10000 // 100}.{code % 100}"
    return f"{code // 1000}.{code % 1000 // 100}.{code % 100}"


def duplicate_gpu_reason(version: int, environ: dict[str, str] | None = None) -> str:
    """Why NCCL refused to put two ranks on one GPU, and what would allow it."""
    environ = dict(os.environ) if environ is None else environ
    text = nccl_version_text(version)
    if version < MULTI_RANK_GPU_SINCE:
        return (
            f"NCCL {text} refuses two ranks on one GPU (Duplicate GPU); that needs NCCL >= 2.30 with "
            f"{MULTI_RANK_GPU_VARIABLE}=1, or one GPU per rank"
        )
    if environ.get(MULTI_RANK_GPU_VARIABLE) != "1":
        return f"NCCL {text} refuses two ranks on one GPU unless {MULTI_RANK_GPU_VARIABLE}=1 is set"
    return f"NCCL {text} refused two ranks on one GPU even with {MULTI_RANK_GPU_VARIABLE}=1"


def unique_id_for_bcast(uid: Any) -> Any:
    """The unique id as MPI can broadcast it: bytes (CuPy 14) or a tuple of ints (CuPy 13)."""
    return bytes(uid) if isinstance(uid, (bytes, bytearray)) else tuple(uid)


def unavailable_reason() -> str | None:
    """Why NCCL cannot be used through CuPy here, or None when it can."""
    try:
        from cupy.cuda import nccl
    except ImportError as exc:
        from .install import gpu_install_advice

        return f"CuPy with NCCL is not installed ({exc}); {gpu_install_advice()}"
    if not getattr(nccl, "available", True):
        from .install import nccl_install_advice

        # CuPy 14 sets available to False when libnccl.so.2 failed to load, not when it was built without it
        return f"CuPy could not load the NCCL library (cupy.cuda.nccl.available is False); {nccl_install_advice()}"
    return None


def version() -> int:
    from cupy.cuda import nccl

    return int(nccl.get_version())


def _members(comm: Any) -> tuple[int, ...]:
    from mpi4py import MPI

    group, world = comm.Get_group(), MPI.COMM_WORLD.Get_group()
    ranks = tuple(int(r) for r in MPI.Group.Translate_ranks(group, list(range(group.Get_size())), world))
    group.Free()
    world.Free()
    return ranks


def communicator(comm: Any) -> Any:
    """The NCCL communicator of ``comm``'s ranks (collective over ``comm`` the first time; cached after)."""
    key = _members(comm)
    cached = _COMMS.get(key)
    if cached is not None:
        return cached
    reasons = [r for r in comm.allgather(unavailable_reason()) if r]  # any rank without NCCL stops them all
    if reasons:
        raise Unavailable(reasons[0])
    verdict = None
    if comm.Get_rank() == 0:
        try:
            from cupy.cuda import nccl

            verdict = ("uid", unique_id_for_bcast(nccl.get_unique_id()))
        except Exception as exc:  # noqa: BLE001  (every failure must reach the other ranks)
            verdict = ("error", f"NCCL could not make a unique id: {exc}")
    verdict = comm.bcast(verdict, root=0)
    made, error = None, None
    if verdict[0] == "error":
        error = verdict[1]
    if error is None:
        try:
            from cupy.cuda import nccl

            made = nccl.NcclCommunicator(comm.Get_size(), verdict[1], comm.Get_rank())
        except Exception as exc:  # noqa: BLE001
            error = f"NCCL failed: {exc}"
            if getattr(exc, "status", None) == NCCL_INVALID_USAGE:  # most often ranks sharing a GPU
                error = f"NCCL refused the communicator as invalid usage ({exc}); if ranks share a GPU: {duplicate_gpu_reason(version())}"
    errors = [e for e in comm.allgather(error) if e]
    if errors:
        if made is not None:
            made.abort()
        raise Unavailable(errors[0])
    _COMMS[key] = made
    return made


def group_calls() -> tuple[Callable[[], None], Callable[[], None]]:
    """NCCL's ``groupStart`` and ``groupEnd``."""
    from cupy.cuda import nccl

    return nccl.groupStart, nccl.groupEnd


def release_all() -> int:
    """Destroy every cached NCCL communicator (at the end of a run); how many there were."""
    comms = list(_COMMS.values())
    _COMMS.clear()
    for made in comms:
        made.destroy()
    return len(comms)
