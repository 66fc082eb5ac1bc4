"""The report's findings on settings: how much a run's time moved with buffer placement, huge pages or thread level.

Where one result set holds the same measurement (algorithm, topology, size, dtype, op, placement,
timing) under several values of a setting (``collbench run --align page,page+16`` sweeps two
placements side by side), each value's time is divided by the first value's, size by size, and
summarised per algorithm: the median ratio, the largest and the size where it is largest. An
alignment that makes MPI 2.5 times slower is a finding, not a footnote.
"""

from __future__ import annotations

import pandas as pd

from .data import MATCH_KEY
from .figures import esc, size_label

SETTINGS = {
    "align": "buffer placement (--align)",
    "huge_pages": "huge pages (--huge-pages)",
    "thread_level": "MPI thread level",
}


def setting_effects(df: pd.DataFrame) -> list[dict]:
    """One finding per set, setting, algorithm and value other than the first: its ratios to the first value."""
    findings = []
    if df.empty:
        return findings
    for label, rows in df.groupby("set", sort=False):
        for setting in SETTINGS:
            values = [str(v) for v in pd.unique(rows[setting].to_numpy()) if v is not None and str(v)]
            if len(values) < 2:
                continue
            key = [k for k in MATCH_KEY if k != setting] + [s for s in SETTINGS if s not in MATCH_KEY and s != setting]
            times = rows.pivot_table(index=key, columns=setting, values="time_s", aggfunc="median")
            for value in values[1:]:
                ratios = (times[value] / times[values[0]]).dropna()
                for algo, by_algo in ratios.groupby(level="algo"):
                    by_size = by_algo.groupby(level="bytes").median()
                    worst = by_size.idxmax()
                    findings.append(
                        {
                            "set": label,
                            "setting": setting,
                            "value": value,
                            "reference": values[0],
                            "algo": algo,
                            "median": float(by_size.median()),
                            "largest": float(by_size.max()),
                            "at": int(worst),
                            "sizes": len(by_size),
                        }
                    )
    return findings


def settings_section(df: pd.DataFrame) -> str:
    """The section, or an empty string when no set varies a setting."""
    findings = setting_effects(df)
    if not findings:
        return ""
    items = "".join(
        f"<li><b>{esc(f['algo'])}</b> ({esc(f['set'])}): with {esc(SETTINGS[f['setting']])} <code>{esc(f['value'])}</code> "
        f"a call takes <b>{f['median']:.2f}&times;</b> the time of <code>{esc(f['reference'])}</code> "
        f"(median over {f['sizes']} sizes; at most {f['largest']:.2f}&times;, at {esc(size_label(f['at']))})</li>"
        for f in findings
    )
    return f"<section id='settings'><h2>Settings that moved the numbers</h2><ul class='findings'>{items}</ul></section>"
