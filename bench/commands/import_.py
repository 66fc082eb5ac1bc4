"""Convert other tools' all-reduce results into a collbench results directory.

    collbench import nccl-tests all_reduce_perf.log [--out DIR] [--label TEXT]
    collbench import nccl-tests nccl.json            # the file written by all_reduce_perf -J
    collbench import osu osu_allreduce.txt --ranks 64 [--nodes 8]

The directory holds the same three files as a sweep's (schema version 1), so `collbench report`
and `collbench compare` take it like any other run. nccl-tests rows are algorithm `nccl`, OSU
rows `osu-mpi`; where a tool prints only an average per size, that average is the row's single
sample and its params say "samples": "average only".
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..errors import UsageError
from ..options import positive_int
from ..outdir import claim, utc_now
from ..results import ResultsWriter

HELP = "import nccl-tests or OSU all-reduce output as collbench results"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    tools = parser.add_subparsers(dest="tool", metavar="TOOL", required=True)
    for name, text in (
        ("nccl-tests", "an all_reduce_perf text log or its -J JSON file"),
        ("osu", "osu_allreduce output (with or without -f full statistics)"),
    ):
        sub = tools.add_parser(name, help=text, description=text)
        sub.add_argument("file", help="the output to import")
        sub.add_argument(
            "--out", metavar="DIR", help="results directory (default: results/<UTC timestamp>); never overwritten"
        )
        sub.add_argument("--label", default="", help="a name for the run in reports and comparisons")
        sub.add_argument(
            "--ranks",
            type=positive_int,
            required=name == "osu",
            help="number of ranks of the run"
            + (" (OSU does not print it)" if name == "osu" else " (default: from the log)"),
        )
        sub.add_argument(
            "--nodes", type=positive_int, help="number of nodes when the output does not list hosts (default: 1)"
        )


def main(args: argparse.Namespace) -> int:
    from reports.importers import IMPORTERS, ImportFormatError

    try:
        imported = IMPORTERS[args.tool](args.file, ranks=args.ranks, nodes=args.nodes)
    except ImportFormatError as exc:
        raise UsageError(str(exc)) from None
    out = claim(args.out)
    start = utc_now()
    header = {
        "collbench_version": __version__,
        "label": args.label,
        "argv": ["collbench", *sys.argv[1:]]
        if sys.argv[1:2] == ["import"]
        else ["collbench", "import", args.tool, args.file],
        "start_time": start,
        "platform": {},
        **imported.metadata,
    }
    writer = ResultsWriter(out, header)
    for row in imported.rows:
        writer.add_row(row)
    for skip in imported.skips:
        writer.add_skip(skip)
    nwrong = sum(int(r["nwrong"] or 0) for r in imported.rows)
    writer.close({"end_time": utc_now(), "complete": True, "nwrong_total": nwrong})
    print(f"# imported {len(imported.rows)} rows from {args.tool} output {args.file}")
    print(out)
    return 0
