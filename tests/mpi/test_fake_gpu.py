"""Every algorithm over every GPU transport on the fake asynchronous device (tests/fakecupy).

The fake runs kernels and copies only when their stream is synchronised, so a transport or an
algorithm that hands MPI a buffer too early (a send of data a queued kernel has yet to write,
a receive into a buffer a queued reduction has yet to read) gets wrong results here every time.
Each rank has a fake GPU of its own, as NCCL wants without its multi-rank mode.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from helpers import assert_all

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakecupy"))
os.environ["FAKE_GPU_COUNT"] = "8"
import cupy  # noqa: E402  (the fake, from the path above)
import cupyx  # noqa: E402

import collectives  # noqa: E402
from bench.check import expected_result, rank_input  # noqa: E402
from collectives import ncclcomm  # noqa: E402
from collectives.transport import TransportSpec  # noqa: E402

assert getattr(cupy, "FAKE", False), "tests/fakecupy must shadow any real CuPy here"

# Options that select each code path (small chunks: pipelines split into several chunks).
CASES = {
    "ring": [{}, {"chunk": 64}],
    "tree": [{"variant": "binomial"}, {"variant": "pipeline", "chunk": 128}, {"variant": "double", "chunk": 128}],
    "mesh": [{"chunk": 64}],
    "rhd": [{"variant": "halving"}, {"variant": "doubling"}],
    "ps": [{}],
    "hier": [{"node": "pairs"}, {"node": "pairs", "outer": "rhd", "chunk": 64}],
    "mpi": [{}],
}
TRANSPORTS = ["device-direct", "staged", "nccl-p2p"]


def _spec(kind: str) -> TransportSpec:
    stream = cupy.cuda.get_current_stream()
    return TransportSpec(
        kind=kind,
        xp=cupy,
        sync=stream.synchronize,
        stream=stream,
        pinned_empty=cupyx.empty_pinned,
        mpi_kind="staged",
    )


def _options(options: dict, p: int, rank: int) -> dict:
    if options.get("node") == "pairs":
        return {**options, "node": rank // 2 if p % 2 == 0 else 0}
    return options


@pytest.fixture(autouse=True)
def _own_gpu(comm):
    cupy.cuda.Device(comm.Get_rank() % 8).use()
    yield
    ncclcomm.release_all()


@pytest.mark.parametrize("kind", TRANSPORTS)
def test_every_algorithm_on_the_asynchronous_device(comm, kind):
    p, rank = comm.Get_size(), comm.Get_rank()
    spec = _spec(kind)
    failures = []
    for algo, variants in CASES.items():
        for variant in variants:
            options = _options(variant, p, rank)
            for count in sorted({0, 1, p + 1, 1000}):
                for dtype, op in (("float32", "sum"), ("int64", "min")):
                    alg = collectives.create(algo, comm, count, dtype, op, xp=cupy, transport=spec, **options)
                    expected = expected_result(p, count, dtype, op)
                    for in_place in (False, True):
                        send = cupy.asarray(rank_input(rank, p, count, dtype, op))  # queued, not yet written
                        recv = send if in_place else cupy.full(count, 7, dtype)
                        for _ in range(2):  # twice: a second call reuses every buffer the first one left
                            if in_place:
                                recv[...] = cupy.asarray(rank_input(rank, p, count, dtype, op))
                            alg(send, recv)
                            if not (recv.get() == expected).all():
                                failures.append((algo, options, count, dtype, op, in_place))
                    alg.close()
    assert_all(comm, not failures, f"wrong over {kind} on rank {rank}: {failures[:4]}")


@pytest.mark.parametrize("op", ["sum", "max", "avg"])
def test_nccl_baseline_on_the_asynchronous_device(comm, op):
    p, rank = comm.Get_size(), comm.Get_rank()
    good = True
    dtypes = ["float16", "int32", "float64"] + (["bfloat16"] if "bfloat16" in collectives.DTYPES else [])
    for dtype in dtypes:
        for count in (0, 5, 1001):
            alg = collectives.create("nccl", comm, count, dtype, op, xp=cupy, transport=_spec("staged"))
            for in_place in (False, True):
                send = cupy.asarray(rank_input(rank, p, count, dtype, op))
                recv = send if in_place else cupy.zeros(count, dtype)
                alg(send, recv)
                good &= bool((recv.get() == expected_result(p, count, dtype, op)).all())
            alg.close()
    assert_all(comm, good, f"nccl {op} wrong")


def test_one_nccl_communicator_per_set_of_ranks(comm):
    """Sizes and algorithms reuse the NCCL communicator of their ranks; a split makes its own."""
    first = collectives.create("nccl", comm, 10, "float32", "sum", xp=cupy, transport=_spec("staged"))
    second = collectives.create("nccl", comm, 99, "int32", "max", xp=cupy, transport=_spec("staged"))
    ring = collectives.create("ring", comm, 10, "float32", "sum", xp=cupy, transport=_spec("nccl-p2p"))
    shared = first._nccl is second._nccl and ring.transport.nccl is first._nccl
    shared &= ring.params().get("pipelined") is False  # over nccl-p2p the chain runs step by step, and says so
    half = comm.Split(comm.Get_rank() % 2, comm.Get_rank())
    alone = collectives.create("nccl", half, 10, "float32", "sum", xp=cupy, transport=_spec("staged"))
    separate = comm.Get_size() == 1 or alone._nccl is not first._nccl
    for alg in (first, second, ring, alone):
        alg.close()
    half.Free()
    assert_all(comm, shared and separate, f"NCCL communicators: shared {shared}, separate {separate}")
    assert_all(comm, ncclcomm.release_all() == (1 if comm.Get_size() == 1 else 2), "cached communicators")


def test_a_failure_on_some_ranks_reaches_all_of_them(comm, monkeypatch):
    """Any exception while making the NCCL communicator, on any rank, is the same skip everywhere (no hang)."""
    from cupy.cuda import nccl

    def broken(ndev, uid, rank):
        if rank % 2:
            raise RuntimeError(f"cudaErrorMemoryAllocation on rank {rank}")
        raise nccl.NcclError(2, "unhandled system error")

    monkeypatch.setattr(nccl, "NcclCommunicator", broken)
    with pytest.raises(collectives.Unavailable, match="NCCL failed"):
        ncclcomm.communicator(comm)


def test_a_batch_synchronises_once(comm):
    """--timing batch: the calls are launched back to back and the stream synchronised once at the end."""
    from bench.device import open_device
    from bench.timing import time_calls

    device = open_device("gpu", comm.Get_rank() % 8)
    device.join(comm)
    alg = collectives.create("nccl", comm, 1000, "float32", "sum", xp=cupy, transport=device.transport)
    send, recv = cupy.zeros(1000, "float32"), cupy.zeros(1000, "float32")
    call = device.loop_call(alg.bound(send, recv), "batch")
    before = device.stream.syncs
    samples = time_calls(call, 50, "batch", comm, batch=device.batch)
    syncs = device.stream.syncs - before
    alg.close()
    assert_all(comm, syncs == 1 and len(samples) == 50, f"{syncs} synchronisations for a batch of 50")
