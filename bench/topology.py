"""Topologies of one job: communicator sizes, nodes (physical or logical) and rank order.

One launch measures several communicator sizes p by splitting COMM_WORLD: world ranks 0..p-1
take part and the rest wait. Nodes are the hosts the ranks run on, or, with
``--ranks-per-node K``, logical nodes of K consecutive world ranks, so node-aware code is
exercised on one machine and runs unchanged on real nodes. The rank order lays the p ranks on
the ring or mesh: ``packed`` keeps node-mates together, ``spread`` deals them round-robin over
the nodes (a topology-unaware ring's worst case), ``random:SEED`` shuffles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import UsageError

ORDERS = ("packed", "spread", "random:SEED")


def parse_ranks(text: str | None, world: int) -> list[int]:
    """Communicator sizes from ``--ranks 2,4,8`` (default: the whole job), each within the job."""
    if not text:
        return [world]
    sizes = []
    for item in text.split(","):
        item = item.strip()
        if not item.isdigit() or int(item) < 1:
            raise UsageError(f"--ranks value {item!r} is not a positive whole number; e.g. --ranks 2,4,8")
        if int(item) > world:
            raise UsageError(f"--ranks {item} is larger than the job ({world} ranks); launch more ranks or drop it")
        sizes.append(int(item))
    return list(dict.fromkeys(sizes))


def parse_orders(text: str) -> list[str]:
    """Rank orders from ``--rank-order packed,spread,random:7``."""
    orders = []
    for item in (i.strip() for i in text.split(",")):
        if item in ("packed", "spread"):
            orders.append(item)
        elif item.startswith("random:") and item[7:].isdigit():
            orders.append(item)
        else:
            raise UsageError(f"unknown rank order {item!r}; expected packed, spread or random:SEED (e.g. random:1)")
    return list(dict.fromkeys(orders))


def check_ranks_per_node(per_node: int | None, sizes: list[int]) -> None:
    """Every size must be a whole number of logical nodes."""
    if per_node is None:
        return
    if per_node < 1:
        raise UsageError(f"--ranks-per-node {per_node} must be at least 1")
    for p in sizes:
        if p % per_node:
            raise UsageError(
                f"--ranks-per-node {per_node} does not divide {p} ranks; choose sizes that are multiples of it"
            )


def positions(nodes: list[int], order: str) -> list[int]:
    """Ring position of each rank (by world rank) given its node id, for one rank order."""
    p = len(nodes)
    if order == "packed":
        return list(range(p))
    if order == "spread":
        names = sorted(set(nodes), key=nodes.index)
        by_node = {n: [r for r in range(p) if nodes[r] == n] for n in names}
        dealt = []
        for layer in range(max(len(v) for v in by_node.values())):
            dealt += [ranks[layer] for ranks in by_node.values() if layer < len(ranks)]
        position = [0] * p
        for pos, rank in enumerate(dealt):
            position[rank] = pos
        return position
    seed = int(order.split(":", 1)[1])
    return [int(v) for v in np.random.default_rng(seed).permutation(p)]


@dataclass
class Topology:
    """One sub-communicator and what every row measured on it records."""

    comm: Any
    p: int
    nodes: int
    ranks_per_node: int
    layout: str
    rank_order: str
    node: int  # this rank's node id

    def fields(self) -> dict[str, Any]:
        return {
            "p": self.p,
            "nodes": self.nodes,
            "ranks_per_node": self.ranks_per_node,
            "layout": self.layout,
            "rank_order": self.rank_order,
        }

    def describe(self) -> str:
        return (
            f"p={self.p}: {self.nodes} node(s) x {self.ranks_per_node or 'uneven'} rank(s) ({self.layout}), "
            f"rank order {self.rank_order}"
        )


def node_ids(hosts: list[str], per_node: int | None) -> list[int]:
    """Node id of every world rank: logical blocks of ``per_node`` ranks, or by host name."""
    if per_node:
        return [r // per_node for r in range(len(hosts))]
    names = list(dict.fromkeys(hosts))
    return [names.index(h) for h in hosts]


def split(world: Any, p: int, order: str, nodes: list[int], per_node: int | None) -> Topology | None:
    """The communicator of world ranks 0..p-1 in ``order`` (collective on ``world``); None off it."""
    from mpi4py import MPI

    rank = world.Get_rank()
    members = nodes[:p]
    key = positions(members, order)[rank] if rank < p else 0
    comm = world.Split(0 if rank < p else MPI.UNDEFINED, key)
    if comm == MPI.COMM_NULL:
        return None
    counts = [members.count(n) for n in sorted(set(members))]
    return Topology(
        comm=comm,
        p=p,
        nodes=len(counts),
        ranks_per_node=counts[0] if len(set(counts)) == 1 else 0,
        layout="logical" if per_node else "physical",
        rank_order=order,
        node=nodes[rank],
    )
