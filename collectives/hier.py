"""``hier``: node-aware hierarchical all-reduce (the Horovod / NCCL hierarchical pattern).

With L ranks on each of N nodes:

1. Reduce-scatter inside the node (ring over the node's L ranks): local rank l ends owning
   block l+1 mod L of the vector, reduced over its node.
2. All-reduce of that block across nodes among the N ranks with the same local rank, with the
   ``outer`` algorithm (any registered one: ring, rhd, tree, mpi, ...).
3. All-gather inside the node (ring).

Only 1/L of the vector crosses the network from each rank, and every node link is used by L
ranks at once. Nodes come from the ``node`` option (this rank's node id; the harness passes it
for logical nodes, ``--ranks-per-node``) or, by default, from the shared-memory split
(``MPI_COMM_TYPE_SHARED``). Every node must hold the same number of ranks.

Cost: 2(L-1)α_intra + 2(L-1)/L·nβ_intra + (L-1)/L·nγ, plus the outer algorithm's cost on n/L
bytes over N ranks (for a ring: 2(N-1)α_inter + 2(N-1)/N·(n/L)β_inter + (N-1)/N·(n/L)γ).

Source: Sergeev & Del Balso, "Horovod: fast and easy distributed deep learning in TensorFlow",
arXiv:1802.05799, 2018 (hierarchical all-reduce); Jia et al., "Highly scalable deep learning
training system with mixed-precision", arXiv:1807.11205, 2018 (2D/hierarchical all-reduce).
"""

from __future__ import annotations

from typing import Any

from .base import Unsupported, create, get, register
from .blocks import block_bounds, chunks_for
from .costmodel import node_split, ring_all_gather_cost, ring_reduce_scatter_cost
from .engine import run_chain
from .ring import ring_steps
from .scheduled import MiB, Scheduled

INNER = ("ring",)


@register("hier")
class Hierarchical(Scheduled):
    """Reduce-scatter in the node, all-reduce across nodes, all-gather in the node."""

    description = "hierarchical: intra-node reduce-scatter, inter-node all-reduce, intra-node all-gather"
    options = {"node": None, "inner": "ring", "outer": "ring", "chunk": 1 * MiB}

    def __init__(self, comm: Any, count: int, dtype: str, op: str, **options: Any):
        super().__init__(comm, count, dtype, op, **options)
        from mpi4py import MPI

        if self.settings["inner"] not in INNER:
            raise Unsupported(f"hier: inner algorithm {self.settings['inner']!r} is not one of {', '.join(INNER)}")
        if self.settings["outer"] == "hier":
            raise Unsupported("hier: the outer algorithm cannot be hier itself")
        node = self.settings["node"]
        if node is None:
            shared = self.comm.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)
            leader = shared.bcast(self.rank, root=0)
            shared.Free()
            node = leader
        nodes = self.comm.allgather(int(node))
        names = sorted(set(nodes), key=nodes.index)
        per_node = {n: nodes.count(n) for n in names}
        if len(set(per_node.values())) != 1:
            raise Unsupported(
                f"hier: nodes hold different numbers of ranks ({sorted(per_node.values())}); "
                "it needs the same number on every node"
            )
        self.nodes, self.local_size = len(names), per_node[names[0]]
        node_index = names.index(int(node))
        self.node_comm = self.sub_comm(node_index, self.rank)
        self.local_rank = self.node_comm.Get_rank()
        self.cross_comm = self.sub_comm(self.local_rank, node_index)
        self.node_transport = self.transport_spec.make(self.node_comm) if self.local_size > 1 else None
        blocks = block_bounds(self.count, self.local_size)
        self.blocks = blocks
        start, stop = blocks[(self.local_rank + 1) % self.local_size]
        self.outer = create(
            self.settings["outer"], self.cross_comm, stop - start, dtype, op, xp=self.xp, transport=self.transport_spec
        )

    def params(self) -> dict[str, Any]:
        return {
            "inner": self.settings["inner"],
            "outer": self.settings["outer"],
            "nodes": self.nodes,
            "ranks_per_node": self.local_size,
            "chunk": int(self.settings["chunk"]),
            **self.pipelining(),
        }

    @classmethod
    def cost(cls, model: Any, p: int, nbytes: int, dtype: str, params: dict[str, Any]) -> float | None:
        inside, across = node_split(model, p, int(params.get("ranks_per_node", p)))
        local, nodes = len(inside[0]), len(across[0])
        chunk = params.get("chunk", cls.options["chunk"])
        # every node's ring at once; then the L all-reduces across nodes at once, sharing the nodes' links
        node_rings = model.split(inside)
        inner = ring_reduce_scatter_cost(node_rings, local, nbytes, dtype, chunk) + ring_all_gather_cost(
            node_rings, local, nbytes, chunk
        )
        outer_cost = get(params.get("outer", "ring")).cost
        outer = outer_cost(model.split(across), nodes, int(nbytes / max(local, 1)), dtype, {})
        return None if outer is None else inner + outer

    def plan(self, sendbuf: Any, recvbuf: Any):
        size, local = self.local_size, self.local_rank
        start, stop = self.blocks[(local + 1) % size]
        chains = []
        own = sendbuf
        if size > 1:
            largest = max(b - a for a, b in self.blocks)
            scratch = self.scratch(2 * largest)
            nchunks = chunks_for(largest, self.chunk_elements())
            transport = self.node_transport
            left, right = (local - 1) % size, (local + 1) % size
            rs = ring_steps(
                self,
                transport,
                local,
                size,
                left,
                right,
                self.blocks,
                sendbuf,
                recvbuf,
                scratch,
                nchunks,
                phases=("rs",),
            )
            ag = ring_steps(
                self,
                transport,
                local,
                size,
                left,
                right,
                self.blocks,
                recvbuf,
                recvbuf,
                scratch,
                nchunks,
                phases=("ag",),
                tag=1000,
            )
            chains = [rs, ag]
            own = recvbuf
        block_in, block_out = own[start:stop], recvbuf[start:stop]
        across = self.outer.bound(block_out if own is recvbuf else block_in, block_out)
        reduce, transport = self.reduce, self.transport

        def execute() -> None:
            if chains:
                run_chain(chains[0], reduce, transport)
            across()
            if chains:
                run_chain(chains[1], reduce, transport)

        return execute

    def close(self) -> None:
        self.outer.close()
        super().close()
