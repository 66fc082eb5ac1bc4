"""Extrapolating the fitted cost model: every algorithm at any p and size, crossovers, bounds, tuning.

A calibration that spanned nodes has two levels (:class:`Machine` with ``inter``); placed on a layout of
N nodes x L ranks in a rank order (:func:`layout`) it charges each algorithm on the links it crosses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import collectives
from collectives.blocks import mesh_shape
from collectives.costmodel import CostModel, TwoLevel, lg

from .topology import positions

MODELLED = ("ring", "tree", "mesh", "rhd", "ps", "hier")
Model = CostModel | TwoLevel


@dataclass(frozen=True)
class Machine:
    """What a calibration measured: one level, or two when it spanned nodes (``inter``: one flow alone between
    nodes; ``link_beta``: seconds per byte of a node's link shared by all its flows)."""

    intra: CostModel
    inter: CostModel | None = None
    link_beta: float = 0.0

    def placed(self, node_of: list[int] | None) -> Model:
        """The model for ranks on these nodes (communicator order); one level when they share one node."""
        if self.inter is None or not node_of or len(set(node_of)) < 2:
            return self.intra
        return TwoLevel(self.intra, self.inter, self.link_beta, node_of)


def load_calibration(record: dict[str, Any]) -> Machine:
    """The machine a stored calibration record describes."""
    intra = CostModel.from_dict(record["model"])
    inter = record.get("inter")
    if not inter:
        return Machine(intra)
    return Machine(intra, CostModel.from_dict(inter["model"]), float(inter["link_beta"]))


def layout(nodes: int, per_node: int, order: str = "packed") -> list[int]:
    """The node of each rank, in communicator order, for ``nodes`` x ``per_node`` ranks in ``order``."""
    world = [r // per_node for r in range(nodes * per_node)]
    node_of = [0] * len(world)
    for rank, position in enumerate(positions(world, order)):
        node_of[position] = world[rank]
    return node_of


def default_params(algo: str, p: int, nbytes: int, ranks_per_node: int) -> dict[str, Any] | None:
    """The parameters an algorithm would choose by default at this p and size (None: cannot run)."""
    if algo == "tree":
        return {"variant": "double" if nbytes >= 64 * 1024 else "binomial"}
    if algo == "rhd":
        return {"variant": "doubling" if nbytes < 4096 else "halving"}
    if algo == "mesh":
        return {"mesh": "x".join(map(str, mesh_shape(p)))}
    if algo == "hier":
        if ranks_per_node < 1 or p % ranks_per_node:
            return None
        return {"ranks_per_node": ranks_per_node, "nodes": p // ranks_per_node, "outer": "ring"}
    return {}


def cost_at(algo: str, model: Model, p: int, nbytes: int, dtype: str, params: dict[str, Any]) -> float | None:
    """``algo``'s cost function evaluated with the model for an all-reduce of ``nbytes`` (its cache factors)."""
    return collectives.get(algo).cost(model.at(nbytes), p, nbytes, dtype, params)


def predict_time(model: Model, algo: str, p: int, nbytes: int, dtype: str, ranks_per_node: int) -> float | None:
    params = default_params(algo, p, nbytes, ranks_per_node)
    if params is None:
        return None
    return cost_at(algo, model, p, nbytes, dtype, params)


def lower_bounds(model: Model, p: int, nbytes: int) -> dict[str, float]:
    """⌈lg p⌉·α (no all-reduce has fewer rounds) and 2(p-1)/p·n·β (none moves fewer bytes per rank). On two
    levels, also 2(N-1)/N·n through each of N nodes' links, at best at the link's rate or L flows' alone."""
    bandwidth = 2 * (p - 1) / p * nbytes * model.at(nbytes).beta
    if isinstance(model, TwoLevel):
        inside, across = model.node_split()
        nodes, per_node = len(across[0]), len(inside[0])
        link = max(model.link_beta, model.inter.segment(nbytes).beta / per_node)
        bandwidth = max(bandwidth, 2 * (nodes - 1) / nodes * nbytes * link)
    return {"latency": lg(p) * model.alpha, "bandwidth": bandwidth}


def winners(model: Model, p: int, sizes: list[int], dtype: str, algos: list[str], ranks_per_node: int):
    """[(size, best algorithm, its time)] over ``sizes``."""
    table = []
    for nbytes in sizes:
        times = {a: predict_time(model, a, p, nbytes, dtype, ranks_per_node) for a in algos}
        times = {a: t for a, t in times.items() if t is not None}
        best = min(times, key=times.get)
        table.append((nbytes, best, times[best]))
    return table


def crossover(
    model: Model, first: str, second: str, p: int, dtype: str, ranks_per_node: int, lo: int = 8, hi: int = 1 << 34
) -> int | None:
    """The smallest size (bytes, to 1%) from which ``second`` is faster than ``first``, if it becomes so."""

    def faster(nbytes: int) -> bool:
        a = predict_time(model, first, p, nbytes, dtype, ranks_per_node)
        b = predict_time(model, second, p, nbytes, dtype, ranks_per_node)
        return a is not None and b is not None and b < a

    size, previous = lo, None
    while size <= hi:
        if faster(size) and (previous is None or not faster(previous)):
            low, high = (previous or size), size
            while high - low > max(1, low // 100):
                mid = (low + high) // 2
                low, high = (low, mid) if faster(mid) else (mid, high)
            return high if previous is not None else size
        previous, size = size, size * 2
    return None


def size_ranges(table: list[tuple[int, str, float]]) -> list[tuple[int, int, str]]:
    """Consecutive sizes with the same winner merged: [(from, to, algo)]."""
    ranges: list[tuple[int, int, str]] = []
    for nbytes, algo, _ in table:
        if ranges and ranges[-1][2] == algo:
            ranges[-1] = (ranges[-1][0], nbytes, algo)
        else:
            ranges.append((nbytes, nbytes, algo))
    return ranges


def powers_of_two(lo: int, hi: int) -> list[int]:
    return [1 << k for k in range(max(0, math.ceil(math.log2(lo))), int(math.log2(hi)) + 1)]
