"""Compare two runs row by row and flag significant regressions (exit 1), for CI and cron jobs.

    collbench compare results/BASE results/NEW [--threshold 5%] [--alpha 0.05]

Each matching measurement's per-iteration samples are compared with a Mann-Whitney U test
(p-values adjusted for the number of rows with Benjamini-Hochberg) and the relative change of
the median time. Exit status: 0 when no row got significantly slower by more than the
threshold, 1 when one did, 2 for unreadable input or nothing to compare.
"""

from __future__ import annotations

import argparse

from ..errors import UsageError
from ..results import ResultsError, load

HELP = "compare two runs: significance test per row; exit 1 on a significant regression"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", help="the reference run (directory or results file)")
    parser.add_argument("new", help="the run to judge against it")
    parser.add_argument(
        "--threshold", default="5%", help="smallest change in median time that counts, e.g. 5%% or 0.05 (default: 5%%)"
    )
    parser.add_argument(
        "--alpha", type=float, default=0.05, help="significance level after the row-count adjustment (default: 0.05)"
    )
    parser.add_argument("--all", action="store_true", help="also list unchanged and untested rows")


def main(args: argparse.Namespace) -> int:
    from reports.compare import compare, describe_row, parse_threshold

    try:
        threshold = parse_threshold(args.threshold)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not 0 < args.alpha < 1:
        raise UsageError(f"--alpha {args.alpha} must be between 0 and 1, e.g. 0.05")
    try:
        base, new = load(args.base), load(args.new)
    except ResultsError as exc:
        raise UsageError(str(exc)) from None
    result = compare(base, new, threshold=threshold, alpha=args.alpha)
    rows = result.rows
    if rows.empty:
        aligns = [", ".join(sorted(set(df["align"].astype(str)))) or "-" for df in (base, new)]
        hint = f"; their buffers differ (--align {aligns[0]} against {aligns[1]})" if aligns[0] != aligns[1] else ""
        raise UsageError(
            f"no measurement of {args.new} matches one of {args.base} (same algorithm, topology, size, dtype, op, "
            f"placement, timing and buffer placement){hint}; nothing to compare"
        )
    counts = rows["verdict"].value_counts()
    print(
        f"# {len(rows)} matching rows: {counts.get('regression', 0)} regressions, "
        f"{counts.get('improvement', 0)} improvements, {counts.get('unchanged', 0)} unchanged, "
        f"{counts.get('untested', 0)} untested (fewer than 3 samples); threshold {threshold:.1%}, alpha {args.alpha}"
    )
    if result.only_base or result.only_new:
        print(f"# unmatched: {result.only_base} rows only in the base run, {result.only_new} only in the new run")
    for setting in ("thread_level", "stat"):
        values = [", ".join(sorted(set(df[setting].astype(str)))) for df in (base, new)]
        if values[0] != values[1]:
            print(f"# note: the runs differ in {setting}: {values[0]} against {values[1]}")
    print("# change = median(new) / median(base) - 1 of the per-iteration time; + is slower; p adjusted (BH)")
    sections = [("regressions", result.regressions), ("improvements", result.improvements)]
    if args.all:
        sections += [(v, rows[rows["verdict"] == v]) for v in ("unchanged", "untested")]
    for title, part in sections:
        if len(part):
            print(f"\n# {title}")
            for _, row in part.iterrows():
                print(describe_row(row))
    if len(result.regressions):
        worst = result.regressions.iloc[0]
        print(f"\nREGRESSION: {len(result.regressions)} row(s) significantly slower; worst {worst['change']:+.1%}")
        return 1
    return 0
