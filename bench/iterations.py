"""How many timed iterations each size gets.

With ``-n N`` every size runs N iterations. Otherwise the count scales with volume, as the
OSU benchmarks do: enough iterations to move ``volume`` bytes, between ``min_iters`` and
``max_iters``, and cut further so the size's timed loop fits in ``budget`` seconds, judged
from the warm-up's wall time per iteration (its barriers included). Rank 0 decides and
broadcasts, so every rank runs the same count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_BUDGET = 0.5  # seconds of timing per size at most (collbench run --time-budget)


@dataclass(frozen=True)
class IterationPolicy:
    """Fixed ``iters``, or volume-scaled counts bounded by a time ``budget`` per size."""

    iters: int | None = None
    volume: int = 1 << 30
    min_iters: int = 5
    max_iters: int = 1000
    budget: float = 1.0

    def count(self, nbytes: int, warmup_seconds: float) -> int:
        """Iterations for a message of ``nbytes`` whose warm-up iterations took ``warmup_seconds`` each."""
        if self.iters is not None:
            return self.iters
        by_volume = self.volume // max(nbytes, 1)
        count = min(self.max_iters, max(self.min_iters, by_volume))
        if warmup_seconds > 0 and math.isfinite(warmup_seconds):
            count = min(count, max(self.min_iters, int(self.budget / warmup_seconds)))
        return count
