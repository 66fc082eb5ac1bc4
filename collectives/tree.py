"""``tree``: tree all-reduce: binomial for small messages, pipelined and double binary trees for large.

Variants (option ``variant``; ``auto`` picks ``binomial`` below ``pipeline_above`` bytes and
``double`` from there on):

- ``binomial`` — reduce to rank 0 up a binomial tree (in round k, ranks with bit k set send
  their partial result to the rank with that bit cleared, which reduces), then broadcast the
  result down the same tree. Cost 2·⌈lg p⌉·(α + nβ) + ⌈lg p⌉·nγ.
- ``pipeline`` — one binary tree, the vector cut into chunks: every rank reduces chunk k from
  its children with its own data and passes it to its parent while chunk k+1 is on its way
  up; the root's chunks then stream back down. Cost for c chunks and depth d ≈ ⌈lg p⌉:
  2(d + c - 1)·(α + (n/c)β) + (d + c - 1)·(n/c)γ·2 (two children per inner node).
- ``double`` — the double binary tree: two binary trees, each carrying half of the vector,
  arranged so every rank is a leaf in at least one of them; the inner-node work (two receives
  and two reductions per chunk) is spread over all ranks. Each half is pipelined as above.
  Cost ≈ 2(d + c - 1)·(α + (n/2c)β) + 2(d + c - 1)·(n/2c)γ.

Sources: binomial trees as in MPICH's reduce and broadcast (Thakur, Rabenseifner & Gropp
2005); the double binary tree from Sanders, Speck & Träff, "Two-tree algorithms for full
bandwidth broadcast, reduction and scan", Parallel Computing 35(12), 2009, as NCCL uses it
for all-reduce (NCCL 2.4, 2019).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from .base import Unsupported, register
from .blocks import chunk_bounds, chunks_for
from .costmodel import chunks, lg
from .engine import Step, run_steps
from .scheduled import KiB, Scheduled
from .trees import Tree, binary_tree, binomial_tree, double_binary_tree

VARIANTS = ("auto", "binomial", "pipeline", "double")


@functools.lru_cache(maxsize=64)
def _parents(p: int, variant: str) -> tuple[tuple[int | None, ...], ...]:
    """Each tree's parent of every rank, for the cost model (built once per p)."""
    trees = double_binary_tree(p) if variant == "double" else (binary_tree(p, list(range(1, p + 1))),)
    return tuple(tree.parent for tree in trees)


@dataclass
class _Pipe:
    """One tree's share of the vector, ready to stream: prebuilt requests and views per chunk."""

    is_root: bool
    child_recvs: list[list[Any]] = field(default_factory=list)  # [child][chunk]
    up_sends: list[Any] = field(default_factory=list)
    down_recvs: list[Any] = field(default_factory=list)
    down_sends: list[list[Any]] = field(default_factory=list)  # [chunk][child]
    reductions: list[list[tuple[Any, Any, Any]]] = field(default_factory=list)  # [chunk][...]
    copies: list[tuple[Any, Any] | None] = field(default_factory=list)  # in-place leaf: own -> up


@register("tree")
class TreeAllreduce(Scheduled):
    """Binomial, pipelined binary and double binary tree all-reduce."""

    description = "tree: binomial (small), pipelined double binary tree (large)"
    options = {"variant": "auto", "chunk": 256 * KiB, "pipeline_above": 64 * KiB}

    def __init__(self, comm: Any, count: int, dtype: str, op: str, **options: Any):
        super().__init__(comm, count, dtype, op, **options)
        variant = self.settings["variant"]
        if variant not in VARIANTS:
            raise Unsupported(f"tree: unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}")
        if variant == "auto":
            large = self.count * self.dtype.itemsize >= int(self.settings["pipeline_above"])
            variant = "double" if large else "binomial"
        self.variant = variant
        self.chunk_elements()  # validates the option

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"variant": self.variant}
        if self.variant != "binomial":
            params.update(chunk=int(self.settings["chunk"]), **self.pipelining())
        if self.variant == "double" and self.deferred:
            params["trees"] = "one after the other"
        return params

    @classmethod
    def cost(cls, model: Any, p: int, nbytes: int, dtype: str, params: dict[str, Any]) -> float:
        if p <= 1:
            return 0.0
        variant = params.get("variant", "binomial")
        if variant == "binomial":  # lg p rounds up with a reduction each, lg p rounds down
            return sum(2 * model.round(("binomial", p, k), nbytes) + model.reduce(nbytes, dtype) for k in range(lg(p)))
        depth = max(1, (p.bit_length() - 1))
        edges = ("trees", p, _parents(p, variant))
        trees = len(edges[2])
        share = nbytes / trees
        c = chunks(share, params.get("chunk", cls.options["chunk"]))
        piece = share / c
        # per chunk slot an inner rank receives two children, reduces twice, sends up; then the
        # result comes down and goes to two children: about 3 message times up and 3 down
        slot = 6 * model.round(edges, piece) + 2 * model.reduce(piece, dtype)
        return (depth + trees * c - 1) * slot

    def plan(self, sendbuf: Any, recvbuf: Any):
        if self.variant == "binomial":
            return self._binomial(sendbuf, recvbuf)
        if self.variant == "pipeline":
            pipes = [
                self._pipe(binary_tree(self.size, list(range(1, self.size + 1))), 0, self.count, sendbuf, recvbuf, 0)
            ]
        else:
            half = self.count // 2
            first, second = double_binary_tree(self.size)
            pipes = [
                self._pipe(first, 0, half, sendbuf, recvbuf, 0),
                self._pipe(second, half, self.count, sendbuf, recvbuf, 2),
            ]
        reduce, transport = self.reduce, self.transport
        if getattr(transport, "deferred", False):
            # NCCL matches sends and receives by their order per peer, not by tag: where two ranks
            # are parent and child in different trees, interleaved trees would cross their messages,
            # so each tree streams whole, one after the other.
            def execute_each() -> None:
                for pipe in pipes:
                    _stream([pipe], reduce, transport)

            return execute_each

        def execute() -> None:
            _stream(pipes, reduce, transport)

        return execute

    def _binomial(self, sendbuf: Any, recvbuf: Any):
        tree, r = binomial_tree(self.size), self.rank
        scratch = self.scratch(self.count)
        steps: list[Step] = []
        own = sendbuf
        for child in tree.children[r]:
            recv = self.recv_init(scratch, child, 0)
            steps.append(Step(recvs=[recv], reduces=[(own, scratch, recvbuf)]))
            own = recvbuf
        parent = tree.parent[r]
        if parent is not None:
            steps.append(Step(sends=[self.send_init(own, parent, 0)]))
            steps.append(Step(recvs=[self.recv_init(recvbuf, parent, 1)], reduces=[None]))
        elif own is not recvbuf:
            steps.append(Step(before=lambda: recvbuf.__setitem__(Ellipsis, own)))
        down = [self.send_init(recvbuf, child, 1) for child in reversed(tree.children[r])]
        if down:
            steps.append(Step(sends=down))
        reduce, transport = self.reduce, self.transport

        def execute() -> None:
            run_steps(steps, reduce, transport)

        return execute

    def _pipe(self, tree: Tree, lo: int, hi: int, sendbuf: Any, recvbuf: Any, tag: int) -> _Pipe:
        r = self.rank
        parent, children = tree.parent[r], tree.children[r]
        nchunks = chunks_for(hi - lo, self.chunk_elements())
        bounds = chunk_bounds(lo, hi, nchunks)
        pipe = _Pipe(is_root=parent is None)
        landings = [self.scratch(hi - lo) for _ in children]
        in_place = sendbuf is recvbuf
        up = self.scratch(hi - lo) if parent is not None and (children or in_place) else None
        for landing, child in zip(landings, children, strict=True):
            pipe.child_recvs.append([self.recv_init(landing[a - lo : b - lo], child, tag) for a, b in bounds])
        for a, b in bounds:
            own, out = sendbuf[a:b], recvbuf[a:b]
            target = out if parent is None else (up[a - lo : b - lo] if up is not None else own)
            chain, acc = [], own
            for landing in landings:
                chain.append((acc, landing[a - lo : b - lo], target))
                acc = target
            pipe.reductions.append(chain)
            pipe.copies.append((own, target) if not children and up is not None else None)
            if parent is not None:
                pipe.up_sends.append(self.send_init(target, parent, tag))
                pipe.down_recvs.append(self.recv_init(out, parent, tag + 1))
            pipe.down_sends.append([self.send_init(out, child, tag + 1) for child in children])
        if parent is None and not children:  # p == 1 never gets here; a lone root copies
            pipe.copies = [None] * nchunks
        return pipe


def _stream(pipes: list[_Pipe], reduce: Any, transport: Any) -> None:
    """Reduce every chunk up the trees as it arrives, then stream the results back down."""
    for pipe in pipes:
        for recvs in pipe.child_recvs:
            transport.startall(recvs)
    nchunks = max(len(pipe.reductions) for pipe in pipes)
    for k in range(nchunks):
        for pipe in pipes:
            if k >= len(pipe.reductions):
                continue
            for recvs in pipe.child_recvs:
                recvs[k].Wait()
            copy = pipe.copies[k]
            if copy is not None:
                copy[1][...] = copy[0]
            for own, landing, out in pipe.reductions[k]:
                reduce(own, landing, out=out)
            if pipe.is_root:
                transport.startall(pipe.down_sends[k])
            else:
                pipe.up_sends[k].Start()
                pipe.down_recvs[k].Start()
    for k in range(nchunks):
        for pipe in pipes:
            if k >= len(pipe.reductions) or pipe.is_root:
                continue
            pipe.down_recvs[k].Wait()
            transport.startall(pipe.down_sends[k])
    for pipe in pipes:
        transport.waitall(pipe.up_sends)
        for sends in pipe.down_sends:
            transport.waitall(sends)
