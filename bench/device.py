"""Where the buffers live: the CPU (NumPy) or a GPU (CuPy), and how device buffers reach MPI.

CuPy is imported only when ``--device gpu`` asks for it, so CPU runs never need it. Each rank
picks its GPU from its node-local rank (the node-local communicator, or SLURM_LOCALID) modulo
the number of visible devices, so several ranks may share one GPU. Device buffers go to MPI
directly when the MPI library is CUDA-aware and through pinned host buffers otherwise.
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from collectives.transport import TransportSpec

from .buffers import PAGE_ALIGNED, BufferSpec, device_empty, host_empty
from .errors import UsageError
from .mpienv import loaded_mpi_libraries

DEVICES = ("cpu", "gpu")
CUDA_AWARE_MODES = ("auto", "yes", "no")


def pick_gpu(local_rank: int, visible: int) -> int:
    """The device index for node-local rank ``local_rank`` among ``visible`` devices."""
    if visible <= 0:
        raise UsageError("--device gpu: no GPU is visible to this rank (check CUDA_VISIBLE_DEVICES and the job's GPUs)")
    return local_rank % visible


def local_rank(comm: Any, environ: dict[str, str] | None = None) -> int:
    """This rank's index on its node: SLURM_LOCALID when Slurm sets it, else the node-local communicator."""
    environ = dict(os.environ) if environ is None else environ
    value = environ.get("SLURM_LOCALID", "")
    if value.isdigit():
        return int(value)
    from mpi4py import MPI

    node = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.Get_rank())
    rank = node.Get_rank()
    node.Free()
    return rank


def _mpi_library_handles() -> list[Any]:
    """ctypes handles of the loaded MPI libraries (libmpi*), found in this process's memory map."""
    return [ctypes.CDLL(path) for path in loaded_mpi_libraries()]


def detect_cuda_aware(handles: list[Any] | None = None) -> tuple[bool, str]:
    """Whether the running MPI library can take CUDA device pointers, and how that was decided.

    Open MPI answers through ``MPIX_Query_cuda_support()``; MPICH through
    ``MPIX_GPU_query_support(MPIX_GPU_SUPPORT_CUDA, &flag)`` (a build with GPU support that was
    not disabled with MPIR_CVAR_ENABLE_GPU=0). Anything else counts as not CUDA-aware.
    """
    handles = _mpi_library_handles() if handles is None else handles
    for handle in handles:
        query = getattr(handle, "MPIX_Query_cuda_support", None)
        if query is not None:
            query.restype = ctypes.c_int
            return bool(query()), "MPIX_Query_cuda_support()"
        query = getattr(handle, "MPIX_GPU_query_support", None)
        if query is not None:
            flag = ctypes.c_int(0)
            query.restype = ctypes.c_int
            query(ctypes.c_int(0), ctypes.byref(flag))  # MPIX_GPU_SUPPORT_CUDA == 0
            return bool(flag.value), "MPIX_GPU_query_support(CUDA)"
    return False, "the MPI library offers no CUDA-support query"


def choose_transport(mode: str, detected: bool) -> str:
    """``device-direct`` or ``staged`` for ``--cuda-aware mode`` given what detection found."""
    if mode not in CUDA_AWARE_MODES:
        raise UsageError(f"unknown --cuda-aware value {mode!r}; expected one of {', '.join(CUDA_AWARE_MODES)}")
    if mode == "yes":
        return "device-direct"
    if mode == "no":
        return "staged"
    return "device-direct" if detected else "staged"


class CpuDevice:
    """Host buffers through NumPy."""

    name = "cpu"
    xp = np

    def __init__(self) -> None:
        self.transport = TransportSpec()

    def empty(self, count: int, dtype: np.dtype, spec: BufferSpec = PAGE_ALIGNED) -> Any:
        return host_empty(count, dtype, spec)

    def transport_for(self, spec: BufferSpec) -> TransportSpec:
        """The transport spec whose scratch buffers are placed as ``spec`` says."""
        return dataclasses.replace(self.transport, empty=functools.partial(host_empty, spec=spec))

    def upload(self, host: np.ndarray, target: Any) -> None:
        target[...] = host

    def timed(self, call: Callable[[], Any]) -> Callable[[], Any]:
        """The call the clock measures (on the CPU, the call itself)."""
        return call

    def describe(self) -> dict[str, Any]:
        return {"device": "cpu", "transport": "direct"}


class GpuDevice:
    """Device buffers through CuPy on this rank's GPU."""

    name = "gpu"

    def __init__(self, comm: Any, cuda_aware: str = "auto"):
        try:
            import cupy
            import cupyx
        except ImportError as exc:
            raise UsageError(f"--device gpu needs CuPy ({exc}); install it with pip install 'collbench[gpu]'") from None
        try:
            visible = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:  # CUDARuntimeError without a driver or a device
            raise UsageError(
                f"--device gpu: CUDA reports no usable GPU ({exc}); run on a GPU node or use --device cpu"
            ) from None
        self.index = pick_gpu(local_rank(comm), visible)
        cupy.cuda.Device(self.index).use()
        self.cupy = cupy
        self.xp = cupy
        self.stream = cupy.cuda.Stream.null
        detected, how = detect_cuda_aware()
        self.cuda_aware_detected, self.cuda_aware_how = detected, how
        self.transport_kind = choose_transport(cuda_aware, detected)
        self.transport = TransportSpec(
            kind=self.transport_kind, xp=cupy, sync=self.stream.synchronize, pinned_empty=cupyx.empty_pinned
        )
        self.properties = cupy.cuda.runtime.getDeviceProperties(self.index)
        self.device_samples: list[float] = []

    def empty(self, count: int, dtype: np.dtype, spec: BufferSpec = PAGE_ALIGNED) -> Any:
        return device_empty(self.cupy, count, dtype, spec)

    def transport_for(self, spec: BufferSpec) -> TransportSpec:
        """The transport spec whose scratch buffers are placed as ``spec`` says."""
        return dataclasses.replace(self.transport, empty=functools.partial(device_empty, self.cupy, spec=spec))

    def free_memory(self) -> int:
        """Free bytes on the node's GPUs, taking this rank's as typical (the node's ranks share them)."""
        return int(self.cupy.cuda.runtime.memGetInfo()[0]) * self.cupy.cuda.runtime.getDeviceCount()

    def upload(self, host: np.ndarray, target: Any) -> None:
        target.set(host)
        self.stream.synchronize()

    def timed(self, call: Callable[[], Any]) -> Callable[[], Any]:
        """The call the clock measures: the collective, CUDA events around it, then a stream sync.

        The events' elapsed time (device time) of each call is appended to ``device_samples``.
        """
        cupy, stream, samples = self.cupy, self.stream, self.device_samples
        start, stop = cupy.cuda.Event(), cupy.cuda.Event()

        def run() -> None:
            start.record(stream)
            call()
            stop.record(stream)
            stop.synchronize()
            samples.append(cupy.cuda.get_elapsed_time(start, stop) / 1e3)

        return run

    def describe(self) -> dict[str, Any]:
        name = self.properties.get("name", b"")
        return {
            "device": "gpu",
            "gpu_index": self.index,
            "gpu_name": name.decode() if isinstance(name, bytes) else str(name),
            "cupy": self.cupy.__version__,
            "transport": self.transport_kind,
            "cuda_aware_detected": self.cuda_aware_detected,
            "cuda_aware_query": self.cuda_aware_how,
        }


def open_device(kind: str, comm: Any, cuda_aware: str = "auto") -> CpuDevice | GpuDevice:
    """The device ``--device`` names; UsageError (exit 2) when it cannot be used here."""
    if kind == "cpu":
        return CpuDevice()
    if kind == "gpu":
        return GpuDevice(comm, cuda_aware)
    raise UsageError(f"unknown device {kind!r}; expected one of {', '.join(DEVICES)}")
