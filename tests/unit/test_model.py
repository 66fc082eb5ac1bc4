"""The cost model: formulas against hand-computed values, the fits, extrapolation and crossovers."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import collectives
from bench.fit import fit_gamma, fit_segments, quality, wls_line
from bench.modeling import Machine, crossover, layout, lower_bounds, predict_time, size_ranges, winners
from bench.results import SCHEMA, SCHEMA_VERSION
from collectives.costmodel import CacheStep, CostModel, Segment, parts

MODEL = CostModel((Segment(math.inf, 1e-6, 1e-9),), {"float32": 5e-10})


def cost(algo, p, n, **params):
    return collectives.get(algo).cost(MODEL, p, n, "float32", params)


def test_formulas_against_hand_computed_values():
    # ring, p=4, n=4 MB, one chunk: 2*3*(1us + 1 ms) + 3 * 0.5 ms
    assert cost("ring", 4, 4_000_000, chunk=1 << 30) == pytest.approx(7.506e-3)
    # halving-doubling, p=4: pieces 2 MB and 1 MB, each exchanged twice and reduced once
    assert cost("rhd", 4, 4_000_000, variant="halving") == pytest.approx(5.002e-3 + 2.502e-3)
    # p=3 folds first: the whole vector in and out (2 * 4.001 ms) and one reduction (2 ms)
    assert cost("rhd", 3, 4_000_000, variant="halving") == pytest.approx(10.002e-3 + 5.002e-3)
    assert cost("rhd", 4, 1000, variant="doubling") == pytest.approx(2 * (2e-6 + 5e-7))
    # parameter server, p=4: three vectors in, reduced, and out
    assert cost("ps", 4, 1_000_000) == pytest.approx(3 * (2 * 1.001e-3 + 5e-4))
    # binomial tree, p=4: two rounds up (message there and back, one reduction each)
    assert cost("tree", 4, 1000, variant="binomial") == pytest.approx(2 * (2 * 2e-6 + 5e-7))
    # a 2x2 mesh: row reduce-scatter + all-gather on 2, then a ring of 2 on half the vector
    row = (1e-6 + 2e-3 + 1e-3) + (1e-6 + 2e-3)
    column = 2 * (1e-6 + 1e-3) + 5e-4
    assert cost("mesh", 4, 4_000_000, mesh="2x2", chunk=1 << 30) == pytest.approx(row + column)
    assert cost("ring", 1, 1000) == 0.0
    assert collectives.get("mpi").cost(MODEL, 4, 1000, "float32", {}) is None


def test_chunking_adds_latency_terms_only():
    one = cost("ring", 4, 4_000_000, chunk=1 << 30)
    ten = cost("ring", 4, 4_000_000, chunk=100_000)
    assert ten - one == pytest.approx(2 * 3 * 9 * 1e-6)


def test_lower_bounds():
    bounds = lower_bounds(MODEL, 1024, 1_000_000)
    assert bounds["latency"] == pytest.approx(10e-6)
    assert bounds["bandwidth"] == pytest.approx(2 * 1023 / 1024 * 1e-3)


def test_fit_recovers_alpha_beta_from_noisy_data():
    rng = np.random.default_rng(0)
    sizes = [8 << (2 * i) for i in range(12)]
    times = [(2e-6 + 1e-10 * n) * rng.uniform(0.95, 1.05) for n in sizes]
    alpha, beta, _ = wls_line(sizes, times)
    assert alpha == pytest.approx(2e-6, rel=0.1)
    assert beta == pytest.approx(1e-10, rel=0.1)
    segments = fit_segments(sizes, times)
    assert len(segments) == 1


def test_fit_finds_the_protocol_breakpoint():
    rng = np.random.default_rng(1)
    sizes = [8 << (2 * i) for i in range(12)]
    true = CostModel((Segment(32768, 1e-6, 5e-10), Segment(math.inf, 2e-5, 1e-10)))
    times = [true.message(n) * rng.uniform(0.97, 1.03) for n in sizes]
    segments = fit_segments(sizes, times)
    assert len(segments) == 2 and segments[0].upto == 32768
    assert segments[1].alpha == pytest.approx(2e-5, rel=0.15)
    assert segments[1].beta == pytest.approx(1e-10, rel=0.1)
    assert quality(CostModel(segments), sizes, times)["median_rel_residual"] < 0.03


def test_gamma_fit():
    rng = np.random.default_rng(2)
    sizes = [1 << k for k in range(16, 26, 2)]
    times = [3e-11 * n * rng.uniform(0.95, 1.05) + 1e-6 for n in sizes]
    assert fit_gamma(sizes, times) == pytest.approx(3e-11, rel=0.1)


def test_crossover_search_finds_the_known_answer():
    # binomial tree at p=4: 4a + 4bn (gamma 0); ring: 6a + 1.5bn  ->  equal at n* = 2a / 2.5b
    model = CostModel((Segment(math.inf, 1e-5, 1e-9),), {"float32": 0.0})
    found = crossover(model, "tree", "ring", 4, "float32", ranks_per_node=8, lo=8, hi=1 << 15)
    assert found == pytest.approx(8000, rel=0.01)


def test_extrapolated_winners_follow_the_model():
    model = CostModel((Segment(math.inf, 1e-5, 1e-9),), {"float32": 1e-10})
    table = winners(model, 1024, [8, 1 << 30], "float32", ["ring", "tree", "rhd", "ps"], 8)
    assert table[0][1] in ("tree", "rhd")  # latency: lg p rounds
    assert table[1][1] in ("ring", "rhd")  # bandwidth: 2(p-1)/p n
    assert size_ranges([(8, "a", 1.0), (16, "a", 1.0), (32, "b", 1.0)]) == [(8, 16, "a"), (32, 32, "b")]


CACHED = CostModel(
    (Segment(math.inf, 1e-6, 1e-9),),
    {"float32": 4e-10},
    (CacheStep(1 << 20, 0.25, 0.5), CacheStep(4 << 20, 0.5, 1.0), CacheStep(16 << 20, 1.0, 1.0)),
)


def test_cache_factors_interpolate_in_log_size_and_are_cold_beyond_the_last_window():
    assert CACHED.cache_factors(1 << 10) == (0.25, 0.5)  # below the first window: the first step
    assert CACHED.cache_factors(2 << 20) == pytest.approx((0.375, 0.75))  # halfway in log2 from 1 to 4 MiB
    assert CACHED.cache_factors(8 << 20) == pytest.approx((0.75, 1.0))
    assert CACHED.cache_factors(1 << 30) == (1.0, 1.0)
    hot = CACHED.at(1 << 20)
    assert hot.message(1000) == pytest.approx(1e-6 + 0.25e-9 * 1000) and hot.reduce(1000, "float32") == pytest.approx(
        2e-7
    )
    assert MODEL.at(1 << 20) is MODEL  # no cache steps: the model itself


def test_cache_steps_change_predictions_only_for_vectors_that_fit():
    cold = CostModel(CACHED.segments, CACHED.gamma)
    ring = collectives.get("ring")
    big, small = 64 << 20, 1 << 20
    assert predict_time(CACHED, "ring", 4, big, "float32", 8) == pytest.approx(
        ring.cost(cold, 4, big, "float32", {"chunk": 1 << 20})
    )
    assert predict_time(CACHED, "ring", 4, small, "float32", 8) < predict_time(cold, "ring", 4, small, "float32", 8)


def test_cost_model_round_trips_with_and_without_cache_steps():
    assert CostModel.from_dict(CACHED.to_dict()) == CACHED
    old = CACHED.to_dict()
    del old["cache"]  # result files written before cache steps existed
    assert CostModel.from_dict(old).cache == ()


# Two levels: node-mates at 10 GB/s (α 1 µs), one flow between nodes at 1 GB/s (α 10 µs), a node's link 1 GB/s.
INTRA = CostModel((Segment(math.inf, 1e-6, 1e-10),), {"float32": 5e-10})
INTER = CostModel((Segment(math.inf, 1e-5, 1e-9),), {"float32": 5e-10})


def two_level(nodes: int, per_node: int, order: str = "packed", link_beta: float = 1e-9):
    return Machine(INTRA, INTER, link_beta).placed(layout(nodes, per_node, order))


def test_layouts_place_ranks_on_nodes_in_rank_order():
    assert layout(2, 2, "packed") == [0, 0, 1, 1]
    assert layout(2, 2, "spread") == [0, 1, 0, 1]
    assert layout(3, 2, "spread") == [0, 1, 2, 0, 1, 2]
    assert Machine(INTRA, INTER, 1e-9).placed([0, 0, 0]) is INTRA  # one node: one level


def test_ring_is_paced_by_its_slowest_hop_and_the_flows_sharing_a_link():
    n, chunk = 4_000_000, 1 << 30
    # packed 2x2: hops 0-1 and 2-3 inside nodes, 1-2 and 3-0 between them, one flow each way per node
    hop = 1e-5 + 1e-9 * n / 4
    expected = 6 * hop + 3 * 5e-4
    assert collectives.get("ring").cost(two_level(2, 2), 4, n, "float32", {"chunk": chunk}) == pytest.approx(expected)
    # spread: every hop crosses, two flows leave each node at once: the link halves each
    shared = 1e-5 + 2e-9 * n / 4
    spread = two_level(2, 2, "spread")
    assert collectives.get("ring").cost(spread, 4, n, "float32", {"chunk": chunk}) == pytest.approx(
        6 * shared + 3 * 5e-4
    )
    # no shared link (logical nodes of one machine): spread is as fast as one flow alone
    unshared = two_level(2, 2, "spread", link_beta=0.0)
    assert collectives.get("ring").cost(unshared, 4, n, "float32", {"chunk": chunk}) == pytest.approx(expected)


def test_hier_charges_the_node_and_the_network_apart_and_says_where_the_time_goes():
    n = 4_000_000
    model = two_level(2, 2)
    seconds = collectives.get("hier").cost(model, 4, n, "float32", {"chunk": 1 << 30, "segments": 1})
    # in the node: a ring of 2 on n (reduce-scatter + all-gather: 2 messages of n/2, one reduction of n/2);
    # across: a ring of 2 on n/2, both local ranks' rings at once (2 flows per link): 2 messages of n/4 at 2 GB/s
    inside = 2 * (1e-6 + 1e-10 * n / 2) + 5e-10 * n / 2
    across = 2 * (1e-5 + 2e-9 * n / 4) + 5e-10 * n / 4
    assert seconds == pytest.approx(inside + across)
    share = parts(seconds)
    assert share["inter bandwidth"] == pytest.approx(2 * 2e-9 * n / 4)
    assert share["intra bandwidth"] == pytest.approx(2 * 1e-10 * n / 2)
    assert sum(share.values()) == pytest.approx(seconds)
    # the same split whatever the rank order: hier finds the nodes, not the ring neighbours
    spread = collectives.get("hier").cost(two_level(2, 2, "spread"), 4, n, "float32", {"chunk": 1 << 30, "segments": 1})
    assert spread == pytest.approx(seconds)

    def pipelined(segments: int) -> float:  # one segment's phases, then the slower level (the network) for the rest
        m = n / segments
        inside = 2 * (1e-6 + 1e-10 * m / 2) + 5e-10 * m / 2
        across = 2 * (1e-5 + 2e-9 * m / 4) + 5e-10 * m / 4
        return inside + across + (segments - 1) * across

    piped = collectives.get("hier").cost(model, 4, n, "float32", {"chunk": 1 << 30, "segments": 4})
    assert piped == pytest.approx(pipelined(4))
    # by default as the algorithm chooses: 2 MiB segments, so 2 for 4 MB
    default = collectives.get("hier").cost(model, 4, n, "float32", {"chunk": 1 << 30})
    assert default == pytest.approx(pipelined(2))


def test_rhd_and_tree_are_charged_by_their_partners_at_each_step():
    n = 4_000_000
    # packed 2x2, halving: distance 2 crosses nodes (2 flows per link, n/2), distance 1 stays inside (n/4)
    expected = 2 * (1e-5 + 2e-9 * n / 2) + 5e-10 * n / 2 + 2 * (1e-6 + 1e-10 * n / 4) + 5e-10 * n / 4
    assert collectives.get("rhd").cost(two_level(2, 2), 4, n, "float32", {}) == pytest.approx(expected)
    # spread: distance 2 stays inside, distance 1 crosses
    flipped = 2 * (1e-6 + 1e-10 * n / 2) + 5e-10 * n / 2 + 2 * (1e-5 + 2e-9 * n / 4) + 5e-10 * n / 4
    assert collectives.get("rhd").cost(two_level(2, 2, "spread"), 4, n, "float32", {}) == pytest.approx(flipped)
    # binomial tree on 2x2 packed: round 0 (1->0, 3->2) inside, round 1 (2->0) across, one flow
    binomial = 2 * (1e-6 + 1e-10 * 1000) + 2 * (1e-5 + 1e-9 * 1000) + 2 * 5e-10 * 1000
    assert collectives.get("tree").cost(two_level(2, 2), 4, 1000, "float32", {"variant": "binomial"}) == pytest.approx(
        binomial
    )


def test_mesh_rows_inside_nodes_are_cheaper_than_rows_across():
    n = 4_000_000
    rows_inside = collectives.get("mesh").cost(two_level(2, 2), 4, n, "float32", {"mesh": "2x2"})
    rows_across = collectives.get("mesh").cost(two_level(2, 2, "spread"), 4, n, "float32", {"mesh": "2x2"})
    assert rows_inside < rows_across


def test_a_flat_model_ignores_patterns_and_splits():
    assert MODEL.round(("ring", 4), 1000) == MODEL.message(1000)
    assert MODEL.split([[0, 1], [2, 3]]) is MODEL
    assert parts(cost("ring", 4, 1000)) == {}


def test_two_level_bounds_include_each_nodes_link():
    model = two_level(4, 2)
    bounds = lower_bounds(model, 8, 8_000_000)
    assert bounds["bandwidth"] == pytest.approx(2 * 3 / 4 * 8_000_000 * 1e-9)


def test_calibration_partners_inside_across_and_on_every_link():
    from bench.calibrate import node_partners

    partners = node_partners([0, 0, 1, 1, 2, 2])
    assert partners["intra"] == [1, 0, 3, 2, 5, 4]
    assert partners["inter"] == [2, 1, 0, 3, 4, 5]  # the first ranks of the first two nodes, alone
    assert partners["link"] == [2, 3, 0, 1, 4, 5]  # the third node has no partner node: it sits out
    assert node_partners([0, 1])["intra"] == [0, 1]


def test_the_model_command_lays_a_two_level_calibration_on_n_nodes(tmp_path, capsys):
    from bench.cli import main

    record = {
        "p": 4,
        "model": INTRA.to_dict(),
        "inter": {"model": INTER.to_dict(), "link_beta": 1e-9, "flows": 2, "fit": {"r2": 1.0}},
        "fit": {"r2": 1.0, "median_rel_residual": 0.0},
    }
    (tmp_path / "results.json").write_text(
        json.dumps({"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "calibrations": [record], "rows": []})
    )
    assert (
        main(
            [
                "model",
                str(tmp_path),
                "--nodes",
                "2,512",
                "--ranks-per-node",
                "8",
                "--rank-order",
                "packed,spread",
                "--sizes",
                "1M,64M",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "between nodes: alpha 10.00 us, beta 1.000 GB/s one flow" in out
    assert "512x8 spread" in out and "# where the time goes at 512x8 spread (4096 ranks)" in out
    assert main(["model", str(tmp_path), "--nodes", "0..4"]) == 2
