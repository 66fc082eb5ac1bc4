"""``mesh``: 2D mesh (torus) all-reduce over an X x Y grid of ranks.

Ranks are laid out row by row: rank r sits in row r // X at column r mod X; each row is a
ring of X ranks and each column a ring of Y ranks.

1. Reduce-scatter along the row (ring, X-1 steps): the rank at column j ends owning block
   (j+1) mod X of the vector, reduced over its row.
2. All-reduce of that block along the column (ring, 2(Y-1) steps): now reduced over all p.
3. All-gather along the row (ring, X-1 steps).

Each phase is a pipelined ring (see ``ring``). With ``mesh`` unset the shape is the most square
factorisation X x Y = p with X <= Y; a prime p degenerates to 1 x p, a plain ring over the
column, and the algorithm's parameters say so.

Cost: 2(X-1)α + 2(Y-1)α + 2(X-1)/X·nβ + 2(Y-1)/(XY)·nβ + (p-1)/p·nγ: fewer latency terms
than a ring of p (2(X+Y-2) instead of 2(p-1)) for slightly more volume.

Source: Mikami et al., "Massively distributed SGD: ImageNet/ResNet-50 training in a flash"
(2D-torus all-reduce), arXiv:1811.05233, 2018.
"""

from __future__ import annotations

from typing import Any

from .base import Unsupported, register
from .blocks import block_bounds, chunks_for, mesh_shape, parse_mesh
from .costmodel import ring_all_gather_cost, ring_cost, ring_reduce_scatter_cost
from .engine import run_chain
from .ring import ring_steps
from .scheduled import MiB, Scheduled


@register("mesh")
class Mesh(Scheduled):
    """2D mesh/torus all-reduce: row reduce-scatter, column all-reduce, row all-gather."""

    description = "2D mesh: row reduce-scatter, column all-reduce, row all-gather"
    options = {"mesh": "", "chunk": 1 * MiB}

    def __init__(self, comm: Any, count: int, dtype: str, op: str, **options: Any):
        super().__init__(comm, count, dtype, op, **options)
        requested = self.settings["mesh"]
        if requested:
            try:
                x, y = parse_mesh(requested) if isinstance(requested, str) else tuple(requested)
            except ValueError as exc:
                raise Unsupported(f"mesh: {exc}") from None
            if x * y != self.size:
                raise Unsupported(
                    f"mesh: shape {x}x{y} has {x * y} ranks but the communicator has {self.size}; "
                    f"give XxY with X*Y = {self.size}"
                )
        else:
            x, y = mesh_shape(self.size)
        self.x, self.y = x, y
        self.row_comm = self.sub_comm(self.rank // x, self.rank % x)
        self.col_comm = self.sub_comm(self.rank % x, self.rank // x)
        # built here, not per binding: a transport that cannot be made (NCCL) is a skip, never a crash mid-run
        self.row_transport = self.transport_spec.make(self.row_comm) if x > 1 else None
        self.col_transport = self.transport_spec.make(self.col_comm) if y > 1 else None
        self.chunk_elements()

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"mesh": f"{self.x}x{self.y}", "chunk": int(self.settings["chunk"]), **self.pipelining()}
        if self.x == 1 and self.size > 1 and not self.settings["mesh"]:
            params["degenerate"] = f"p={self.size} is prime: a 1x{self.size} mesh is a plain ring"
        return params

    @classmethod
    def cost(cls, model: Any, p: int, nbytes: int, dtype: str, params: dict[str, Any]) -> float:
        shape = params.get("mesh") or "x".join(map(str, mesh_shape(p)))
        x, y = parse_mesh(shape)
        chunk = params.get("chunk", cls.options["chunk"])
        # all rows at once, then all columns at once, each charged on the links its ranks cross
        rows = model.split([[r * x + j for j in range(x)] for r in range(y)])
        columns = model.split([[r * x + j for r in range(y)] for j in range(x)])
        phases = ring_reduce_scatter_cost(rows, x, nbytes, dtype, chunk) + ring_all_gather_cost(rows, x, nbytes, chunk)
        return phases + ring_cost(columns, y, nbytes / x, dtype, chunk)

    def plan(self, sendbuf: Any, recvbuf: Any):
        x, y, n = self.x, self.y, self.count
        col, row = self.rank % x, self.rank // x
        chunk = self.chunk_elements()
        chains = []
        own = sendbuf
        start, stop = 0, n
        row_transport, col_transport = self.row_transport, self.col_transport
        if x > 1:
            row_blocks = block_bounds(n, x)
            largest = max(b - a for a, b in row_blocks)
            row_scratch = self.scratch(2 * largest)
            row_chunks = chunks_for(largest, chunk)
            chains.append(
                ring_steps(
                    self,
                    row_transport,
                    col,
                    x,
                    (col - 1) % x,
                    (col + 1) % x,
                    row_blocks,
                    sendbuf,
                    recvbuf,
                    row_scratch,
                    row_chunks,
                    phases=("rs",),
                )
            )
            own = recvbuf
            start, stop = row_blocks[(col + 1) % x]
        if y > 1:
            col_blocks = block_bounds(stop - start, y)
            largest = max(b - a for a, b in col_blocks)
            col_scratch = self.scratch(2 * largest)
            chains.append(
                ring_steps(
                    self,
                    col_transport,
                    row,
                    y,
                    (row - 1) % y,
                    (row + 1) % y,
                    col_blocks,
                    own[start:stop],
                    recvbuf[start:stop],
                    col_scratch,
                    chunks_for(largest, chunk),
                )
            )
        if x > 1:
            chains.append(
                ring_steps(
                    self,
                    row_transport,
                    col,
                    x,
                    (col - 1) % x,
                    (col + 1) % x,
                    row_blocks,
                    recvbuf,
                    recvbuf,
                    row_scratch,
                    row_chunks,
                    phases=("ag",),
                )
            )
        reduce, transport = self.reduce, self.transport

        def execute() -> None:
            for steps in chains:
                run_chain(steps, reduce, transport)

        return execute
