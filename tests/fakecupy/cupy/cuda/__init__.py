"""Streams, events and devices of the fake CuPy: each stream a queue of work run when it is synchronised.

``CUPY_CUDA_PER_THREAD_DEFAULT_STREAM=1`` makes the current stream the per-thread default stream,
a queue of its own, as in CuPy: code that synchronises ``Stream.null`` then leaves the work
queued and reads stale memory.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from time import perf_counter
from typing import Any

from . import runtime

_streams: dict[int, Stream] = {}


class Stream:
    """A queue of work, run in order by :meth:`synchronize`."""

    _next_ptr = 16

    def __init__(self, non_blocking: bool = False, ptr: int | None = None):
        if ptr is None:
            ptr, Stream._next_ptr = Stream._next_ptr, Stream._next_ptr + 16
        self.ptr = ptr
        self.syncs = 0  # how often it was synchronised (tests count them)
        self.queue: deque[Callable[[], Any]] = deque()
        _streams[ptr] = self

    def enqueue(self, work: Callable[[], Any]) -> None:
        self.queue.append(work)

    def synchronize(self) -> None:
        self.syncs += 1
        while self.queue:
            self.queue.popleft()()

    def use(self) -> Stream:
        _current[0] = self
        return self

    def __enter__(self) -> Stream:
        self._previous = _current[0]
        return self.use()

    def __exit__(self, *exc: Any) -> None:
        _current[0] = self._previous


Stream.null = Stream(ptr=0)
Stream.ptds = Stream(ptr=2)
_current: list[Stream | None] = [None]


def get_current_stream() -> Stream:
    if _current[0] is not None:
        return _current[0]
    return Stream.ptds if os.environ.get("CUPY_CUDA_PER_THREAD_DEFAULT_STREAM") == "1" else Stream.null


def stream_of(ptr: int) -> Stream:
    """The stream whose handle is ``ptr`` (what the fake NCCL is given)."""
    return _streams[ptr]


class Event:
    """A marker on a stream: it records the time at which the work queued before it has run."""

    def __init__(self, block: bool = False, disable_timing: bool = False, interprocess: bool = False):
        self.time: float | None = None
        self.stream: Stream | None = None

    def record(self, stream: Stream | None = None) -> None:
        self.stream = stream or get_current_stream()
        self.time = None
        self.stream.enqueue(self._mark)

    def _mark(self) -> None:
        self.time = perf_counter()

    def synchronize(self) -> None:
        if self.stream is not None:
            self.stream.synchronize()

    @property
    def done(self) -> bool:
        return self.time is not None


def get_elapsed_time(start: Event, stop: Event) -> float:
    """Milliseconds between two completed events."""
    if start.time is None or stop.time is None:
        raise RuntimeError("cudaErrorNotReady: an event has not completed")
    return (stop.time - start.time) * 1e3


class Device:
    """A GPU index; ``use`` makes it current."""

    _current_id = 0

    def __init__(self, device: int | None = None):
        self.id = Device._current_id if device is None else int(device)

    def use(self) -> None:
        if not 0 <= self.id < runtime.getDeviceCount():
            raise runtime.CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
        Device._current_id = self.id

    @property
    def pci_bus_id(self) -> str:
        return runtime.deviceGetPCIBusId(self.id)

    def synchronize(self) -> None:
        runtime.deviceSynchronize()


def is_available() -> bool:
    return runtime.getDeviceCount() > 0
