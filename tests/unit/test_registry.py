import pytest

import collectives
from collectives.base import Allreduce


def test_mpi_is_registered_with_metadata():
    assert "mpi" in collectives.names()
    cls = collectives.get("mpi")
    assert cls.dtypes == collectives.ALL_DTYPES
    assert cls.ops == collectives.ALL_OPS
    assert cls.unavailable_reason() is None
    assert cls.busbw_factor(4) == 1.5
    assert cls.busbw_factor(1) == 0.0


def test_unknown_names_are_clear_errors():
    with pytest.raises(collectives.Unsupported, match="registered: .*mpi"):
        collectives.get("nope")
    with pytest.raises(ValueError, match="expected one of"):
        collectives.check_support("mpi", "complex64", "sum")


def test_unavailable_algorithm_says_why():
    class Missing(Allreduce):
        @classmethod
        def unavailable_reason(cls):
            return "libfoo is not installed"

    collectives.register("missing-test")(Missing)
    try:
        with pytest.raises(collectives.Unavailable, match="libfoo is not installed"):
            collectives.check_support("missing-test", "float32", "sum")
    finally:
        collectives.base._REGISTRY.pop("missing-test")


def test_duplicate_registration_is_refused():
    with pytest.raises(ValueError, match="already registered"):
        collectives.register("mpi")(type("Other", (Allreduce,), {}))


def test_plugins_load_or_fail_clearly():
    with pytest.raises(collectives.CollectiveError, match="cannot import plugin module 'no_such_mod'"):
        collectives.load_plugins("no_such_mod")
    assert collectives.load_plugins("") == []
