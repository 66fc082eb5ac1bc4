"""Every algorithm, every case: exact against an independent NumPy reference, at any rank count.

Many cases run inside one test (one mpiexec launch per rank count) so the matrix stays fast;
a failure names the first wrong cases.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from helpers import assert_all

import collectives
from bench.check import rank_input
from bench.mpienv import SHARED_CPUS

HAND_WRITTEN = ["ring", "tree", "mesh", "rhd", "ps", "hier"]
REDUCE = {"sum": np.sum, "prod": np.prod, "min": np.min, "max": np.max}

# Options that select each code path: every variant, and small chunks so pipelines really split.
# A small chunk splits 1000 elements into several chunks already; at 65539 it makes thousands of
# messages per call, the same code path at a hundred times the cost on oversubscribed ranks, so
# variants with a chunk run the counts up to SMALL_CHUNK_COUNTS.
SMALL_CHUNK_COUNTS = 1000
VARIANTS = {
    "ring": [{}, {"chunk": 64}],
    "tree": [{"variant": "binomial"}, {"variant": "pipeline", "chunk": 256}, {"variant": "double", "chunk": 256}],
    "mesh": [{}, {"chunk": 64}],
    "rhd": [{"variant": "halving"}, {"variant": "doubling"}],
    "ps": [{}, {"root": -1}],
    "hier": [
        {},
        {"node": "pairs"},
        {"node": "pairs", "outer": "rhd", "chunk": 64},
        {"node": "pairs", "segment": 1024, "chunk": 256},  # pipelined over up to 8 segments
    ],
}


def _reference(p: int, count: int, dtype: str, op: str) -> np.ndarray:
    """The all-reduce computed the slow way: every rank's input built here and reduced with NumPy."""
    inputs = np.stack([rank_input(r, p, count, dtype, op).astype(np.float64) for r in range(p)])
    return REDUCE[op](inputs, axis=0).astype(collectives.DTYPES[dtype]) if count else np.empty(0, dtype)


def _options(algo: str, options: dict, p: int, rank: int) -> dict:
    """Options resolved for this rank: ``root: -1`` is the last rank, ``node: pairs`` logical nodes of two."""
    if options.get("root") == -1:
        return {"root": p - 1}
    if options.get("node") == "pairs":
        return {**options, "node": rank // 2 if p % 2 == 0 else 0}
    return options


def _wrong_placements(alg: collectives.Allreduce, rank: int, p: int) -> list[str]:
    """The placements ("out", "in") in which ``alg`` gives a result other than the NumPy reference."""
    count, dtype, op = alg.count, alg.dtype_name, alg.op.name
    expected = _reference(p, count, dtype, op)
    wrong = []
    for in_place in (False, True):
        send = rank_input(rank, p, count, dtype, op)
        recv = send.copy() if in_place else np.full_like(send, 7)
        alg(recv if in_place else send, recv)
        if not np.array_equal(recv, expected):
            wrong.append("in" if in_place else "out")
    return wrong


@pytest.mark.parametrize("algo", HAND_WRITTEN)
def test_exact_for_every_count_dtype_op_and_placement(comm, algo):
    p, rank = comm.Get_size(), comm.Get_rank()
    counts = sorted({0, 1, max(p - 1, 0), p, 1000, 65539})
    failures = []
    for variant in VARIANTS[algo]:
        options = _options(algo, variant, p, rank)
        for count in [c for c in counts if "chunk" not in variant or c <= SMALL_CHUNK_COUNTS]:
            for dtype in sorted(collectives.ALL_DTYPES):
                for op in sorted(collectives.ALL_OPS):
                    alg = collectives.create(algo, comm, count, dtype, op, **options)
                    failures += [(options, count, dtype, op, where) for where in _wrong_placements(alg, rank, p)]
                    alg.close()
    assert_all(comm, not failures, f"{algo} wrong on rank {rank} for {failures[:3]}")


@pytest.mark.parametrize("algo", HAND_WRITTEN + ["mpi"])
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
def test_random_floats_close_and_bitwise_identical_on_every_rank(comm, algo, dtype):
    p, rank = comm.Get_size(), comm.Get_rank()
    count = 4099
    rng = np.random.default_rng(1234)
    everyone = rng.standard_normal((p, count)).astype(dtype)
    alg = collectives.create(algo, comm, count, dtype, "sum", **({"chunk": 512} if algo in ("ring", "mesh") else {}))
    recv = np.empty(count, dtype)
    alg(everyone[rank].copy(), recv)
    alg.close()
    reference = everyone.astype(np.float64).sum(axis=0)
    eps = float(np.finfo(dtype).eps)
    tolerance = 4 * p * eps * np.abs(everyone.astype(np.float64)).sum(axis=0) + 4 * eps
    close = bool(np.all(np.abs(recv.astype(np.float64) - reference) <= tolerance))
    assert_all(comm, close, f"{algo} {dtype}: result outside the rounding tolerance")
    identical = comm.allgather(recv.tobytes())
    assert_all(comm, all(b == identical[0] for b in identical), f"{algo} {dtype}: ranks hold different bits")


@pytest.mark.parametrize("algo", HAND_WRITTEN)
def test_repeated_calls_and_rebinding(comm, algo):
    """The hot path reuses its plan; new buffers rebind; results stay exact."""
    p, rank = comm.Get_size(), comm.Get_rank()
    alg = collectives.create(algo, comm, 333, "int64", "sum")
    expected = _reference(p, 333, "int64", "sum")
    good = True
    for _ in range(3):
        for buffers in range(2):  # a second pair of arrays forces a new binding
            send = rank_input(rank, p, 333, "int64", "sum")
            recv = np.zeros_like(send)
            alg(send, recv)
            good &= bool(np.array_equal(recv, expected))
            del buffers
    alg.close()
    assert_all(comm, good, f"{algo} wrong after repeated calls")


def test_mesh_shapes(comm):
    p = comm.Get_size()
    shapes = [(x, p // x) for x in range(1, p + 1) if p % x == 0]
    good = True
    for x, y in shapes:
        alg = collectives.create("mesh", comm, 1001, "int32", "sum", mesh=f"{x}x{y}", chunk=256)
        recv = np.empty(1001, np.int32)
        alg(rank_input(comm.Get_rank(), p, 1001, "int32", "sum"), recv)
        alg.close()
        good &= bool(np.array_equal(recv, _reference(p, 1001, "int32", "sum")))
    assert_all(comm, good, f"mesh wrong for one of {shapes}")
    with pytest.raises(collectives.Unsupported, match="has .* ranks but the communicator has"):
        collectives.create("mesh", comm, 10, "int32", "sum", mesh=f"{p + 1}x1")


def _forceable(mpiforce):
    """The running library's algorithms that this launch can force; a skip under Intel MPI when the launch set no
    preset (tests/test_impi.py launches once per preset)."""
    try:
        return mpiforce.algorithms()
    except collectives.Unavailable as exc:
        if mpiforce.running_library() != "Intel MPI":
            raise
        pytest.skip(f"{exc}")


def test_the_librarys_own_algorithms_forced_are_exact(comm):
    """mpi:ALG, each of the running library's own algorithms forced (MPICH's or Open MPI's), in every case the
    library runs it; the cases where it says it would not run that algorithm are skips, never wrong rows."""
    from collectives import mpiforce

    p, rank = comm.Get_size(), comm.Get_rank()
    if p > 5 or os.environ.get(SHARED_CPUS):  # the matrix at 6 and 8 ranks, and across nodes, is for the rest
        pytest.skip("the library's own algorithms are checked on one node at 1 to 5 ranks")
    known = _forceable(mpiforce)
    failures, ran, refused = [], set(), set()
    for name in known:
        for count in sorted({0, 1, max(p - 1, 0), p, 1000, 65539}):
            # the library's own code is the same for every dtype: the large count in one of them is enough
            for dtype in sorted(collectives.ALL_DTYPES) if count <= 1000 else ["float32"]:
                for op in sorted(collectives.ALL_OPS):
                    try:
                        alg = collectives.create(f"mpi:{name}", comm, count, dtype, op)
                    except collectives.Unsupported:  # a dtype this MPI has no datatype for: plain mpi lacks it too
                        continue
                    except collectives.Unavailable:
                        refused.add((name, count))
                        continue
                    failures += [(name, count, dtype, op, where) for where in _wrong_placements(alg, rank, p)]
                    alg.close()
                    ran.add(name)
    assert_all(comm, not failures, f"mpi:ALG wrong on rank {rank} for {failures[:3]}")
    assert_all(comm, len(ran) >= len(known) - 1, f"only {sorted(ran)} of {sorted(known)} ran; refused {refused}")


def test_forcing_changes_the_algorithm(comm):
    """Proof that a forced algorithm runs, from the results themselves: on values whose float32 sum depends on
    the order of the additions (2**25 + 1 rounds to 2**25), the library's ring and its recursive doubling
    associate the ranks differently, so they give different sums, and the same sum every time."""
    from collectives import mpiforce

    p, rank = comm.Get_size(), comm.Get_rank()
    if p != 4:
        pytest.skip("the order of the additions is worked out for 4 ranks")
    if mpiforce.running_library() == "Intel MPI":
        pytest.skip("Intel MPI's presets take a launch each: tests/test_impi.py compares their sums")
    big = np.float32(2**25)
    pattern = np.array([big, 1, -big, 1], np.float32)
    count = 64
    given = np.array([pattern[(rank + i) % p] for i in range(count)], np.float32)
    given[::3] *= -1
    known = mpiforce.algorithms()
    library = next(iter(known.values())).library
    sums = {}
    for name in ("ring", "recursive_doubling"):  # both MPICH's and Open MPI's names
        assert name in known, f"{library} has no {name} to force"
        alg = collectives.create(f"mpi:{name}", comm, count, "float32", "sum")
        first, second = np.empty_like(given), np.empty_like(given)
        alg(given, first)
        alg(given, second)
        alg.close()
        assert_all(comm, np.array_equal(first, second), f"mpi:{name} gave two different sums")
        sums[name] = first
    ring, doubling = sums["ring"], sums["recursive_doubling"]
    assert_all(comm, not np.array_equal(ring, doubling), f"{library}'s forced ring and recursive doubling agree")
