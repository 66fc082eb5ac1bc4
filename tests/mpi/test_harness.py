"""The harness and the ``mpi`` baseline, at whatever rank count mpiexec gives."""

from __future__ import annotations

import os

import numpy as np
import pytest
from helpers import assert_all

import collectives
from bench.buffers import PAGE, parse_align
from bench.check import expected_result, rank_input
from bench.console import Console
from bench.iterations import IterationPolicy
from bench.results import ResultsWriter, load, read_document
from bench.sweep import Sweep, SweepConfig
from bench.timing import measure
from bench.topology import Topology


@pytest.mark.parametrize("dtype", sorted(collectives.ALL_DTYPES))
@pytest.mark.parametrize("op", sorted(collectives.ALL_OPS))
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
def test_every_rank_gets_the_slowest_samples_and_the_rank_means(comm, mode):
    alg = collectives.create("mpi", comm, 2, "float32", "sum")
    buf = np.ones(2, np.float32)
    out = np.empty_like(buf)
    timing = measure(alg.bound(buf, out), 8, warmup=3, policy=IterationPolicy(budget=0.05), mode=mode, comm=comm)
    samples = timing.samples
    everyone = comm.allgather((samples.tolist(), timing.rank_avg, timing.rank_min, timing.rank_max))
    assert_all(comm, all(s == everyone[0] for s in everyone), "ranks disagree on samples or rank means")
    assert_all(comm, 5 <= samples.size <= 1000 and bool((samples > 0).all()))
    # each iteration's sample is the slowest rank's, so their mean bounds every rank's own mean
    assert_all(comm, 0 < timing.rank_min <= timing.rank_avg <= timing.rank_max <= samples.mean() * (1 + 1e-9))


def test_mpi_runs_at_collbench_default_thread_level(comm):
    from bench.mpienv import default_thread_level, thread_level

    level, reason = default_thread_level()
    usable = len(os.sched_getaffinity(0))
    pinned = usable < (os.cpu_count() or usable)  # Intel MPI's Hydra pins each rank to CPUs of its own by default
    oversubscribed = comm.Get_size() > usable and not pinned
    by_mpirun = "OMPI_COMM_WORLD_SIZE" in os.environ  # Open MPI yields on an oversubscribed node of itself
    assert_all(comm, level == ("multiple" if oversubscribed and not by_mpirun else "single"), f"{level}: {reason}")
    got = thread_level()
    assert_all(comm, got == {"requested": level, "provided": level, "reason": reason}, str(got))


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


def test_each_buffer_placement_is_measured_and_recorded(comm, shared_tmp):
    specs = parse_align("page,page+16,numpy")
    nwrong = _sweep(comm, shared_tmp, ["mpi", "ring"], buffers=specs, thread_level="single", stat="avg")
    assert_all(comm, nwrong == 0, "wrong elements with placed buffers")
    df = load(shared_tmp)
    assert_all(comm, len(df) == 3 * 3 * 2 * 2 * 2 * 2, f"expected 144 rows, got {len(df)}")
    page = df[df["align"] == str(PAGE)]
    shifted = df[df["align"] == f"{PAGE}+16"]
    assert_all(comm, len(page) == len(shifted) == len(df) // 3)
    assert_all(comm, (page["page_offset"] == 0).all() and (shifted["page_offset"] == 16).all())
    assert_all(comm, (df["thread_level"] == "single").all() and (df["stat"] == "avg").all())
    assert_all(comm, bool((df["time_s"] == df["rank_avg_s"]).all()), "--stat avg did not choose the rows' time")


def test_a_wrong_algorithm_is_caught(comm, shared_tmp):
    import collbench_testalgos  # noqa: F401  (registers "wrong")

    nwrong = _sweep(comm, shared_tmp, ["wrong"])
    assert_all(comm, nwrong > 0, "the corrupted algorithm passed the check")
    df = load(shared_tmp)
    assert_all(comm, bool((df["nwrong"] > 0).all()), "some row of the corrupted algorithm shows nwrong 0")
