"""collectives.create takes a dtype as NumPy does: its name, a NumPy type or an np.dtype, all meaning one dtype."""

from __future__ import annotations

import numpy as np
import pytest

import collectives
from collectives.base import dtype_name

SPELLINGS = [
    ("float32", "float32"),
    (np.float32, "float32"),
    (np.dtype("float32"), "float32"),
    ("f4", "float32"),
    (np.dtype("<f2"), "float16"),
    (np.int32, "int32"),
    (np.dtype("int64"), "int64"),
    (float, "float64"),
]


@pytest.mark.parametrize(("given", "name"), SPELLINGS)
def test_every_spelling_of_a_dtype_is_its_name(given, name):
    assert dtype_name(given) == name


@pytest.mark.parametrize("given", [np.complex64, np.dtype("complex64"), "complex64", np.dtype(">f4"), None, "floaty"])
def test_an_unsupported_dtype_is_named_as_given(given):
    with pytest.raises(ValueError) as error:
        dtype_name(given)
    message = str(error.value)
    assert message.startswith(f"unknown dtype {given!r}; expected one of int32, int64, float16, float32, float64")
    assert "np.dtype in native byte order" in message


@pytest.mark.parametrize("algo", ["mpi", "ring"])
@pytest.mark.parametrize(("given", "name"), SPELLINGS[:3])
def test_create_builds_and_runs_with_any_spelling(algo, given, name):
    from mpi4py import MPI

    alg = collectives.create(algo, MPI.COMM_SELF, 5, given, "sum")
    try:
        assert alg.dtype_name == name and alg.dtype == np.dtype(name)
        sendbuf, recvbuf = np.arange(5, dtype=name), np.zeros(5, dtype=name)
        alg(sendbuf, recvbuf)
        assert (recvbuf == sendbuf).all()  # one rank: the sum is its own data
    finally:
        alg.close()


def test_the_constructor_and_check_support_speak_the_name():
    from mpi4py import MPI

    alg = collectives.get("ring")(MPI.COMM_SELF, 4, np.dtype("float16"), "max")
    assert alg.dtype_name == "float16"
    alg.close()
    collectives.check_support("mpi", np.int64, "sum")
    with pytest.raises(ValueError, match=r"unknown dtype dtype\('complex64'\)"):
        collectives.create("mpi", MPI.COMM_SELF, 4, np.dtype("complex64"), "sum")


def test_an_algorithm_without_the_dtype_says_so_by_name():
    ml_dtypes = pytest.importorskip("ml_dtypes", reason="bfloat16 needs ml_dtypes")
    with pytest.raises(collectives.Unsupported, match="mpi does not support dtype bfloat16;"):
        collectives.check_support("mpi", np.dtype(ml_dtypes.bfloat16), "sum")
