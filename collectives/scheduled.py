"""Common ground of the hand-written algorithms: a private communicator, a transport, bound plans.

Each algorithm builds, in :meth:`Scheduled.plan`, a function that performs one all-reduce on
two specific buffers with persistent requests made on views of them. The plan is built on the
first call with a pair of buffers (or by :meth:`bind`, which the harness calls outside its
timers) and reused for as long as the same buffers come back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .base import Allreduce, Unsupported

KiB = 1 << 10
MiB = 1 << 20


class Scheduled(Allreduce):
    """Base class: subclasses implement :meth:`plan`; p = 1 is a copy, handled here."""

    def __init__(self, comm: Any, count: int, dtype: str, op: str, **options: Any):
        super().__init__(comm, count, dtype, op, **options)
        # A private duplicate: the algorithm's messages can never match anyone else's.
        self.comm = comm.Dup()
        self.transport = self.transport_spec.make(self.comm)
        # over nccl-p2p the steps of a chain run one group at a time: recorded, since the schedule is not pipelined
        self.deferred: bool = getattr(self.transport, "deferred", False)
        self.reduce = self.op.ufunc(self.xp)
        self._requests: list[Any] = []
        self._comms: list[Any] = [self.comm]
        self._bound: tuple[Any, Any] | None = None
        self._execute: Callable[[], None] = _nothing

    # -- building blocks for plans ------------------------------------------------------
    def send_init(self, view: Any, dest: int, tag: int, transport: Any = None) -> Any:
        request = (transport or self.transport).send_init(view, dest, tag)
        self._requests.append(request)
        return request

    def recv_init(self, view: Any, source: int, tag: int, transport: Any = None) -> Any:
        request = (transport or self.transport).recv_init(view, source, tag)
        self._requests.append(request)
        return request

    def scratch(self, elements: int) -> Any:
        return self.transport_spec.scratch(max(elements, 0), self.dtype)

    def sub_comm(self, color: int, key: int) -> Any:
        """A split of the private communicator, freed by :meth:`close`."""
        sub = self.comm.Split(color, key)
        self._comms.append(sub)
        return sub

    def pipelining(self) -> dict[str, Any]:
        """What a chained algorithm's parameters say about pipelining: nothing, or that the transport ran it step by step."""
        return {"pipelined": False} if self.deferred else {}

    def chunk_elements(self) -> int:
        """The ``chunk`` option (bytes) in elements, at least 1."""
        chunk = int(self.settings.get("chunk", 0))
        if chunk <= 0:
            raise Unsupported(f"{self.name}: chunk must be a positive number of bytes, got {chunk}")
        return max(1, chunk // self.dtype.itemsize)

    # -- lifecycle -----------------------------------------------------------------------
    def plan(self, sendbuf: Any, recvbuf: Any) -> Callable[[], None]:
        """Build persistent requests on these buffers; return the function that runs one all-reduce."""
        raise NotImplementedError

    def bind(self, sendbuf: Any, recvbuf: Any) -> None:
        bound = self._bound
        if bound is not None and bound[0] is sendbuf and bound[1] is recvbuf:
            return
        self._free_requests()
        if self.size == 1:
            self._execute = _nothing if sendbuf is recvbuf else _copier(sendbuf, recvbuf)
        else:
            self._execute = self.plan(sendbuf, recvbuf)
        self._bound = (sendbuf, recvbuf)

    def bound(self, sendbuf: Any, recvbuf: Any) -> Callable[[], None]:
        self.bind(sendbuf, recvbuf)
        return self._execute

    def run(self, sendbuf: Any, recvbuf: Any) -> None:
        bound = self._bound
        if bound is None or bound[0] is not sendbuf or bound[1] is not recvbuf:
            self.bind(sendbuf, recvbuf)
        self._execute()

    def close(self) -> None:
        self._free_requests()
        for comm in reversed(self._comms):
            comm.Free()
        self._comms = []

    def _free_requests(self) -> None:
        for request in self._requests:
            request.Free()
        self._requests = []
        self._bound = None
        self._execute = _nothing


def _nothing() -> None:
    return None


def _copier(source: Any, target: Any) -> Callable[[], None]:
    def copy() -> None:
        target[...] = source

    return copy


def may_overlap(a: Any, b: Any, xp: Any) -> bool:
    """Whether two views of array module ``xp`` might share memory (conservatively True when it cannot be told)."""
    try:
        return bool(xp.may_share_memory(a, b))
    except (TypeError, AttributeError):
        return True
