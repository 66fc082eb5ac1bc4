"""Every registered all-reduce at 8 B, 64 KiB and 4 MiB (float32, sum, out of place), the slowest rank's time.

The call timed is the one the harness times, ``alg.bound(send, recv)``: setup and binding happen
before. Rounds and iterations are fixed per size; the result is checked for exact equality after
the measurement, outside the timer.
"""

from __future__ import annotations

import numpy as np
import pytest
from capabilities import skip_or_fail

import collectives
from bench.check import expected_result, rank_input

KiB, MiB = 1 << 10, 1 << 20
SIZES = {"8B": 8, "64KiB": 64 * KiB, "4MiB": 4 * MiB}
# (rounds, iterations) per size: short rounds, and enough of them to span a few hundred milliseconds, so that a
# hiccup of the machine moves a few rounds and not the median.
ROUNDS = {8: (100, 50), 64 * KiB: (60, 10), 4 * MiB: (150, 1)}
DTYPE, OP = "float32", "sum"
# What a CI that requires a capability (COLLBENCH_REQUIRE) expects to run, per baseline.
CAPABILITY = {"gloo": "torch", "nccl": "gpu"}


@pytest.mark.parametrize("nbytes", SIZES.values(), ids=SIZES.keys())
@pytest.mark.parametrize("algo", collectives.names())
def test_allreduce(benchmark, measure, comm, algo, nbytes):
    p, rank = comm.Get_size(), comm.Get_rank()
    reasons = [r for r in comm.allgather(collectives.get(algo).unavailable_reason()) if r]
    if reasons:  # skipped on every rank or on none, so the ranks stay in step
        skip_or_fail(CAPABILITY.get(algo, algo), f"{algo} cannot run here: {reasons[0]}")
    count = nbytes // np.dtype(DTYPE).itemsize
    send = rank_input(rank, p, count, DTYPE, OP)
    recv = np.zeros_like(send)
    alg = collectives.create(algo, comm, count, DTYPE, OP)
    try:
        benchmark.group = f"allreduce {nbytes} B"
        benchmark.extra_info.update(
            algo=algo, bytes=nbytes, count=count, dtype=DTYPE, op=OP, ranks=p, params=alg.params()
        )
        rounds, iterations = ROUNDS[nbytes]
        measure(alg.bound(send, recv), rounds=rounds, iterations=iterations)
    finally:
        alg.close()
    assert np.array_equal(recv, expected_result(p, count, DTYPE, OP)), f"{algo} gave a wrong result at {nbytes} B"
