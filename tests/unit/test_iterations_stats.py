import math

import pytest

from bench.iterations import IterationPolicy
from bench.stats import bandwidths, summarize


def test_fixed_iterations_ignore_size_and_time():
    policy = IterationPolicy(iters=20)
    assert policy.count(8, 1e-6) == 20
    assert policy.count(1 << 30, 10.0) == 20


def test_volume_scaling_many_small_few_large():
    policy = IterationPolicy(volume=1 << 30, min_iters=5, max_iters=1000, budget=1e9)
    assert policy.count(8, 0) == 1000
    assert policy.count(16 << 20, 0) == 64
    assert policy.count(1 << 30, 0) == 5


def test_time_budget_bounds_the_count():
    policy = IterationPolicy(volume=1 << 30, min_iters=5, max_iters=1000, budget=0.5)
    assert policy.count(8, 0.001) == 500
    assert policy.count(8, 1.0) == 5  # never below min_iters
    assert policy.count(8, 1e-7) == 1000


def test_summarize_exact_values():
    stats = summarize([4.0, 1.0, 3.0, 2.0])
    assert stats == {
        "min": 1.0,
        "p50": 2.5,
        "mean": 2.5,
        "p99": pytest.approx(3.97),
        "max": 4.0,
        "stdev": pytest.approx(math.sqrt(1.25)),
    }


def test_summarize_single_and_empty():
    assert summarize([2.0])["stdev"] == 0.0
    assert all(math.isnan(v) for v in summarize([]).values())


def test_bandwidths_use_1e9_and_the_factor():
    algbw, busbw = bandwidths(2_000_000_000, 2.0, 1.5)
    assert algbw == 1.0
    assert busbw == 1.5
    assert all(math.isnan(v) for v in bandwidths(8, 0.0, 1.0))
