"""Tree shapes for the tree all-reduces: binomial trees and the double binary tree. Pure, no MPI.

The binary tree is the in-order tree over positions 1..p given by the lowest set bit: a
position whose lowest set bit is b has children x - b/2 and x + b/2 and its parent one level
up; odd positions are leaves and the root is the largest power of two <= p. Positions above p
are skipped over. The double binary tree (Sanders, Speck & Träff 2009, as NCCL builds it)
places ranks on that tree twice: tree 1 at position r+1, tree 2 mirrored (p even) or shifted
by one (p odd), so that every rank is a leaf in at least one of the two trees: no rank does
the reduction work of an inner node in both.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tree:
    """Parent (None at the root) and children of every rank."""

    root: int
    parent: tuple[int | None, ...]
    children: tuple[tuple[int, ...], ...]


def _position_parent(x: int, p: int, root: int) -> int | None:
    if x == root:
        return None
    y = x
    while True:
        b = y & -y
        m = (y // b - 1) // 2
        y = y + b if m % 2 == 0 else y - b
        if y <= p:
            return y


def binary_tree(p: int, position: list[int]) -> Tree:
    """The lowest-set-bit binary tree with rank r at ``position[r]`` (a permutation of 1..p)."""
    root_position = 1 << (p.bit_length() - 1)
    rank_at = {pos: r for r, pos in enumerate(position)}
    parent: list[int | None] = []
    children: list[list[int]] = [[] for _ in range(p)]
    for r in range(p):
        up = _position_parent(position[r], p, root_position)
        parent.append(None if up is None else rank_at[up])
    for r, up in enumerate(parent):
        if up is not None:
            children[up].append(r)
    for kids in children:
        kids.sort(key=lambda c: position[c])
    return Tree(rank_at[root_position], tuple(parent), tuple(tuple(k) for k in children))


def double_binary_tree(p: int) -> tuple[Tree, Tree]:
    """The two complementary binary trees over ``p`` ranks."""
    first = [r + 1 for r in range(p)]
    second = [p - r for r in range(p)] if p % 2 == 0 else [(r + 1) % p + 1 for r in range(p)]
    return binary_tree(p, first), binary_tree(p, second)


def binomial_tree(p: int) -> Tree:
    """The binomial tree rooted at rank 0: rank r's parent is r with its lowest set bit cleared."""
    parent: list[int | None] = [None] + [r & (r - 1) for r in range(1, p)]
    children: list[list[int]] = [[] for _ in range(p)]
    for r in range(1, p):
        children[r & (r - 1)].append(r)
    # children in order of the reduction: nearest (smallest distance) first
    return Tree(0, tuple(parent), tuple(tuple(sorted(k, key=lambda c, r=r: c - r)) for r, k in enumerate(children)))
