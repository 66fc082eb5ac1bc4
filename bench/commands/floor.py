"""Show what measuring from Python costs: MPI_Allreduce timed from C, by a bare mpi4py loop and by collbench, per size.

    mpiexec -n 2 collbench floor -b 8 -e 16M

In one job, on the same buffers and MPI library, interleaved over rounds (see bench/floor.py):
the C floor timed as OSU and as IMB time it (built on demand with the MPI's own mpicc), the same
two loops in Python, and ``collbench run --algo mpi`` at its default settings. Times are medians
over rounds of the mean over ranks of each rank's mean time per call (OSU's avg, IMB's t_avg),
in microseconds. The gaps, medians of the rounds' differences: "python" = bare mpi4py minus C,
"harness" = collbench minus bare mpi4py, both with the loop that times as the harness does
(OSU's for --timing barrier, the default; IMB's for b2b). Without a compiler the C columns are
skipped with the reason.
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
from ..floor import LOOPS, METHODS, Methods, compare, open_c_floor
from ..iterations import DEFAULT_BUDGET, IterationPolicy
from ..mpienv import thread_level
from ..options import add_buffer_options, add_mpi_options, add_output_options, positive_float, positive_int
from ..outdir import utc_now
from ..results import ResultsWriter
from ..sizes import parse_factor, parse_size, sweep
from ..timing import DEFAULT_TIMING
from .run import _claim_directory

FLOOR_BUDGET = 0.05
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
        "--rounds", type=positive_int, default=15, help="interleaved rounds of every method per size (default: 15)"
    )
    parser.add_argument(
        "--time-budget",
        type=positive_float,
        default=FLOOR_BUDGET,
        metavar="SECONDS",
        help="time limit of one timed loop (the harness's iteration policy decides every method's count): short "
        f"loops in many rounds keep a drifting machine's speed alike across methods (default: {FLOOR_BUDGET:g}; "
        f"collbench run's is {DEFAULT_BUDGET:g})",
    )
    parser.add_argument(
        "--timing",
        choices=tuple(LOOPS),
        default=DEFAULT_TIMING,
        help=f"how the harness times, as collbench run --timing (default: {DEFAULT_TIMING})",
    )
    add_buffer_options(parser, several=False)
    add_mpi_options(parser)
    add_output_options(parser)


def _check(args: argparse.Namespace) -> tuple[list[int], Any]:
    if args.dtype not in collectives.ALL_DTYPES:
        raise UsageError(f"unknown dtype {args.dtype!r}; expected one of {', '.join(sorted(collectives.ALL_DTYPES))}")
    if args.op not in collectives.ALL_OPS:
        raise UsageError(f"unknown op {args.op!r}; expected one of {', '.join(sorted(collectives.ALL_OPS))}")
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
        "timing": args.timing,
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
        methods = Methods(comm, send[:count], recv[:count], args.dtype, args.op, policy, floor, args.timing)
        try:
            result = compare(methods, args.rounds)
        finally:
            methods.close()
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
    loop = "OSU" if args.timing == "barrier" else "IMB"
    lines = [
        f"# collbench floor: MPI_Allreduce {args.dtype} {args.op} out of place, {meta['nranks']} ranks, {mpi}",
        f"# thread level {threads['provided']} ({threads['reason']}); buffers --align {spec.name}, huge pages "
        f"{spec.huge_pages}; harness --timing {args.timing}; medians over {args.rounds} interleaved rounds",
        "# times in us: mean over ranks of each rank's mean time per call (OSU's avg, IMB's t_avg; 'C tmax' is "
        "IMB's t_max); cb med is collbench's default statistic",
        f"# medians of the rounds': python = py {loop} - C {loop}; harness = cb avg - py {loop}; cb/C = cb avg / C OSU",
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
    gaps = record["gaps"]
    python, harness = gaps.get("python", math.nan) * 1e6, gaps["harness"] * 1e6
    ratio = record.get("ratio_medians", {}).get("harness", math.nan)
    return (
        f" {record['bytes']:>11} {record['iters']:>6} {cells} {_cell(python, 8)} {_cell(harness, 8)} {_cell(ratio, 6)}"
    )


def _cell(number: float, width: int) -> str:
    return f"{'-':>{width}}" if math.isnan(number) else f"{number:>{width}.2f}"
