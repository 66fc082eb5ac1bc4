"""Statistics of per-iteration samples: the one place they are computed.

A sample is the time of one iteration taken from the slowest rank, in seconds. Beside the
samples' own statistics, a row keeps the statistics the C benchmarks print, over each rank's
mean time per call: their mean (OSU's "Avg Latency", IMB's ``t_avg``), minimum and maximum
(IMB's ``t_min`` and ``t_max``). ``--stat`` chooses which one is a row's time; algbw is bytes /
time and busbw = algbw x the algorithm's bus-bandwidth factor, both in GB/s (1 GB = 1e9 bytes).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

STAT_NAMES = ("min", "p50", "mean", "p99", "max", "stdev")
RANK_STAT_NAMES = ("rank_avg", "rank_min", "rank_max")

# --stat NAME: the statistic that becomes a row's time, and what it is.
STATISTICS = {
    "median": ("p50", "median of the slowest rank's per-iteration samples"),
    "avg": ("rank_avg", "mean over ranks of each rank's mean time per call (OSU's Avg Latency, IMB's t_avg)"),
    "max": ("rank_max", "the slowest rank's mean time per call (IMB's t_max, OSU's Max Latency)"),
    "min": ("rank_min", "the fastest rank's mean time per call (IMB's t_min, OSU's Min Latency)"),
}
DEFAULT_STAT = "median"


def summarize(samples: Sequence[float]) -> dict[str, float]:
    """min, p50, mean, p99, max and stdev (population) of ``samples``; NaN for no samples.

    Percentiles interpolate linearly between order statistics (NumPy's default).
    """
    values = np.asarray(samples, dtype=np.float64)
    if values.size == 0:
        return {name: float("nan") for name in STAT_NAMES}
    return {
        "min": float(values.min()),
        "p50": float(np.percentile(values, 50)),
        "mean": float(values.mean()),
        "p99": float(np.percentile(values, 99)),
        "max": float(values.max()),
        "stdev": float(values.std()),
    }


def timing_stats(timing: Any) -> dict[str, float]:
    """Every statistic of a :class:`bench.timing.Timing`: the samples' and the rank means'."""
    return {**summarize(timing.samples), **{name: getattr(timing, name) for name in RANK_STAT_NAMES}}


def bandwidths(nbytes: int, seconds: float, busbw_factor: float) -> tuple[float, float]:
    """(algbw, busbw) in GB/s for ``nbytes`` reduced in ``seconds``."""
    if not seconds > 0:
        return float("nan"), float("nan")
    algbw = nbytes / seconds / 1e9
    return algbw, algbw * busbw_factor
