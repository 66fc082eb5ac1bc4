"""``hier``: node-aware hierarchical all-reduce (the Horovod / NCCL hierarchical pattern).

With L ranks on each of N nodes:

1. Reduce-scatter inside the node (ring over the node's L ranks): local rank l ends owning
   block l+1 mod L of the vector, reduced over its node.
2. All-reduce of that block across nodes among the N ranks with the same local rank, with the
   ``outer`` algorithm (any registered one: ring, rhd, tree, mpi, ...).
3. All-gather inside the node (ring).

With a ring outside (the default) on MPI's own requests, the three phases are pipelined over
segments of the vector (option ``segment``, 2 MiB; at most 8 segments): segment s crosses the
network while segment s+1 is reduce-scattered and segment s-1 all-gathered inside the node, so
the network, usually the slower level, hardly waits for the node. Each segment's phases are
chains of persistent requests, advanced together by testing them in turn
(:func:`collectives.engine.run_together`).

Only 1/L of the vector crosses the network from each rank, and every node link is used by L
ranks at once. Nodes come from the ``node`` option (this rank's node id; the harness passes it
for logical nodes, ``--ranks-per-node``) or, by default, from the shared-memory split
(``MPI_COMM_TYPE_SHARED``). Every node must hold the same number of ranks.

Cost: 2(L-1)α_intra + 2(L-1)/L·nβ_intra + (L-1)/L·nγ, plus the outer algorithm's cost on n/L
bytes over N ranks (for a ring: 2(N-1)α_inter + 2(N-1)/N·(n/L)β_inter + (N-1)/N·(n/L)γ). Pipelined
over S segments, one segment's three phases plus S-1 times the slower of the network's phase and
the node's two.

Source: Sergeev & Del Balso, "Horovod: fast and easy distributed deep learning in TensorFlow",
arXiv:1802.05799, 2018 (hierarchical all-reduce); Jia et al., "Highly scalable deep learning
training system with mixed-precision", arXiv:1807.11205, 2018 (2D/hierarchical all-reduce).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .base import Unsupported, create, get, register
from .blocks import block_bounds, chunks_for
from .costmodel import node_split, ring_all_gather_cost, ring_reduce_scatter_cost
from .engine import chain_progress, run_chain, run_together
from .ring import ring_steps
from .scheduled import MiB, Scheduled
from .transport import DirectTransport

MAX_SEGMENTS = 8


def segments_for(nbytes: int, segment: int) -> int:
    """How many pipeline segments a vector of ``nbytes`` is cut into: one per ``segment`` bytes, 1 to 8."""
    if segment <= 0:
        raise Unsupported(f"hier: segment must be a positive number of bytes, got {segment}")
    return max(1, min(MAX_SEGMENTS, -(-nbytes // segment)))


INNER = ("ring",)


@register("hier")
class Hierarchical(Scheduled):
    """Reduce-scatter in the node, all-reduce across nodes, all-gather in the node."""

    description = "hierarchical: intra-node reduce-scatter, inter-node all-reduce, intra-node all-gather"
    options = {"node": None, "inner": "ring", "outer": "ring", "chunk": 1 * MiB, "segment": 2 * MiB}

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
        testable = type(self.transport) is DirectTransport  # MPI's own requests, which run_together tests
        self.segments = 1
        if self.settings["outer"] == "ring" and self.nodes > 1 and self.local_size > 1 and testable:
            self.segments = segments_for(self.count * self.dtype.itemsize, int(self.settings["segment"]))
        # pipelined, each segment's ring across nodes is built here; otherwise the outer algorithm does it all
        self.outer, self.cross_transport = None, None
        if self.segments > 1:
            self.cross_transport = self.transport_spec.make(self.cross_comm)
        else:
            self.outer = create(
                self.settings["outer"],
                self.cross_comm,
                stop - start,
                dtype,
                op,
                xp=self.xp,
                transport=self.transport_spec,
            )

    def params(self) -> dict[str, Any]:
        return {
            "inner": self.settings["inner"],
            "outer": self.settings["outer"],
            "nodes": self.nodes,
            "ranks_per_node": self.local_size,
            "chunk": int(self.settings["chunk"]),
            "segments": self.segments,
            **self.pipelining(),
        }

    @classmethod
    def cost(cls, model: Any, p: int, nbytes: int, dtype: str, params: dict[str, Any]) -> float | None:
        inside, across = node_split(model, p, int(params.get("ranks_per_node", p)))
        local, nodes = len(inside[0]), len(across[0])
        chunk = params.get("chunk", cls.options["chunk"])
        outer_name = params.get("outer", "ring")
        segments = params.get("segments")
        if segments is None:  # as the algorithm would choose (on MPI's own requests)
            pipelined = outer_name == "ring" and local > 1 and nodes > 1
            segments = segments_for(nbytes, int(params.get("segment", cls.options["segment"]))) if pipelined else 1
        part = nbytes / segments
        # every node's ring at once; then the L all-reduces across nodes at once, sharing the nodes' links
        node_rings = model.split(inside)
        inner = ring_reduce_scatter_cost(node_rings, local, part, dtype, chunk) + ring_all_gather_cost(
            node_rings, local, part, chunk
        )
        outer = get(outer_name).cost(model.split(across), nodes, int(part / max(local, 1)), dtype, {})
        if outer is None:
            return None
        return inner + outer + (segments - 1) * max(inner, outer)

    def plan(self, sendbuf: Any, recvbuf: Any):
        if self.segments > 1:
            return self._pipelined(sendbuf, recvbuf)
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

    def _pipelined(self, sendbuf: Any, recvbuf: Any):
        """Each segment's reduce-scatter in the node, ring across nodes and all-gather in the node, as chains;
        segment s starts when segment s-1's reduce-scatter is done, and all run together."""
        size, local = self.local_size, self.local_rank
        nodes, node = self.nodes, self.cross_comm.Get_rank()
        chunk = self.chunk_elements()
        phases = []
        for s, (a, b) in enumerate(block_bounds(self.count, self.segments)):
            own, result = sendbuf[a:b], recvbuf[a:b]
            blocks = block_bounds(b - a, size)
            largest = max(hi - lo for lo, hi in blocks)
            scratch, nchunks = self.scratch(2 * largest), chunks_for(largest, chunk)
            inside = (self, self.node_transport, local, size, (local - 1) % size, (local + 1) % size, blocks)
            rs = ring_steps(*inside, own, result, scratch, nchunks, phases=("rs",), tag=3000 * s)
            ag = ring_steps(*inside, result, result, scratch, nchunks, phases=("ag",), tag=3000 * s + 1000)
            start, stop = blocks[(local + 1) % size]
            piece = result[start:stop]  # this rank's block, reduced over its node by rs
            outer_blocks = block_bounds(stop - start, nodes)
            outer_largest = max(hi - lo for lo, hi in outer_blocks)
            across = ring_steps(
                self,
                self.cross_transport,
                node,
                nodes,
                (node - 1) % nodes,
                (node + 1) % nodes,
                outer_blocks,
                piece,
                piece,
                self.scratch(2 * outer_largest),
                chunks_for(outer_largest, chunk),
                tag=3000 * s + 2000,
            )
            phases.append((rs, across, ag))
        reduce, node_transport, cross_transport = self.reduce, self.node_transport, self.cross_transport

        def execute() -> None:
            scattered = [False] * len(phases)

            def segment(s: int) -> Iterator[None]:
                rs, across, ag = phases[s]
                while s > 0 and not scattered[s - 1]:
                    yield
                yield from chain_progress(rs, reduce, node_transport)
                scattered[s] = True
                yield from chain_progress(across, reduce, cross_transport)
                yield from chain_progress(ag, reduce, node_transport)

            run_together([segment(s) for s in range(len(phases))])

        return execute

    def close(self) -> None:
        if self.outer is not None:
            self.outer.close()
        super().close()
