"""``ring``: reduce-scatter then all-gather around a ring, pipelined in chunks.

The vector is cut into p blocks. Rank r sends to r+1 and receives from r-1.

1. Reduce-scatter, p-1 steps: at step s rank r sends block (r-s) mod p and receives block
   (r-s-1) mod p, which it reduces with its own copy. After p-1 steps rank r holds block
   (r+1) mod p fully reduced.
2. All-gather, p-1 steps: at step s rank r sends block (r+1-s) mod p and receives block (r-s)
   mod p straight into the result.

Every block is cut into the same number of chunks (``chunk`` bytes at most). Each step forwards
exactly what the previous step produced, so the steps form one chain: chunk k is sent on as
soon as it has been reduced or received, while chunk k+1 is still arriving, and the next step's
receives are posted before the current step finishes. Reducing a chunk right after it lands
keeps it in cache. All requests are persistent (``MPI_Send_init``/``MPI_Recv_init``).

Cost (α per message, β per byte, γ per byte reduced, n bytes, c chunks per block):
2(p-1)·c·α + 2(p-1)/p·n·β + (p-1)/p·n·γ; with c > 1 the chunk's transfer overlaps the
previous chunk's reduction.

Source: Patarasuk & Yuan, "Bandwidth optimal all-reduce algorithms for clusters of
workstations", JPDC 69(2), 2009; popularised for deep learning by Baidu's ring all-reduce
(Gibiansky, 2017) and used by Horovod, and MPICH's ring all-reduce.
"""

from __future__ import annotations

from typing import Any

from .base import register
from .blocks import block_bounds, chunk_bounds, chunks_for
from .costmodel import ring_cost
from .engine import Step, run_chain
from .scheduled import MiB, Scheduled, may_overlap


def ring_steps(
    alg: Scheduled,
    transport: Any,
    pos: int,
    p: int,
    left: int,
    right: int,
    blocks: list[tuple[int, int]],
    own: Any,
    result: Any,
    scratch: Any,
    nchunks: int,
    phases: tuple[str, ...] = ("rs", "ag"),
    tag: int = 0,
) -> list[Step]:
    """The chain of steps of a ring over ``blocks`` of ``result``, at ring position ``pos``.

    ``own`` holds this rank's input (``result`` itself in place); ``scratch`` holds two halves
    of the largest block for the reduce-scatter's receives. With ``phases=("ag",)`` the chain
    only gathers: position ``pos`` must already hold block ``pos+1`` reduced.
    """
    largest = max(b - a for a, b in blocks)
    halves = (scratch[:largest], scratch[largest : 2 * largest])
    steps: list[Step] = []
    regions: list[tuple[Any, Any]] = []  # (what a step sends from, what it receives into)

    def chunks(block: int) -> list[tuple[int, int]]:
        start, stop = blocks[block]
        return chunk_bounds(start, stop, nchunks)

    if "rs" in phases:
        for s in range(p - 1):
            sb, rb = (pos - s) % p, (pos - s - 1) % p
            source = own if s == 0 else result
            half = halves[s % 2]
            base = blocks[rb][0]
            step = Step()
            for a, b in chunks(sb):
                step.sends.append(alg.send_init(source[a:b], right, tag + len(steps), transport))
            for a, b in chunks(rb):
                landing = half[a - base : b - base]
                step.recvs.append(alg.recv_init(landing, left, tag + len(steps), transport))
                step.reduces.append((own[a:b], landing, result[a:b]))
            steps.append(step)
            regions.append((source[slice(*blocks[sb])], half[: blocks[rb][1] - base]))
    if "ag" in phases:
        for s in range(p - 1):
            sb, rb = (pos + 1 - s) % p, (pos - s) % p
            step = Step()
            for a, b in chunks(sb):
                step.sends.append(alg.send_init(result[a:b], right, tag + len(steps), transport))
            for a, b in chunks(rb):
                step.recvs.append(alg.recv_init(result[a:b], left, tag + len(steps), transport))
                step.reduces.append(None)
            steps.append(step)
            regions.append((result[slice(*blocks[sb])], result[slice(*blocks[rb])]))
    for i in range(1, len(steps)):
        # Post a step's receives early only where they cannot land on data still being sent.
        steps[i].post_early = not may_overlap(regions[i][1], regions[i - 1][0], alg.xp)
    return steps


@register("ring")
class Ring(Scheduled):
    """Pipelined ring all-reduce (reduce-scatter + all-gather)."""

    description = "pipelined ring: reduce-scatter + all-gather"
    options = {"chunk": 1 * MiB}

    def plan(self, sendbuf: Any, recvbuf: Any):
        p, r = self.size, self.rank
        blocks = block_bounds(self.count, p)
        largest = max(b - a for a, b in blocks)
        nchunks = chunks_for(largest, self.chunk_elements())
        scratch = self.scratch(2 * largest)
        steps = ring_steps(
            self, self.transport, r, p, (r - 1) % p, (r + 1) % p, blocks, sendbuf, recvbuf, scratch, nchunks
        )
        reduce, transport = self.reduce, self.transport

        def execute() -> None:
            run_chain(steps, reduce, transport)

        return execute

    def params(self) -> dict[str, Any]:
        return {"chunk": int(self.settings["chunk"]), **self.pipelining()}

    @classmethod
    def cost(cls, model: Any, p: int, nbytes: int, dtype: str, params: dict[str, Any]) -> float:
        return ring_cost(model, p, nbytes, dtype, params.get("chunk", cls.options["chunk"]))
