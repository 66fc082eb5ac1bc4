"""``nccl``: NVIDIA's NCCL all-reduce through ``cupy.cuda.nccl``, the GPU baseline.

Rank 0 creates the NCCL unique id and broadcasts it over MPI (CuPy 14 returns bytes, CuPy 13
a tuple of ints; both travel as they are), every rank builds an ``NcclCommunicator`` for its
GPU, and each call is one ``ncclAllReduce`` on the current stream (in place when the buffers
are the same). Every dtype and op here maps to NCCL's own.

NCCL refuses two ranks on one GPU ("Duplicate GPU", ncclInvalidUsage = 5) unless NCCL >= 2.30
runs with NCCL_MULTI_RANK_GPU_ENABLE=1; that case becomes a recorded skip whose reason says so.
"""

from __future__ import annotations

import os
from typing import Any

from .base import Allreduce, Unavailable, register

# NCCL's enum values (nccl.h): ncclDataType_t and ncclRedOp_t.
NCCL_DTYPES = {"int32": 2, "int64": 4, "float16": 6, "float32": 7, "float64": 8}
NCCL_OPS = {"sum": 0, "prod": 1, "max": 2, "min": 3}
NCCL_INVALID_USAGE = 5


def nccl_version_text(code: int) -> str:
    """``22304`` -> ``"2.23.4"`` (NCCL encodes major*10000 + minor*100 + patch since 2.9)."""
    if code >= 10000:
        return f"{code // 10000}.{code % 10000 // 100}.{code % 100}"
    return f"{code // 1000}.{code % 1000 // 100}.{code % 100}"


def duplicate_gpu_reason(version: int, environ: dict[str, str] | None = None) -> str:
    """Why NCCL refused to put two ranks on one GPU, and what would allow it."""
    environ = dict(os.environ) if environ is None else environ
    text = nccl_version_text(version)
    if version < 23000:
        return (
            f"NCCL {text} refuses two ranks on one GPU (Duplicate GPU); that needs NCCL >= 2.30 with "
            "NCCL_MULTI_RANK_GPU_ENABLE=1, or one GPU per rank"
        )
    if environ.get("NCCL_MULTI_RANK_GPU_ENABLE") != "1":
        return f"NCCL {text} refuses two ranks on one GPU unless NCCL_MULTI_RANK_GPU_ENABLE=1 is set"
    return f"NCCL {text} refused two ranks on one GPU even with NCCL_MULTI_RANK_GPU_ENABLE=1"


def unique_id_for_bcast(uid: Any) -> Any:
    """The unique id as MPI can broadcast it: bytes (CuPy 14) or a tuple of ints (CuPy 13)."""
    return bytes(uid) if isinstance(uid, (bytes, bytearray)) else tuple(uid)


@register("nccl")
class NCCLAllreduce(Allreduce):
    """NCCL all-reduce on device buffers."""

    description = "NCCL ncclAllReduce (cupy.cuda.nccl), GPU buffers only"
    baseline = True

    @classmethod
    def unavailable_reason(cls) -> str | None:
        try:
            from cupy.cuda import nccl
        except ImportError as exc:
            return f"CuPy with NCCL is not installed ({exc}); pip install 'collbench[gpu]'"
        if not getattr(nccl, "available", True):
            return "CuPy was built without NCCL (cupy.cuda.nccl.available is False)"
        return None

    def __init__(self, comm: Any, count: int, dtype: str, op: str, **options: Any):
        super().__init__(comm, count, dtype, op, **options)
        if self.xp.__name__ != "cupy":
            raise Unavailable("nccl runs on GPU buffers only; use --device gpu")
        from cupy.cuda import nccl

        self.version = nccl.get_version()
        uid = unique_id_for_bcast(nccl.get_unique_id()) if self.rank == 0 else None
        uid = comm.bcast(uid, root=0)
        error = None
        try:
            self._nccl = nccl.NcclCommunicator(self.size, uid, self.rank)
        except nccl.NcclError as exc:
            status = getattr(exc, "status", None)
            error = duplicate_gpu_reason(self.version) if status == NCCL_INVALID_USAGE else f"NCCL failed: {exc}"
        # every rank must agree, or the ranks that succeeded would wait on the others forever
        errors = [e for e in comm.allgather(error) if e]
        if errors:
            if error is None:
                self._nccl.abort()
            raise Unavailable(errors[0])
        self._dtype = NCCL_DTYPES[dtype]
        self._op = NCCL_OPS[op]
        self._stream = self.xp.cuda.get_current_stream().ptr

    def params(self) -> dict[str, Any]:
        return {"nccl_version": nccl_version_text(self.version)}

    def bound(self, sendbuf: Any, recvbuf: Any):
        allreduce, count, dtype, op, stream = self._nccl.allReduce, self.count, self._dtype, self._op, self._stream
        send, recv = sendbuf.data.ptr, recvbuf.data.ptr

        def call() -> None:
            allreduce(send, recv, count, dtype, op, stream)

        return call

    def run(self, sendbuf: Any, recvbuf: Any) -> None:
        self.bound(sendbuf, recvbuf)()

    def close(self) -> None:
        self._nccl.destroy()
