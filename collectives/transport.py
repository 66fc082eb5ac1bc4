"""The point-to-point layer under every hand-written algorithm.

Algorithms never call MPI send/receive directly: they ask a transport for persistent send and
receive requests on views of their buffers, then start and wait on those. The direct transport
hands MPI the buffers themselves (host memory, or device memory with a CUDA-aware MPI); a
staging transport for GPUs without CUDA-aware MPI returns requests that copy through pinned
host buffers, and the algorithms do not change.
"""

from __future__ import annotations

from typing import Any, Protocol


class Request(Protocol):
    """A persistent request as the algorithms use it."""

    def Start(self) -> None: ...  # noqa: N802  (MPI's spelling)

    def Wait(self) -> Any: ...  # noqa: N802

    def Free(self) -> None: ...  # noqa: N802


class DirectTransport:
    """Persistent MPI requests on the buffers themselves (``MPI_Send_init`` / ``MPI_Recv_init``)."""

    name = "direct"

    def __init__(self, comm: Any):
        from mpi4py import MPI

        self.comm = comm
        self._startall = MPI.Prequest.Startall
        self._waitall = MPI.Request.Waitall

    def send_init(self, view: Any, dest: int, tag: int) -> Request:
        return self.comm.Send_init(view, dest, tag)

    def recv_init(self, view: Any, source: int, tag: int) -> Request:
        return self.comm.Recv_init(view, source, tag)

    def startall(self, requests: list[Request]) -> None:
        if requests:
            self._startall(requests)

    def waitall(self, requests: list[Request]) -> None:
        if requests:
            self._waitall(requests)
