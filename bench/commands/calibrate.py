"""Measure alpha, beta (Sendrecv exchange sweep) and gamma (local reduction) on this job, and fit them.

Writes a results directory holding only the calibration; ``collbench model`` reads it (or the
calibration inside any ``collbench run --calibrate`` results).
"""

from __future__ import annotations

import argparse
import sys

import collectives

from ..buffers import check_itemsize, parse_align
from ..calibrate import calibrate, describe_calibration
from ..environment import describe
from ..errors import UsageError
from ..mpienv import thread_level
from ..options import add_buffer_options, add_mpi_options, add_output_options, split_list
from ..outdir import utc_now
from ..results import ResultsWriter
from ..topology import node_ids
from .run import _claim_directory

HELP = "measure and fit the cost model's alpha, beta and gamma"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-d", "--dtype", default="float32", help="dtypes whose reduction rate to measure (default: float32)"
    )
    add_buffer_options(parser, several=False)
    add_mpi_options(parser)
    add_output_options(parser, short=True)  # -o is free here (run and floor use it for --op)


def main(args: argparse.Namespace) -> int:
    dtypes = split_list(args.dtype, collectives.DTYPES, "dtype")
    specs = parse_align(args.align, args.huge_pages)
    if len(specs) > 1:
        raise UsageError(f"calibrate measures one buffer placement; give one --align value, not {args.align!r}")
    for dtype in dtypes:
        check_itemsize(specs[0], dtype, collectives.DTYPES[dtype].itemsize)
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    root = comm.Get_rank() == 0
    out_dir = _claim_directory(comm, args.out)
    meta = describe(comm)
    meta["mpi"]["thread_level"] = thread_level()
    writer = (
        ResultsWriter(out_dir, {"label": args.label, "start_time": utc_now(), **meta, "config": {"dtypes": dtypes}})
        if root
        else None
    )
    node_of = node_ids(meta["hosts"], None)  # two levels when the job spans hosts
    record = {**calibrate(comm, dtypes, specs[0], node_of=node_of), "nodes": meta["nodes"]}
    if writer:
        writer.add_calibration(record)
        writer.close({"end_time": utc_now(), "complete": True})
        print(f"# {describe_calibration(record)}", file=sys.stdout)
        print(f"# written to {out_dir}")
    return 0
