"""Show what measuring from Python costs: MPI_Allreduce timed from C, by a bare mpi4py loop and by collbench, per size.

    mpiexec -n 2 collbench floor -b 8 -e 16M

In one job, on the same buffers and MPI library, interleaved over rounds (see bench/floor.py):
the C floor timed as OSU and as IMB time it (built on demand with the MPI's own mpicc), the same
two loops in Python, and ``collbench run --algo mpi`` at its default settings. Times are medians
over rounds of the mean over ranks of each rank's mean time per call (OSU's avg, IMB's t_avg),
in microseconds. The gaps: "python" = bare mpi4py minus C (both as IMB times), "harness" =
collbench minus bare mpi4py (both back to back). Without a compiler the C columns are skipped
with the reason.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

import collectives

from ..buffers import check_itemsize, host_empty, parse_align, transparent_huge_pages
from ..environment import describe
from ..errors import UsageError
from ..floor import METHODS, compare, open_c_floor
from ..iterations import DEFAULT_BUDGET, IterationPolicy
from ..mpienv import thread_level
from ..options import add_buffer_options, add_mpi_options, add_output_options, positive_float, positive_int
from ..outdir import utc_now
from ..results import ResultsWriter
from ..sizes import parse_factor, parse_size, sweep
from .run import _claim_directory

HELP = "time MPI_Allreduce from C (as OSU and IMB do), from bare mpi4py and through collbench, side by side"

COLUMNS = (
    ("C OSU", "c-osu", "avg"),
    ("C IMB", "c-imb", "avg"),
    ("C tmax", "c-imb", "max"),
    ("py OSU", "py-osu", "avg"),
    ("py IMB", "py-imb", "avg"),
    ("cb avg", "harness", "avg"),
    ("cb med", "harness", "median"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-b", "--minbytes", default="8", help="smallest message size (default: 8)")
    parser.add_argument("-e", "--maxbytes", default="16M", help="largest message size (default: 16M)")
    parser.add_argument("-f", "--stepfactor", default="2", help="multiply the size by this each step (default: 2)")
    parser.add_argument("-d", "--dtype", default="float32", help="the dtype (default: float32)")
    parser.add_argument("-o", "--op", default="sum", help="the reduction (default: sum)")
    parser.add_argument(
        "--rounds", type=positive_int, default=3, help="interleaved rounds of every method per size (default: 3)"
    )
    parser.add_argument(
        "--time-budget",
        type=positive_float,
        default=DEFAULT_BUDGET,
        metavar="SECONDS",
        help=f"the harness's time limit per timed loop, as in collbench run (default: {DEFAULT_BUDGET:g})",
    )
    add_buffer_options(parser, several=False)
    add_mpi_options(parser)
    add_output_options(parser)


def _check(args: argparse.Namespace) -> tuple[list[int], Any]:
    if args.dtype not in collectives.DTYPES:
        raise UsageError(f"unknown dtype {args.dtype!r}; expected one of {', '.join(collectives.DTYPES)}")
    if args.op not in collectives.OPS:
        raise UsageError(f"unknown op {args.op!r}; expected one of {', '.join(collectives.OPS)}")
    itemsize = collectives.DTYPES[args.dtype].itemsize
    minbytes = parse_size(args.minbytes, "min size (-b)")
    maxbytes = parse_size(args.maxbytes, "max size (-e)")
    for what, value in (("min size (-b)", minbytes), ("max size (-e)", maxbytes)):
        if value % itemsize or value == 0:
            raise UsageError(f"{what} {value} B is not a positive multiple of the {itemsize}-byte {args.dtype}")
    specs = parse_align(args.align, args.huge_pages)
    if len(specs) > 1:
        raise UsageError(f"floor measures one buffer placement; give one --align value, not {args.align!r}")
    check_itemsize(specs[0], args.dtype, itemsize)
    sizes = [s for s in sweep(minbytes, maxbytes, parse_factor(args.stepfactor)) if s % itemsize == 0]
    return sizes, specs[0]


def main(args: argparse.Namespace) -> int:
    sizes, spec = _check(args)
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    root = comm.Get_rank() == 0
    threads = thread_level()
    floor, reason = open_c_floor(comm)
    out_dir = _claim_directory(comm, args.out)
    meta = describe(comm)
    meta["mpi"]["thread_level"] = threads
    config = {
        "sizes": sizes,
        "dtype": args.dtype,
        "op": args.op,
        "rounds": args.rounds,
        "time_budget_s": args.time_budget,
        "align": spec.name,
        "huge_pages": spec.huge_pages,
        "transparent_huge_pages": transparent_huge_pages(),
        "methods": list(METHODS),
    }
    writer = (
        ResultsWriter(out_dir, {"label": args.label, "start_time": utc_now(), **meta, "config": config})
        if root
        else None
    )
    out = sys.stdout if root else None
    _print(out, _heading(meta, threads, spec, args))
    if reason:
        _print(out, f"# skipped: C floor: {reason}")
        if writer:
            writer.add_skip({"algo": "c-floor", "p": comm.Get_size(), "reason": reason})
    dtype = collectives.DTYPES[args.dtype]
    send, recv = (host_empty(max(sizes) // dtype.itemsize, dtype, spec) for _ in range(2))
    send.fill(1)  # every page touched before anything is timed
    recv.fill(0)
    policy = IterationPolicy(budget=args.time_budget)
    for nbytes in sizes:
        count = nbytes // dtype.itemsize
        result = compare(comm, send[:count], recv[:count], args.dtype, args.op, policy, args.rounds, floor)
        record = {"bytes": nbytes, "count": count, "dtype": args.dtype, "op": args.op, "p": comm.Get_size(), **result}
        if writer:
            writer.add_floor(record)
        _print(out, _row(record))
    if writer:
        writer.close({"end_time": utc_now(), "complete": True})
    _print(out, f"# written to {out_dir}")
    return 0


def _print(stream: Any, text: str) -> None:
    if stream is not None:
        print(text, file=stream, flush=True)


def _heading(meta: dict[str, Any], threads: dict[str, str], spec: Any, args: argparse.Namespace) -> str:
    mpi = meta["mpi"]["library"]
    lines = [
        f"# collbench floor: MPI_Allreduce {args.dtype} {args.op} out of place, {meta['nranks']} ranks, {mpi}",
        f"# thread level {threads['provided']} ({threads['reason']}); buffers --align {spec.name}, huge pages "
        f"{spec.huge_pages}; medians over {args.rounds} interleaved rounds",
        "# times in us: mean over ranks of each rank's mean time per call (OSU's avg, IMB's t_avg; 'C tmax' is "
        "IMB's t_max); cb med is collbench's default statistic",
        "# python = py IMB - C IMB; harness = cb avg - py IMB; cb/C = cb avg / C OSU",
        f"#{'size':>11} {'iters':>6} "
        + " ".join(f"{name:>9}" for name, _, _ in COLUMNS)
        + f" {'python':>8} {'harness':>8} {'cb/C':>6}",
    ]
    return "\n".join(lines)


def _row(record: dict[str, Any]) -> str:
    medians = record["medians"]

    def value(method: str, stat: str) -> float:
        return medians.get(method, {}).get(stat, math.nan) * 1e6

    cells = " ".join(_cell(value(method, stat), 9) for _, method, stat in COLUMNS)
    python = value("py-imb", "avg") - value("c-imb", "avg")
    harness = value("harness", "avg") - value("py-imb", "avg")
    ratio = value("harness", "avg") / value("c-osu", "avg")
    return (
        f" {record['bytes']:>11} {record['iters']:>6} {cells} {_cell(python, 8)} {_cell(harness, 8)} {_cell(ratio, 6)}"
    )


def _cell(number: float, width: int) -> str:
    return f"{'-':>{width}}" if math.isnan(number) else f"{number:>{width}.2f}"
