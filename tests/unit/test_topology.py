import pytest

from bench.errors import UsageError
from bench.topology import check_ranks_per_node, node_ids, parse_orders, parse_ranks, positions


def test_parse_ranks():
    assert parse_ranks(None, 8) == [8]
    assert parse_ranks("2,4,8,4", 8) == [2, 4, 8]
    with pytest.raises(UsageError, match="larger than the job"):
        parse_ranks("16", 8)
    with pytest.raises(UsageError, match="positive whole number"):
        parse_ranks("two", 8)


def test_parse_orders():
    assert parse_orders("packed,spread,random:7") == ["packed", "spread", "random:7"]
    for bad in ("random", "random:x", "zigzag"):
        with pytest.raises(UsageError, match="unknown rank order"):
            parse_orders(bad)


def test_ranks_per_node_must_divide_every_size():
    check_ranks_per_node(2, [2, 4, 8])
    check_ranks_per_node(None, [3])
    with pytest.raises(UsageError, match="does not divide 6"):
        check_ranks_per_node(4, [4, 6])


def test_node_ids_logical_and_physical():
    assert node_ids(["a"] * 6, 2) == [0, 0, 1, 1, 2, 2]
    assert node_ids(["b", "b", "a", "a"], None) == [0, 0, 1, 1]


def test_orders_are_permutations_and_spread_alternates_nodes():
    nodes = [0, 0, 0, 1, 1, 1]
    for order in ("packed", "spread", "random:1", "random:2"):
        assert sorted(positions(nodes, order)) == list(range(6))
    spread = positions(nodes, "spread")
    ring = sorted(range(6), key=lambda r: spread[r])
    assert all(nodes[ring[i]] != nodes[ring[i + 1]] for i in range(5))
    assert positions(nodes, "random:1") == positions(nodes, "random:1")
    assert positions(nodes, "random:1") != positions(nodes, "random:2")
