"""The report's first section: what a reader came for, in sentences and small tables.

Per result set and topology (p, nodes, ranks per node, layout, rank order):

- the fastest algorithm per range of message sizes, for each case (dtype, op, placement, timing),
  cases with the same ranges on one line; a winner that is not the baseline says by how much it
  beats it;
- each algorithm's peak bus bandwidth, where it was reached, against the baseline at that size
  and case (and against NCCL there, where NCCL was measured besides), and against the calibrated
  cost model's bound there (``collbench run --calibrate``);
- measurements with wrong elements, and those never checked;

then what was skipped and why. Winners and peaks count only measurements without wrong elements;
times are medians, bandwidths are bus bandwidths in GB/s (1e9 B/s) as nccl-tests reports them.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import pandas as pd

from .data import TOPOLOGY, ResultSet, runs
from .figures import esc, size_label, topology_title

WINNER_CASE = ["dtype", "op", "placement", "timing"]
PLACEMENT = {"out": "out of place", "in": "in place"}
# Cases listed by name on one line of winners; more are counted.
CASES_NAMED = 4


def case_label(dtype: str, op: str, placement: str, timing: str) -> str:
    """``float32 sum · out of place · b2b``."""
    return f"{dtype} {op} · {PLACEMENT.get(placement, placement)} · {timing}"


def model_bound(record: dict[str, Any], p: int, nodes: int, per_node: int, nbytes: int) -> float | None:
    """The highest bus bandwidth (GB/s) the calibrated model allows an all-reduce of ``nbytes`` on ``p`` ranks.

    The time bound is bench.modeling's ``lower_bounds`` on the stored model: ⌈lg p⌉·α (no all-reduce has fewer
    rounds) and 2(p-1)/p·n·β with β scaled by the cache factor at n (none moves fewer bytes per rank); across
    ``nodes`` nodes also 2(N-1)/N·n through each node's link, at the link's rate or ``per_node`` flows' alone.
    """
    model = record.get("model") or {}
    segments = model.get("segments") or []
    if p < 2 or nbytes <= 0 or not segments:
        return None
    factor = 2 * (p - 1) / p
    beta = float(segments[-1]["beta"]) * _cache_factor(model.get("cache") or [], nbytes)
    bandwidth = factor * nbytes * beta
    inter = record.get("inter") or {}
    inter_segments = (inter.get("model") or {}).get("segments") or []
    if inter_segments and nodes > 1 and per_node > 0:
        segment = next((s for s in inter_segments if s["upto"] is None or nbytes <= s["upto"]), inter_segments[-1])
        link = max(float(inter.get("link_beta") or 0.0), float(segment["beta"]) / per_node)
        bandwidth = max(bandwidth, 2 * (nodes - 1) / nodes * nbytes * link)
    seconds = max((p - 1).bit_length() * float(segments[0]["alpha"]), bandwidth)
    return factor * nbytes / seconds / 1e9 if seconds > 0 else None


def _cache_factor(steps: list[dict[str, Any]], nbytes: float) -> float:
    """The β factor of collectives.costmodel.CostModel.cache_factors: interpolated in log size, 1 beyond."""
    if not steps:
        return 1.0
    if nbytes <= float(steps[0]["window"]):
        return float(steps[0]["beta"])
    for low, high in itertools.pairwise(steps):
        if nbytes <= float(high["window"]):
            t = math.log(nbytes / float(low["window"])) / math.log(float(high["window"]) / float(low["window"]))
            return float(low["beta"]) + t * (float(high["beta"]) - float(low["beta"]))
    return 1.0


def findings_section(
    sets: list[ResultSet], df: pd.DataFrame, best: pd.DataFrame, peaks: pd.DataFrame, references: list[str]
) -> str:
    """The section, from the medians (time and busbw) of the measurements without wrong elements: ``best``, the
    fastest per set, topology, case and size, in that order (:meth:`reports.data.Measurements.winners`), and
    ``peaks``, the highest busbw per set, topology and series (:meth:`reports.data.Measurements.peaks`), both
    with the baseline's time (``base_s``) and each reference's busbw (``busbw of NAME``) at their key;
    ``references``: the baseline, then NCCL where measured besides; ``df``: every row (for the
    wrong and the unchecked)."""
    baseline = references[0]
    out = [
        "<section id='findings'><h2>Findings</h2>",
        "<p class='lead'>Fastest algorithm by median time, among measurements without wrong elements; "
        f"bandwidths are bus bandwidths in GB/s (10<sup>9</sup> B/s). Baseline: <b>{esc(baseline)}</b>.</p>",
    ]
    if df.empty:
        out.append("<p>No measurements.</p>")
    calibrations = {
        (s.label, int(r["p"])): r
        for s in sets
        for r in s.metadata.get("calibrations") or []
        if isinstance(r, dict) and r.get("p") is not None
    }
    if not calibrations and not df.empty:
        out.append(
            "<p>No calibrated cost model in these results: run with <code>--calibrate</code> to see each peak "
            "against the model's bound.</p>"
        )
    columns = {k: best[k].tolist() for k in ["set", *TOPOLOGY, *WINNER_CASE, "series", "bytes"]}
    columns["gain"] = (best["base_s"] / best["time_s"]).tolist()
    topologies = runs(best, ["set", *TOPOLOGY])
    cases = runs(best, ["set", *TOPOLOGY, *WINNER_CASE])
    bounds = runs(peaks, ["set", *TOPOLOGY])
    peaks_of = {
        tuple(peaks[k].iloc[a] for k in ["set", *TOPOLOGY]): peaks.iloc[a:b]
        for a, b in zip(bounds[:-1], bounds[1:], strict=True)
    }
    wrong = df[df["nwrong"].fillna(0) > 0] if not df.empty else df
    unchecked = df[df["nwrong"].isna()] if not df.empty else df
    shown: set[str] = set()
    covered: set[tuple] = set()
    c = 0
    for t0, t1 in zip(topologies[:-1], topologies[1:], strict=True):
        key = tuple(columns[k][t0] for k in ["set", *TOPOLOGY])
        covered.add(key)
        label, topo = key[0], key[1:]
        if len(sets) > 1 and label not in shown:
            out.append(f"<h3>{esc(label)}</h3>")
            shown.add(label)
        groups: dict[str, list[str]] = {}
        while c < len(cases) - 1 and cases[c] < t1:
            a, b = cases[c], cases[c + 1]
            c += 1
            text = _ranges(columns["series"][a:b], columns["bytes"][a:b], columns["gain"][a:b], baseline)
            groups.setdefault(text, []).append(case_label(*(columns[k][a] for k in WINNER_CASE)))
        p, nodes, per_node = int(topo[0]), int(topo[1]), int(topo[2])
        record = calibrations.get((label, p))
        out.append(
            f"<div class='finding'><h4>{esc(topology_title(topo))}</h4>{_winner_table(groups)}"
            f"{_peak_table(peaks_of.get(key), references, record, p, nodes, per_node)}{_problems(wrong, unchecked, key)}</div>"
        )
    # topologies where nothing was right: their wrong results still lead the report
    for key in sorted(set(zip(*(wrong[k].tolist() for k in ["set", *TOPOLOGY]), strict=True)) - covered):
        out.append(
            f"<div class='finding'><h4>{esc(topology_title(key[1:]))}</h4>{_problems(wrong, unchecked, key)}</div>"
        )
    for s in sets:
        out.append(_skips(s))
    out.append("</section>")
    return "".join(out)


def _ranges(series: list[str], sizes: list[int], gains: list[float], baseline: str) -> str:
    """``<b>mpi</b> 8 B – 1 KiB; <b>ring</b> 64 KiB – 1 MiB (up to 1.90× mpi)`` for one case, sizes ascending;
    ``gains``: the baseline's time over the winner's, size by size."""
    parts, start = [], 0
    for i in range(1, len(series) + 1):
        if i < len(series) and series[i] == series[start]:
            continue
        first, last = size_label(sizes[start]), size_label(sizes[i - 1])
        text = f"<b>{esc(series[start])}</b> {esc(first if first == last else f'{first} – {last}')}"
        measured = [g for g in gains[start:i] if math.isfinite(g)]
        if series[start] != baseline and measured:
            text += f" (up to {max(measured):.2f}× {esc(baseline)})"
        parts.append(text)
        start = i
    return "; ".join(parts)


def _winner_table(groups: dict[str, list[str]]) -> str:
    """One row per group of cases with the same winners by size (``groups``: winners' text -> case labels)."""
    total = sum(len(v) for v in groups.values())
    rows = []
    for text, cases in groups.items():
        if len(cases) == total and total > CASES_NAMED:
            named = f"all {total} cases"
        elif len(cases) > CASES_NAMED:
            named = "; ".join(cases[:CASES_NAMED]) + f" and {len(cases) - CASES_NAMED} more"
        else:
            named = "; ".join(cases)
        rows.append(f"<tr><td>{esc(named)}</td><td>{text}</td></tr>")
    return (
        "<table class='grid winners'><tr><th>case</th><th>fastest, by message size</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _peak_table(
    peaks: pd.DataFrame | None, references: list[str], record: dict[str, Any] | None, p: int, nodes: int, per_node: int
) -> str:
    """Each series' peak busbw in one topology, against the references there and the model's bound."""
    if peaks is None or peaks.empty:
        return ""
    head = "<tr><th>algorithm</th><th>peak busbw (GB/s)</th><th>at</th>"
    head += "".join(f"<th>against {esc(name)} there</th>" for name in references)
    head += "<th>of the model's bound there</th></tr>" if record else "</tr>"
    rows = []
    for r in peaks.sort_values("busbw", ascending=False, kind="stable").to_dict("records"):
        at = f"{size_label(r['bytes'])}, {case_label(r['dtype'], r['op'], r['placement'], r['timing'])}"
        cells = [esc(r["series"]), _three(r["busbw"]), esc(at)]
        for name in references:
            there = r[f"busbw of {name}"]
            if r["series"] == name:
                cells.append("(baseline)" if name == references[0] else "(itself)")
            else:
                cells.append(f"{r['busbw'] / there:.2f}×" if there > 0 else "not measured")
        if record:
            bound = model_bound(record, p, nodes, per_node, int(r["bytes"]))
            cells.append(f"{100 * r['busbw'] / bound:.0f}% of {_three(bound)} GB/s" if bound else "not modelled")
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table class='grid peaks'>{head}{''.join(rows)}</table>"


def _three(value: float) -> str:
    """Three significant digits, trailing zeros kept: ``1.00``, ``2.61``, ``261``."""
    if not math.isfinite(value) or value == 0:
        return f"{value:g}"
    return f"{value:.{max(0, 2 - math.floor(math.log10(abs(value))))}f}"


def _problems(wrong: pd.DataFrame, unchecked: pd.DataFrame, key: tuple) -> str:
    """Wrong results of this set and topology, loudly; measurements never checked, plainly."""
    out = []
    for frame, kind in ((wrong, "wrong"), (unchecked, "unchecked")):
        if frame.empty:
            continue
        mask = frame["set"] == key[0]
        for name, value in zip(TOPOLOGY, key[1:], strict=True):
            mask &= frame[name] == value
        rows = frame[mask]
        if rows.empty:
            continue
        if kind == "unchecked":
            names = ", ".join(sorted(rows["series"].astype(str).unique()))
            out.append(f"<p>Not checked: {len(rows)} measurement(s) of {esc(names)} (their source has no check).</p>")
            continue
        items = []
        for series, g in rows.groupby("series", sort=True):
            cases = sorted(
                {
                    f"{size_label(b)} {d} {o} {pl}"
                    for b, d, o, pl in zip(g["bytes"], g["dtype"], g["op"], g["placement"], strict=True)
                }
            )
            listed = ", ".join(cases[:5]) + (f" and {len(cases) - 5} more" if len(cases) > 5 else "")
            items.append(
                f"<b>{esc(series)}</b>: {len(g)} measurement(s), {int(g['nwrong'].sum())} wrong elements ({esc(listed)})"
            )
        out.append("<p class='bad'>WRONG RESULTS: " + "; ".join(items) + ".</p>")
    if not out:
        out.append("<p class='good'>Every measurement was checked and correct.</p>")
    return "".join(out)


def _skips(s: ResultSet) -> str:
    """What did not run in this set, grouped by algorithm and reason."""
    grouped: dict[tuple[str, str], dict[str, set]] = {}
    for skip in s.skips:
        where = grouped.setdefault(
            (str(skip.get("algo", "")), str(skip.get("reason", ""))), {"p": set(), "case": set()}
        )
        if skip.get("p") is not None:
            where["p"].add(str(skip["p"]))
        case = " ".join(str(skip[k]) for k in ("dtype", "op") if skip.get(k))
        if case:
            where["case"].add(case)
    if not grouped:
        return ""
    items = []
    for (algo, reason), where in grouped.items():
        context = []
        if where["p"]:
            context.append("p=" + ", ".join(sorted(where["p"], key=lambda v: (len(v), v))))
        if where["case"]:
            context.append(", ".join(sorted(where["case"])))
        items.append(f"<li><b>{esc(algo)}</b> ({esc('; '.join(context))}): {esc(reason)}</li>")
    return f"<p>Skipped in {esc(s.label)}:</p><ul class='skipped'>{''.join(items)}</ul>"
