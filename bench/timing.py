"""The timed loop, and the agreement that makes every rank time the same thing.

Two modes, as the OSU and nccl-tests benchmarks use:

- ``b2b`` — iterations back to back after one barrier; each sample is the interval between
  consecutive completions on a rank (nccl-tests' default way of running).
- ``barrier`` — a barrier before every iteration isolates it; each sample is that one call.

Every rank records its own samples; the sample of iteration i is the maximum over ranks, so
the reported time is the slowest rank's. The number of iterations is decided by rank 0 from
the warm-up and broadcast, so every rank runs exactly the same loop.
"""

from __future__ import annotations

from collections.abc import Callable
from time import perf_counter
from typing import Any

import numpy as np

from .iterations import IterationPolicy

TIMING_MODES = ("b2b", "barrier")


def time_calls(
    call: Callable[[], Any], iters: int, mode: str, comm: Any, watch: Callable[[list[float]], None] | None = None
) -> list[float]:
    """Run ``call()`` (one all-reduce on bound buffers) ``iters`` times; this rank's per-iteration seconds.

    ``watch`` (the watchdog) is handed the samples list before the loop: it sees progress as
    entries turn nonzero, at no cost to the loop.
    """
    samples = [0.0] * iters
    if watch is not None:
        watch(samples)
    clock = perf_counter
    if mode == "b2b":
        comm.Barrier()
        start = clock()
        for i in range(iters):
            call()
            stop = clock()
            samples[i] = stop - start
            start = stop
    elif mode == "barrier":
        barrier = comm.Barrier
        for i in range(iters):
            barrier()
            start = clock()
            call()
            samples[i] = clock() - start
    else:
        raise ValueError(f"unknown timing mode {mode!r}; expected one of {', '.join(TIMING_MODES)}")
    return samples


def slowest(samples: list[float], comm: Any) -> np.ndarray:
    """Per-iteration maximum of ``samples`` over every rank of ``comm``."""
    from mpi4py import MPI

    local = np.asarray(samples, dtype=np.float64)
    result = np.empty_like(local)
    comm.Allreduce(local, result, op=MPI.MAX)
    return result


def measure(
    call: Callable[[], Any],
    nbytes: int,
    *,
    warmup: int,
    policy: IterationPolicy,
    mode: str,
    comm: Any,
    watch: Callable[[list[float]], None] | None = None,
) -> np.ndarray:
    """Warm up, agree on the iteration count, time; the slowest rank's sample per iteration."""
    warm = slowest(time_calls(call, warmup, mode, comm, watch), comm) if warmup else np.empty(0)
    iters = None
    if comm.Get_rank() == 0:
        estimate = float(np.median(warm)) if warm.size else 0.0
        iters = policy.count(nbytes, estimate)
    iters = comm.bcast(iters, root=0)
    return slowest(time_calls(call, iters, mode, comm, watch), comm)
