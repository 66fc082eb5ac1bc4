"""Convert other tools' all-reduce results into a collbench results directory.

    collbench import nccl-tests all_reduce_perf.log [-o DIR] [--label TEXT]
    collbench import nccl-tests nccl.json            # the file written by all_reduce_perf -J
    collbench import osu osu_allreduce.txt --ranks 64 [--nodes 8]
    collbench import imb IMB-MPI1.log [--nodes 8]    # the Allreduce blocks of IMB-MPI1 output

The directory holds the same three files as a sweep's, so `collbench report` and `collbench
compare` take it like any other run. nccl-tests rows are algorithm `nccl`, OSU rows `osu-mpi`,
IMB rows `imb-mpi`; where a tool prints only an average per size, that average is the row's
single sample and its params say "samples": "average only". Launcher prefixes (mpirun
--tag-output, srun --label, timestamps) are stripped from every line.
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..errors import UsageError
from ..options import positive_int
from ..outdir import claim, utc_now
from ..results import ResultsWriter

HELP = "import nccl-tests, OSU or IMB all-reduce output as collbench results"

TOOLS = {
    "nccl-tests": ("an all_reduce_perf text log or its -J JSON file", "default: from the log"),
    "osu": ("osu_allreduce output (with or without -f full statistics)", "OSU does not print it"),
    "imb": ("IMB-MPI1 output: its Allreduce blocks, one per '#processes = N'", None),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    tools = parser.add_subparsers(dest="tool", metavar="TOOL", required=True)
    for name, (text, ranks_help) in TOOLS.items():
        sub = tools.add_parser(name, help=text, description=text)
        sub.add_argument("file", help="the output to import")
        sub.add_argument(
            "-o",
            "--out",
            metavar="DIR",
            help="results directory (default: results/<UTC timestamp>); never overwritten",
        )
        sub.add_argument("--label", default="", help="a name for the run in reports and comparisons")
        if ranks_help:
            sub.add_argument("--ranks", type=positive_int, help=f"number of ranks of the run ({ranks_help})")
        sub.add_argument(
            "--nodes", type=positive_int, help="number of nodes when the output does not list hosts (default: 1)"
        )


def main(args: argparse.Namespace) -> int:
    from reports.importers import IMPORTERS, ImportFormatError

    options = {"nodes": args.nodes}
    if hasattr(args, "ranks"):
        options["ranks"] = args.ranks
    try:
        imported = IMPORTERS[args.tool](args.file, **options)
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
    checked = [int(r["nwrong"]) for r in imported.rows if r["nwrong"] is not None]
    footer = {"end_time": utc_now(), "complete": imported.complete, "nwrong_total": sum(checked) if checked else None}
    if imported.reason:
        footer["reason"] = imported.reason
    writer.close(footer)
    for note in imported.notes:
        print(f"# note: {note}")
    print(f"# imported {len(imported.rows)} rows from {args.tool} output {args.file}")
    print(out)
    return 0
