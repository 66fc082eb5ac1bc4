"""Test only: slow down registered algorithms by a sleep after every call, to prove the regression gate bites.

With ``COLLBENCH_PLUGINS=collbench_slow`` and ``COLLBENCH_TEST_SLOW=NAME:SECONDS,...`` (e.g.
``ring:0.002``), every call returned by ``bound()`` of the algorithm registered as NAME sleeps
SECONDS after its all-reduce. The algorithm keeps its name, so a benchmark run with the slowdown
compares one to one with a run without it. Only ``bound()`` is wrapped: that is the call the
benchmarks (and the harness) time.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from typing import Any

import collectives


def parse(spec: str) -> dict[str, float]:
    """``"ring:0.002,tree:0.001"`` -> ``{"ring": 0.002, "tree": 0.001}``; ValueError saying what is expected."""
    delays: dict[str, float] = {}
    for entry in filter(None, (part.strip() for part in spec.split(","))):
        name, sep, seconds = entry.partition(":")
        try:
            delay = float(seconds) if sep else -1.0
        except ValueError:
            delay = -1.0
        if not name or delay < 0:
            raise ValueError(f"COLLBENCH_TEST_SLOW entry {entry!r} is not NAME:SECONDS, e.g. ring:0.002")
        delays[name] = delay
    return delays


def slow_down(cls: type[collectives.Allreduce], delay: float) -> None:
    """Make every call that ``cls.bound()`` returns sleep ``delay`` seconds after the all-reduce."""
    original = cls.bound

    @functools.wraps(original)
    def bound(self: Any, sendbuf: Any, recvbuf: Any) -> Callable[[], None]:
        call = original(self, sendbuf, recvbuf)

        def slowed() -> None:
            call()
            time.sleep(delay)

        return slowed

    cls.bound = bound


for _name, _delay in parse(os.environ.get("COLLBENCH_TEST_SLOW", "")).items():
    slow_down(collectives.get(_name), _delay)
