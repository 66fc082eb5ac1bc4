"""Statistics of per-iteration samples: the one place they are computed.

A sample is the time of one iteration taken from the slowest rank, in seconds. algbw is
bytes / time and busbw = algbw x the algorithm's bus-bandwidth factor, both in GB/s
(1 GB = 1e9 bytes), computed from the median time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

STAT_NAMES = ("min", "p50", "mean", "p99", "max", "stdev")


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


def bandwidths(nbytes: int, seconds: float, busbw_factor: float) -> tuple[float, float]:
    """(algbw, busbw) in GB/s for ``nbytes`` reduced in ``seconds``."""
    if not seconds > 0:
        return float("nan"), float("nan")
    algbw = nbytes / seconds / 1e9
    return algbw, algbw * busbw_factor
