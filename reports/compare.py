"""Comparing two runs row by row: a significance test on the per-iteration samples and the change.

For each measurement present in both runs (same algorithm, mesh, topology, size, dtype, op,
placement, timing and buffer placement) the samples are compared with a two-sided Mann-Whitney U test, which
assumes no distribution (timings are skewed and heavy-tailed), and the relative change of the
median time is computed. Many rows are tested at once, so the p-values are adjusted with the
Benjamini-Hochberg procedure before they are compared with ``alpha``. A row is a regression when
its adjusted p-value is below ``alpha`` and it got slower by more than ``threshold``; an
improvement likewise when it got faster. Rows with fewer than ``MIN_SAMPLES`` samples on
either side (imports that give only an average) cannot be tested and are listed as untested.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import false_discovery_control, mannwhitneyu

from .data import MATCH_KEY

MIN_SAMPLES = 3
VERDICTS = ("regression", "improvement", "unchanged", "untested")


@dataclass
class Comparison:
    """The matched rows (one per key, with ``verdict``) and the rows found in only one run."""

    rows: pd.DataFrame
    only_base: int
    only_new: int

    @property
    def regressions(self) -> pd.DataFrame:
        """Rows significantly slower by more than the threshold, worst first."""
        return self.rows[self.rows["verdict"] == "regression"].sort_values("change", ascending=False)

    @property
    def improvements(self) -> pd.DataFrame:
        """Rows significantly faster by more than the threshold, best first."""
        return self.rows[self.rows["verdict"] == "improvement"].sort_values("change")


def _pooled(df: pd.DataFrame) -> pd.DataFrame:
    """One row per key; rows measured twice in one run pool their samples."""
    keyed = df[[*MATCH_KEY, "samples_s"]].copy()
    keyed["mesh"] = keyed["mesh"].fillna("").astype(str)
    keyed["ranks_per_node"] = keyed["ranks_per_node"].fillna(0).astype("int64")
    return (
        keyed.groupby(MATCH_KEY, sort=True, dropna=False)["samples_s"]
        .agg(lambda s: np.concatenate([np.asarray(v, dtype=float) for v in s]))
        .reset_index()
    )


def compare(base: pd.DataFrame, new: pd.DataFrame, threshold: float = 0.05, alpha: float = 0.05) -> Comparison:
    """Compare the rows of ``new`` with those of ``base`` (DataFrames from :func:`bench.results.load`).

    ``change`` is median(new) / median(base) - 1 of the per-iteration times: positive is slower.
    """
    a, b = _pooled(base), _pooled(new)
    merged = a.merge(b, on=MATCH_KEY, how="outer", suffixes=("_base", "_new"), indicator=True)
    only_base = int((merged["_merge"] == "left_only").sum())
    only_new = int((merged["_merge"] == "right_only").sum())
    both = merged[merged["_merge"] == "both"].drop(columns="_merge").reset_index(drop=True)
    base_median, new_median, pvalues, testable = [], [], [], []
    for x, y in zip(both["samples_s_base"], both["samples_s_new"], strict=True):
        x, y = x[np.isfinite(x)], y[np.isfinite(y)]
        base_median.append(float(np.median(x)) if len(x) else np.nan)
        new_median.append(float(np.median(y)) if len(y) else np.nan)
        ok = len(x) >= MIN_SAMPLES and len(y) >= MIN_SAMPLES
        testable.append(ok)
        if ok and not (np.array_equal(np.sort(x), np.sort(y)) or (np.ptp(np.concatenate([x, y])) == 0)):
            pvalues.append(float(mannwhitneyu(x, y, alternative="two-sided").pvalue))
        else:
            pvalues.append(1.0 if ok else np.nan)
    both["base_median_s"] = base_median
    both["new_median_s"] = new_median
    both["change"] = both["new_median_s"] / both["base_median_s"] - 1.0
    both["pvalue"] = pvalues
    mask = np.asarray(testable, dtype=bool)
    adjusted = np.full(len(both), np.nan)
    if mask.any():
        adjusted[mask] = false_discovery_control(np.asarray(pvalues, dtype=float)[mask], method="bh")
    both["pvalue_adjusted"] = adjusted
    significant = mask & (np.nan_to_num(adjusted, nan=1.0) < alpha)
    verdict = np.where(~mask, "untested", "unchanged").astype(object)
    change = both["change"].to_numpy(dtype=float)
    verdict[significant & (change > threshold)] = "regression"
    verdict[significant & (change < -threshold)] = "improvement"
    both["verdict"] = verdict
    both["n_base"] = [len(v) for v in both["samples_s_base"]]
    both["n_new"] = [len(v) for v in both["samples_s_new"]]
    return Comparison(
        rows=both.drop(columns=["samples_s_base", "samples_s_new"]), only_base=only_base, only_new=only_new
    )


def parse_threshold(text: str) -> float:
    """A relative threshold: ``5%`` or the fraction ``0.05``. Raises ValueError with the reason."""
    value = text.strip()
    try:
        number = float(value[:-1]) / 100 if value.endswith("%") else float(value)
    except ValueError:
        raise ValueError(f"threshold {text!r} is not a percentage or fraction; write e.g. 5% or 0.05") from None
    if not value.endswith("%") and number >= 1:
        raise ValueError(f"threshold {text!r} is ambiguous; write {text}% for a percentage or a fraction below 1")
    if not 0 <= number < 10:
        raise ValueError(f"threshold {text!r} must be between 0% and 1000%")
    return number


def describe_row(row: pd.Series) -> str:
    """One comparison row as a line of text: what was measured, the medians, the change and p."""
    mesh = f" {row['mesh']}" if row["mesh"] else ""
    return (
        f"{row['algo']}{mesh:<6} p={row['p']:<4} {row['bytes']:>11} B {row['dtype']:>8} {row['op']:>4} "
        f"{row['placement']:>3} {row['timing']:>7}  {row['base_median_s'] * 1e6:10.2f} -> "
        f"{row['new_median_s'] * 1e6:10.2f} us  {row['change'] * 100:+7.1f}%  p={row['pvalue_adjusted']:.2g}"
    )
