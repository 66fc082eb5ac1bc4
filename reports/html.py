"""The HTML performance report: one self-contained file that works offline.

Sections: findings first (:mod:`reports.findings`: winners by size, peaks against the baseline
and the model, wrong results, skips); run metadata; settings that moved the numbers; the floor;
per topology, busbw and latency against size for every algorithm and baseline, the ratio to a
baseline and (with several result sets) the ratio between sets, and per-iteration distributions;
a winner map; the cost model; correctness; skips; and a sortable table of every row.

Every figure's data and the rows table travel in one compressed payload (:mod:`reports.figures`),
built from a few whole-frame operations (:class:`reports.data.Measurements`): the rows sorted once,
one median per measurement, one lookup per ratio, lines cut from the sorted rows and sent as
slices of a few binary arrays. plotly.js is embedded once; the page fetches nothing.

Escaping is :mod:`reports.figures`' (every string from a results file goes through it).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .data import CASE, ORDER, TOPOLOGY, Measurements, ResultSet, combined, runs_of_codes
from .figures import (
    PALETTE,
    SYMBOLS,
    Payload,
    Plots,
    decimals,
    esc,
    finite,
    log_axis,
    log_axis_over,
    rounded,
    size_axis,
    size_label,
    time_label,
    topology_short,
    topology_title,
)
from .findings import WINNER_CASE, case_label, findings_section
from .floor import floor_section
from .settings import settings_section

DASH = {"out": "solid", "in": "dash"}
# Above this many plots they are drawn as they scroll into view instead of all at load.
EAGER_PLOTS = 60
PAGE_ROWS = 100
LINE_KEYS = ORDER[:-1]  # a line per (topology, case, set, series, placement), sizes along it
BOX_STATS = ("q1", "median", "q3", "lowerfence", "upperfence", "mean")  # a box plot's precomputed statistics
# The winner map's labels: their font (px), an upper bound on a character's advance in it (em; 'm' and 'w'
# count as WIDE_EM), and the narrowest the map is drawn (CSS .cb-fig.winner), so a label that fits there fits.
LABEL_FONT = 12
CHAR_EM, WIDE_EM = 0.7, 1.0
WINNER_MIN_WIDTH = 800
WINNER_MARGIN = {"r": 20, "t": 40, "b": 50}


def label_width(text: str, font: float = LABEL_FONT) -> float:
    """At most how many pixels ``text`` takes at ``font`` px (proportional fonts are narrower)."""
    wide = sum(c in "mwMW@%" for c in text)
    return font * (CHAR_EM * (len(text) - wide) + WIDE_EM * wide)


def fitted_label(name: str, room: float) -> str:
    """``name``, or its first three letters or more and an ellipsis, in at most ``room`` pixels; empty when neither
    fits (the colour, the legend and the hover still tell)."""
    if label_width(name) <= room:
        return name
    for keep in range(len(name) - 2, 2, -1):
        short = name[:keep] + "…"
        if label_width(short) <= room:
            return short
    return ""


class PlotValues:
    """A column of plot values (positive ones: the axes are logarithmic) in the payload, sliced per line."""

    def __init__(self, payload: Payload, values: Any, scale: float = 1.0) -> None:
        self.raw = np.asarray(values, dtype=float) * scale
        self.shown = rounded(self.raw)
        bad = ~(np.isfinite(self.shown) & (self.shown > 0))
        whole, self.k = decimals(np.where(bad, np.nan, self.shown))
        self.id = payload.array(whole)
        self.missing = np.concatenate([[0], np.cumsum(bad)])  # to tell a whole slice from one with gaps
        self.usable = np.where(bad, np.nan, self.raw)

    def ranges(self, starts: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """The smallest and largest value of each run (runs start at ``starts``, the last is the length)."""
        if not len(self.usable):
            return np.zeros(0), np.zeros(0)
        return np.fmin.reduceat(self.usable, starts[:-1]), np.fmax.reduceat(self.usable, starts[:-1])

    def line(self, a: int, b: int, xs: list) -> tuple[list | None, Any] | None:
        """(x, y) of rows a..b: x None (the figure's) and y a payload slice when all are there; the rows that
        are as lists when some are missing; None when none is."""
        gaps = int(self.missing[b] - self.missing[a])
        if gaps == 0:
            return None, {"@": self.id, "from": a, "to": b, "k": self.k}
        if gaps == b - a:
            return None
        kept = [i for i in range(a, b) if self.missing[i + 1] == self.missing[i]]
        return [xs[i] for i in kept], self.shown[kept].tolist()


class ReportBuilder:
    """Builds the report for one or more result sets; :meth:`html` returns the page."""

    def __init__(
        self,
        sets: list[ResultSet],
        baseline: str | None = None,
        sizes: list[int] | None = None,
        title: str = "",
        stat: str | None = None,
    ) -> None:
        self.sets = sets
        self.df = combined(sets, stat)
        self.plots = Plots()
        self.payload = Payload()
        self.title = title or "collbench report: " + ", ".join(s.label for s in sets)
        self.sizes = sizes
        series = sorted(self.df["series"].unique()) if not self.df.empty else []
        self.colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(series)}
        self.symbols = {s.label: SYMBOLS[i % len(SYMBOLS)] for i, s in enumerate(sets)}
        if baseline is None:
            baseline = next(
                (b for b in ("mpi", "nccl", "osu-mpi", "imb-mpi") if b in series), series[0] if series else ""
            )
        self.baseline = baseline
        self.multi = len(sets) > 1
        self.keyed = Measurements(self.df)
        self.medians = self.keyed.medians()
        correct = (self.df["nwrong"].fillna(0) == 0).to_numpy() if not self.df.empty else None
        self.correct = self.medians.copy() if correct is None or correct.all() else self.keyed.medians(correct)
        # for the findings: the baseline's time, and its busbw and NCCL's where measured, at each measurement's key
        self.references = [baseline, *(["nccl"] if "nccl" in series and baseline != "nccl" else [])]
        same, names = ["set", *TOPOLOGY, *WINNER_CASE, "bytes"], self.correct["series"].to_numpy()
        for column, value, reference in (
            ("base_s", "time_s", baseline),
            *((f"busbw of {r}", "busbw", r) for r in self.references),
        ):
            found = self.keyed.match(self.correct, same, names == reference, value) if len(names) else []
            self.correct[column] = found
        self.best = self.keyed.winners(self.correct)

    # ------------------------------------------------------------------ sections
    def html(self) -> str:
        """The whole page as one string."""
        from plotly.offline import get_plotlyjs

        settings = settings_section(self.df)
        body = [
            f"<h1>{esc(self.title)}</h1>",
            "<div id='cb-js-error' class='banner bad' hidden></div>",
            self._banners(),
            self._nav(bool(settings)),
            findings_section(self.sets, self.df, self.best, self.keyed.peaks(self.correct), self.references),
            self._metadata(),
            settings,
            floor_section(self.sets, self.plots),
            self._topologies(),
            self._winners(),
            self._model(),
            self._correctness(),
            self._skips(),
            self._table(),
        ]
        table = table_data(self.df, self.keyed, self.payload)
        payload = self.payload.encode({"plots": self.plots.document(), "table": table})
        return "".join(
            [
                "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>",
                "<meta name='viewport' content='width=device-width, initial-scale=1'>",
                "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
                "script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data: blob:; "
                "font-src data:; connect-src 'none'\">",
                f"<title>{esc(self.title)}</title><style>{CSS.replace('__WINNER_MIN__', str(WINNER_MIN_WIDTH))}</style>",
                "</head>",
                f"<body data-plots-total='{self.plots.count}' data-plots-drawn='0'>",
                *body,
                f"<script type='application/octet-stream' id='cb-payload'>{payload}</script>",
                "<script>",
                get_plotlyjs(),
                "</script><script>",
                SCRIPT.replace("__EAGER__", str(EAGER_PLOTS)).replace("__PAGE__", str(PAGE_ROWS)),
                "</script></body></html>\n",
            ]
        )

    def _banners(self) -> str:
        out = []
        for s in self.sets:
            if s.complete is False:
                reason = _ending(s.metadata) or "the journal has no footer: the run was cut short"
                out.append(
                    f"<div class='banner warn incomplete'>Run <b>{esc(s.label)}</b> is INCOMPLETE "
                    f"({esc(reason)}); {len(s.frame)} measured rows are shown.</div>"
                )
        if not self.df.empty:
            wrong = self.df[self.df["nwrong"].fillna(0) > 0]
            if len(wrong):
                out.append(
                    f"<div class='banner bad'>WRONG RESULTS: {len(wrong)} measurement(s) with wrong elements "
                    f"({int(wrong['nwrong'].sum())} elements in all); see <a href='#correctness'>correctness</a>."
                    "</div>"
                )
        elif not any(s.metadata.get("floor") for s in self.sets):
            out.append("<div class='banner warn'>No measurements in the given results.</div>")
        return "".join(out)

    def _nav(self, settings: bool) -> str:
        links = [("findings", "Findings"), ("metadata", "Runs")]
        if settings:
            links.append(("settings", "Settings"))
        if any(s.metadata.get("floor") for s in self.sets):
            links.append(("floor", "Cost of Python"))
        links += [
            ("topologies", "Plots by topology"),
            ("winners", "Winner map"),
            ("model", "Cost model"),
            ("correctness", "Correctness"),
            ("skips", "Skips"),
            ("rows", "All rows"),
        ]
        return "<nav>" + " · ".join(f"<a href='#{a}'>{t}</a>" for a, t in links) + "</nav>"

    def _metadata(self) -> str:
        cards = []
        for s in self.sets:
            m = s.metadata
            items: list[tuple[str, str]] = [("source file", esc(s.source)), ("rows", str(len(s.frame)))]
            if not m:
                items.append(("metadata", "not available: a CSV file holds the rows only"))
            else:
                mpi = m.get("mpi") or {}
                hosts = m.get("hosts") or []
                counts: dict[str, int] = {}
                for host in hosts:
                    counts[str(host)] = counts.get(str(host), 0) + 1
                complete = {True: "yes", False: "NO (cut short)"}.get(s.complete, "unknown")
                items += [
                    ("complete", esc(complete)),
                    *([("why it ended", f"<span class='cause'>{esc(_ending(m))}</span>")] if _ending(m) else []),
                    *(
                        [("faults seen", "<br>".join(esc(f.get("text", "")) for f in m["faults"]))]
                        if isinstance(m.get("faults"), list) and m["faults"]
                        else []
                    ),
                    ("started / ended", f"{esc(m.get('start_time', ''))} / {esc(m.get('end_time', ''))}"),
                    ("MPI library", esc(mpi.get("library", "")) if isinstance(mpi, dict) else esc(mpi)),
                    ("ranks", esc(m.get("nranks", ""))),
                    ("nodes × ranks per node", f"{esc(m.get('nodes', ''))} × {esc(m.get('ranks_per_node', ''))}"),
                    ("hosts", ", ".join(f"{esc(h)} ({n} rank{'s' if n != 1 else ''})" for h, n in counts.items())),
                    ("device", esc(_compact({k: v for k, v in (m.get("device") or {}).items() if k != "ranks"}))),
                    *(
                        [("GPUs", esc(_gpus(m["device"])))]
                        if isinstance(m.get("device"), dict) and m["device"].get("ranks")
                        else []
                    ),
                    ("MPI thread level", esc(_thread_level(mpi))),
                    ("buffers", esc(_buffers(m.get("config") or {}))),
                    ("collbench", esc(m.get("collbench_version", ""))),
                    ("packages", esc(_compact(m.get("packages")))),
                    ("platform", esc(_compact(m.get("platform")))),
                    ("command line", f"<code>{esc(_argv(m.get('argv')))}</code>"),
                    ("wrong elements", esc(m.get("nwrong_total", ""))),
                ]
                if m.get("source"):
                    items.append(("imported from", esc(_compact(m.get("source")))))
                details = []
                if isinstance(mpi, dict) and mpi.get("library_version"):
                    details.append(
                        f"<details><summary>MPI library version</summary><pre>{esc(mpi['library_version'])}</pre>"
                        "</details>"
                    )
                if m.get("env"):
                    env = m["env"] if isinstance(m["env"], dict) else {}
                    rows = "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in sorted(env.items()))
                    details.append(
                        f"<details><summary>environment ({len(env)})</summary><table>{rows}</table></details>"
                    )
                if m.get("config"):
                    config = json.dumps(m["config"], indent=1, default=str)
                    details.append(f"<details><summary>sweep configuration</summary><pre>{esc(config)}</pre></details>")
                items.append(("details", "".join(details)))
            rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in items)
            cards.append(f"<div class='card'><h3>{esc(s.label)}</h3><table class='meta'>{rows}</table></div>")
        return f"<section id='metadata'><h2>Runs</h2><div class='cards'>{''.join(cards)}</div></section>"

    # ------------------------------------------------------------------ plots
    def _line(self, name: str, group: str, series: str, label: str, placement: str, xs: list | None, ys: Any) -> dict:
        """A line of ``ys`` against ``xs`` (None: the figure's ``x``, see :meth:`reports.figures.Plots.figure`)."""
        line = {
            "style": self.plots.style(
                ("line", name, group, series, label, placement),
                lambda: {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": name,
                    "legendgroup": group,
                    "line": {"color": self.colors.get(series, "#444"), "dash": DASH.get(placement, "dot")},
                    "marker": {"symbol": self.symbols.get(label, "circle"), "size": 6},
                },
            ),
            "y": ys,
        }
        if xs is not None:
            line["x"] = xs
        return line

    def _lines(self) -> pd.DataFrame:
        """The medians in line order (topology, case, set, series, placement, size), with the ratio to the
        baseline (``speedup``) and, with several sets, to the first set (``against``)."""
        lines = self.medians.copy()
        series, time_s = lines["series"].to_numpy(), lines["time_s"].to_numpy(dtype=float)
        is_base = series == self.baseline
        base = self.keyed.match(lines, ["set", *TOPOLOGY, *CASE, "placement", "bytes"], is_base)
        lines["speedup"] = np.where(is_base, np.nan, base / time_s)
        if self.multi:
            reference = lines["set"].to_numpy() == self.sets[0].label
            ref = self.keyed.match(lines, [*TOPOLOGY, *CASE, "series", "placement", "bytes"], reference)
            lines["against"] = np.where(reference, np.nan, ref / time_s)
        return lines

    def _topologies(self) -> str:
        if self.df.empty:
            return "<section id='topologies'><h2>Plots by topology</h2><p>No measurements.</p></section>"
        lines = self._lines()
        columns = {k: lines[k].tolist() for k in ["set", "series", "placement", *TOPOLOGY, *CASE]}
        sizes = lines["bytes"].to_numpy()
        xs = sizes.tolist()
        values = {
            "busbw": PlotValues(self.payload, lines["busbw"]),
            "time": PlotValues(self.payload, lines["time_s"], 1e6),
            "speedup": PlotValues(self.payload, lines["speedup"]),
        }
        if self.multi:
            values["against"] = PlotValues(self.payload, lines["against"])
        reference = self.sets[0].label
        kinds = {
            "busbw": ("bus bandwidth", "busbw (GB/s)", None),
            "time": ("latency (median)", "time", time_label),
            "speedup": (f"speedup over {self.baseline} (its time / this time)", "ratio (> 1: faster)", None),
            "against": (f"against {reference} (its time / this time)", "ratio (> 1: faster)", None),
        }
        traces = self.keyed.runs(lines, LINE_KEYS)
        cases = self.keyed.runs(lines, [*TOPOLOGY, *CASE])
        boxes = self._distributions()
        extent = {kind: column.ranges(cases) for kind, column in values.items()}
        out = [
            "<section id='topologies'><h2>Plots by topology</h2>",
            f"<p>Baseline for ratios: <b>{esc(self.baseline)}</b>. Solid lines out of place, dashed in place"
            + ("; marker shape tells the result sets apart." if self.multi else ".")
            + "</p>",
        ]
        names: dict[tuple, tuple[str, str]] = {}
        t, previous = 0, None
        for c, (c0, c1) in enumerate(zip(cases[:-1], cases[1:], strict=True)):
            topo = tuple(columns[k][c0] for k in TOPOLOGY)
            case = tuple(columns[k][c0] for k in CASE)
            if topo != previous:
                out.append(f"<h3>{esc(topology_title(topo))}</h3>")
                previous = topo
            per_kind: dict[str, list[dict]] = {kind: [] for kind in values}
            case_x = np.unique(sizes[c0:c1]).tolist()  # the x of every line measured at every size, sent once
            while t < len(traces) - 1 and traces[t] < c1:
                a, b = traces[t], traces[t + 1]
                t += 1
                key = (columns["set"][a], columns["series"][a], columns["placement"][a])
                if key not in names:
                    label, series, placement = key
                    name = f"{series} · {placement}" + (f" · {label}" if self.multi else "")
                    names[key] = (esc(name), esc(f"{series}|{label}"))
                name, group = names[key]
                label, series, placement = key
                whole = xs[a:b] == case_x
                for kind, column in values.items():
                    found = column.line(a, b, xs)
                    if found is not None:
                        x, y = found
                        x = x if x is not None or whole else xs[a:b]
                        per_kind[kind].append(self._line(name, group, series, label, placement, x, y))
            dtype, op, timing = case
            parts = [f"<h4>{esc(f'{dtype} {op}, timing {timing}')}</h4><div class='figrow'>"]
            x_axis = size_axis(sizes[c0:c1])
            for kind, data in per_kind.items():
                if not data:
                    continue
                title, y_title, tick = kinds[kind]
                layout = {
                    "title": {"text": esc(title)},
                    "xaxis": x_axis,
                    "yaxis": log_axis_over(extent[kind][0][c], extent[kind][1][c], y_title, tick),
                }
                if kind in ("speedup", "against"):
                    layout["shapes"] = [_unit_line()]
                parts.append(self.plots.figure(data, layout, x=case_x))
            if (*topo, *case) in boxes:
                parts.append(boxes[(*topo, *case)])
            parts.append("</div>")
            out.append("".join(parts))
        out.append("</section>")
        return "".join(out)

    def _distributions(self) -> dict[tuple, str]:
        """Per topology and case, the figure of per-iteration times at the chosen sizes (the smallest, middle and
        largest, or --sizes), out of place where measured so, from each row's samples."""
        if self.df.empty:
            return {}
        keyed, order = self.keyed, self.keyed.order
        cases = runs_of_codes([keyed.codes[k][order] for k in [*TOPOLOGY, *CASE]])
        nbytes = self.df["bytes"].to_numpy()[order]
        outside = (self.df["placement"].to_numpy() == "out")[order]
        wanted = np.array(sorted(set(self.sizes or [])), dtype=np.int64)
        chosen = []
        for a, b in zip(cases[:-1].tolist(), cases[1:].tolist(), strict=True):
            available = np.unique(nbytes[a:b])
            if self.sizes:
                picks = available[np.isin(available, wanted)]
            else:
                picks = np.unique(available[[0, len(available) // 2, -1]])
            rows = a + np.flatnonzero(np.isin(nbytes[a:b], picks))
            if outside[rows].any():
                rows = rows[outside[rows]]
            if len(rows):  # each (set, series) as one box trace, its sizes in order
                codes = [keyed.codes[k][order[rows]] for k in ("set", "series", "bytes")]
                chosen.append(rows[np.lexsort(codes[::-1])])
        if not chosen:
            return {}
        picked = order[np.concatenate(chosen)]
        stats = _box_stats(self.df["samples_s"].to_numpy()[picked].tolist())
        keep = np.isfinite(stats[:, 1])
        picked, stats = picked[keep], rounded(stats[keep])
        whole, k = decimals(stats)
        sub = self.df.iloc[picked][[*TOPOLOGY, *CASE, "set", "series", "bytes"]].reset_index(drop=True)
        sub["row"] = picked
        labels = [size_label(b) for b in sub["bytes"].tolist()]
        sets, series = sub["set"].tolist(), sub["series"].tolist()
        columns = {k: sub[k].tolist() for k in [*TOPOLOGY, *CASE]}
        ids = {stat: self.payload.array(whole[:, j]) for j, stat in enumerate(BOX_STATS)}
        cases = self.keyed.runs(sub, [*TOPOLOGY, *CASE])
        lines = self.keyed.runs(sub, [*TOPOLOGY, *CASE, "set", "series"])
        out: dict[tuple, str] = {}
        t = 0
        for c0, c1 in zip(cases[:-1], cases[1:], strict=True):
            traces = []
            while t < len(lines) - 1 and lines[t] < c1:
                a, b = lines[t], lines[t + 1]
                t += 1
                name = esc(series[a] + (f" · {sets[a]}" if self.multi else ""))
                color = self.colors.get(series[a], "#444")
                style = self.plots.style(
                    ("box", name, color),
                    lambda name=name, color=color: {
                        "type": "box",
                        "name": name,
                        "marker": {"color": color},
                        "boxpoints": False,
                    },
                )
                traces.append(
                    {
                        "style": style,
                        "x": labels[a:b],
                        **{stat: {"@": ids[stat], "from": a, "to": b, "k": k} for stat in BOX_STATS},
                    }
                )
            out[tuple(columns[k][c0] for k in [*TOPOLOGY, *CASE])] = self.plots.figure(
                traces,
                {
                    "title": {"text": "per-iteration time (min, quartiles, max)"},
                    "boxmode": "group",
                    "xaxis": {"type": "category", "title": {"text": "message size"}},
                    "yaxis": log_axis(stats[c0:c1].ravel(), "time", time_label),
                },
            )
        return out

    def _winners(self) -> str:
        out = [
            "<section id='winners'><h2>Winner map</h2>",
            "<p>The fastest algorithm (median time) per size and topology, among rows without wrong elements; "
            "a label names the winner of a run of sizes where it fits (hover a cell for its time).</p>",
        ]
        if self.best.empty:
            return "".join(out) + "</section>"
        rows = self.best["row"].to_numpy(dtype=np.int64)
        order = np.lexsort([self.keyed.codes[k][rows] for k in reversed([*WINNER_CASE, "set", *TOPOLOGY, "bytes"])])
        best = self.best.iloc[order].reset_index(drop=True)
        columns = {k: best[k].tolist() for k in [*WINNER_CASE, "set", *TOPOLOGY, "series", "bytes", "time_s"]}
        maps = self.keyed.runs(best, [*WINNER_CASE, "set"])
        previous = None
        for a, b in zip(maps[:-1], maps[1:], strict=True):
            case = tuple(columns[k][a] for k in WINNER_CASE)
            if case != previous:
                out.append(("</div>" if previous else "") + f"<h4>{esc(case_label(*case))}</h4><div class='figrow'>")
                previous = case
            out.append(self._winner_map({k: v[a:b] for k, v in columns.items()}, columns["set"][a]))
        out.append("</div></section>")
        return "".join(out)

    def _winner_map(self, best: dict[str, list], label: str) -> str:
        """A heatmap of winners (topologies × sizes) with one label per run of equal winners, shortened or left
        out where the run is too narrow at the map's narrowest, so no two labels can overlap."""
        names = sorted(set(best["series"]))
        code = {n: i for i, n in enumerate(names)}
        topo_rows = list(zip(*(best[k] for k in TOPOLOGY), strict=True))
        topos = sorted(set(topo_rows))
        sizes = sorted(set(best["bytes"]))
        ti = {t: i for i, t in enumerate(topos)}
        si = {b: i for i, b in enumerate(sizes)}
        z: list[list[int | None]] = [[None] * len(sizes) for _ in topos]
        text = [[""] * len(sizes) for _ in topos]
        for topo, series, nbytes, seconds in zip(topo_rows, best["series"], best["bytes"], best["time_s"], strict=True):
            t, b = ti[topo], si[nbytes]
            z[t][b] = code[series]
            text[t][b] = esc(f"{series} ({time_label(seconds * 1e6)})")
        ylabels = [topology_short(t) for t in topos]
        left = int(max(label_width(y, 12) for y in ylabels)) + 12
        cell = (WINNER_MIN_WIDTH - left - WINNER_MARGIN["r"]) / len(sizes)
        annotations = []
        for row, cells in enumerate(z):
            start = 0
            for i in range(1, len(cells) + 1):
                if i < len(cells) and cells[i] == cells[start]:
                    continue
                if cells[start] is not None:
                    name = fitted_label(names[cells[start]], (i - start) * cell - 4)
                    if name:
                        annotations.append(
                            {
                                "x": (start + i - 1) / 2,
                                "y": row,
                                "text": esc(name),
                                "showarrow": False,
                                "font": {
                                    "size": LABEL_FONT,
                                    "color": _ink(self.colors.get(names[cells[start]], "#444")),
                                },
                            }
                        )
                start = i
        n = len(names)
        scale = []
        for i, name in enumerate(names):
            color = self.colors.get(name, "#444")
            scale += [[i / n, color], [(i + 1) / n, color]]
        trace = {
            "type": "heatmap",
            "x": [size_label(b) for b in sizes],
            "y": [esc(y) for y in ylabels],
            "z": z,
            "text": text,
            "hovertemplate": "%{y}<br>%{x}: %{text}<extra></extra>",
            "colorscale": scale,
            "zmin": -0.5,
            "zmax": n - 0.5,
            "showscale": False,
            "xgap": 1,
            "ygap": 1,
        }
        layout = {
            "title": {"text": esc(label) if self.multi else "best algorithm"},
            "xaxis": {"type": "category", "title": {"text": "message size"}},
            "yaxis": {"type": "category", "automargin": False},
            "margin": {"l": left, **WINNER_MARGIN},
            "height": max(220, 90 + 40 * len(topos)),
            "annotations": annotations,
        }
        swatches = "".join(
            f"<span class='swatch' style='background:{self.colors.get(name, '#444')}'></span>{esc(name)} "
            for name in names
        )
        return f"<div class='winner-map'><div class='swatches'>{swatches}</div>{self.plots.figure([trace], layout, 'winner')}</div>"

    # ------------------------------------------------------------------ tables
    def _model(self) -> str:
        """Measured against predicted, the fitted parameters, and the extrapolated curves (run --calibrate)."""
        out = ["<section id='model'><h2>Cost model</h2>"]
        calibrated = [s for s in self.sets if s.metadata.get("calibrations")]
        if not calibrated:
            out.append("<p>No calibration in these results (run with <code>--calibrate</code>).</p></section>")
            return "".join(out)
        for s in calibrated:
            for record in s.metadata["calibrations"]:
                out.append(self._calibration(s, record))
        return "".join(out) + "</section>"

    def _calibration(self, s: ResultSet, record: dict) -> str:
        model = record.get("model") or {}
        fit = record.get("fit") or {}
        segments = "; ".join(
            f"up to {esc(size_label(seg['upto'])) if seg.get('upto') else '&infin;'}: "
            f"&alpha; {float(seg['alpha']) * 1e6:.2f} &micro;s, 1/&beta; "
            f"{(1 / float(seg['beta']) / 1e9) if float(seg['beta']) > 0 else float('inf'):.2f} GB/s"
            for seg in model.get("segments", [])
        )
        gammas = ", ".join(
            f"{esc(d)} {(1 / float(g) / 1e9) if float(g) > 0 else float('inf'):.1f} GB/s"
            for d, g in (model.get("gamma") or {}).items()
        )
        cache = ", ".join(
            f"{esc(size_label(step['window']))} &times;{float(step['beta']):.2f}/&times;{float(step['gamma']):.2f}"
            for step in model.get("cache") or []
        )
        if cache:
            gammas += f"; in-cache factors on &beta;/&gamma; by vector size: {cache}"
        p = record.get("p")
        parts = [
            f"<h4>{esc(s.label)}, p={esc(p)}</h4><p>{segments}; reduction {gammas}; "
            f"R&sup2; {float(fit.get('r2', float('nan'))):.3f}, median residual "
            f"{float(fit.get('median_rel_residual', float('nan'))) * 100:.1f}%</p><div class='figrow'>"
        ]
        rows = self.df[(self.df["set"] == s.label) & (self.df["p"] == p) & self.df["predicted_s"].notna()]
        if not rows.empty:
            traces = []
            for (algo, placement), g in rows.groupby(["algo", "placement"], sort=True):
                g = g.sort_values("bytes")
                color = self.colors.get(algo, "#444")
                xs = [int(b) for b in g["bytes"]]
                traces.append(
                    {
                        "type": "scatter",
                        "mode": "lines+markers",
                        "name": esc(f"{algo} · {placement} measured"),
                        "x": xs,
                        "y": finite(g["time_s"].to_numpy() * 1e6),
                        "line": {"color": color},
                    }
                )
                traces.append(
                    {
                        "type": "scatter",
                        "mode": "lines",
                        "name": esc(f"{algo} · {placement} predicted"),
                        "x": xs,
                        "y": finite(g["predicted_s"].to_numpy() * 1e6),
                        "line": {"color": color, "dash": "dash"},
                    }
                )
            parts.append(
                self.plots.figure(
                    traces,
                    {
                        "title": {"text": "measured (solid) and predicted (dashed)"},
                        "xaxis": size_axis(rows["bytes"].to_numpy()),
                        "yaxis": log_axis(
                            [v * 1e6 for t in traces for v in t["y"] if v is not None], "time", time_label
                        ),
                    },
                )
            )
        extrapolated = record.get("extrapolation") or {}
        ranks = extrapolated.get("ranks") or []
        for nbytes, curves in (extrapolated.get("seconds") or {}).items():
            traces = [
                {
                    "type": "scatter",
                    "mode": "lines",
                    "name": esc(algo),
                    "x": ranks,
                    "y": finite([None if t is None else t * 1e6 for t in times]),
                    "line": {"color": self.colors.get(algo, "#444")},
                }
                for algo, times in curves.items()
            ]
            bound = (extrapolated.get("bound") or {}).get(nbytes)
            if bound:
                traces.append(
                    {
                        "type": "scatter",
                        "mode": "lines",
                        "name": "lower bound",
                        "x": ranks,
                        "y": finite([t * 1e6 for t in bound]),
                        "line": {"color": "#000", "dash": "dot"},
                    }
                )
            parts.append(
                self.plots.figure(
                    traces,
                    {
                        "title": {"text": f"extrapolated, {esc(size_label(int(nbytes)))}"},
                        "xaxis": log_axis(ranks, "ranks"),
                        "yaxis": log_axis(
                            [v for t in traces for v in t["y"] if v is not None], "predicted time", time_label
                        ),
                    },
                )
            )
        parts.append("</div>")
        return "".join(parts)

    def _correctness(self) -> str:
        out = ["<section id='correctness'><h2>Correctness</h2><table class='grid'>"]
        out.append("<tr><th>run</th><th>rows</th><th>checked</th><th>with wrong elements</th><th>not checked</th></tr>")
        for s in self.sets:
            nwrong = s.frame["nwrong"]
            bad = int((nwrong.fillna(0) > 0).sum())
            cls = " class='bad'" if bad else ""
            out.append(
                f"<tr{cls}><td>{esc(s.label)}</td><td>{len(s.frame)}</td><td>{int(nwrong.notna().sum())}</td>"
                f"<td>{bad}</td><td>{int(nwrong.isna().sum())}</td></tr>"
            )
        out.append("</table>")
        if not self.df.empty:
            wrong = self.df[self.df["nwrong"].fillna(0) > 0]
            if len(wrong):
                out.append("<h3 class='bad'>Measurements with WRONG results</h3><table class='grid bad'>")
                out.append(
                    "<tr><th>run</th><th>algorithm</th><th>topology</th><th>size</th><th>dtype</th>"
                    "<th>op</th><th>placement</th><th>#wrong</th></tr>"
                )
                for r in wrong.itertuples(index=False):
                    topo = topology_title(tuple(getattr(r, k) for k in TOPOLOGY))
                    out.append(
                        f"<tr><td>{esc(r.set)}</td><td>{esc(r.series)}</td><td>{esc(topo)}</td>"
                        f"<td>{esc(size_label(r.bytes))}</td><td>{esc(r.dtype)}</td><td>{esc(r.op)}</td>"
                        f"<td>{esc(r.placement)}</td><td>{int(r.nwrong)}</td></tr>"
                    )
                out.append("</table>")
            else:
                out.append("<p class='good'>No wrong elements in any checked measurement.</p>")
        out.append("</section>")
        return "".join(out)

    def _skips(self) -> str:
        out = ["<section id='skips'><h2>Skips</h2>"]
        rows = []
        for s in self.sets:
            for skip in s.skips:
                rows.append(
                    f"<tr><td>{esc(s.label)}</td><td>{esc(skip.get('algo', ''))}</td><td>{esc(skip.get('p', ''))}</td>"
                    f"<td>{esc(skip.get('dtype', ''))}</td><td>{esc(skip.get('op', ''))}</td>"
                    f"<td>{esc(skip.get('reason', ''))}</td></tr>"
                )
        if rows:
            out.append(
                "<table class='grid'><tr><th>run</th><th>algorithm</th><th>p</th><th>dtype</th><th>op</th>"
                "<th>reason</th></tr>" + "".join(rows) + "</table>"
            )
        else:
            out.append("<p>Nothing was skipped.</p>")
        out.append("</section>")
        return "".join(out)

    def _table(self) -> str:
        """The rows table's frame; its rows travel in the payload (:func:`table_data`)."""
        return (
            "<section id='rows'><h2>All rows</h2>"
            "<p>Click a heading to sort (again to reverse); type to filter. Times in µs, bandwidths in GB/s "
            "(10<sup>9</sup> B/s).</p>"
            "<div class='tablebar'><input id='cb-filter' type='search' placeholder='filter rows' aria-label='filter'>"
            "<button id='cb-prev' type='button'>previous</button><span id='cb-page'></span>"
            "<button id='cb-next' type='button'>next</button></div>"
            "<div class='scroll'><table id='cb-table' class='grid rows'><thead></thead><tbody></tbody></table></div>"
            "</section>"
        )


def _box_stats(samples: list) -> np.ndarray:
    """Per row of samples (seconds), :data:`BOX_STATS`: quartiles, min, max and mean in µs (NaN where none is
    finite). Rows of one length without missing samples are computed together, the others one by one."""
    stats = np.full((len(samples), 6), np.nan)
    lengths = np.fromiter(map(len, samples), dtype=np.int64, count=len(samples))
    for length in np.unique(lengths[lengths > 0]).tolist():
        rows = np.flatnonzero(lengths == length)
        block = np.array([samples[i] for i in rows.tolist()], dtype=float) * 1e6
        whole = np.isfinite(block).all(axis=1)
        if whole.any():
            full = block[whole]
            quartiles = np.percentile(full, [25, 50, 75], axis=1)
            stats[rows[whole]] = np.column_stack([*quartiles, full.min(1), full.max(1), full.mean(1)])
        for row, values in zip(rows[~whole].tolist(), block[~whole], strict=True):
            values = values[np.isfinite(values)]
            if len(values):
                stats[row] = [*np.percentile(values, [25, 50, 75]), values.min(), values.max(), values.mean()]
    return stats


def _ink(color: str) -> str:
    """Black or white, whichever reads better on ``color`` (#rrggbb)."""
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return "#000" if 0.299 * r + 0.587 * g + 0.114 * b > 150 else "#fff"


def _shown(values: np.ndarray) -> np.ndarray:
    """Numbers as the rows table prints them: 4 significant digits, and to 0.1 from 1000 up."""
    with np.errstate(invalid="ignore"):
        return np.where(np.abs(values) >= 1000, np.round(values, 1), rounded(values, 4))


def _unit_line() -> dict:
    return {
        "type": "line",
        "xref": "paper",
        "x0": 0,
        "x1": 1,
        "y0": 1,
        "y1": 1,
        "line": {"color": "#888", "width": 1, "dash": "dot"},
    }


def _ending(metadata: dict[str, Any]) -> str:
    """Why a run ended early, as its results say: the watchdog's cause, its message, or a reason given."""
    cause = metadata.get("cause")
    if isinstance(cause, dict) and cause.get("text"):
        return str(cause["text"])
    return str(metadata.get("aborted") or metadata.get("reason") or "")


def _compact(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return "" if value is None else str(value)


def _thread_level(mpi: Any) -> str:
    level = mpi.get("thread_level") if isinstance(mpi, dict) else None
    if not isinstance(level, dict):
        return "not recorded (before collbench chose it: mpi4py's multiple)"
    return f"{level.get('provided', '?')} ({level.get('reason', '')})"


def _gpus(device: dict) -> str:
    """Each GPU of the run once: its name, UUID and bus id, the ranks on it (flagged when they share it)."""
    seen: dict[tuple[str, str], list[int]] = {}
    names: dict[tuple[str, str], str] = {}
    for rank, gpu in enumerate(device.get("ranks") or []):
        key = (str(gpu.get("host", "")), str(gpu.get("gpu_uuid") or gpu.get("pci_bus_id") or gpu.get("gpu_index")))
        seen.setdefault(key, []).append(rank)
        names[key] = f"{gpu.get('gpu_name', '?')} {gpu.get('gpu_uuid', '')} ({gpu.get('pci_bus_id', '')})"
    parts = []
    for key, ranks in seen.items():
        shared = f", SHARED by {len(ranks)} ranks" if len(ranks) > 1 else ""
        parts.append(f"{key[0]}: {names[key]}: rank(s) {','.join(map(str, ranks))}{shared}")
    first = (device.get("ranks") or [{}])[0]
    versions = f"driver CUDA {first.get('driver_cuda', '?')}, runtime {first.get('cuda_runtime', '?')}, NCCL {first.get('nccl') or 'none'}"
    return "; ".join(parts) + f" [{versions}]"


def _buffers(config: dict) -> str:
    if not isinstance(config, dict) or "align" not in config:
        return "not recorded (NumPy's own placement)"
    align = config["align"]
    shown = ", ".join(map(str, align)) if isinstance(align, list) else str(align)
    return f"--align {shown}; huge pages {config.get('huge_pages', '?')} (kernel: {config.get('transparent_huge_pages', '?')})"


def _argv(argv: Any) -> str:
    if isinstance(argv, list):
        return shlex.join(str(a) for a in argv)
    return "" if argv is None else str(argv)


# (column, heading, kind): kind "str" is stored as levels and codes, "int"/"num" as numbers.
TABLE_COLUMNS = [
    ("set", "run", "str"),
    ("algo", "algorithm", "str"),
    ("mesh", "mesh", "str"),
    ("p", "p", "int"),
    ("nodes", "nodes", "int"),
    ("ranks_per_node", "ranks/node", "int"),
    ("layout", "layout", "str"),
    ("rank_order", "order", "str"),
    ("bytes", "size (B)", "int"),
    ("count", "count", "int"),
    ("dtype", "dtype", "str"),
    ("op", "op", "str"),
    ("placement", "placement", "str"),
    ("timing", "timing", "str"),
    ("stat", "statistic", "str"),
    ("thread_level", "threads", "str"),
    ("align", "align", "str"),
    ("transport", "transport", "str"),
    ("ranks_per_gpu", "ranks/GPU", "int"),
    ("iters", "iters", "int"),
    ("nwrong", "#wrong", "int"),
    ("time_us", "time (µs)", "num"),
    ("algbw_GBps", "algbw", "num"),
    ("busbw_GBps", "busbw", "num"),
    ("min_us", "min (µs)", "num"),
    ("p99_us", "p99 (µs)", "num"),
    ("max_us", "max (µs)", "num"),
    ("stdev_us", "stdev (µs)", "num"),
    ("rank_avg_us", "rank avg (µs)", "num"),
    ("rank_max_us", "rank max (µs)", "num"),
    ("params", "parameters", "str"),
]


def table_data(df: pd.DataFrame, keyed: Measurements | None = None, payload: Payload | None = None) -> dict[str, Any]:
    """The rows table as columns: strings as ``levels`` and integer codes, numbers as the table prints them.

    A column with one value for every row is that value (``const``); integers that repeat in runs (a sweep's
    outer loops) are ``runs``: value, count, value, count ...; other columns are arrays of ``payload`` in
    ``values`` (references; numbers as :func:`reports.figures.decimals`), or lists without one.
    """
    n = len(df)
    columns = []
    values: dict[str, Any] = {}
    for name, title, kind in TABLE_COLUMNS:
        if name.endswith("_us"):
            series = df[name[:-3] + "_s"] * 1e6 if n else pd.Series(dtype=float)
        else:
            series = df[name] if n else pd.Series(dtype=object)
        column: dict[str, Any] = {"name": name, "title": title, "kind": kind}
        columns.append(column)
        if kind == "str" and keyed is not None and name in keyed.codes:
            array, levels = keyed.codes[name], keyed.levels[name]  # factorized once already
            column["levels"] = [str(v) for v in levels]
            missing = np.zeros(n, dtype=bool)
        elif kind == "str":
            array, levels = pd.factorize(series.to_numpy(dtype=object), sort=True, use_na_sentinel=False)
            column["levels"] = [str(v) for v in levels]
            missing = np.zeros(n, dtype=bool)
        elif kind == "int":
            ints = series.astype("Int64")
            missing = ints.isna().to_numpy()
            array = ints.fillna(0).to_numpy(dtype="int64")
        else:
            array = _shown(series.to_numpy(dtype=float))
            missing = ~np.isfinite(array)
        if missing.all() or (not missing.any() and (array == array[0]).all()):
            column["const"] = None if missing.all() else array[0].item()
            continue
        if kind != "num" and not missing.any():
            starts = runs_of_codes([array])
            if len(starts) <= n // 4:
                column["runs"] = np.column_stack([array[starts[:-1]], np.diff(starts)]).ravel().tolist()
                continue
        k = 0
        if kind == "num":
            array, k = decimals(array, at_least=1 if (np.abs(array) >= 1000).any() else 0)
        elif missing.any():
            array = np.where(missing, np.nan, array)
        if payload is not None:
            values[name] = {"@": payload.array(array), "k": k}
        else:
            values[name] = [None if v != v else v / 10.0**k if k else v for v in array.tolist()]
    return {"n": n, "columns": columns, "values": values}


def build_report(
    sets: list[ResultSet],
    baseline: str | None = None,
    sizes: list[int] | None = None,
    title: str = "",
    stat: str | None = None,
) -> str:
    """The report's HTML for ``sets`` (ratios against ``baseline``, distributions at ``sizes``, times as ``stat``)."""
    return ReportBuilder(sets, baseline=baseline, sizes=sizes, title=title, stat=stat).html()


def write_report(
    path: str | Path,
    sets: list[ResultSet],
    baseline: str | None = None,
    sizes: list[int] | None = None,
    title: str = "",
    stat: str | None = None,
) -> Path:
    """Write the report to ``path`` (through a temporary file, renamed when complete); returns the path."""
    target = Path(path)
    text = build_report(sets, baseline=baseline, sizes=sizes, title=title, stat=stat)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(target)
    return target


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:1.5em;color:#222;max-width:1800px}
h1{font-size:1.5em}h2{border-bottom:2px solid #ccc;margin-top:2em}h3{margin-top:1.5em}h4{margin:1em 0 .3em}
nav a{margin:0 .3em}
.banner{padding:.8em 1em;margin:.5em 0;border-radius:4px;font-weight:600}
.banner.bad{background:#b00020;color:#fff;font-size:1.2em}.banner.warn{background:#ffe08a;color:#5a4400}
.banner a{color:inherit}
.cards{display:flex;flex-wrap:wrap;gap:1em}.card{border:1px solid #ccc;border-radius:6px;padding:.5em 1em;flex:1 1 420px}
table.meta th{text-align:left;vertical-align:top;padding-right:1em;white-space:nowrap}
table.meta td{word-break:break-word}
.figrow{display:flex;flex-wrap:wrap;gap:.5em}.cb-fig{flex:1 1 460px;min-width:420px}
div.winner-map{flex:1 1 __WINNER_MIN__px;min-width:__WINNER_MIN__px}.cb-fig.winner{min-width:__WINNER_MIN__px}
.swatches{font-size:.85em;margin:.2em 0}
.swatch{display:inline-block;width:.9em;height:.9em;margin:0 .3em 0 .8em;vertical-align:-.1em;border-radius:2px}
#findings .finding{margin-bottom:1.2em}#findings table{margin:.3em 0}p.bad{color:#b00020;font-weight:600}
table.grid{border-collapse:collapse;font-size:.85em}table.grid td,table.grid th{border:1px solid #ddd;padding:2px 6px}
table.rows td{text-align:right;white-space:nowrap}.scroll{overflow-x:auto}table.rows th button{font:inherit;border:0;background:none;cursor:pointer;padding:0}
tr.bad,tr.bad td,table.bad td{background:#fde0e0;color:#8a0015;font-weight:600}h3.bad{color:#b00020}
.good{color:#1b7f3b}.tablebar{margin:.5em 0;display:flex;gap:.5em;align-items:center}
pre{white-space:pre-wrap;font-size:.85em}
"""

SCRIPT = r"""
(function () {
  "use strict";
  var body = document.body, drawn = 0;
  function fail(message) {
    var banner = document.getElementById("cb-js-error");
    banner.textContent = message;
    banner.hidden = false;
  }
  // The payload (reports/figures.py Payload): in base64, deflated: the header's length, the header (a JSON
  // document and its arrays), then the arrays; {"@": i, from, to, k} in the document stands for array i.
  function inflate(text) {
    var binary = atob(text), bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Response(stream).arrayBuffer().then(function (buffer) {
      var size = new DataView(buffer).getUint32(0, true), start = Math.ceil((4 + size) / 8) * 8;
      var header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, size)));
      var arrays = header.arrays.map(function (a) {
        return a[0] === "i4" ? new Int32Array(buffer, start + a[1], a[2]) : new Float64Array(buffer, start + a[1], a[2]);
      });
      function resolve(node) {
        if (node === null || typeof node !== "object") return node;
        if (Array.isArray(node)) { for (var j = 0; j < node.length; j++) node[j] = resolve(node[j]); return node; }
        if (!("@" in node)) { for (var key in node) node[key] = resolve(node[key]); return node; }
        var values = arrays[node["@"]];
        if ("from" in node) values = values.subarray(node.from, node.to);
        if (!node.k) return values;
        var scale = Math.pow(10, node.k);
        return Float64Array.from(values, function (v) { return v / scale; });
      }
      return resolve(header.document);
    });
  }
  if (!("DecompressionStream" in window)) {
    fail("This browser cannot open the report's plots and rows (it lacks DecompressionStream: " +
         "Chrome 80, Firefox 113, Safari 16.4 or later have it). The findings above are complete.");
    return;
  }
  inflate(document.getElementById("cb-payload").textContent).then(function (payload) {
    plots(payload.plots);
    table(payload.table);
  }).catch(function (e) { fail("The report's data could not be read: " + e); });

  function plots(P) {  // reports/figures.py Plots: figures over a base layout, traces over shared styles
    function draw(el) {
      if (el.getAttribute("data-drawn")) return;
      el.setAttribute("data-drawn", "1");
      var spec = P.figures[Number(el.getAttribute("data-fig"))];
      var data = spec.data.map(function (t) {
        var trace = Object.assign({}, "style" in t ? P.styles[t.style] : {}, t);
        delete trace.style;
        if (!trace.x && spec.x) trace.x = spec.x;  // the x shared by the figure's lines
        return trace;
      });
      var layout = Object.assign({}, P.layout, spec.layout);
      Plotly.newPlot(el, data, layout, {displaylogo: false, responsive: true}).then(function () {
        drawn += 1;
        body.setAttribute("data-plots-drawn", String(drawn));
      });
    }
    var figures = Array.prototype.slice.call(document.querySelectorAll("div.cb-fig"));
    body.setAttribute("data-plots-total", String(figures.length));
    if (figures.length <= __EAGER__ || !("IntersectionObserver" in window)) {
      figures.forEach(draw);
    } else {
      var seen = new IntersectionObserver(function (entries) {
        entries.forEach(function (e) { if (e.isIntersecting) { seen.unobserve(e.target); draw(e.target); } });
      }, {rootMargin: "400px"});
      figures.forEach(function (f) { seen.observe(f); });
    }
  }

  function table(T) {
    var cols = T.columns, n = T.n, page = 0, size = __PAGE__;
    var order = [], all = [], i;
    for (i = 0; i < n; i++) all.push(i);
    order = all;
    cols.forEach(function (c) {
      if (c.levels) {
        var sorted = c.levels.map(function (l, k) { return [l, k]; }).sort(function (a, b) {
          return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0; });
        c.rank = new Array(c.levels.length);
        sorted.forEach(function (pair, r) { c.rank[pair[1]] = r; });
      }
    });
    cols.forEach(function (c) {  // a column in runs (value, count, ...) as one value per row
      if (!c.runs) return;
      var out = new Array(n), at = 0;
      for (var r = 0; r < c.runs.length; r += 2) out.fill(c.runs[r], at, at += c.runs[r + 1]);
      T.values[c.name] = out;
    });
    function raw(c, row) {  // null where missing (NaN in an array)
      var v = "const" in c ? c.const : T.values[c.name][row];
      return v !== v ? null : v;
    }
    function text(c, row) {
      var v = raw(c, row);
      if (c.levels) return c.levels[v];
      if (v === null) return c.name === "nwrong" ? "N/A" : "";
      if (c.kind === "int") return String(v);
      return Math.abs(v) >= 1000 ? v.toFixed(1) : String(Number(v.toPrecision(4)));
    }
    var thead = document.querySelector("#cb-table thead"), tbody = document.querySelector("#cb-table tbody");
    var head = document.createElement("tr"), sortCol = -1, sortDir = 1;
    cols.forEach(function (c, k) {
      var th = document.createElement("th"), b = document.createElement("button");
      b.type = "button"; b.textContent = c.title;
      b.addEventListener("click", function () { sortBy(k); });
      th.appendChild(b); head.appendChild(th);
    });
    thead.appendChild(head);
    function key(c, row) { var v = raw(c, row); return c.levels ? c.rank[v] : v; }
    function sortBy(k) {
      sortDir = sortCol === k ? -sortDir : 1; sortCol = k;
      var c = cols[k];
      order = order.slice().sort(function (a, b) {
        var x = key(c, a), y = key(c, b);
        if (x === y) return a - b;
        if (x === null) return 1;
        if (y === null) return -1;
        return x < y ? -sortDir : sortDir;
      });
      Array.prototype.forEach.call(head.children, function (th, j) {
        th.setAttribute("aria-sort", j === k ? (sortDir > 0 ? "ascending" : "descending") : "none"); });
      page = 0; render();
    }
    var haystack = null;
    document.getElementById("cb-filter").addEventListener("input", function (ev) {
      var q = ev.target.value.toLowerCase();
      if (haystack === null) {
        haystack = [];
        for (var r = 0; r < n; r++) haystack.push(cols.map(function (c) { return text(c, r); }).join(" ").toLowerCase());
      }
      var base = all.filter(function (r) { return !q || haystack[r].indexOf(q) >= 0; });
      if (sortCol >= 0) { var k = sortCol; sortDir = -sortDir; order = base; sortBy(k); }
      else { order = base; page = 0; render(); }
    });
    document.getElementById("cb-prev").addEventListener("click", function () { if (page > 0) { page--; render(); } });
    document.getElementById("cb-next").addEventListener("click", function () {
      if ((page + 1) * size < order.length) { page++; render(); } });
    var wrong = -1;
    cols.forEach(function (c, k) { if (c.name === "nwrong") wrong = k; });
    function render() {
      var rows = document.createDocumentFragment(), end = Math.min(order.length, (page + 1) * size);
      for (var j = page * size; j < end; j++) {
        var row = order[j], tr = document.createElement("tr");
        cols.forEach(function (c) { var td = document.createElement("td"); td.textContent = text(c, row); tr.appendChild(td); });
        if (wrong >= 0 && raw(cols[wrong], row) > 0) tr.className = "bad";
        rows.appendChild(tr);
      }
      tbody.replaceChildren(rows);
      document.getElementById("cb-page").textContent =
        order.length ? "rows " + (page * size + 1) + "-" + end + " of " + order.length : "no rows";
    }
    render();
  }
})();
"""
