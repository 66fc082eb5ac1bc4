"""The benchmarks' clock records the slowest rank's time, on every rank and in what rank 0 saves.

Self-tests, not benchmarks: ``--benchmark-only`` (``make perf``) leaves them out; ``make test``'s
smoke run runs them, and tests/test_bench_suite.py checks the saved JSON of the last one.
"""

from __future__ import annotations

import time

import pytest
from slowest_rank import SlowestRankClock

SLEEP = 0.02  # seconds the last rank alone sleeps


def sleep_on_last_rank(comm) -> None:
    if comm.Get_rank() == comm.Get_size() - 1:
        time.sleep(SLEEP)


def test_every_rank_reads_the_slowest_ranks_interval(comm):
    clock = SlowestRankClock(comm)
    start = clock()
    sleep_on_last_rank(comm)
    stop = clock()
    intervals = comm.allgather(stop - start)
    assert min(intervals) >= SLEEP, f"an interval is shorter than the last rank's {SLEEP} s sleep: {intervals}"
    assert len(set(intervals)) == 1, f"the ranks disagree on the interval: {intervals}"


def test_benchmark_stats_are_the_slowest_ranks(benchmark, measure, comm, request):
    if request.config.getoption("benchmark_only"):
        pytest.skip("a self-test of the clock: make test's smoke run runs it, the saved benchmarks leave it out")
    benchmark.group = "clock self-test"
    benchmark.extra_info["sleep_on_last_rank_s"] = SLEEP
    measure(lambda: sleep_on_last_rank(comm), rounds=3, iterations=1)
    fastest = benchmark.stats.stats.min
    assert fastest >= SLEEP, f"rank {comm.Get_rank()} recorded {fastest} s, less than the last rank's {SLEEP} s"
