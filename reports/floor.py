"""The report's floor section: one MPI_Allreduce timed from C, by a bare mpi4py loop and by collbench (``collbench floor``).

A table per run (times in µs: the medians over rounds of the mean over ranks of each rank's mean
time per call), the gaps that are the costs of Python and of the harness, and two plots: the
times against size, and each method's time over the C floor timed as OSU times it (the median of
the ratios taken round by round).
"""

from __future__ import annotations

import math
from typing import Any

from .data import ResultSet
from .figures import PALETTE, Plots, esc, finite, log_axis, size_axis, size_label, time_label

METHODS = {
    "c-osu": "C, OSU's loop",
    "c-imb": "C, IMB's loop",
    "py-osu": "bare mpi4py, OSU's loop",
    "py-imb": "bare mpi4py, IMB's loop",
    "harness": "collbench run",
}
COLUMNS = [  # (heading, method, statistic)
    ("C OSU avg", "c-osu", "avg"),
    ("C IMB t_avg", "c-imb", "avg"),
    ("C IMB t_max", "c-imb", "max"),
    ("mpi4py OSU avg", "py-osu", "avg"),
    ("mpi4py IMB t_avg", "py-imb", "avg"),
    ("collbench avg", "harness", "avg"),
    ("collbench median", "harness", "median"),
]


def floor_section(sets: list[ResultSet], plots: Plots) -> str:
    """The section, or an empty string when no set holds a floor."""
    parts = [_one(s, plots) for s in sets if s.metadata.get("floor")]
    if not parts:
        return ""
    return (
        "<section id='floor'><h2>What measuring from Python costs</h2>"
        "<p>MPI_Allreduce on the same buffers and MPI library, in one job, interleaved over rounds: "
        "timed from C as OSU and as IMB time it, by the same two loops in Python, and by "
        "<code>collbench run --algo mpi</code> at its defaults. Medians over the rounds, in µs; <b>python</b> = "
        "mpi4py minus C and <b>harness</b> = collbench minus mpi4py, each with the loop that times as the harness "
        "does, and collbench / C, are medians of the rounds' own differences and ratios.</p>"
        + "".join(parts)
        + "</section>"
    )


def _value(record: dict[str, Any], method: str, stat: str) -> float:
    medians = record.get("medians") or {}
    value = (medians.get(method) or {}).get(stat)
    return math.nan if value is None else float(value) * 1e6


def _cell(value: float) -> str:
    return "-" if not math.isfinite(value) else f"{value:.2f}"


def _one(s: ResultSet, plots: Plots) -> str:
    records = sorted((r for r in s.metadata["floor"] if isinstance(r, dict)), key=lambda r: int(r.get("bytes", 0)))
    head = "".join(f"<th>{esc(h)}</th>" for h in ["size", "iterations", *(c[0] for c in COLUMNS)])
    head += "<th>python</th><th>harness</th><th>collbench / C</th>"
    rows = []
    for r in records:
        cells = [_value(r, method, stat) for _, method, stat in COLUMNS]
        gaps = r.get("gaps") or {}
        python, harness = (float(gaps.get(k, math.nan)) * 1e6 for k in ("python", "harness"))
        ratio = float((r.get("ratio_medians") or {}).get("harness", math.nan))
        rows.append(
            f"<tr><td>{esc(size_label(int(r.get('bytes', 0))))}</td><td>{esc(r.get('iters', ''))}</td>"
            + "".join(f"<td>{_cell(v)}</td>" for v in cells)
            + f"<td>{_cell(python)}</td><td>{_cell(harness)}</td><td>{_cell(ratio)}</td></tr>"
        )
    config = s.metadata.get("config") or {}
    thread = ((s.metadata.get("mpi") or {}).get("thread_level") or {}).get("provided", "?")
    caption = (
        f"{esc(s.label)}: {esc(s.metadata.get('nranks', '?'))} ranks, {esc(config.get('dtype', ''))} "
        f"{esc(config.get('op', ''))}, thread level {esc(thread)}, --align {esc(config.get('align', ''))}, "
        f"medians over {esc(config.get('rounds', ''))} rounds"
    )
    sizes = [int(r.get("bytes", 0)) for r in records]
    times, ratios = [], []
    for i, (method, name) in enumerate(METHODS.items()):
        values = [_value(r, method, "avg") for r in records]
        if not any(math.isfinite(v) for v in values):
            continue
        line = {"color": PALETTE[i % len(PALETTE)]}
        times.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": esc(name),
                "x": sizes,
                "y": finite(values),
                "line": line,
            }
        )
        paired = [float((r.get("ratio_medians") or {}).get(method, math.nan)) for r in records]
        ratios.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "name": esc(name),
                "x": sizes,
                "y": finite(paired),
                "line": line,
            }
        )
    figures = plots.figure(
        times,
        {
            "title": {"text": "time per call (mean over ranks)"},
            "xaxis": size_axis(sizes),
            "yaxis": log_axis([v for t in times for v in t["y"] if v is not None], "time", time_label),
        },
    )
    if any(r.get("ratio_medians") for r in records):
        figures += plots.figure(
            ratios,
            {
                "title": {"text": "over the C floor (OSU's loop), median of the rounds' ratios"},
                "xaxis": size_axis(sizes),
                "yaxis": {"title": {"text": "time / C time"}},
            },
        )
    return (
        f"<h3>{caption}</h3><div class='scroll'><table class='grid floor'><tr>{head}</tr>{''.join(rows)}</table></div>"
        f"<div class='figrow'>{figures}</div>"
    )
