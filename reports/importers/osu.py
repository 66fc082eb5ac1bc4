"""OSU ``osu_allreduce``: the text output, with or without ``# Datatype:``, with the ``-f``
full-statistics columns (min, max, iterations) and the ``-c`` validation column.

OSU times each call after a barrier (``timing`` ``barrier``); its times are the mean of the
ranks' averages (``stat`` ``avg``), with their fastest and slowest where printed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .base import Imported, ImportFormatError, RankAverages, topology_of
from .common import MPI_DTYPES, Line, log_lines, one_writer, parse_number, quoted_failure, read_text, table_cells

OSU_TITLE = re.compile(r"^#\s*OSU MPI(?:-(\w+))?\s+(.+?)\s+Test(?:\s+v(\S+))?\s*$")
OSU_COLUMNS = {
    "Size": "size",
    "Avg Latency(us)": "avg",
    "Min Latency(us)": "min",
    "Max Latency(us)": "max",
    "Iterations": "iters",
    "Validation": "validation",
    "P50 Tail Lat(us)": "p50",
    "P90 Tail Lat(us)": "p90",
    "P99 Tail Lat(us)": "p99",
}
# A launcher's command line in the log that started osu_allreduce itself, with its rank count.
LAUNCH = re.compile(
    r"\b(?:mpirun|mpiexec|mpirun_rsh|srun|aprun)\b.*?\s(?:-np|-n|--np|--ntasks)[\s=](\d+)\b.*osu_allreduce"
)


def read_osu(path: str | Path, ranks: int | None = None, nodes: int | None = None) -> Imported:
    """Rows of an OSU ``osu_allreduce`` run from its text output (``-f`` and ``-c`` columns included).

    OSU does not print the rank count: ``ranks`` gives it, unless the log holds the command line
    that launched ``osu_allreduce`` with ``-np N``.
    """
    where = str(path)
    text = read_text(path)
    title = device = version = ""
    dtype, elem = "float32", 4
    columns: list[str] | None = None
    data: list[Line] = []
    launched: int | None = None
    for line in log_lines(text):
        stripped = line.text
        if match := LAUNCH.search(stripped):
            launched = int(match.group(1))
        if stripped.startswith("#"):
            if match := OSU_TITLE.match(stripped):
                device, title, version = (match.group(1) or "").lower(), match.group(2), match.group(3) or ""
            elif match := re.match(r"#\s*Datatype:\s*(\w+)", stripped):
                if match.group(1) not in MPI_DTYPES:
                    raise ImportFormatError(f"{line.at(where)}: unknown OSU datatype {match.group(1)!r}")
                dtype, elem = MPI_DTYPES[match.group(1)]
            elif stripped.lstrip("# ").startswith("Size"):
                names = re.split(r"\s{2,}", stripped.lstrip("#").strip())
                unknown = [n for n in names if n not in OSU_COLUMNS]
                if unknown:
                    raise ImportFormatError(f"{line.at(where)}: unknown OSU column(s) {', '.join(unknown)}")
                columns = [OSU_COLUMNS[n] for n in names]
            continue
        if stripped.split()[0].isdigit():
            data.append(line)
    if not title:
        failure = quoted_failure(text)
        if failure:
            raise ImportFormatError(
                f"{where}: no OSU results: the run failed before osu_allreduce printed any{failure}; "
                "fix the launch and run it again"
            )
        raise ImportFormatError(f"{where}: not OSU benchmark output (no '# OSU MPI ... Latency Test' line)")
    if title != "Allreduce Latency":
        raise ImportFormatError(f"{where}: this is the OSU {title} test; collbench imports osu_allreduce only")
    if columns is None or "avg" not in columns:
        raise ImportFormatError(f"{where}: no '# Size  Avg Latency(us)' column header")
    if not data:
        raise ImportFormatError(
            f"{where}: an OSU header but no result lines; the run stopped before its first size" + quoted_failure(text)
        )
    one_writer(data, where, "osu_allreduce")
    notes = []
    if ranks is None and launched is not None:
        ranks = launched
        notes.append(f"{ranks} ranks, from the launch command in the log")
    elif ranks is not None and launched is not None and ranks != launched:
        raise ImportFormatError(f"{where}: --ranks says {ranks} but the log's launch command starts {launched}")
    if ranks is None:
        raise ImportFormatError(f"{where}: OSU does not print how many ranks ran; give --ranks P")
    topology = topology_of([], ranks, nodes, where)
    if nodes is None:
        notes.append("OSU does not say how many nodes ran; 1 assumed (give --nodes N)")
    averages = RankAverages("osu-mpi", "barrier", dtype, elem, "sum", "gpu" if device else "cpu")
    rows = []
    for line in data:
        at = line.at(where)
        cell = table_cells(line, columns, at)
        nbytes = int(parse_number(cell["size"], at))
        avg_us = parse_number(cell["avg"], at)
        # OSU's Avg, Min and Max Latency are the mean, fastest and slowest of the ranks' own averages.
        spread_us = {key: parse_number(cell[key], at) for key in ("min", "max") if key in cell}
        params: dict[str, Any] = {"source": "osu", "osu_version": version}
        if device:
            params["device"] = device
        params.update({f"{key}_rank_average_us": value for key, value in spread_us.items()})
        nwrong = None
        if "validation" in cell:
            params["validation"] = cell["validation"]
            nwrong = 0 if cell["validation"].lower() == "pass" else 1
        stats: dict[str, float | None] = {k: parse_number(cell[k], at) * 1e-6 for k in ("p50", "p99") if k in cell}
        iters = int(parse_number(cell["iters"], at)) if "iters" in cell else 0
        rows.append(averages.row(topology, nbytes, iters, avg_us, spread_us, params, nwrong, stats))
    metadata = {
        "mpi": {"library": "(as run by OSU; not in its output)", "library_version": ""},
        "packages": {"osu-micro-benchmarks": version},
        **topology.header(),
        "env": {},
        "device": {"device": averages.device, **({"buffers": device} if device else {})},
        "config": {"dtype": dtype, "sizes": [r["bytes"] for r in rows]},
        "source": {"tool": "osu", "format": "text", "file": where, "test": f"OSU MPI {title} Test v{version}"},
    }
    return Imported(metadata=metadata, rows=rows, notes=notes)
