"""The point-to-point layer under every hand-written algorithm.

Algorithms never call MPI send/receive directly: they ask a transport for persistent send and
receive requests on views of their buffers, then start and wait on those. Four transports:

- ``direct``: MPI gets the buffers themselves (host memory).
- ``device-direct``: device buffers handed to a CUDA-aware MPI. MPI reads and writes them at
  once and never synchronises a stream (mpi4py exports them with ``stream=-1``), so the stream
  is synchronised before any request starts, a receive as much as a send: a receive must not
  land in a buffer that a queued reduction has yet to read.
- ``staged``: device buffers through pinned host copies, for an MPI that is not CUDA-aware
  (which would crash on a device pointer): a send copies device to host (blocking), then
  sends; a receive lands on the host and is copied to the device when waited on, and that
  copy is waited for too, since the next receive overwrites its host source.
- ``nccl-p2p``: device buffers through NCCL's ``ncclSend``/``ncclRecv`` (CuPy's
  ``NcclCommunicator``), on the stream, with no MPI and no host synchronisation. Starting a
  request only notes it; waiting on one that is not yet launched launches everything noted,
  as one ``groupStart``/``groupEnd`` group, whose sends and receives progress together. The
  algorithm's reductions follow on the same stream. The engine runs pipelined chains step by
  step over it (see :mod:`collectives.engine`), because a group holding the receives of the
  next step would wait for sends that can only follow it.

The algorithms are the same code over all four. A :class:`TransportSpec` says which one to
build and carries what it needs (the array module, the stream, the pinned allocator, the
allocator of scratch buffers), so an algorithm can build one transport per sub-communicator
and place its scratch space as the harness places the buffers it times.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

TRANSPORT_KINDS = ("direct", "device-direct", "staged", "nccl-p2p")
MPI_KINDS = ("direct", "device-direct", "staged")  # the transports through which MPI itself sees buffers


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
    stream: Any = None  # the device stream the work runs on (nccl-p2p launches on its handle, .ptr)
    mpi_kind: str = ""  # how MPI itself gets these buffers (the mpi baseline) when kind is nccl-p2p

    def scratch(self, count: int, dtype: Any) -> Any:
        """An uninitialised array of ``count`` elements for an algorithm's own use."""
        if self.empty is not None:
            return self.empty(count, dtype)
        return self.xp.empty(count, dtype=dtype)

    def __post_init__(self) -> None:
        if self.kind not in TRANSPORT_KINDS:
            raise ValueError(f"unknown transport {self.kind!r}; expected one of {', '.join(TRANSPORT_KINDS)}")
        if self.mpi_kind and self.mpi_kind not in MPI_KINDS:
            raise ValueError(f"unknown MPI transport {self.mpi_kind!r}; expected one of {', '.join(MPI_KINDS)}")

    @property
    def staged(self) -> bool:
        return self.kind == "staged"

    def for_mpi(self) -> TransportSpec:
        """The spec by which MPI's own calls (the mpi baseline) get device buffers: never nccl-p2p."""
        if self.kind in MPI_KINDS:
            return self
        return dataclasses.replace(self, kind=self.mpi_kind or "staged", mpi_kind="")

    def make(self, comm: Any) -> Any:
        """A transport over ``comm`` (collective over ``comm`` for nccl-p2p, which builds or reuses its NCCL comm)."""
        if self.kind == "staged":
            return StagingTransport(comm, self)
        if self.kind == "device-direct":
            return DeviceDirectTransport(comm, self.sync)
        if self.kind == "nccl-p2p":
            return NcclP2PTransport(comm, self)
        return DirectTransport(comm)

    def to_host(self, device: Any, host: Any) -> None:
        """Copy ``device`` into the host array ``host`` (blocking)."""
        if hasattr(device, "get"):
            device.get(out=host)
        else:
            host[...] = device

    def to_device(self, host: Any, device: Any) -> None:
        """Copy the host array ``host`` into ``device`` and wait for the copy (CuPy's ``set`` alone returns
        before it has read ``host``)."""
        if hasattr(device, "set"):
            device.set(host)
            self.sync()
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


class _Synced:
    """A request on device memory that first waits for the device stream (CUDA-aware MPI)."""

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
    """Device buffers straight to a CUDA-aware MPI, the stream synchronised before any request starts."""

    def __init__(self, comm: Any, sync: Callable[[], None]):
        super().__init__(comm)
        self.sync = sync

    def send_init(self, view: Any, dest: int, tag: int) -> Request:
        return _Synced(self.comm.Send_init(view, dest, tag), self.sync)

    def recv_init(self, view: Any, source: int, tag: int) -> Request:
        return _Synced(self.comm.Recv_init(view, source, tag), self.sync)

    def startall(self, requests: list[Request]) -> None:
        if requests:
            self.sync()  # once for all of them
            self._startall([request.request for request in requests])

    def waitall(self, requests: list[Request]) -> None:
        if requests:
            self._waitall([request.request for request in requests])


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


class _OneByOne:
    """Starts and waits for requests one at a time (each does its own copy or bookkeeping)."""

    def startall(self, requests: list[Request]) -> None:
        for request in requests:
            request.Start()

    def waitall(self, requests: list[Request]) -> None:
        for request in requests:
            request.Wait()


class StagingTransport(_OneByOne):
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



class _NcclRequest:
    """A send or receive of one view over NCCL: started, it waits in its transport's next group."""

    __slots__ = ("transport", "send", "ptr", "nbytes", "peer", "launched")

    def __init__(self, transport: NcclP2PTransport, send: bool, view: Any, peer: int):
        self.transport, self.send, self.peer = transport, send, peer
        self.ptr, self.nbytes = view.data.ptr, view.nbytes
        self.launched = True

    def Start(self) -> None:  # noqa: N802
        self.launched = False
        self.transport.noted.append(self)

    def Wait(self) -> None:  # noqa: N802
        if not self.launched:
            self.transport.launch()

    def Free(self) -> None:  # noqa: N802
        return None


class NcclP2PTransport(_OneByOne):
    """Sends and receives as grouped ncclSend/ncclRecv on the device stream (one NCCL comm per communicator)."""

    deferred = True  # requests run in groups launched on Wait: the engine runs chains step by step

    def __init__(self, comm: Any, spec: TransportSpec):
        from . import ncclcomm

        self.comm = comm
        self.nccl = ncclcomm.communicator(comm)
        self._group = ncclcomm.group_calls()
        self.stream = spec.stream.ptr if spec.stream is not None else 0
        self.noted: list[_NcclRequest] = []

    def send_init(self, view: Any, dest: int, tag: int) -> Request:
        return _NcclRequest(self, True, view, dest)

    def recv_init(self, view: Any, source: int, tag: int) -> Request:
        return _NcclRequest(self, False, view, source)


    def launch(self) -> None:
        """Launch every noted request as one group on the stream (bytes: the same count on both sides)."""
        noted, self.noted = self.noted, []
        start, end = self._group
        nccl, stream, byte = self.nccl, self.stream, 1  # ncclUint8
        start()
        for request in noted:
            request.launched = True
            if request.nbytes:
                if request.send:
                    nccl.send(request.ptr, request.nbytes, byte, request.peer, stream)
                else:
                    nccl.recv(request.ptr, request.nbytes, byte, request.peer, stream)
        end()
