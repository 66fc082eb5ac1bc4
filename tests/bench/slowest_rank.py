"""A pytest-benchmark timer whose every interval is the slowest rank's."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from mpi4py import MPI


class SlowestRankClock:
    """A clock that every rank reads alike, and that advances by the slowest rank's time.

    pytest-benchmark times a round as ``timer()`` at its end minus ``timer()`` at its start, and
    calls the timer exactly twice per round. Read at the start, this clock waits at a barrier so
    that every rank starts the round together, then notes the local time. Read at the end, it
    takes the local elapsed time, agrees on the largest over the ranks (MPI MAX) and advances by
    it. So every rank records the same duration, the slowest rank's, and the agreement itself
    happens after the local clock has stopped, outside the measured time.

    Collective: every rank must read it the same number of times, which pedantic mode with fixed
    rounds and iterations guarantees. Use one clock per benchmark.
    """

    def __init__(self, comm: Any, clock: Callable[[], float] = time.perf_counter):
        self.comm = comm
        self.clock = clock
        self.elapsed = 0.0  # the agreed time of every finished round so far
        self.started: float | None = None

    def __call__(self) -> float:
        if self.started is None:
            self.comm.Barrier()
            self.started = self.clock()
            return self.elapsed
        mine = self.clock() - self.started
        self.started = None
        self.elapsed += self.comm.allreduce(mine, op=MPI.MAX)
        return self.elapsed

    def __repr__(self) -> str:
        clock = getattr(self.clock, "__name__", repr(self.clock))
        return f"SlowestRankClock({clock}, MPI MAX over {self.comm.Get_size()} ranks, barrier before each round)"
