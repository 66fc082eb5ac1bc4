"""The α-β-γ cost model the algorithms' ``cost`` functions are written in.

A message of n bytes costs ``α + β·n`` (a latency and an inverse bandwidth), piecewise where
the MPI library switches protocol (eager to rendezvous) at a breakpoint; reducing n bytes of a
dtype costs ``γ·n``. Times are seconds, sizes bytes. Pure arithmetic: no MPI, no NumPy arrays.

β and γ are those of data that comes from memory. An all-reduce whose vectors fit in the caches
moves and reduces its chunks several times faster, so the model also carries measured cache
steps: for a working set of W bytes, β and γ are scaled by factors (1 for cold data) interpolated
between the measured windows. :meth:`CostModel.at` gives the model for one all-reduce's vector.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Segment:
    """α and β for messages up to ``upto`` bytes (inclusive; the last segment has infinity)."""

    upto: float
    alpha: float
    beta: float


@dataclass(frozen=True)
class CacheStep:
    """β and γ of an all-reduce on a ``window``-byte vector whose buffers are reused, over the cold ones."""

    window: float
    beta: float
    gamma: float


@dataclass(frozen=True)
class CostModel:
    """Message segments (sorted by ``upto``), γ per dtype and cache steps (sorted by ``window``)."""

    segments: tuple[Segment, ...]
    gamma: dict[str, float] = field(default_factory=dict)
    cache: tuple[CacheStep, ...] = ()

    def at(self, working_set: float) -> CostModel:
        """The model for an all-reduce whose vector is ``working_set`` bytes: β and γ scaled by the
        cache factors, interpolated in log(size) between the measured windows, cold (1) beyond the
        largest. Without cache steps, the model itself."""
        if not self.cache:
            return self
        beta, gamma = self.cache_factors(working_set)
        segments = tuple(Segment(s.upto, s.alpha, s.beta * beta) for s in self.segments)
        return CostModel(segments, {d: g * gamma for d, g in self.gamma.items()})

    def cache_factors(self, working_set: float) -> tuple[float, float]:
        """(β factor, γ factor) at ``working_set`` bytes."""
        steps = self.cache
        if working_set <= steps[0].window:
            return steps[0].beta, steps[0].gamma
        for low, high in itertools.pairwise(steps):
            if working_set <= high.window:
                t = math.log(working_set / low.window) / math.log(high.window / low.window)
                return low.beta + t * (high.beta - low.beta), low.gamma + t * (high.gamma - low.gamma)
        return 1.0, 1.0

    def segment(self, nbytes: float) -> Segment:
        """The protocol segment a message of ``nbytes`` falls in."""
        return next((s for s in self.segments if nbytes <= s.upto), self.segments[-1])

    def message(self, nbytes: float) -> float:
        """Seconds to move one message of ``nbytes`` (0 bytes still pays α)."""
        segment = self.segment(nbytes)
        return segment.alpha + segment.beta * nbytes

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
            "cache": [{"window": c.window, "beta": c.beta, "gamma": c.gamma} for c in self.cache],
        }

    @classmethod
    def from_dict(cls, data: dict) -> CostModel:
        segments = tuple(
            Segment(math.inf if s["upto"] is None else float(s["upto"]), float(s["alpha"]), float(s["beta"]))
            for s in data["segments"]
        )
        cache = tuple(
            CacheStep(float(c["window"]), float(c["beta"]), float(c["gamma"])) for c in data.get("cache") or ()
        )
        return cls(segments, {k: float(v) for k, v in data.get("gamma", {}).items()}, cache)


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
