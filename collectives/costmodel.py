"""The α-β-γ cost model the algorithms' ``cost`` functions are written in.

A message of n bytes costs ``α + β·n`` (a latency and an inverse bandwidth), piecewise where
the MPI library switches protocol (eager to rendezvous) at a breakpoint; reducing n bytes of a
dtype costs ``γ·n``. Times are seconds, sizes bytes. Pure arithmetic: no MPI, no NumPy arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Segment:
    """α and β for messages up to ``upto`` bytes (inclusive; the last segment has infinity)."""

    upto: float
    alpha: float
    beta: float


@dataclass(frozen=True)
class CostModel:
    """Message segments (sorted by ``upto``) and γ per dtype."""

    segments: tuple[Segment, ...]
    gamma: dict[str, float] = field(default_factory=dict)

    def message(self, nbytes: float) -> float:
        """Seconds to move one message of ``nbytes`` (0 bytes still pays α)."""
        for segment in self.segments:
            if nbytes <= segment.upto:
                return segment.alpha + segment.beta * nbytes
        last = self.segments[-1]
        return last.alpha + last.beta * nbytes

    def reduce(self, nbytes: float, dtype: str) -> float:
        """Seconds to reduce ``nbytes`` of ``dtype`` locally."""
        gamma = self.gamma.get(dtype)
        if gamma is None:
            gamma = max(self.gamma.values()) if self.gamma else 0.0
        return gamma * nbytes

    @property
    def alpha(self) -> float:
        return self.segments[0].alpha

    @property
    def beta(self) -> float:
        return self.segments[-1].beta

    def to_dict(self) -> dict:
        return {
            "segments": [
                {"upto": None if math.isinf(s.upto) else s.upto, "alpha": s.alpha, "beta": s.beta}
                for s in self.segments
            ],
            "gamma": dict(self.gamma),
        }

    @classmethod
    def from_dict(cls, data: dict) -> CostModel:
        segments = tuple(
            Segment(math.inf if s["upto"] is None else float(s["upto"]), float(s["alpha"]), float(s["beta"]))
            for s in data["segments"]
        )
        return cls(segments, {k: float(v) for k, v in data.get("gamma", {}).items()})


def lg(p: int) -> int:
    """⌈log2 p⌉ (0 for p = 1)."""
    return max(0, (p - 1).bit_length())


def chunks(elements_bytes: float, chunk: float | None) -> int:
    """Chunks of at most ``chunk`` bytes in ``elements_bytes`` (at least 1)."""
    if not chunk or chunk <= 0:
        return 1
    return max(1, math.ceil(elements_bytes / chunk))


def ring_cost(model: CostModel, p: int, n: float, dtype: str, chunk: float | None) -> float:
    """Pipelined ring: 2(p-1) steps of c chunks of n/(pc) bytes; (p-1) reductions of n/p."""
    if p <= 1:
        return 0.0
    block = n / p
    c = chunks(block, chunk)
    return 2 * (p - 1) * c * model.message(block / c) + (p - 1) * model.reduce(block, dtype)


def ring_reduce_scatter_cost(model: CostModel, p: int, n: float, dtype: str, chunk: float | None) -> float:
    """Half a ring: the reduce-scatter (or, without the reductions, the all-gather)."""
    if p <= 1:
        return 0.0
    block = n / p
    c = chunks(block, chunk)
    return (p - 1) * c * model.message(block / c) + (p - 1) * model.reduce(block, dtype)


def ring_all_gather_cost(model: CostModel, p: int, n: float, chunk: float | None) -> float:
    if p <= 1:
        return 0.0
    block = n / p
    c = chunks(block, chunk)
    return (p - 1) * c * model.message(block / c)
