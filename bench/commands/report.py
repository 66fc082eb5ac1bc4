"""Build the HTML performance report from stored results: one self-contained file that works offline.

    collbench report results/RUN [results/OTHER ...] --out report.html [--label A --label B]

Several result sets (two clusters, two commits) appear side by side, with ratio plots against
the first. Never runs MPI; result files are only read as JSON or CSV text.
"""

from __future__ import annotations

import argparse
import gc
import time

from ..errors import UsageError
from ..results import ResultsError
from ..sizes import parse_size
from ..stats import STATISTICS

HELP = "build the HTML report (plots, winner map, correctness, all rows) from result files"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", help="results directories or files (.json, .jsonl, .csv)")
    parser.add_argument(
        "-o",
        "--out",
        "--output",
        dest="output",
        metavar="FILE",
        default="report.html",
        help="the HTML file to write (default: report.html)",
    )
    parser.add_argument(
        "--label",
        action="append",
        default=[],
        help="name of a result set, once per RESULTS in order (default: the run's label or its directory name)",
    )
    parser.add_argument(
        "--baseline", help="algorithm the ratio plots compare against (default: mpi, else nccl, else the first)"
    )
    parser.add_argument(
        "--sizes", help="sizes for the per-iteration distributions, e.g. 8,64K,1M (default: smallest, middle, largest)"
    )
    parser.add_argument("--title", default="", help="the page title (default: from the labels)")
    parser.add_argument(
        "--stat",
        choices=tuple(STATISTICS),
        help="the statistic shown as each row's time: "
        + "; ".join(f"{name}: {what}" for name, (_, what) in STATISTICS.items())
        + " (default: each row's own, chosen by collbench run --stat)",
    )


def main(args: argparse.Namespace) -> int:
    # The loaded rows are objects that live until the command ends: looking for cycles among them would take a
    # quarter of its time and free nothing.
    gc.disable()
    try:
        return _report(args)
    finally:
        gc.enable()


def _report(args: argparse.Namespace) -> int:
    from reports.data import load_sets
    from reports.html import write_report

    sizes = [parse_size(s.strip(), "--sizes entry") for s in args.sizes.split(",") if s.strip()] if args.sizes else None
    started = time.perf_counter(), time.process_time()
    try:
        sets = load_sets(args.results, args.label)
    except ResultsError as exc:
        raise UsageError(str(exc)) from None
    loaded = time.perf_counter(), time.process_time()
    series = set()
    for s in sets:
        series.update(s.frame["algo"].astype(str))
    if args.baseline and args.baseline not in series:
        raise UsageError(f"baseline {args.baseline!r} is not in the results; they hold {', '.join(sorted(series))}")
    try:
        path = write_report(args.output, sets, baseline=args.baseline, sizes=sizes, title=args.title, stat=args.stat)
    except OSError as exc:
        raise UsageError(f"cannot write {args.output!r}: {exc.strerror}; choose another path with --out") from None
    done = time.perf_counter(), time.process_time()
    rows = sum(len(s.frame) for s in sets)
    # wall-clock seconds, and the CPU's (less than the wall's where other work shares the cores)
    read, built = (f"{b[0] - a[0]:.1f} s (CPU {b[1] - a[1]:.1f} s)" for a, b in ((started, loaded), (loaded, done)))
    print(
        f"# report of {rows} rows from {len(sets)} result set(s): read in {read}, built in {built}, "
        f"{path.stat().st_size / 1e6:.1f} MB"
    )
    print(path)
    return 0
