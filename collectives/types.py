"""The element types and reduction operations collbench benchmarks, and their tables.

Every algorithm speaks of dtypes and ops by these names; the tables map a name to the
NumPy dtype, the MPI operation and the array function that reduces two buffers locally.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

# Dtypes NumPy lacks, and what provides them: present in DTYPES only where that is installed.
OPTIONAL_DTYPES = {"bfloat16": "the ml_dtypes package (pip install ml_dtypes)"}


def _optional_dtypes() -> dict[str, np.dtype]:
    try:
        import ml_dtypes
    except ImportError:
        return {}
    return {"bfloat16": np.dtype(ml_dtypes.bfloat16)}


DTYPES: dict[str, np.dtype] = {
    "int32": np.dtype(np.int32),
    "int64": np.dtype(np.int64),
    "float16": np.dtype(np.float16),
    "float32": np.dtype(np.float32),
    "float64": np.dtype(np.float64),
    **_optional_dtypes(),
}

# Largest integer each dtype holds exactly together with all smaller ones: the correctness
# check keeps every partial result below it so the reduction is exact in any order.
EXACT_INTEGER_LIMIT: dict[str, int] = {
    "int32": 2**31 - 1,
    "int64": 2**63 - 1,
    "float16": 2**11,
    "bfloat16": 2**8,
    "float32": 2**24,
    "float64": 2**53,
}


@dataclass(frozen=True)
class Op:
    """A reduction operation: its name, its MPI handle's name and its array function."""

    name: str
    mpi_name: str
    ufunc_name: str

    def mpi(self) -> Any:
        """The mpi4py ``MPI.Op`` for this operation (imports MPI on first use)."""
        from mpi4py import MPI

        return getattr(MPI, self.mpi_name)

    def ufunc(self, xp: Any = np) -> Callable[..., Any]:
        """The elementwise function of array module ``xp`` that applies this operation."""
        return getattr(xp, self.ufunc_name)


OPS: dict[str, Op] = {
    "sum": Op("sum", "SUM", "add"),
    "prod": Op("prod", "PROD", "multiply"),
    "min": Op("min", "MIN", "minimum"),
    "max": Op("max", "MAX", "maximum"),
    "avg": Op("avg", "", ""),  # the sum divided by the rank count: NCCL's own (ncclAvg) only
}

ALL_DTYPES: frozenset[str] = frozenset(DTYPES) - {"bfloat16"}  # MPI has no bfloat16: NCCL's own only
ALL_OPS: frozenset[str] = frozenset(OPS) - {"avg"}  # what an algorithm supports unless it says more


def dtype_of(name: str) -> np.dtype:
    """The NumPy dtype called ``name``; ValueError naming the accepted ones otherwise."""
    try:
        return DTYPES[name]
    except KeyError:
        if name in OPTIONAL_DTYPES:
            raise ValueError(f"dtype {name} needs {OPTIONAL_DTYPES[name]}") from None
        raise ValueError(f"unknown dtype {name!r}; expected one of {', '.join(DTYPES)}") from None


def op_of(name: str) -> Op:
    """The operation called ``name``; ValueError naming the accepted ones otherwise."""
    try:
        return OPS[name]
    except KeyError:
        raise ValueError(f"unknown op {name!r}; expected one of {', '.join(OPS)}") from None
