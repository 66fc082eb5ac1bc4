"""Property tests of the pure helpers: partitions, trees and mesh shapes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from collectives.blocks import block_bounds, chunk_bounds, chunks_for, mesh_shape, parse_mesh
from collectives.trees import binary_tree, binomial_tree, double_binary_tree


def _covers_once(bounds, start, stop):
    position = start
    for a, b in bounds:
        assert a == position and b >= a
        position = b
    assert position == stop


@given(st.integers(0, 10**7), st.integers(1, 4096))
def test_blocks_cover_the_vector_exactly_once(count, parts):
    bounds = block_bounds(count, parts)
    assert len(bounds) == parts
    _covers_once(bounds, 0, count)
    sizes = [b - a for a, b in bounds]
    assert max(sizes) - min(sizes) <= 1


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(1, 10**4))
def test_chunks_cover_a_block_exactly_once(start, length, chunk):
    nchunks = chunks_for(length, chunk)
    bounds = chunk_bounds(start, start + length, nchunks)
    _covers_once(bounds, start, start + length)
    assert all(b - a <= chunk for a, b in bounds)


def _reach_each_rank_once(tree, p):
    seen, stack = set(), [tree.root]
    while stack:
        rank = stack.pop()
        assert rank not in seen, "a rank is reached twice: the tree has a cycle or a shared child"
        seen.add(rank)
        for child in tree.children[rank]:
            assert tree.parent[child] == rank
            stack.append(child)
    assert seen == set(range(p))
    assert tree.parent[tree.root] is None


@given(st.integers(1, 600))
def test_trees_reach_every_rank_once(p):
    first, second = double_binary_tree(p)
    for tree in (first, second, binomial_tree(p), binary_tree(p, list(range(1, p + 1)))):
        _reach_each_rank_once(tree, p)
    assert all(len(kids) <= 2 for kids in first.children + second.children)


@given(st.integers(2, 600))
def test_double_binary_tree_every_rank_a_leaf_somewhere(p):
    first, second = double_binary_tree(p)
    assert all(not first.children[r] or not second.children[r] for r in range(p))


@given(st.integers(1, 10**5))
def test_mesh_shape_is_the_most_square_factorisation(p):
    x, y = mesh_shape(p)
    assert x * y == p and x <= y
    assert not any(p % d == 0 for d in range(x + 1, int(p**0.5) + 1))


def test_mesh_parse():
    assert parse_mesh("4x2") == (4, 2)
    for bad in ("4", "0x2", "ax2", "2x2x2", "-1x4"):
        try:
            parse_mesh(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad} accepted")
