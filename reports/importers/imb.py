"""IMB-MPI1 ``Allreduce``: every ``# #processes = N`` block of the output, banner or not. The
blocks of other benchmarks in the same output are left out, and the import says which.

IMB times calls back to back (``timing`` ``b2b``); its times are the mean of the ranks' averages
(``stat`` ``avg``), with their fastest and slowest where printed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, NamedTuple

from .base import Imported, ImportFormatError, RankAverages, Topology
from .common import MPI_DTYPES, Line, log_lines, parse_number, quoted_failure, read_text, table_cells

IMB_BANNER = re.compile(r"#\s*(?:Intel\s*\(R\)\s*MPI Benchmarks?(?: Suite)?|PALLAS MPI Benchmark Suite)\s+V?([\w.]+)")
# The columns of IMB-MPI1's Allreduce table, as its header names them.
IMB_COLUMNS = {
    "#bytes": "bytes", "#repetitions": "reps",
    "t_min[usec]": "t_min", "t_max[usec]": "t_max", "t_avg[usec]": "t_avg",
    "defects": "defects",
}  # fmt: skip


class ImbBlock(NamedTuple):
    """One ``# Benchmarking NAME`` block: the processes it ran on, those waiting, its table."""

    benchmark: str
    processes: int
    waiting: int
    columns: list[str]
    lines: list[Line]


def _imb_blocks(lines: list[Line], where: str) -> tuple[dict[str, str], list[ImbBlock]]:
    """The banner's fields and the output's benchmark blocks, in order."""
    banner: dict[str, str] = {}
    blocks: list[ImbBlock] = []
    name = ""
    processes = waiting = 0
    columns: list[str] = []
    table: list[Line] = []

    def close() -> None:
        if name:
            blocks.append(ImbBlock(name, processes, waiting, columns, table))

    for line in lines:
        text = line.text
        if match := IMB_BANNER.match(text):
            banner["version"] = match.group(1)
        elif match := re.match(r"#\s*(MPI Version|MPI_Datatype for reductions|MPI_Op)\s*:\s*(\S+)", text):
            banner[match.group(1)] = match.group(2)
        elif match := re.match(r"#\s*Benchmarking\s+(\S+)", text):
            close()
            name, processes, waiting, columns, table = match.group(1), 0, 0, [], []
        elif match := re.match(r"#\s*#processes\s*=\s*(\d+)", text):
            processes = int(match.group(1))
        elif match := re.match(r"#\s*\(\s*(\d+)\s+additional process", text):
            waiting = int(match.group(1))
        elif name and text.startswith("#bytes"):
            columns = text.split()
        elif name and columns and text.split()[0].isdigit():
            table.append(line)
    close()
    for block in blocks:
        if block.processes == 0:
            raise ImportFormatError(f"{where}: IMB block '{block.benchmark}' without its '# #processes = N' line")
    return banner, blocks


def read_imb(path: str | Path, nodes: int | None = None) -> Imported:
    """Rows of IMB-MPI1 ``Allreduce``: one per size of every ``# #processes = N`` block.

    The rank count of each block is the log's. ``nodes`` is the job's node count; a block on
    fewer processes than the job ran on is placed as mpirun and srun place ranks by default, the
    first node filled first.
    """
    where = str(path)
    text = read_text(path)
    lines = log_lines(text)
    banner, blocks = _imb_blocks(lines, where)
    if not blocks:
        raise ImportFormatError(
            f"{where}: no IMB results (no '# Benchmarking NAME' block with its table)"
            + (quoted_failure(text) or ("; the run stopped after the banner" if banner else "; not IMB-MPI1 output"))
        )
    others = sorted({b.benchmark for b in blocks if b.benchmark != "Allreduce"})
    ours = [b for b in blocks if b.benchmark == "Allreduce"]
    if not ours:
        raise ImportFormatError(
            f"{where}: IMB output of {', '.join(others)} but no Allreduce; collbench imports IMB-MPI1 Allreduce "
            "only (run IMB-MPI1 allreduce)"
        )
    notes = []
    if others:
        notes.append(f"left out the IMB benchmarks other than Allreduce: {', '.join(others)}")
    red_type = banner.get("MPI_Datatype for reductions", "MPI_FLOAT")
    if red_type not in MPI_DTYPES:
        raise ImportFormatError(f"{where}: unknown IMB reduction datatype {red_type!r}")
    dtype, elem = MPI_DTYPES[red_type]
    op = banner.get("MPI_Op", "MPI_SUM").removeprefix("MPI_").lower()
    if "version" not in banner:
        notes.append("no IMB banner: IMB-MPI1's defaults assumed (MPI_FLOAT, MPI_SUM)")
    world = max(b.processes + b.waiting for b in ours)
    if nodes is None:
        notes.append("IMB does not say how many nodes ran; 1 assumed (give --nodes N)")
    per_node = world // nodes if nodes and world % nodes == 0 else 0
    if nodes and not per_node:
        raise ImportFormatError(f"{where}: the job ran {world} processes, which --nodes {nodes} does not divide")
    averages = RankAverages("imb-mpi", "b2b", dtype, elem, op, "cpu")
    rows = []
    for block in ours:
        names = [IMB_COLUMNS.get(c, "") for c in block.columns]
        if "" in names or not {"bytes", "t_avg"} <= set(names):
            raise ImportFormatError(
                f"{where}: IMB Allreduce columns {' '.join(block.columns)!r}; expected "
                "'#bytes #repetitions t_min[usec] t_max[usec] t_avg[usec]'"
            )
        topology = _imb_topology(block.processes, nodes or 1, per_node or world)
        for line in block.lines:
            at = line.at(where)
            cell = {name: parse_number(token, at) for name, token in table_cells(line, names, at).items()}
            # IMB's t_min, t_max and t_avg: the fastest, slowest and mean of the ranks' own averages.
            spread_us = {key[2:]: cell[key] for key in ("t_min", "t_max") if key in cell}
            params: dict[str, Any] = {"source": "imb", "imb_version": banner.get("version", "")}
            if "defects" in cell:
                params["defects"] = cell["defects"]
            iters = int(cell.get("reps", 0))
            rows.append(averages.row(topology, int(cell["bytes"]), iters, cell["t_avg"], spread_us, params))
    metadata = {
        "mpi": {
            "library": "(as run by IMB; not in its output)",
            "library_version": f"MPI standard {banner['MPI Version']}" if "MPI Version" in banner else "",
        },
        "packages": {"imb": banner.get("version", "")},
        **Topology(world, nodes or 1, per_node or world, []).header(),
        "env": {},
        "device": {"device": averages.device},
        "config": {"dtype": dtype, "op": op, "processes": sorted({b.processes for b in ours})},
        "source": {"tool": "imb", "format": "text", "file": where, "benchmark": "Allreduce", "left_out": others},
    }
    return Imported(metadata=metadata, rows=rows, notes=notes)


def _imb_topology(processes: int, nodes: int, per_node: int) -> Topology:
    """Where ``processes`` ranks of a job of ``nodes`` x ``per_node`` ran: the first nodes, filled in order."""
    used = min(nodes, -(-processes // per_node))
    if used == 1:
        return Topology(processes, 1, processes, [])
    return Topology(processes, used, per_node if processes % per_node == 0 else 0, [])
