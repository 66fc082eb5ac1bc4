"""The HTML performance report: one self-contained file that works offline.

Sections: run metadata; per topology, busbw and latency against size for every algorithm and
baseline, the ratio to a baseline and (with several result sets) the ratio between sets; a
winner map; per-iteration distributions at selected sizes; correctness; skips; and a sortable
table of every row. plotly.js is embedded once; the page fetches nothing.

Escaping is :mod:`reports.figures`' (every string from a results file goes through it).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .data import CASE, TOPOLOGY, ResultSet, combined
from .figures import PALETTE, SYMBOLS, Plots, esc, finite, json_for_script, size_axis, size_label
from .floor import floor_section
from .settings import settings_section

DASH = {"out": "solid", "in": "dash"}
# Above this many plots they are drawn as they scroll into view instead of all at load.
EAGER_PLOTS = 60
PAGE_ROWS = 100


def topology_title(key: tuple) -> str:
    """A topology as a heading: ``p=4 · 2 nodes × 2 ranks (logical) · order spread``."""
    p, nodes, rpn, layout, order = key
    per = f"{rpn} ranks" if rpn else "uneven ranks"
    return f"p={p} · {nodes} node{'s' if nodes != 1 else ''} × {per} ({layout}) · order {order}"


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
        self.title = title or "collbench report: " + ", ".join(s.label for s in sets)
        self.sizes = sizes
        series = sorted(self.df["series"].unique()) if not self.df.empty else []
        self.colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(series)}
        self.symbols = {s.label: SYMBOLS[i % len(SYMBOLS)] for i, s in enumerate(sets)}
        if baseline is None:
            baseline = next((b for b in ("mpi", "nccl", "osu-mpi") if b in series), series[0] if series else "")
        self.baseline = baseline
        self.multi = len(sets) > 1

    # ------------------------------------------------------------------ sections
    def html(self) -> str:
        """The whole page as one string."""
        from plotly.offline import get_plotlyjs

        body = [
            f"<h1>{esc(self.title)}</h1>",
            self._banners(),
            self._nav(),
            self._metadata(),
            settings_section(self.df),
            floor_section(self.sets, self.plots),
            self._topologies(),
            self._winners(),
            self._model(),
            self._correctness(),
            self._skips(),
            self._table(),
        ]
        return "".join(
            [
                "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>",
                "<meta name='viewport' content='width=device-width, initial-scale=1'>",
                "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
                "script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data: blob:; "
                "font-src data:; connect-src 'none'\">",
                f"<title>{esc(self.title)}</title><style>{CSS}</style></head>",
                f"<body data-plots-total='{self.plots.count}' data-plots-drawn='0'>",
                *body,
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
                reason = s.metadata.get("reason") or "the journal has no footer: the run was cut short"
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

    def _nav(self) -> str:
        links = [("metadata", "Runs")]
        if settings_section(self.df):
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
                    ("started / ended", f"{esc(m.get('start_time', ''))} / {esc(m.get('end_time', ''))}"),
                    ("MPI library", esc(mpi.get("library", "")) if isinstance(mpi, dict) else esc(mpi)),
                    ("ranks", esc(m.get("nranks", ""))),
                    ("nodes × ranks per node", f"{esc(m.get('nodes', ''))} × {esc(m.get('ranks_per_node', ''))}"),
                    ("hosts", ", ".join(f"{esc(h)} ({n} rank{'s' if n != 1 else ''})" for h, n in counts.items())),
                    ("device", esc(_compact({k: v for k, v in (m.get("device") or {}).items() if k != "ranks"}))),
                    *([("GPUs", esc(_gpus(m["device"])))] if isinstance(m.get("device"), dict) and m["device"].get("ranks") else []),
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
    def _aggregated(self) -> pd.DataFrame:
        keys = ["set", *TOPOLOGY, *CASE, "series", "placement", "bytes"]
        return (
            self.df.groupby(keys, sort=True, dropna=False)
            .agg(time_s=("time_s", "median"), busbw=("busbw_GBps", "median"))
            .reset_index()
        )

    def _line_traces(self, cdf: pd.DataFrame, value: str, scale: float = 1.0) -> list[dict]:
        """One line per (set, series, placement), x the sizes; grouped by hand (pandas groups cost ~0.1 ms each)."""
        cdf = cdf.sort_values(["set", "series", "placement", "bytes"], kind="stable")
        keys = list(zip(cdf["set"].tolist(), cdf["series"].tolist(), cdf["placement"].tolist(), strict=True))
        xs = cdf["bytes"].tolist()
        ys = finite((cdf[value].to_numpy(dtype=float) * scale).tolist())
        traces = []
        for start, end in _runs(keys):
            label, series, placement = keys[start]
            name = f"{series} · {placement}" + (f" · {label}" if self.multi else "")
            traces.append(
                {
                    "type": "scatter",
                    "mode": "lines+markers",
                    "name": esc(name),
                    "legendgroup": esc(f"{series}|{label}"),
                    "x": [int(b) for b in xs[start:end]],
                    "y": ys[start:end],
                    "line": {"color": self.colors.get(series, "#444"), "dash": DASH.get(placement, "dot")},
                    "marker": {"symbol": self.symbols.get(label, "circle"), "size": 6},
                }
            )
        return traces

    def _case(self, cdf: pd.DataFrame, raw: pd.DataFrame, heading: str) -> str:
        sizes = [int(b) for b in cdf["bytes"].unique()]
        parts = [f"<h4>{esc(heading)}</h4><div class='figrow'>"]
        parts.append(
            self.plots.figure(
                self._line_traces(cdf, "busbw"),
                {
                    "title": {"text": "bus bandwidth"},
                    "xaxis": size_axis(sizes),
                    "yaxis": {"type": "log", "title": {"text": "busbw (GB/s)"}},
                },
            )
        )
        parts.append(
            self.plots.figure(
                self._line_traces(cdf, "time_s", 1e6),
                {
                    "title": {"text": "latency (median)"},
                    "xaxis": size_axis(sizes),
                    "yaxis": {"type": "log", "title": {"text": "time (µs)"}},
                },
            )
        )
        base = cdf[cdf["series"] == self.baseline][["set", "placement", "bytes", "time_s"]]
        if len(base):
            merged = cdf[cdf["series"] != self.baseline].merge(
                base, on=["set", "placement", "bytes"], suffixes=("", "_base")
            )
            merged["ratio"] = merged["time_s_base"] / merged["time_s"]
            if len(merged):
                parts.append(
                    self.plots.figure(
                        self._line_traces(merged, "ratio"),
                        {
                            "title": {"text": esc(f"speedup over {self.baseline} (its time / this time)")},
                            "xaxis": size_axis(sizes),
                            "yaxis": {"type": "log", "title": {"text": "ratio (> 1: faster)"}},
                            "shapes": [_unit_line()],
                        },
                    )
                )
        if self.multi:
            reference = self.sets[0].label
            ref = cdf[cdf["set"] == reference][["series", "placement", "bytes", "time_s"]]
            merged = cdf[cdf["set"] != reference].merge(ref, on=["series", "placement", "bytes"], suffixes=("", "_ref"))
            merged["ratio"] = merged["time_s_ref"] / merged["time_s"]
            if len(merged):
                parts.append(
                    self.plots.figure(
                        self._line_traces(merged, "ratio"),
                        {
                            "title": {"text": esc(f"against {reference} (its time / this time)")},
                            "xaxis": size_axis(sizes),
                            "yaxis": {"type": "log", "title": {"text": "ratio (> 1: faster)"}},
                            "shapes": [_unit_line()],
                        },
                    )
                )
        parts.append(self._distributions(raw))
        parts.append("</div>")
        return "".join(parts)

    def _distributions(self, raw: pd.DataFrame) -> str:
        available = sorted(int(b) for b in raw["bytes"].unique())
        if self.sizes:
            chosen = [b for b in available if b in set(self.sizes)]
        else:
            middle = available[len(available) // 2]
            chosen = sorted({available[0], middle, available[-1]})
        if not chosen:
            return ""
        rows = raw[raw["bytes"].isin(chosen)]
        if (rows["placement"] == "out").any():
            rows = rows[rows["placement"] == "out"]
        rows = rows.sort_values(["set", "series", "bytes"], kind="stable")
        keys = list(zip(rows["set"].tolist(), rows["series"].tolist(), strict=True))
        sizes, all_samples = rows["bytes"].tolist(), rows["samples_s"].tolist()
        traces = []
        for start, end in _runs(keys):
            label, series = keys[start]
            stats: dict[str, list] = {k: [] for k in ("x", "q1", "median", "q3", "lowerfence", "upperfence", "mean")}
            for nbytes, samples in zip(sizes[start:end], all_samples[start:end], strict=True):
                values = np.asarray(samples, dtype=float) * 1e6
                values = values[np.isfinite(values)]
                if not len(values):
                    continue
                q1, median, q3 = np.percentile(values, [25, 50, 75])
                stats["x"].append(size_label(int(nbytes)))
                for key, v in zip(
                    ("q1", "median", "q3", "lowerfence", "upperfence", "mean"),
                    (q1, median, q3, values.min(), values.max(), values.mean()),
                    strict=True,
                ):
                    stats[key].append(float(f"{v:.6g}"))
            if stats["x"]:
                traces.append(
                    {
                        "type": "box",
                        "name": esc(series + (f" · {label}" if self.multi else "")),
                        "marker": {"color": self.colors.get(series, "#444")},
                        "boxpoints": False,
                        **stats,
                    }
                )
        if not traces:
            return ""
        return self.plots.figure(
            traces,
            {
                "title": {"text": "per-iteration time (min, quartiles, max)"},
                "boxmode": "group",
                "xaxis": {"type": "category", "title": {"text": "message size"}},
                "yaxis": {"type": "log", "title": {"text": "time (µs)"}},
            },
        )

    def _topologies(self) -> str:
        if self.df.empty:
            return "<section id='topologies'><h2>Plots by topology</h2><p>No measurements.</p></section>"
        agg = self._aggregated()
        raw_groups = dict(iter(self.df.groupby([*TOPOLOGY, *CASE], sort=True, dropna=False)))
        out = [
            "<section id='topologies'><h2>Plots by topology</h2>",
            f"<p>Baseline for ratios: <b>{esc(self.baseline)}</b>. Solid lines out of place, dashed in place"
            + ("; marker shape tells the result sets apart." if self.multi else ".")
            + "</p>",
        ]
        for topo, tdf in agg.groupby(TOPOLOGY, sort=True):
            out.append(f"<h3>{esc(topology_title(topo))}</h3>")
            for case, cdf in tdf.groupby(CASE, sort=True):
                dtype, op, timing = case
                raw = raw_groups[(*topo, *case)]
                out.append(self._case(cdf, raw, f"{dtype} {op}, timing {timing}"))
        out.append("</section>")
        return "".join(out)

    def _winners(self) -> str:
        out = [
            "<section id='winners'><h2>Winner map</h2>",
            "<p>The fastest algorithm (median time) per size and topology, among rows without wrong elements.</p>",
        ]
        if self.df.empty:
            return "".join(out) + "</section>"
        ok = self.df[self.df["nwrong"].fillna(0) == 0]
        for case, cdf in ok.groupby(["dtype", "op", "placement", "timing"], sort=True):
            out.append(f"<h4>{esc(' '.join(str(c) for c in case))}</h4><div class='figrow'>")
            for s in self.sets:
                sdf = cdf[cdf["set"] == s.label]
                if sdf.empty:
                    continue
                times = sdf.groupby([*TOPOLOGY, "bytes", "series"], sort=True)["time_s"].median().reset_index()
                best = times.loc[times.groupby([*TOPOLOGY, "bytes"])["time_s"].idxmin()]
                names = sorted(best["series"].unique())
                code = {n: i for i, n in enumerate(names)}
                topos = sorted({tuple(r) for r in best[TOPOLOGY].itertuples(index=False)})
                sizes = sorted(int(b) for b in best["bytes"].unique())
                z = [[None] * len(sizes) for _ in topos]
                text = [[""] * len(sizes) for _ in topos]
                ti = {t: i for i, t in enumerate(topos)}
                si = {b: i for i, b in enumerate(sizes)}
                for row in best.itertuples(index=False):
                    t = ti[tuple(getattr(row, k) for k in TOPOLOGY)]
                    b = si[int(row.bytes)]
                    z[t][b] = code[row.series]
                    text[t][b] = esc(f"{row.series} ({row.time_s * 1e6:.3g} µs)")
                n = len(names)
                scale = []
                for i, name in enumerate(names):
                    color = self.colors.get(name, "#444")
                    scale += [[i / n, color], [(i + 1) / n, color]]
                trace = {
                    "type": "heatmap",
                    "x": [size_label(b) for b in sizes],
                    "y": [esc(topology_title(t)) for t in topos],
                    "z": z,
                    "text": text,
                    "texttemplate": "%{text}",
                    "hovertemplate": "%{y}<br>%{x}: %{text}<extra></extra>",
                    "colorscale": scale,
                    "zmin": -0.5,
                    "zmax": n - 0.5,
                    "showscale": True,
                    "colorbar": {"tickvals": list(range(n)), "ticktext": [esc(x) for x in names]},
                    "xgap": 1,
                    "ygap": 1,
                }
                layout = {
                    "title": {"text": esc(s.label) if self.multi else "best algorithm"},
                    "xaxis": {"type": "category", "title": {"text": "message size"}},
                    "yaxis": {"type": "category", "automargin": True},
                    "height": max(260, 80 + 40 * len(topos)),
                }
                out.append(self.plots.figure([trace], layout, "wide"))
            out.append("</div>")
        out.append("</section>")
        return "".join(out)

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
                        "y": finite((g["time_s"] * 1e6).tolist()),
                        "line": {"color": color},
                    }
                )
                traces.append(
                    {
                        "type": "scatter",
                        "mode": "lines",
                        "name": esc(f"{algo} · {placement} predicted"),
                        "x": xs,
                        "y": finite((g["predicted_s"] * 1e6).tolist()),
                        "line": {"color": color, "dash": "dash"},
                    }
                )
            parts.append(
                self.plots.figure(
                    traces,
                    {
                        "title": {"text": "measured (solid) and predicted (dashed)"},
                        "xaxis": size_axis(sorted(set(int(b) for b in rows["bytes"]))),
                        "yaxis": {"type": "log", "title": {"text": "time (us)"}},
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
                        "xaxis": {"type": "log", "title": {"text": "ranks"}},
                        "yaxis": {"type": "log", "title": {"text": "predicted time (us)"}},
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
        data = table_data(self.df)
        return (
            "<section id='rows'><h2>All rows</h2>"
            "<p>Click a heading to sort (again to reverse); type to filter. Times in µs, bandwidths in GB/s "
            "(10<sup>9</sup> B/s).</p>"
            "<div class='tablebar'><input id='cb-filter' type='search' placeholder='filter rows' aria-label='filter'>"
            "<button id='cb-prev' type='button'>previous</button><span id='cb-page'></span>"
            "<button id='cb-next' type='button'>next</button></div>"
            "<div class='scroll'><table id='cb-table' class='grid rows'><thead></thead><tbody></tbody></table></div>"
            f"<script type='application/json' id='cb-table-data'>{json_for_script(data)}</script></section>"
        )


def _significant(values: np.ndarray, digits: int = 6) -> np.ndarray:
    """``values`` rounded to ``digits`` significant digits (shorter JSON, no false precision)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        magnitude = np.where(values == 0, 0, np.floor(np.log10(np.abs(values))))
        scale = 10.0 ** (digits - 1 - np.nan_to_num(magnitude))
        return np.where(np.isfinite(values) & (values != 0), np.round(values * scale) / scale, values)


def _with_nulls(values: list, missing: np.ndarray) -> list:
    if missing.any():
        for i in np.flatnonzero(missing).tolist():
            values[i] = None
    return values


def _runs(keys: list[tuple]) -> list[tuple[int, int]]:
    """(start, end) of each run of equal consecutive keys."""
    bounds, start = [], 0
    for i in range(1, len(keys) + 1):
        if i == len(keys) or keys[i] != keys[start]:
            bounds.append((start, i))
            start = i
    return bounds


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


def table_data(df: pd.DataFrame) -> dict[str, Any]:
    """The rows table as columns: strings as ``levels`` and integer codes, numbers to 6 significant digits."""
    n = len(df)
    columns = []
    values: dict[str, Any] = {}
    for name, title, kind in TABLE_COLUMNS:
        if name.endswith("_us"):
            series = df[name[:-3] + "_s"] * 1e6 if n else pd.Series(dtype=float)
        else:
            series = df[name] if n else pd.Series(dtype=object)
        column: dict[str, Any] = {"name": name, "title": title, "kind": kind}
        if kind == "str":
            codes, levels = pd.factorize(series.fillna("").astype(str), sort=True)
            column["levels"] = [str(v) for v in levels]
            values[name] = codes.tolist()
        elif kind == "int":
            ints = series.astype("Int64")
            missing = ints.isna().to_numpy()
            values[name] = _with_nulls(ints.fillna(0).to_numpy(dtype="int64").tolist(), missing)
        else:
            floats = _significant(series.to_numpy(dtype=float))
            values[name] = _with_nulls(floats.tolist(), ~np.isfinite(floats))
        columns.append(column)
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
.cb-fig.wide{flex-basis:700px}
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
  function draw(el) {
    if (el.getAttribute("data-drawn")) return;
    el.setAttribute("data-drawn", "1");
    var spec = JSON.parse(document.getElementById(el.getAttribute("data-spec")).textContent);
    Plotly.newPlot(el, spec.data, spec.layout, {displaylogo: false, responsive: true}).then(function () {
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

  var holder = document.getElementById("cb-table-data");
  if (!holder) return;
  var T = JSON.parse(holder.textContent), cols = T.columns, n = T.n, page = 0, size = __PAGE__;
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
  function raw(c, row) { return T.values[c.name][row]; }
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
})();
"""
