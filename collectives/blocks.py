"""Partitions of a vector: blocks per rank, chunks per block; pure functions, no MPI."""

from __future__ import annotations


def block_bounds(count: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous [start, stop) ranges covering [0, count); the first ``count % parts`` get one more."""
    base, extra = divmod(count, parts)
    bounds, start = [], 0
    for i in range(parts):
        stop = start + base + (1 if i < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def chunk_bounds(start: int, stop: int, nchunks: int) -> list[tuple[int, int]]:
    """[start, stop) split into ``nchunks`` near-equal consecutive ranges (some empty if the range is short)."""
    return [(start + a, start + b) for a, b in block_bounds(stop - start, nchunks)]


def chunks_for(elements: int, chunk_elements: int) -> int:
    """How many chunks of at most ``chunk_elements`` cover ``elements`` (at least 1)."""
    if chunk_elements <= 0:
        return 1
    return max(1, -(-elements // chunk_elements))


def mesh_shape(p: int) -> tuple[int, int]:
    """The most square X x Y = p with X <= Y (a prime p gives 1 x p)."""
    x = int(p**0.5)
    while x > 1 and p % x:
        x -= 1
    x = max(x, 1)
    return x, p // x


def parse_mesh(text: str) -> tuple[int, int]:
    """``"4x2"`` -> (4, 2); ValueError for anything else."""
    parts = text.lower().split("x")
    if len(parts) != 2 or not all(part.strip().isdigit() and int(part) > 0 for part in parts):
        raise ValueError(f"mesh shape {text!r} is not XxY with positive whole numbers, e.g. 4x2")
    return int(parts[0]), int(parts[1])
