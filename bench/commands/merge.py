"""Put the rows of several runs into one results directory.

    collbench merge results/impi/* --out results/impi-all [--label TEXT]

For what one launch cannot measure: Intel MPI reads ``I_MPI_ADJUST_ALLREDUCE`` at start-up only,
so each of its presets is a launch of its own (``mpi:preset-N``), and the library's own choice
(``mpi``) another. Merged, they are one run for ``collbench tune``, ``report`` and ``compare``.
Every row keeps the start time and label of its launch (``tune`` pairs rows timed side by side
by them), and the header lists the launches with what each one's environment set for the
library's all-reduce selection. The runs must come from one MPI library.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from collectives.mpiforce import STEERING

from .. import __version__
from ..errors import UsageError
from ..outdir import claim, utc_now
from ..results import ResultsError, ResultsWriter, read_document

HELP = "put the rows of several runs (one launch per Intel MPI preset, say) into one results directory"

FOOTER = ("end_time", "complete", "nwrong_total", "rows", "skips", "calibrations", "floor")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", help="results directories or files, one per launch")
    parser.add_argument(
        "-o", "--out", metavar="DIR", help="results directory (default: results/<UTC timestamp>); never overwritten"
    )
    parser.add_argument("--label", default="", help="a name for the merged run (default: the first run's)")


def main(args: argparse.Namespace) -> int:
    try:
        documents = [(path, read_document(path)) for path in args.runs]
    except ResultsError as exc:
        raise UsageError(str(exc)) from None
    vendors = {document.get("mpi", {}).get("vendor", "") for _, document in documents}
    if len(vendors) > 1:
        raise UsageError(f"the runs come from {len(vendors)} MPI libraries ({', '.join(sorted(vendors))}); merge one")
    first = documents[0][1]
    header = {
        key: value for key, value in first.items() if key not in FOOTER and key not in ("schema", "schema_version")
    }
    header.update(
        collbench_version=__version__,
        label=args.label or first.get("label", ""),
        start_time=min(document.get("start_time", "") for _, document in documents),
        merged=[_launch(path, document) for path, document in documents],
    )
    writer = ResultsWriter(claim(args.out), header)
    for path, document in documents:
        launch = {"run_start": document.get("start_time", ""), "label": document.get("label") or _name(path)}
        for row in document.get("rows", []):
            writer.add_row({**launch, **row})
        for skip in document.get("skips", []):
            writer.add_skip(skip)
        for calibration in document.get("calibrations", []):
            writer.add_calibration(calibration)
    writer.close(
        {
            "end_time": max((document.get("end_time") or "" for _, document in documents), default="") or utc_now(),
            "complete": all(document.get("complete", True) for _, document in documents),
            "nwrong_total": sum(int(document.get("nwrong_total") or 0) for _, document in documents),
        }
    )
    rows = len(writer.rows)
    print(f"# {rows} measurements of {len(documents)} runs written to {writer.directory}")
    return 0


def _name(path: str) -> str:
    return os.path.basename(os.path.normpath(path)) if os.path.isdir(path) else os.path.basename(os.path.dirname(path))


def _launch(path: str, document: dict[str, Any]) -> dict[str, Any]:
    """What the merged header says of one run: where it came from and what steered the library."""
    env = document.get("env", {})
    return {
        "path": path,
        "label": document.get("label", ""),
        "start_time": document.get("start_time", ""),
        "complete": document.get("complete", True),
        "argv": document.get("argv", []),
        "steering": {name: value for name, value in env.items() if STEERING.fullmatch(name)},
    }
