import numpy as np
import pytest

from bench.check import count_wrong, expected_result, rank_input
from collectives.types import DTYPES, EXACT_INTEGER_LIMIT

REDUCE = {"sum": np.sum, "prod": np.prod, "min": np.min, "max": np.max}


@pytest.mark.parametrize("p", [1, 2, 3, 5, 8, 13, 64, 101, 130])
@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("op", list(REDUCE))
def test_expected_matches_brute_force_and_is_exact(p, dtype, op):
    count = 257
    inputs = np.stack([rank_input(r, p, count, dtype, op).astype(np.float64) for r in range(p)])
    brute = REDUCE[op](inputs, axis=0)
    assert np.array_equal(expected_result(p, count, dtype, op).astype(np.float64), brute)
    # every partial result is an integer the dtype holds exactly
    bound = (
        np.abs(inputs).sum(axis=0) if op == "sum" else np.abs(inputs).prod(axis=0) if op == "prod" else np.abs(inputs)
    )
    assert bound.max() <= EXACT_INTEGER_LIMIT[dtype]


def test_inputs_differ_per_rank_and_element():
    for op in REDUCE:
        a, b = rank_input(0, 4, 64, "float32", op), rank_input(1, 4, 64, "float32", op)
        assert not np.array_equal(a, b)
        assert len(np.unique(a)) > 1


def test_large_p_float16_sum_stays_exact():
    p = 5000
    expected = expected_result(p, 100, "float16", "sum")
    assert np.array_equal(expected, np.ones(100, dtype=np.float16))


def test_count_wrong():
    expected = np.arange(10, dtype=np.float32)
    result = expected.copy()
    assert count_wrong(result, expected) == 0
    result[[1, 5]] += 1
    assert count_wrong(result, expected) == 2
