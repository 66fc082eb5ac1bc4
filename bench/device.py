"""Where the buffers live: the CPU (NumPy) or a GPU (CuPy), and how device buffers travel.

CuPy is imported only when ``--device gpu`` asks for it, so CPU runs never need it. Each rank
picks its GPU from its rank on the node (the shared-memory split of the job, which is right
under any launcher; an inherited SLURM_LOCALID is not) modulo the number of visible devices,
so several ranks may share one GPU, and their rows say so. All work runs on CuPy's current
stream (the per-thread default stream under CUPY_CUDA_PER_THREAD_DEFAULT_STREAM=1), which is
the one synchronised before MPI sees a buffer and before a clock stops.

Device buffers reach the hand-written algorithms through ``--transport``: ``mpi`` (directly
when the MPI library is CUDA-aware, through pinned host buffers otherwise; ``--cuda-aware``)
or ``nccl-p2p`` (NCCL's send and receive, no MPI at all).
"""

from __future__ import annotations

import ctypes
import dataclasses
import functools
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from collectives import ncclcomm
from collectives.install import gpu_install_advice
from collectives.transport import TransportSpec

from .buffers import PAGE_ALIGNED, BufferSpec, device_empty, host_empty
from .errors import UsageError
from .mpienv import loaded_mpi_libraries

DEVICES = ("cpu", "gpu")
CUDA_AWARE_MODES = ("auto", "yes", "no")
GPU_TRANSPORTS = ("mpi", "nccl-p2p")


def pick_gpu(local_rank: int, visible: int) -> int:
    """The device index for node-local rank ``local_rank`` among ``visible`` devices."""
    if visible <= 0:
        raise UsageError("--device gpu: no GPU is visible to this rank (check CUDA_VISIBLE_DEVICES and the job's GPUs)")
    return local_rank % visible


def local_rank(comm: Any) -> int:
    """This rank's index among the ranks of ``comm`` on its node (the shared-memory split).

    Environment variables can lie here: under mpiexec inside a Slurm allocation every rank
    inherits the batch step's SLURM_LOCALID=0, and would pick GPU 0.
    """
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

    MPICH (>= 4.1) exports both queries; its own, ``MPIX_GPU_query_support(MPIX_GPU_SUPPORT_CUDA,
    &flag)``, is asked first (the mpich wheel, built without CUDA, answers 0 to both). Open MPI
    answers ``MPIX_Query_cuda_support()``. Anything else counts as not CUDA-aware.
    """
    handles = _mpi_library_handles() if handles is None else handles
    for handle in handles:
        query = getattr(handle, "MPIX_GPU_query_support", None)
        if query is not None:
            flag = ctypes.c_int(0)
            query.restype = ctypes.c_int
            query(ctypes.c_int(0), ctypes.byref(flag))  # MPIX_GPU_SUPPORT_CUDA == 0
            return bool(flag.value), "MPIX_GPU_query_support(CUDA)"
        query = getattr(handle, "MPIX_Query_cuda_support", None)
        if query is not None:
            query.restype = ctypes.c_int
            return bool(query()), "MPIX_Query_cuda_support()"
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
    batch = None  # on the CPU a call is done when it returns: a batch is timed as b2b

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

    def loop_call(self, call: Callable[[], Any], mode: str) -> Callable[[], Any]:
        """What the timed loop of ``mode`` calls."""
        return call

    def join(self, comm: Any) -> None:
        """Nothing to agree on between CPU ranks."""

    def ranks_per_gpu(self, comm: Any) -> int:
        return 0

    def describe(self) -> dict[str, Any]:
        return {"device": "cpu", "transport": "direct"}


def _version_text(code: int) -> str:
    """CUDA's ``12040`` -> ``"12.4"``."""
    return f"{code // 1000}.{code % 1000 // 10}"


def _uuid_text(raw: Any) -> str:
    """A device UUID as nvidia-smi prints it (``GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx``)."""
    data = raw if isinstance(raw, (bytes, bytearray)) else bytes(raw or b"")
    if len(data) != 16:
        return ""
    h = data.hex()
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class GpuDevice:
    """Device buffers through CuPy on this rank's GPU, all work on CuPy's current stream."""

    name = "gpu"

    def __init__(self, local_rank: int, cuda_aware: str = "auto", transport: str = "mpi"):
        """Open this rank's GPU (``local_rank`` mod visible GPUs): local work only, no MPI, so that a rank
        failing here cannot leave the others in a collective. :meth:`join` does the collective part."""
        if transport not in GPU_TRANSPORTS:
            raise UsageError(f"unknown --transport {transport!r}; expected one of {', '.join(GPU_TRANSPORTS)}")
        try:
            import cupy
            import cupyx
        except ImportError as exc:
            raise UsageError(f"--device gpu needs CuPy ({exc}); {gpu_install_advice()}") from None
        try:
            visible = cupy.cuda.runtime.getDeviceCount()
        except Exception as exc:  # CUDARuntimeError without a driver or a device
            raise UsageError(
                f"--device gpu: CUDA reports no usable GPU ({exc}); run on a GPU node or use --device cpu"
            ) from None
        self.index = pick_gpu(local_rank, visible)
        cupy.cuda.Device(self.index).use()
        self.cupy = cupy
        self.xp = cupy
        self.stream = cupy.cuda.get_current_stream()
        detected, how = detect_cuda_aware()
        self.cuda_aware_detected, self.cuda_aware_how = detected, how
        self.mpi_kind = choose_transport(cuda_aware, detected)
        kind = self.mpi_kind
        if transport == "nccl-p2p":
            reason = ncclcomm.unavailable_reason()
            if reason:
                raise UsageError(f"--transport nccl-p2p: {reason}")
            kind = "nccl-p2p"
        self.transport = TransportSpec(
            kind=kind,
            xp=cupy,
            sync=self.stream.synchronize,
            pinned_empty=cupyx.empty_pinned,
            stream=self.stream,
            mpi_kind=self.mpi_kind,
        )
        self.properties = cupy.cuda.runtime.getDeviceProperties(self.index)
        self.sharing = 1
        self.nccl_settings: dict[str, str] = {}

    def join(self, comm: Any) -> None:
        """Collective: how many ranks share each GPU, and what NCCL is told when they do (before any NCCL comm)."""
        self.sharing = self.ranks_per_gpu(comm)
        if self.sharing > 1:
            self.nccl_settings = share_gpu_settings(self.sharing)

    def empty(self, count: int, dtype: np.dtype, spec: BufferSpec = PAGE_ALIGNED) -> Any:
        return device_empty(self.cupy, count, dtype, spec)

    def transport_for(self, spec: BufferSpec) -> TransportSpec:
        """The transport spec whose scratch buffers are placed as ``spec`` says."""
        return dataclasses.replace(self.transport, empty=functools.partial(device_empty, self.cupy, spec=spec))

    def free_memory(self) -> int:
        """Free bytes on this rank's GPU (shared with any other rank on it)."""
        return int(self.cupy.cuda.runtime.memGetInfo()[0])

    def upload(self, host: np.ndarray, target: Any) -> None:
        target.set(host)
        self.stream.synchronize()

    def timed(self, call: Callable[[], Any]) -> Callable[[], Any]:
        """The call the clock measures: the collective, then a synchronisation of the stream."""
        sync = self.stream.synchronize

        def run() -> None:
            call()
            sync()

        return run

    def loop_call(self, call: Callable[[], Any], mode: str) -> Callable[[], Any]:
        """What the timed loop of ``mode`` calls: the bare launch in a batch (one synchronisation at its
        end), else the call and a synchronisation of the stream."""
        return call if mode == "batch" else self.timed(call)

    def batch(self, call: Callable[[], Any], iters: int) -> list[float]:
        """``iters`` calls launched back to back with one synchronisation at the end (nccl-tests' way).

        An event recorded after each call gives the per-iteration samples: the interval between
        consecutive completions on the GPU. Their sum is the batch's time from the first event.
        """
        cupy, stream = self.cupy, self.stream
        events = [cupy.cuda.Event() for _ in range(iters + 1)]
        events[0].record(stream)
        for i in range(iters):
            call()
            events[i + 1].record(stream)
        events[-1].synchronize()
        elapsed = cupy.cuda.get_elapsed_time
        return [elapsed(events[i], events[i + 1]) / 1e3 for i in range(iters)]

    def identity(self) -> tuple[str, str]:
        """(host, GPU) naming this rank's GPU uniquely within a job."""
        from mpi4py import MPI

        uuid = _uuid_text(self.properties.get("uuid"))  # CuPy may cut it at a zero byte: then the bus id
        return MPI.Get_processor_name(), uuid or self.pci_bus_id()

    def gpu_name(self) -> str:
        name = self.properties.get("name", b"")
        return name.decode() if isinstance(name, bytes) else str(name)

    def pci_bus_id(self) -> str:
        return _pci_bus_id(self.cupy.cuda.runtime, self.index, self.properties)

    def ranks_per_gpu(self, comm: Any) -> int:
        """The largest number of ranks of ``comm`` that share one GPU (1: every rank has its own)."""
        gpus = comm.allgather(self.identity())
        return max(gpus.count(gpu) for gpu in gpus)

    def provenance(self) -> dict[str, Any]:
        """This rank's GPU and software: what a result needs to be traced back to the hardware."""
        runtime = self.cupy.cuda.runtime
        record: dict[str, Any] = {
            "host": self.identity()[0],
            "gpu_index": self.index,
            "gpu_name": self.gpu_name(),
            "gpu_uuid": _uuid_text(self.properties.get("uuid")),  # empty where CuPy returned it cut short
            "pci_bus_id": self.pci_bus_id(),
            "driver_cuda": _version_text(runtime.driverGetVersion()),
            "cuda_runtime": _version_text(runtime.runtimeGetVersion()),
            "cupy": self.cupy.__version__,
            "nccl": None,
        }
        if ncclcomm.unavailable_reason() is None:
            record["nccl"] = ncclcomm.nccl_version_text(ncclcomm.version())
        return record

    def describe(self) -> dict[str, Any]:
        return {
            "device": "gpu",
            "gpu_index": self.index,
            "gpu_name": self.gpu_name(),
            "cupy": self.cupy.__version__,
            "transport": self.transport.kind,
            "mpi_transport": self.mpi_kind,
            "cuda_aware_detected": self.cuda_aware_detected,
            "cuda_aware_query": self.cuda_aware_how,
            "stream": "per-thread default" if self.stream.ptr == 2 else f"0x{self.stream.ptr:x}",
            "ranks_per_gpu": self.sharing,
            "nccl_settings": self.nccl_settings,
        }


def share_gpu_settings(ranks_per_gpu: int, environ: Any = None) -> dict[str, str]:
    """What NCCL's documentation advises when ranks share a GPU, set where the user has not: its
    channels (at most 8 per GPU, split among its ranks) and GPU-direct RDMA only to local NICs.
    Returns what was set. Sharing itself stays the user's choice (NCCL_MULTI_RANK_GPU_ENABLE=1).
    """
    environ = os.environ if environ is None else environ
    advised = {"NCCL_MAX_CTAS": str(max(1, 8 // ranks_per_gpu)), "NCCL_NET_GDR_LEVEL": "LOC"}
    chosen = {name: value for name, value in advised.items() if name not in environ}
    environ.update(chosen)
    return chosen


def _pci_bus_id(runtime: Any, index: int, properties: dict[str, Any]) -> str:
    try:
        return str(runtime.deviceGetPCIBusId(index))
    except Exception:  # noqa: BLE001  (an older CuPy: build it from the properties)
        return f"{properties.get('pciDomainID', 0):04x}:{properties.get('pciBusID', 0):02x}:{properties.get('pciDeviceID', 0):02x}.0"


def open_device(kind: str, local: int = 0, cuda_aware: str = "auto", transport: str = "mpi") -> CpuDevice | GpuDevice:
    """The device ``--device`` names, for the rank ``local`` on its node (local work only: call it inside
    :func:`bench.mpienv.agree`, then :meth:`join`); UsageError (exit 2) when it cannot be used here."""
    if kind == "cpu":
        return CpuDevice()
    if kind == "gpu":
        return GpuDevice(local, cuda_aware, transport)
    raise UsageError(f"unknown device {kind!r}; expected one of {', '.join(DEVICES)}")
