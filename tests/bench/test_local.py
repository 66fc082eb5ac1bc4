"""Single-process hot spots: the local reduction kernels and the construction of schedules.

Every rank runs them too (the clock is collective), so the time is still the slowest rank's.
The kernel is the one every hand-written algorithm reduces a received chunk with,
``OPS[op].ufunc(np)(a, b, out=c)``; the schedules are what the algorithms build once per size:
the ring's blocks and chunks, the binomial tree and the double binary tree, at job sizes a
cluster has.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from collectives import ALL_OPS, OPS
from collectives.blocks import block_bounds, chunk_bounds, chunks_for
from collectives.trees import binomial_tree, double_binary_tree

KiB, MiB = 1 << 10, 1 << 20
KERNEL_SIZES = {"64KiB": 64 * KiB, "4MiB": 4 * MiB}
KERNEL_ROUNDS = {64 * KiB: (50, 100), 4 * MiB: (100, 1)}  # (rounds, iterations)
REFERENCE = {"sum": np.sum, "prod": np.prod, "min": np.min, "max": np.max}
# (rounds, iterations) per job size: a round of a millisecond or more, a few tens of milliseconds in all.
RING_ROUNDS = {64: (50, 20), 4096: (30, 1)}
BINOMIAL_ROUNDS = {64: (50, 100), 4096: (30, 2)}
DOUBLE_TREE_ROUNDS = {64: (50, 50), 4096: (20, 1)}


@pytest.mark.parametrize("nbytes", KERNEL_SIZES.values(), ids=KERNEL_SIZES.keys())
@pytest.mark.parametrize("op", sorted(ALL_OPS))
def test_reduction_kernel(benchmark, measure, op, nbytes):
    count = nbytes // 4
    j = np.arange(count)
    a = (j % 5 - 2).astype(np.float32)
    b = (j % 3 - 1).astype(np.float32)
    out = np.empty_like(a)
    benchmark.group = "reduction kernel float32"
    benchmark.extra_info.update(op=op, bytes=nbytes, dtype="float32")
    measure(functools.partial(OPS[op].ufunc(np), a, b, out=out), *KERNEL_ROUNDS[nbytes])
    assert np.array_equal(out, REFERENCE[op](np.stack([a, b]), axis=0))


def ring_schedule(count: int, p: int, chunk_elements: int) -> list[list[tuple[int, int]]]:
    """Every block's chunks, as the ring cuts a vector of ``count`` elements for ``p`` ranks."""
    blocks = block_bounds(count, p)
    nchunks = chunks_for(max(b - a for a, b in blocks), chunk_elements)
    return [chunk_bounds(a, b, nchunks) for a, b in blocks]


@pytest.mark.parametrize("p", RING_ROUNDS)
def test_ring_schedule(benchmark, measure, p):
    count, chunk = 64 * MiB // 4, 64 * KiB // 4  # 64 MiB of float32 in chunks of 64 KiB
    benchmark.group = "schedule construction"
    benchmark.extra_info.update(ranks=p, count=count, chunk_elements=chunk)
    schedule = measure(lambda: ring_schedule(count, p, chunk), *RING_ROUNDS[p])
    assert len(schedule) == p and schedule[0][0][0] == 0 and schedule[-1][-1][1] == count


@pytest.mark.parametrize("p", BINOMIAL_ROUNDS)
def test_binomial_tree(benchmark, measure, p):
    benchmark.group = "schedule construction"
    benchmark.extra_info.update(ranks=p)
    tree = measure(lambda: binomial_tree(p), *BINOMIAL_ROUNDS[p])
    assert sum(len(kids) for kids in tree.children) == p - 1


@pytest.mark.parametrize("p", DOUBLE_TREE_ROUNDS)
def test_double_binary_tree(benchmark, measure, p):
    benchmark.group = "schedule construction"
    benchmark.extra_info.update(ranks=p)
    trees = measure(lambda: double_binary_tree(p), *DOUBLE_TREE_ROUNDS[p])
    assert all(sum(len(kids) for kids in tree.children) == p - 1 for tree in trees)
