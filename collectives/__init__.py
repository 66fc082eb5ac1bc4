"""collbench's all-reduce algorithms and baselines behind one interface.

    alg = collectives.create("mpi", comm, count, "float32", "sum")
    alg(sendbuf, recvbuf)      # one all-reduce; alg(buf, buf) runs in place

``names()`` lists the registered algorithms; each module registers one. Modules named in the
environment variable ``COLLBENCH_PLUGINS`` (comma-separated import paths) are imported too,
so an algorithm kept outside this package registers itself the same way.
"""

from __future__ import annotations

import importlib
import os

from . import gloo, hier, mesh, mpi, nccl, ps, rhd, ring, tree  # noqa: F401  (each module registers its algorithm)
from .base import (
    Allreduce,
    CollectiveError,
    Unavailable,
    Unsupported,
    check_support,
    create,
    get,
    names,
    register,
)
from .types import ALL_DTYPES, ALL_OPS, DTYPES, OPS, OPTIONAL_DTYPES

__all__ = [
    "ALL_DTYPES",
    "ALL_OPS",
    "DTYPES",
    "OPS",
    "OPTIONAL_DTYPES",
    "Allreduce",
    "CollectiveError",
    "Unavailable",
    "Unsupported",
    "check_support",
    "create",
    "get",
    "load_plugins",
    "names",
    "register",
]


def load_plugins(spec: str | None = None) -> list[str]:
    """Import the modules listed in ``spec`` (default: ``$COLLBENCH_PLUGINS``); return their names."""
    spec = os.environ.get("COLLBENCH_PLUGINS", "") if spec is None else spec
    modules = [m.strip() for m in spec.split(",") if m.strip()]
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise CollectiveError(f"cannot import plugin module {module!r} from COLLBENCH_PLUGINS: {exc}") from None
    return modules
