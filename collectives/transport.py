"""The point-to-point layer under every hand-written algorithm.

Algorithms never call MPI send/receive directly: they ask a transport for persistent send and
receive requests on views of their buffers, then start and wait on those. Three transports:

- ``direct``: MPI gets the buffers themselves (host memory).
- ``device-direct``: device buffers handed to a CUDA-aware MPI; the device stream is
  synchronised before each send starts, so MPI never reads memory a kernel is still writing.
- ``staged``: device buffers through pinned host copies, for an MPI that is not CUDA-aware
  (which would crash on a device pointer): a send copies device to host, then sends; a
  receive lands on the host and is copied to the device when waited on.

The algorithms are the same code over all three. A :class:`TransportSpec` says which one to
build and carries what it needs (the array module, the stream's synchronise, the pinned
allocator, the allocator of scratch buffers), so an algorithm can build one transport per
sub-communicator and place its scratch space as the harness places the buffers it times.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

TRANSPORT_KINDS = ("direct", "device-direct", "staged")


class Request(Protocol):
    """A persistent request as the algorithms use it."""

    def Start(self) -> None: ...  # noqa: N802  (MPI's spelling)

    def Wait(self) -> Any: ...  # noqa: N802

    def Free(self) -> None: ...  # noqa: N802


def _no_sync() -> None:
    return None


@dataclass(frozen=True)
class TransportSpec:
    """Which transport to build, and for which array module."""

    kind: str = "direct"
    xp: Any = np
    sync: Callable[[], None] = _no_sync
    pinned_empty: Callable[..., Any] | None = None
    empty: Callable[[int, Any], Any] | None = None  # (count, dtype) -> scratch array; default xp.empty

    def scratch(self, count: int, dtype: Any) -> Any:
        """An uninitialised array of ``count`` elements for an algorithm's own use."""
        if self.empty is not None:
            return self.empty(count, dtype)
        return self.xp.empty(count, dtype=dtype)

    def __post_init__(self) -> None:
        if self.kind not in TRANSPORT_KINDS:
            raise ValueError(f"unknown transport {self.kind!r}; expected one of {', '.join(TRANSPORT_KINDS)}")

    @property
    def staged(self) -> bool:
        return self.kind == "staged"

    def make(self, comm: Any) -> Any:
        """A transport over ``comm``."""
        if self.kind == "staged":
            return StagingTransport(comm, self)
        if self.kind == "device-direct":
            return DeviceDirectTransport(comm, self.sync)
        return DirectTransport(comm)

    def to_host(self, device: Any, host: Any) -> None:
        """Copy ``device`` into the host array ``host`` (blocking)."""
        if hasattr(device, "get"):
            device.get(out=host)
        else:
            host[...] = device

    def to_device(self, host: Any, device: Any) -> None:
        """Copy the host array ``host`` into ``device`` (blocking)."""
        if hasattr(device, "set"):
            device.set(host)
        else:
            device[...] = host

    def host_buffer(self, like: Any) -> Any:
        """A host buffer (pinned where the device has an allocator for it) shaped like ``like``."""
        if self.pinned_empty is not None:
            return self.pinned_empty(like.shape, dtype=like.dtype)
        return np.empty(like.shape, dtype=like.dtype)


class DirectTransport:
    """Persistent MPI requests on the buffers themselves (``MPI_Send_init`` / ``MPI_Recv_init``)."""

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


class _SyncedSend:
    """A send on device memory that first waits for the device stream (CUDA-aware MPI)."""

    __slots__ = ("request", "sync")

    def __init__(self, request: Any, sync: Callable[[], None]):
        self.request, self.sync = request, sync

    def Start(self) -> None:  # noqa: N802
        self.sync()
        self.request.Start()

    def Wait(self) -> Any:  # noqa: N802
        return self.request.Wait()

    def Free(self) -> None:  # noqa: N802
        self.request.Free()


class DeviceDirectTransport(DirectTransport):
    """Device buffers straight to a CUDA-aware MPI, the stream synchronised before every send."""

    def __init__(self, comm: Any, sync: Callable[[], None]):
        super().__init__(comm)
        self.sync = sync

    def send_init(self, view: Any, dest: int, tag: int) -> Request:
        return _SyncedSend(self.comm.Send_init(view, dest, tag), self.sync)

    def startall(self, requests: list[Request]) -> None:
        for request in requests:
            request.Start()

    def waitall(self, requests: list[Request]) -> None:
        for request in requests:
            request.Wait()


class _StagedSend:
    __slots__ = ("request", "device", "host", "spec")

    def __init__(self, request: Any, device: Any, host: Any, spec: TransportSpec):
        self.request, self.device, self.host, self.spec = request, device, host, spec

    def Start(self) -> None:  # noqa: N802
        self.spec.to_host(self.device, self.host)
        self.request.Start()

    def Wait(self) -> Any:  # noqa: N802
        return self.request.Wait()

    def Free(self) -> None:  # noqa: N802
        self.request.Free()


class _StagedRecv(_StagedSend):
    __slots__ = ()

    def Start(self) -> None:  # noqa: N802
        self.request.Start()

    def Wait(self) -> Any:  # noqa: N802
        status = self.request.Wait()
        self.spec.to_device(self.host, self.device)
        return status


class StagingTransport:
    """Device buffers staged through preallocated (pinned) host buffers, one per request."""

    def __init__(self, comm: Any, spec: TransportSpec):
        self.comm = comm
        self.spec = spec

    def send_init(self, view: Any, dest: int, tag: int) -> Request:
        host = self.spec.host_buffer(view)
        return _StagedSend(self.comm.Send_init(host, dest, tag), view, host, self.spec)

    def recv_init(self, view: Any, source: int, tag: int) -> Request:
        host = self.spec.host_buffer(view)
        return _StagedRecv(self.comm.Recv_init(host, source, tag), view, host, self.spec)

    def startall(self, requests: list[Request]) -> None:
        for request in requests:
            request.Start()

    def waitall(self, requests: list[Request]) -> None:
        for request in requests:
            request.Wait()
