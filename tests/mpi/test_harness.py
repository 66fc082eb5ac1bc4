"""The harness and the ``mpi`` baseline, at whatever rank count mpiexec gives."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import assert_all

import collectives
from bench.check import expected_result, rank_input
from bench.console import Console
from bench.iterations import IterationPolicy
from bench.results import ResultsWriter, load, read_document
from bench.sweep import Sweep, SweepConfig
from bench.timing import measure
from bench.topology import Topology


@pytest.mark.parametrize("dtype", list(collectives.DTYPES))
@pytest.mark.parametrize("op", list(collectives.OPS))
@pytest.mark.parametrize("in_place", [False, True])
def test_mpi_allreduce_is_exact(comm, dtype, op, in_place):
    p, rank = comm.Get_size(), comm.Get_rank()
    for count in (0, 1, p + 1, 1000):
        alg = collectives.create("mpi", comm, count, dtype, op)
        send = rank_input(rank, p, count, dtype, op)
        recv = send.copy() if in_place else np.zeros_like(send)
        alg(recv if in_place else send, recv)
        assert_all(comm, np.array_equal(recv, expected_result(p, count, dtype, op)), f"count {count}")


@pytest.mark.parametrize("mode", ["b2b", "barrier"])
def test_every_rank_gets_the_slowest_samples(comm, mode):
    alg = collectives.create("mpi", comm, 2, "float32", "sum")
    buf = np.ones(2, np.float32)
    out = np.empty_like(buf)
    samples = measure(alg.bound(buf, out), 8, warmup=3, policy=IterationPolicy(budget=0.05), mode=mode, comm=comm)
    everyone = comm.allgather(samples.tolist())
    assert_all(comm, all(s == everyone[0] for s in everyone), "ranks disagree on samples")
    assert_all(comm, 5 <= samples.size <= 1000 and bool((samples > 0).all()))


def _sweep(comm, tmp, algos, **kw):
    config = SweepConfig(
        algos=algos,
        sizes=[8, 64, 4096],
        dtypes=["float32", "int32"],
        ops=["sum", "min"],
        warmup=1,
        policy=IterationPolicy(iters=3),
        **kw,
    )
    writer = ResultsWriter(tmp, {"label": "t", "start_time": "now"}) if comm.Get_rank() == 0 else None
    topology = Topology(comm, comm.Get_size(), 1, comm.Get_size(), "physical", "packed", 0)
    sweep = Sweep(comm, config, Console(None), writer, topology)
    nwrong = sweep.run()
    if writer:
        writer.close({"complete": True})
    comm.Barrier()
    return nwrong


def test_sweep_records_every_case(comm, shared_tmp):
    nwrong = _sweep(comm, shared_tmp, ["mpi"])
    assert_all(comm, nwrong == 0, "mpi reported wrong elements")
    df = load(shared_tmp)
    assert_all(comm, len(df) == 3 * 2 * 2 * 2, f"expected 24 rows, got {len(df)}")
    assert_all(comm, set(df["placement"]) == {"out", "in"} and (df["nwrong"] == 0).all())
    assert_all(comm, (df["p"] == comm.Get_size()).all() and (df["iters"] == 3).all())
    assert_all(comm, read_document(shared_tmp)["complete"] is True)


def test_a_wrong_algorithm_is_caught(comm, shared_tmp):
    import collbench_testalgos  # noqa: F401  (registers "wrong")

    nwrong = _sweep(comm, shared_tmp, ["wrong"])
    assert_all(comm, nwrong > 0, "the corrupted algorithm passed the check")
    df = load(shared_tmp)
    assert_all(comm, bool((df["nwrong"] > 0).all()), "some row of the corrupted algorithm shows nwrong 0")
