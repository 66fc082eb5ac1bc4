"""Measure the harness's own overhead: collbench's timing of MPI Allreduce against a bare loop.

Both run in the same job, interleaved over several rounds: a bare mpi4py loop of
``comm.Allreduce`` (time = slowest rank's total / iterations) and the exact path ``collbench
run`` takes (algorithm ``mpi`` through the interface, per-iteration samples, slowest rank per
iteration, median). Prints both and their ratio.
"""

from __future__ import annotations

import argparse
from time import perf_counter

import numpy as np

import collectives

from ..iterations import IterationPolicy
from ..options import positive_int
from ..sizes import parse_size
from ..stats import summarize
from ..timing import measure

HELP = "compare collbench's timing of MPI Allreduce with a bare mpi4py loop"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", default="8", help="message size (default: 8 bytes)")
    parser.add_argument("-n", "--iters", type=positive_int, default=2000, help="iterations per round (default: 2000)")
    parser.add_argument("--rounds", type=positive_int, default=7, help="interleaved rounds of each (default: 7)")


def _bare_loop(comm, send: np.ndarray, recv: np.ndarray, iters: int) -> float:
    from mpi4py import MPI

    allreduce = comm.Allreduce
    comm.Barrier()
    start = perf_counter()
    for _ in range(iters):
        allreduce(send, recv, MPI.SUM)
    elapsed = (perf_counter() - start) / iters
    return comm.allreduce(elapsed, op=MPI.MAX)


def main(args: argparse.Namespace) -> int:
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    nbytes = parse_size(args.size)
    count = max(1, nbytes // 4)
    send = np.ones(count, dtype=np.float32)
    recv = np.empty_like(send)
    alg = collectives.create("mpi", comm, count, "float32", "sum")
    policy = IterationPolicy(iters=args.iters)
    bare, p50, mean = [], [], []
    for _ in range(args.rounds):
        bare.append(_bare_loop(comm, send, recv, args.iters))
        stats = summarize(measure(alg.bound(send, recv), send.nbytes, warmup=5, policy=policy, mode="b2b", comm=comm))
        p50.append(stats["p50"])
        mean.append(stats["mean"])
    if comm.Get_rank() == 0:
        b, m, a = float(np.median(bare)), float(np.median(p50)), float(np.median(mean))
        print(
            f"# {comm.Get_size()} ranks, {send.nbytes} B float32 sum, {args.iters} iterations x {args.rounds} rounds (medians over rounds)"
        )
        print(f"bare mpi4py loop:          {b * 1e6:9.3f} us")
        print(f"collbench run (reported):  {m * 1e6:9.3f} us   ratio {m / b:.3f}")
        print(f"collbench run (mean):      {a * 1e6:9.3f} us   ratio {a / b:.3f}")
    return 0
