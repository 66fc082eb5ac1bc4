"""The algorithms over the staged and device-direct transports (on host arrays), and the Gloo baseline."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_all

import collectives
from bench.check import expected_result, rank_input
from collectives.transport import TransportSpec


@pytest.mark.parametrize("kind", ["staged", "device-direct"])
def test_every_algorithm_over_other_transports(comm, kind):
    syncs = []
    spec = TransportSpec(kind=kind, sync=lambda: syncs.append(1))
    p, rank = comm.Get_size(), comm.Get_rank()
    failures = []
    for algo in ["ring", "tree", "mesh", "rhd", "ps", "mpi"]:
        for count in (0, p + 1, 5000):
            for in_place in (False, True):
                options = {"chunk": 4096} if algo in ("ring", "mesh", "tree") else {}
                alg = collectives.create(algo, comm, count, "float64", "sum", transport=spec, **options)
                send = rank_input(rank, p, count, "float64", "sum")
                recv = send.copy() if in_place else np.zeros_like(send)
                alg(recv if in_place else send, recv)
                alg.close()
                if not np.array_equal(recv, expected_result(p, count, "float64", "sum")):
                    failures.append((algo, count, in_place))
    assert_all(comm, not failures, f"wrong over {kind}: {failures[:4]}")
    if kind == "device-direct" and p > 1:
        assert_all(comm, len(syncs) > 0, "no stream synchronisation before device sends")


def test_gloo_baseline(comm):
    reason = collectives.get("gloo").unavailable_reason()
    if reason:
        from capabilities import skip_or_fail

        skip_or_fail("torch", reason)
    p, rank = comm.Get_size(), comm.Get_rank()
    good = True
    for dtype in ("int32", "float16", "float32", "float64"):
        for op in sorted(collectives.ALL_OPS):
            alg = collectives.create("gloo", comm, 1001, dtype, op)
            for in_place in (False, True):
                send = rank_input(rank, p, 1001, dtype, op)
                recv = send.copy() if in_place else np.zeros_like(send)
                alg(recv if in_place else send, recv)
                good &= bool(np.array_equal(recv, expected_result(p, 1001, dtype, op)))
            alg.close()
    assert_all(comm, good, "gloo all_reduce gave a wrong result")
