"""Correctness data: inputs that differ per rank and per element, and their exact result.

Element j of rank r gets a small integer that depends on both, so a block reduced on the wrong
rank or placed at the wrong offset cannot pass. Every partial result stays an integer below
the dtype's exact limit (2048 for float16), so the reduction is exact in any order and the
comparison with the expected result is exact equality, in every dtype.

    sum   v = (7r + 13j) mod m - m//2   with m <= 64 chosen so p * m/2 stays exact
          (or 1 on rank j mod p and 0 elsewhere, when p is too large for that)
    prod  v = (2 if r = j mod p else 1) * (-1 if (r + 2j) mod 3 = 0 else 1)   ->  +-2
    min   v = (31r + 17j) mod 101 - 50, and max the same
    avg   v = c_j + [r = j mod p] - [r = (j+1) mod p],  c_j = 13j mod m - m//2: the ranks' terms cancel,
          so the sum is exactly p·c_j and the average exactly c_j (NCCL's avg, integers included)

The expected result is computed in closed form per element, without building the other
ranks' inputs, in O(min(p, period) * count) work.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from collectives.types import EXACT_INTEGER_LIMIT, dtype_of

_MINMAX_PERIOD = 101


def _sum_modulus(p: int, dtype: str) -> int:
    """m for the sum pattern, or 0 when p is so large that the 0/1 pattern must be used."""
    m = min(64, EXACT_INTEGER_LIMIT[dtype] // max(p, 1))
    if m % 7 == 0:
        m -= 1  # keep m coprime with 7 so every residue appears once per m ranks
    return m if m >= 2 else 0


def rank_input(rank: int, p: int, count: int, dtype: str, op: str) -> np.ndarray:
    """The check input of ``rank`` among ``p`` ranks: ``count`` elements of ``dtype`` for ``op``."""
    j = np.arange(count, dtype=np.int64)
    if op == "sum":
        m = _sum_modulus(p, dtype)
        values = (7 * rank + 13 * j) % m - m // 2 if m else (j % p == rank).astype(np.int64)
    elif op == "prod":
        values = np.where(j % p == rank, 2, 1) * np.where((rank + 2 * j) % 3 == 0, -1, 1)
    elif op in ("min", "max"):
        values = (31 * rank + 17 * j) % _MINMAX_PERIOD - _MINMAX_PERIOD // 2
    elif op == "avg":
        values = _average(p, j, dtype) + (j % p == rank) - ((j + 1) % p == rank)
    else:
        raise ValueError(f"unknown op {op!r}")
    return values.astype(dtype_of(dtype))


def _average(p: int, j: np.ndarray, dtype: str) -> np.ndarray:
    """c_j of the avg pattern: p·c_j stays exact in ``dtype``."""
    m = _sum_modulus(p, dtype)
    return (13 * j) % m - m // 2 if m else np.zeros_like(j)


def expected_result(p: int, count: int, dtype: str, op: str) -> np.ndarray:
    """The exact all-reduce of every rank's :func:`rank_input`."""
    j = np.arange(count, dtype=np.int64)
    if op == "sum":
        m = _sum_modulus(p, dtype)
        if not m:
            result = np.ones(count, dtype=np.int64)
        else:
            # Over each m consecutive ranks (7r + 13j) mod m takes every residue once.
            full, rest = divmod(p, m)
            result = np.full(count, full * m * (m - 1) // 2, dtype=np.int64)
            for r in range(rest):
                result += (7 * r + 13 * j) % m
            result -= p * (m // 2)
    elif op == "prod":
        c = (-2 * j) % 3  # ranks r = c (mod 3) contribute a factor -1
        negatives = np.maximum(p - c + 2, 0) // 3
        result = np.where(negatives % 2 == 1, -2, 2)
    elif op in ("min", "max"):
        reduce = np.minimum if op == "min" else np.maximum
        if p >= _MINMAX_PERIOD:
            extreme = -(_MINMAX_PERIOD // 2) if op == "min" else _MINMAX_PERIOD // 2
            result = np.full(count, extreme, dtype=np.int64)
        else:
            result = (17 * j) % _MINMAX_PERIOD
            for r in range(1, p):
                result = reduce(result, (31 * r + 17 * j) % _MINMAX_PERIOD)
            result = result - _MINMAX_PERIOD // 2
    elif op == "avg":
        result = _average(p, j, dtype)
    else:
        raise ValueError(f"unknown op {op!r}")
    return result.astype(dtype_of(dtype))


def count_wrong(result: Any, expected: np.ndarray) -> int:
    """Elements of ``result`` (a NumPy array, or any array with ``.get()``) that differ from ``expected``."""
    host = result.get() if hasattr(result, "get") else np.asarray(result)
    return int(np.count_nonzero(host != expected))
