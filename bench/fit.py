"""Fitting the cost model to measurements: weighted least squares, with one protocol breakpoint.

Message times grow linearly with size within a protocol and jump where the MPI library
switches (eager to rendezvous). ``fit_segments`` fits T = α + β·n by least squares weighted by
1/T² (so small and large messages count alike, as relative errors), once over all sizes and once
for every split into a lower and an upper segment; the split is kept when it cuts the weighted
residual by more than half. Fit quality is reported as R² and the median relative residual.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from collectives.costmodel import CostModel, Segment


def wls_line(sizes: Sequence[float], times: Sequence[float]) -> tuple[float, float, float]:
    """(α, β, weighted SSE) of T = α + β·n with weights 1/T²; α and β are kept >= 0."""
    n = np.asarray(sizes, dtype=float)
    t = np.asarray(times, dtype=float)
    w = 1.0 / np.maximum(t, 1e-12) ** 2
    design = np.stack([np.ones_like(n), n], axis=1) * np.sqrt(w)[:, None]
    (alpha, beta), *_ = np.linalg.lstsq(design, t * np.sqrt(w), rcond=None)
    if beta < 0:
        alpha, beta = float(np.sum(w * t) / np.sum(w)), 0.0
    if alpha < 0:
        alpha, beta = 0.0, float(np.sum(w * t * n) / np.sum(w * n * n))
    residual = t - (alpha + beta * n)
    return float(alpha), float(beta), float(np.sum(w * residual**2))


def fit_segments(sizes: Sequence[float], times: Sequence[float], min_points: int = 3) -> tuple[Segment, ...]:
    """One segment, or two split at the breakpoint that explains the data best."""
    order = np.argsort(sizes)
    n = np.asarray(sizes, dtype=float)[order]
    t = np.asarray(times, dtype=float)[order]
    alpha, beta, sse = wls_line(n, t)
    best: tuple[Segment, ...] = (Segment(math.inf, alpha, beta),)
    best_sse = sse
    for split in range(min_points, len(n) - min_points + 1):
        a1, b1, s1 = wls_line(n[:split], t[:split])
        a2, b2, s2 = wls_line(n[split:], t[split:])
        if s1 + s2 < 0.5 * best_sse:
            best_sse = s1 + s2
            best = (Segment(float(n[split - 1]), a1, b1), Segment(math.inf, a2, b2))
    return best


def quality(model: CostModel, sizes: Sequence[float], times: Sequence[float]) -> dict[str, float]:
    """R² (on the times) and the median relative residual of the message model."""
    t = np.asarray(times, dtype=float)
    predicted = np.array([model.message(n) for n in sizes])
    ss_res = float(np.sum((t - predicted) ** 2))
    ss_tot = float(np.sum((t - t.mean()) ** 2)) or 1e-300
    return {"r2": 1.0 - ss_res / ss_tot, "median_rel_residual": float(np.median(np.abs(predicted - t) / t))}


def fit_gamma(sizes: Sequence[float], times: Sequence[float]) -> float:
    """γ (seconds per byte) of a local reduction: the slope of a weighted line through the timings."""
    return wls_line(sizes, times)[1]
