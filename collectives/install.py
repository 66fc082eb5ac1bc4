"""What to install for the GPU path, said for the machine at hand (CUDA 12 or 13, CuPy's own wheel).

CuPy ships one wheel per CUDA major version (``cupy-cuda12x``, ``cupy-cuda13x``) and NCCL comes as
its own wheel (``nvidia-nccl-cu12``, ``nvidia-nccl-cu13``); collbench's extras ``gpu`` and ``gpu13``
bring the pair. The CUDA version is the driver's (``cuDriverGetVersion`` from libcuda), which
needs no CuPy; the installed CuPy is read from the package metadata, which needs no import.
"""

from __future__ import annotations

import ctypes
from importlib import metadata

EXTRAS = {12: "gpu", 13: "gpu13"}
NCCL_WHEELS = {"cupy-cuda12x": "nvidia-nccl-cu12", "cupy-cuda13x": "nvidia-nccl-cu13"}


def driver_cuda_major() -> int | None:
    """The CUDA major version the installed driver supports, or None without a driver."""
    try:
        libcuda = ctypes.CDLL("libcuda.so.1")
        version = ctypes.c_int(0)
        if libcuda.cuDriverGetVersion(ctypes.byref(version)) != 0:
            return None
    except (OSError, AttributeError):
        return None
    return version.value // 1000 or None


def installed_cupy() -> str | None:
    """The name of the installed CuPy distribution (``cupy-cuda13x``, ...), or None."""
    for name in ("cupy-cuda13x", "cupy-cuda12x", "cupy-cuda11x", "cupy"):
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        return name
    return None


def gpu_install_advice(cuda_major: int | None = None) -> str:
    """The pip command that brings CuPy and NCCL for this machine's CUDA."""
    cuda_major = driver_cuda_major() if cuda_major is None else cuda_major
    extra = EXTRAS.get(cuda_major or 0)
    if extra:
        return f"install them with pip install 'collbench[{extra}]' (CuPy and NCCL for CUDA {cuda_major})"
    return (
        "install them with pip install 'collbench[gpu]' on CUDA 12 or 'collbench[gpu13]' on CUDA 13 "
        "(nvidia-smi shows the driver's CUDA version)"
    )


def nccl_install_advice(cupy_name: str | None = None) -> str:
    """How to give the installed CuPy a libnccl it can load."""
    cupy_name = installed_cupy() if cupy_name is None else cupy_name
    wheel = NCCL_WHEELS.get(cupy_name or "")
    if wheel:
        return f"install NCCL for {cupy_name} with pip install {wheel}, or put libnccl.so.2 on LD_LIBRARY_PATH"
    return "install the nvidia-nccl wheel for your CUDA (nvidia-nccl-cu12 or -cu13), or put libnccl.so.2 on LD_LIBRARY_PATH"
