"""``mpi``: the MPI library's own ``MPI_Allreduce``, the baseline every algorithm is held to.

Whatever the library chooses internally (MPICH picks recursive doubling, Rabenseifner or a
ring by size; Open MPI's coll/tuned its own table) runs unchanged: one call, in place through
``MPI_IN_PLACE`` when the send and receive buffers are the same array.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from .base import Allreduce, Unsupported, register


@register("mpi")
class MPIAllreduce(Allreduce):
    """The MPI library's native Allreduce."""

    description = "MPI library's MPI_Allreduce"

    def __init__(self, comm: Any, count: int, dtype: str, op: str, **options: Any):
        super().__init__(comm, count, dtype, op, **options)
        from mpi4py import MPI
        from mpi4py.util import dtlib

        try:
            datatype = dtlib.from_numpy_dtype(self.dtype)
        except (KeyError, ValueError, TypeError) as exc:
            raise Unsupported(f"this MPI library has no datatype for {dtype}: {exc}") from None
        if datatype == MPI.DATATYPE_NULL:
            raise Unsupported(f"this MPI library has no datatype for {dtype}")
        self._allreduce = comm.Allreduce
        self._in_place = MPI.IN_PLACE
        self._mpi_op = self.op.mpi()

    def bound(self, sendbuf: Any, recvbuf: Any) -> Callable[[], Any]:
        source = self._in_place if sendbuf is recvbuf else sendbuf
        return functools.partial(self._allreduce, source, recvbuf, self._mpi_op)

    def run(self, sendbuf: Any, recvbuf: Any) -> None:
        if sendbuf is recvbuf:
            self._allreduce(self._in_place, recvbuf, self._mpi_op)
        else:
            self._allreduce(sendbuf, recvbuf, self._mpi_op)
