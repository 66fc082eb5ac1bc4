"""The α-β-γ cost model the algorithms' ``cost`` functions are written in.

A message of n bytes costs ``α + β·n`` (a latency and an inverse bandwidth), piecewise where
the MPI library switches protocol (eager to rendezvous) at a breakpoint; reducing n bytes of a
dtype costs ``γ·n``. Times are seconds, sizes bytes. Pure arithmetic: no MPI, no NumPy arrays.

β and γ are those of data that comes from memory. An all-reduce whose vectors fit in the caches
moves and reduces its chunks several times faster, so the model also carries measured cache
steps: for a working set of W bytes, β and γ are scaled by factors (1 for cold data) interpolated
between the measured windows. :meth:`CostModel.at` gives the model for one all-reduce's vector.

Two levels (:class:`TwoLevel`): ranks sit on nodes, a fast link inside a node and a slower network
between nodes. A message between node-mates costs the intra-node model's time; one between nodes
costs ``α_inter + n·max(β_inter, k·β_link)``, where β_inter is one flow alone on the network and
β_link a node's link shared by all its flows: k is the number of flows that leave the sender's
node, or enter the receiver's, in the same round (the busier of the two). An algorithm's cost
function names the pattern of each round (:func:`pattern_pairs`: which rank sends to which), and
the model charges the round its slowest message, on the links it actually crosses with the rank
order and mapping in use. A flat :class:`CostModel` charges every round one message.
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

    def round(self, pattern: tuple, nbytes: float) -> float:
        """Seconds for a round in which ranks send ``nbytes`` each along ``pattern``: one message here."""
        return self.message(nbytes)

    def split(self, groups: list[list[int]]) -> CostModel:
        """The model for sub-communicators (lists of this model's ranks) running at once: the same model."""
        return self

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


class Time(float):
    """Seconds, with the part each level's latency, bandwidth and the reductions contribute (``parts``), so a
    cost function written with + and * also says where its time goes."""

    parts: dict[str, float]

    def __new__(cls, seconds: float, parts: dict[str, float]) -> Time:
        value = super().__new__(cls, seconds)
        value.parts = parts
        return value

    def __add__(self, other: float) -> Time:
        merged = dict(self.parts)
        for key, value in getattr(other, "parts", {}).items():
            merged[key] = merged.get(key, 0.0) + value
        return Time(float(self) + float(other), merged)

    __radd__ = __add__

    def __mul__(self, factor: float) -> Time:
        return Time(float(self) * factor, {key: value * factor for key, value in self.parts.items()})

    __rmul__ = __mul__


def parts(seconds: float) -> dict[str, float]:
    """Where ``seconds`` (a cost) went, by level and term; empty for a flat model's plain float."""
    return dict(getattr(seconds, "parts", {}))


def rhd_rank(p: int, v: int) -> int:
    """Recursive halving-doubling's new rank ``v`` (of the 2^floor(lg p) that remain after the fold) as a rank of p."""
    q = p - (1 << (p.bit_length() - 1))
    return 2 * v + 1 if v < q else v + q


def pattern_pairs(pattern: tuple) -> list[tuple[int, int]]:
    """The (sender, receiver) ranks of one round of a named pattern:

    - ``("ring", p)``: every rank to the next, around the ring;
    - ``("xor", p, d)``: recursive halving-doubling's exchange at distance d (both ways);
    - ``("fold", p)``: its fold, each even rank of the first 2(p - 2^floor(lg p)) to the odd one above;
    - ``("binomial", p, k)``: ranks whose lowest set bit is 2^k to that rank less 2^k;
    - ``("trees", p, trees)``: every child to its parent in ``trees`` (tuples of parent ranks, None at the root);
    - ``("pair", a, b)``: one message.
    """
    kind, *args = pattern
    if kind == "ring":
        (p,) = args
        return [(i, (i + 1) % p) for i in range(p)] if p > 1 else []
    if kind == "xor":
        p, d = args
        pow2 = 1 << (p.bit_length() - 1)
        return [(rhd_rank(p, v), rhd_rank(p, v ^ d)) for v in range(pow2)]
    if kind == "fold":
        (p,) = args
        return [(2 * i, 2 * i + 1) for i in range(p - (1 << (p.bit_length() - 1)))]
    if kind == "binomial":
        p, k = args
        return [(r, r - (1 << k)) for r in range(1, p) if r & -r == 1 << k]
    if kind == "trees":
        _, trees = args
        return [(child, parent) for tree in trees for child, parent in enumerate(tree) if parent is not None]
    if kind == "pair":
        return [tuple(args)]
    raise ValueError(f"unknown pattern {kind!r}")


class TwoLevel:
    """A machine of nodes: ``intra`` between node-mates, ``inter`` (one flow alone) between nodes, ``link_beta``
    the seconds per byte of a node's link shared by all its flows (0: no shared link, as between logical nodes
    of one machine). ``node_of[r]`` is the node of rank r (communicator order, the rank order applied);
    ``groups`` lists the sub-communicators a cost is charged for, all running at once (default: all ranks)."""

    def __init__(
        self,
        intra: CostModel,
        inter: CostModel,
        link_beta: float,
        node_of: list[int] | tuple[int, ...],
        groups: tuple[tuple[int, ...], ...] | None = None,
        summaries: dict | None = None,
    ):
        self.intra, self.inter, self.link_beta = intra, inter, link_beta
        self.node_of = tuple(node_of)
        self.groups = groups if groups is not None else (tuple(range(len(self.node_of))),)
        self._summaries = {} if summaries is None else summaries  # groups -> pattern -> {(between nodes, k)}
        self._classes_of = self._summaries.setdefault(self.groups, {})

    @property
    def alpha(self) -> float:
        return self.intra.alpha

    @property
    def beta(self) -> float:
        return self.intra.beta

    def at(self, working_set: float) -> TwoLevel:
        """Cache factors apply inside a node; the network between nodes is not cached."""
        return TwoLevel(
            self.intra.at(working_set), self.inter, self.link_beta, self.node_of, self.groups, self._summaries
        )

    def split(self, groups: list[list[int]]) -> TwoLevel:
        """Sub-communicators of each of this model's groups (local ranks), all at once."""
        nested = tuple(tuple(group[i] for i in sub) for group in self.groups for sub in groups)
        return TwoLevel(self.intra, self.inter, self.link_beta, self.node_of, nested, self._summaries)

    def node_split(self) -> tuple[list[list[int]], list[list[int]]]:
        """(the ranks of each node, the ranks with the same index on every node), as local ranks of a group."""
        if ("node split",) not in self._classes_of:
            by_node: dict[int, list[int]] = {}
            for i, rank in enumerate(self.groups[0]):
                by_node.setdefault(self.node_of[rank], []).append(i)
            inside = list(by_node.values())
            across = [[members[j] for members in inside] for j in range(min(len(m) for m in inside))]
            self._classes_of[("node split",)] = (inside, across)
        return self._classes_of[("node split",)]

    def reduce(self, nbytes: float, dtype: str) -> Time:
        seconds = self.intra.reduce(nbytes, dtype)
        return Time(seconds, {"reduce": seconds})

    def _classes(self, pattern: tuple) -> frozenset[tuple[bool, int]]:
        """The kinds of message in one round of ``pattern`` over every group: (between nodes, flows sharing)."""
        classes = self._classes_of.get(pattern)
        if classes is None:
            pairs = pattern_pairs(pattern)
            node = self.node_of
            flows = [(node[g[a]], node[g[b]]) for g in self.groups for a, b in pairs]
            out: dict[int, int] = {}
            into: dict[int, int] = {}
            for src, dst in flows:
                if src != dst:
                    out[src] = out.get(src, 0) + 1
                    into[dst] = into.get(dst, 0) + 1
            classes = frozenset((src != dst, max(out[src], into[dst]) if src != dst else 1) for src, dst in flows)
            self._classes_of[pattern] = classes
        return classes

    def round(self, pattern: tuple, nbytes: float) -> Time:
        """Seconds for a round in which ranks send ``nbytes`` each along ``pattern``: its slowest message."""
        slowest = Time(0.0, {})
        for between, sharing in self._classes(pattern):
            level = self.inter if between else self.intra
            segment = level.segment(nbytes)
            beta = max(segment.beta, sharing * self.link_beta) if between else segment.beta
            name = "inter" if between else "intra"
            seconds = segment.alpha + beta * nbytes
            if seconds > slowest:
                slowest = Time(seconds, {f"{name} latency": segment.alpha, f"{name} bandwidth": beta * nbytes})
        return slowest


def node_split(model: CostModel | TwoLevel, p: int, per_node: int) -> tuple[list[list[int]], list[list[int]]]:
    """(each node's ranks, the ranks with one index on every node): the model's nodes, or blocks of ``per_node``."""
    if isinstance(model, TwoLevel):
        return model.node_split()
    per_node = max(1, min(per_node, p))
    inside = [list(range(start, start + per_node)) for start in range(0, p, per_node)]
    return inside, [list(range(j, p, per_node)) for j in range(per_node)]


def lg(p: int) -> int:
    """⌈log2 p⌉ (0 for p = 1)."""
    return max(0, (p - 1).bit_length())


def chunks(elements_bytes: float, chunk: float | None) -> int:
    """Chunks of at most ``chunk`` bytes in ``elements_bytes`` (at least 1)."""
    if not chunk or chunk <= 0:
        return 1
    return max(1, math.ceil(elements_bytes / chunk))


def ring_cost(model: CostModel | TwoLevel, p: int, n: float, dtype: str, chunk: float | None) -> float:
    """Pipelined ring: 2(p-1) steps of c chunks of n/(pc) bytes; (p-1) reductions of n/p."""
    return ring_reduce_scatter_cost(model, p, n, dtype, chunk) + ring_all_gather_cost(model, p, n, chunk)


def ring_reduce_scatter_cost(model: CostModel | TwoLevel, p: int, n: float, dtype: str, chunk: float | None) -> float:
    """Half a ring: the reduce-scatter (or, without the reductions, the all-gather)."""
    if p <= 1:
        return 0.0
    return ring_all_gather_cost(model, p, n, chunk) + (p - 1) * model.reduce(n / p, dtype)


def ring_all_gather_cost(model: CostModel | TwoLevel, p: int, n: float, chunk: float | None) -> float:
    """(p-1) steps of c chunks of n/(pc) bytes, every rank to the next; the slowest hop sets each step's pace."""
    if p <= 1:
        return 0.0
    block = n / p
    c = chunks(block, chunk)
    return (p - 1) * c * model.round(("ring", p), block / c)
