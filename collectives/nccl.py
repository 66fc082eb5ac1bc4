"""``nccl``: NVIDIA's NCCL all-reduce through ``cupy.cuda.nccl``, the GPU baseline.

Each call is one ``ncclAllReduce`` on the device's stream (in place when the buffers are the
same), launched and not waited for: the harness synchronises the stream when its clock needs
it, once per call or once per batch of calls (``--timing batch``, as nccl-tests times). The
NCCL communicator is the one :mod:`collectives.ncclcomm` keeps for these ranks, made once per
job and communicator and reused across sizes; closing the algorithm leaves it alive.

Every dtype and op here maps to NCCL's own; ``avg`` (sum divided by the rank count, inside
NCCL) needs NCCL >= 2.10, and ``bfloat16`` NCCL >= 2.10.3 with CuPy arrays of it (ml_dtypes, and
NumPy >= 2.1.2 for CuPy 14).
"""

from __future__ import annotations

from typing import Any

from . import ncclcomm
from .base import Allreduce, Unavailable, Unsupported, register
from .types import ALL_DTYPES, ALL_OPS, DTYPES

# kept importable from here: the names the tests and older code use
nccl_version_text = ncclcomm.nccl_version_text
duplicate_gpu_reason = ncclcomm.duplicate_gpu_reason
unique_id_for_bcast = ncclcomm.unique_id_for_bcast
NCCL_DTYPES, NCCL_OPS = ncclcomm.NCCL_DTYPES, ncclcomm.NCCL_OPS


@register("nccl")
class NCCLAllreduce(Allreduce):
    """NCCL all-reduce on device buffers."""

    description = "NCCL ncclAllReduce (cupy.cuda.nccl), GPU buffers only; also op avg and dtype bfloat16"
    baseline = True
    own_transport = "nccl"
    ops = ALL_OPS | {"avg"}
    dtypes = ALL_DTYPES | ({"bfloat16"} & set(DTYPES))

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return ncclcomm.unavailable_reason()

    def __init__(self, comm: Any, count: int, dtype: str, op: str, **options: Any):
        super().__init__(comm, count, dtype, op, **options)
        if getattr(self.xp, "__name__", "") != "cupy":
            raise Unavailable("nccl runs on GPU buffers only; use --device gpu")
        self.version = ncclcomm.version()
        if op == "avg" and self.version < ncclcomm.NCCL_AVG_SINCE:
            raise Unsupported(f"NCCL {ncclcomm.nccl_version_text(self.version)} has no avg (it needs NCCL >= 2.10)")
        if self.dtype_name == "bfloat16" and self.version < ncclcomm.NCCL_BFLOAT16_SINCE:
            raise Unsupported(
                f"NCCL {ncclcomm.nccl_version_text(self.version)} has no bfloat16 (it needs NCCL >= 2.10.3)"
            )
        self._nccl = ncclcomm.communicator(comm)
        self._dtype = NCCL_DTYPES[self.dtype_name]
        self._op = NCCL_OPS[op]
        stream = self.transport_spec.stream
        self._stream = stream.ptr if stream is not None else self.xp.cuda.get_current_stream().ptr

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
