"""The timed loop, and the agreement that makes every rank time the same thing.

Three modes, as the C benchmarks use:

- ``barrier`` (the default) — a barrier before every iteration isolates it; each sample is that
  one call. OSU's way: with it, collbench's rank-mean statistic is OSU's "Avg Latency". Each
  sample is one call whatever the others did, so the per-iteration distribution means something.
- ``b2b`` — iterations back to back after one barrier; each sample is the interval between
  consecutive completions on a rank (IMB's and nccl-tests' way). Where ranks share CPUs, the
  ranks drift out of step and the time includes that: 5-10% more than ``barrier`` at 512 KiB and
  up with 4 ranks on 2 CPUs here, as IMB's own loop gives against OSU's in C.

- ``batch`` — nccl-tests' way on a GPU: one barrier, the iterations launched back to back with
  no synchronisation between them, one synchronisation at the end; each sample is the interval
  between consecutive completions on the device (CUDA events). The default with ``--device
  gpu``, for every algorithm alike. On the CPU a call is done when it returns, so it is ``b2b``.

Every rank records its own samples; the sample of iteration i is the maximum over ranks, so
the reported time is the slowest rank's. Each rank's mean time per call is kept too: the mean
over ranks of those is what OSU reports as its average (it times as ``barrier`` does) and IMB as
``t_avg`` (it times as ``b2b`` does), their maximum IMB's ``t_max``. The number of iterations
is decided by rank 0 from the warm-up and broadcast, so every rank runs exactly the same loop.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import numpy as np

from .iterations import IterationPolicy

TIMING_MODES = ("b2b", "barrier", "batch")
DEFAULT_TIMING = "barrier"  # OSU's way: each call timed alone, the ranks lined up by a barrier before it
DEFAULT_GPU_TIMING = "batch"  # nccl-tests' way: a batch of launches, one synchronisation

Batch = Callable[[Callable[[], Any], int], list[float]]  # (call, iterations) -> per-iteration seconds
DEFAULT_WARMUP = 5  # untimed iterations per size before the timed loop (collbench run -w)


def time_calls(
    call: Callable[[], Any],
    iters: int,
    mode: str,
    comm: Any,
    watch: Callable[[list[float]], None] | None = None,
    batch: Batch | None = None,
) -> list[float]:
    """Run ``call()`` (one all-reduce on bound buffers) ``iters`` times; this rank's per-iteration seconds.

    ``watch`` (the watchdog) is handed the list the loop writes before the loop: it sees progress
    as entries turn nonzero, at no cost to the loop.

    Back to back, the loop only stores the clock after each call (the least it can do between
    two calls: about 75 ns in CPython against 190 ns for a subtraction and two stores); the
    intervals are taken afterwards. ``batch`` (the device's) runs a ``batch`` loop; without one,
    ``batch`` is ``b2b``.
    """
    if mode == "batch" and batch is not None:
        if watch is not None:  # the batch completes as a whole: the watchdog times all of it
            watch([0.0])
        comm.Barrier()
        return batch(call, iters)
    marks = [0.0] * iters  # per iteration: b2b the clock after the call, barrier the call's time
    if watch is not None:
        watch(marks)
    clock = perf_counter
    if mode in ("b2b", "batch"):
        comm.Barrier()
        start = clock()
        for i in range(iters):
            call()
            marks[i] = clock()
        return np.diff(np.asarray(marks, dtype=np.float64), prepend=start).tolist()
    if mode == "barrier":
        barrier = comm.Barrier
        for i in range(iters):
            barrier()
            start = clock()
            call()
            marks[i] = clock() - start
        return marks
    raise ValueError(f"unknown timing mode {mode!r}; expected one of {', '.join(TIMING_MODES)}")


@dataclass(frozen=True)
class Timing:
    """One timed loop: the slowest rank's sample per iteration, and each rank's mean over ranks."""

    samples: np.ndarray
    rank_avg: float  # mean over ranks of each rank's mean time per call (OSU's avg, IMB's t_avg)
    rank_min: float  # the fastest rank's mean (IMB's t_min)
    rank_max: float  # the slowest rank's mean (IMB's t_max)


def over_ranks(mean: float, comm: Any) -> tuple[float, float, float]:
    """The mean, minimum and maximum over the ranks of ``comm`` of each rank's ``mean``."""
    from mpi4py import MPI

    extremes = np.array([mean, -mean])
    comm.Allreduce(MPI.IN_PLACE, extremes, op=MPI.MAX)
    return comm.allreduce(mean, op=MPI.SUM) / comm.Get_size(), float(-extremes[1]), float(extremes[0])


def agree(samples: list[float], comm: Any) -> Timing:
    """Combine every rank's ``samples``: per-iteration maxima, and the mean, minimum and maximum of rank means."""
    local = np.asarray(samples, dtype=np.float64)
    mean = float(local.mean()) if local.size else float("nan")
    return Timing(slowest(samples, comm), *over_ranks(mean, comm))


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
    batch: Batch | None = None,
    around: Callable[[], AbstractContextManager[Any]] = nullcontext,
) -> Timing:
    """Warm up, agree on the iteration count, time; the slowest rank's sample per iteration and the rank means.

    Rank 0 sizes the loop from the warm-up's wall time per iteration, barriers included, so that
    ``policy.budget`` bounds the loop's real duration in either mode. ``around()`` (the algorithm's
    :meth:`~collectives.Allreduce.running`) holds around each loop of calls, not around the
    collectives that agree on the count and combine the samples.
    """
    started = perf_counter()
    if warmup:
        with around():
            time_calls(call, warmup, mode, comm, watch, batch)
    per_iteration = (perf_counter() - started) / warmup if warmup else 0.0
    iters = comm.bcast(policy.count(nbytes, per_iteration) if comm.Get_rank() == 0 else None, root=0)
    with around():
        samples = time_calls(call, iters, mode, comm, watch, batch)
    return agree(samples, comm)
