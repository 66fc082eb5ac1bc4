"""GPU plumbing that needs no GPU: device choice, CUDA-awareness, transports, NCCL maps, skip reasons."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import collectives
from bench.device import CpuDevice, choose_transport, detect_cuda_aware, open_device, pick_gpu
from bench.errors import UsageError
from collectives.nccl import (
    NCCL_DTYPES,
    NCCL_OPS,
    duplicate_gpu_reason,
    nccl_version_text,
    unique_id_for_bcast,
)
from collectives.transport import TransportSpec


@pytest.mark.parametrize("local, visible, expected", [(0, 1, 0), (3, 1, 0), (3, 2, 1), (5, 8, 5), (9, 8, 1)])
def test_ranks_share_gpus_round_robin(local, visible, expected):
    assert pick_gpu(local, visible) == expected


def test_no_visible_gpu_is_a_usage_error():
    with pytest.raises(UsageError, match="no GPU is visible"):
        pick_gpu(0, 0)


@pytest.mark.parametrize(
    "mode, detected, kind",
    [
        ("yes", False, "device-direct"),
        ("no", True, "staged"),
        ("auto", True, "device-direct"),
        ("auto", False, "staged"),
    ],
)
def test_staging_decision(mode, detected, kind):
    assert choose_transport(mode, detected) == kind


def test_unknown_cuda_aware_mode():
    with pytest.raises(UsageError, match="--cuda-aware"):
        choose_transport("maybe", True)


class _Query:
    def __init__(self, value):
        self.value, self.restype = value, None

    def __call__(self, *args):
        if args:  # MPICH style: (gpu_type, int*)
            args[1]._obj.value = self.value
            return 0
        return self.value


class _OpenMPI:
    def __init__(self, value):
        self.MPIX_Query_cuda_support = _Query(value)


class _MPICH:
    def __init__(self, value):
        self.MPIX_GPU_query_support = _Query(value)


def test_cuda_awareness_queries():
    assert detect_cuda_aware([_OpenMPI(1)]) == (True, "MPIX_Query_cuda_support()")
    assert detect_cuda_aware([_OpenMPI(0)])[0] is False
    assert detect_cuda_aware([_MPICH(1)]) == (True, "MPIX_GPU_query_support(CUDA)")
    assert detect_cuda_aware([object()]) == (False, "the MPI library offers no CUDA-support query")


def test_the_embedded_mpich_is_not_cuda_aware():
    from mpi4py import MPI  # noqa: F401  (loads libmpi)

    aware, how = detect_cuda_aware()
    assert aware is False and how


def test_gpu_without_cupy_is_a_usage_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(UsageError, match="needs CuPy"):
        open_device("gpu", 0)
    with pytest.raises(UsageError, match="unknown device"):
        open_device("tpu", 0)
    assert isinstance(open_device("cpu", 0), CpuDevice)


def test_nccl_maps_every_dtype_and_op():
    assert set(collectives.DTYPES) <= set(NCCL_DTYPES) and NCCL_DTYPES["bfloat16"] == 9
    assert set(NCCL_OPS) == set(collectives.OPS)
    # nccl.h: ncclInt32=2, ncclInt64=4, ncclFloat16=6, ncclFloat32=7, ncclFloat64=8; ncclSum..ncclMin = 0..3
    assert (NCCL_DTYPES["float32"], NCCL_OPS["min"]) == (7, 3)


def test_nccl_version_and_duplicate_gpu_reasons():
    assert nccl_version_text(22304) == "2.23.4"
    assert nccl_version_text(23001) == "2.30.1"
    assert "needs NCCL >= 2.30" in duplicate_gpu_reason(22304, {})
    assert "NCCL_MULTI_RANK_GPU_ENABLE=1" in duplicate_gpu_reason(23001, {})
    assert "even with" in duplicate_gpu_reason(23001, {"NCCL_MULTI_RANK_GPU_ENABLE": "1"})


def test_unique_id_travels_as_bytes_or_tuple():
    assert unique_id_for_bcast(b"\x01\x02") == b"\x01\x02"
    assert unique_id_for_bcast([1, -2, 3]) == (1, -2, 3)


def test_skip_reasons_name_the_missing_piece(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    monkeypatch.setitem(sys.modules, "cupy.cuda", None)
    monkeypatch.setitem(sys.modules, "torch", None)
    monkeypatch.setitem(sys.modules, "torch.distributed", None)
    assert "collbench[gpu]" in collectives.get("nccl").unavailable_reason()
    assert "collbench[torch]" in collectives.get("gloo").unavailable_reason()
    with pytest.raises(collectives.Unavailable, match="nccl cannot run here"):
        collectives.check_support("nccl", "float32", "sum")


def test_staged_spec_copies_through_host_buffers():
    spec = TransportSpec(kind="staged")
    device = np.arange(5.0)
    host = spec.host_buffer(device)
    spec.to_host(device, host)
    assert np.array_equal(host, device) and host is not device
    spec.to_device(host * 2, device)
    assert np.array_equal(device, np.arange(5.0) * 2)
    with pytest.raises(ValueError, match="unknown transport"):
        TransportSpec(kind="carrier-pigeon")


class _Both:
    """MPICH >= 4.1 exports both queries; its own (MPIX_GPU_query_support) is the one to believe."""

    def __init__(self, gpu, cuda):
        self.MPIX_GPU_query_support = _Query(gpu)
        self.MPIX_Query_cuda_support = _Query(cuda)


def test_mpich_is_asked_its_own_query_first():
    assert detect_cuda_aware([_Both(1, 0)]) == (True, "MPIX_GPU_query_support(CUDA)")
    assert detect_cuda_aware([_Both(0, 1)]) == (False, "MPIX_GPU_query_support(CUDA)")


def test_install_advice_follows_the_cuda_version_and_the_installed_cupy():
    from collectives.install import gpu_install_advice, nccl_install_advice

    assert "collbench[gpu13]" in gpu_install_advice(13) and "CUDA 13" in gpu_install_advice(13)
    assert "collbench[gpu]'" in gpu_install_advice(12)
    unknown = gpu_install_advice(0)
    assert "collbench[gpu]" in unknown and "collbench[gpu13]" in unknown
    assert "pip install nvidia-nccl-cu13" in nccl_install_advice("cupy-cuda13x")
    assert "pip install nvidia-nccl-cu12" in nccl_install_advice("cupy-cuda12x")


def test_the_gpu_extras_bring_cupy_and_nccl_for_their_cuda():
    from pathlib import Path

    import tomllib

    extras = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(extras["gpu"]) == {"cupy-cuda12x", "nvidia-nccl-cu12", "ml_dtypes"}
    assert set(extras["gpu13"]) == {"cupy-cuda13x", "nvidia-nccl-cu13", "ml_dtypes"}


def test_nccl_that_did_not_load_is_said_so(monkeypatch):
    import types

    broken = types.SimpleNamespace(available=False)
    monkeypatch.setitem(sys.modules, "cupy", types.ModuleType("cupy"))
    monkeypatch.setitem(sys.modules, "cupy.cuda", types.SimpleNamespace(nccl=broken))
    reason = collectives.get("nccl").unavailable_reason()
    assert "could not load the NCCL library" in reason and "LD_LIBRARY_PATH" in reason


def test_ranks_sharing_a_gpu_get_what_nccl_advises_unless_set():
    from bench.device import share_gpu_settings

    environ = {"NCCL_NET_GDR_LEVEL": "SYS"}
    assert share_gpu_settings(2, environ) == {"NCCL_MAX_CTAS": "4"}
    assert environ == {"NCCL_NET_GDR_LEVEL": "SYS", "NCCL_MAX_CTAS": "4"}
    assert share_gpu_settings(16, {})["NCCL_MAX_CTAS"] == "1"


@pytest.fixture
def fake_cupy(monkeypatch):
    """tests/fakecupy as ``cupy`` for one test; gone after it."""
    from pathlib import Path

    def ours(name: str) -> bool:
        return name.split(".")[0] in ("cupy", "cupyx")

    monkeypatch.syspath_prepend(str(Path(__file__).parents[1] / "fakecupy"))
    saved = {name: sys.modules.pop(name) for name in list(sys.modules) if ours(name)}
    import cupy

    yield cupy
    for name in [name for name in sys.modules if ours(name)]:
        del sys.modules[name]
    sys.modules.update(saved)


def test_a_copy_to_the_device_is_waited_for(fake_cupy):
    """CuPy's set() returns before it has read the host array; the staged receive reuses that array at once."""
    cupy = fake_cupy
    stream = cupy.cuda.get_current_stream()
    spec = TransportSpec(kind="staged", xp=cupy, sync=stream.synchronize, stream=stream)
    device, host = cupy.zeros(4, np.float32), np.arange(4, dtype=np.float32)
    spec.to_device(host, device)
    host[...] = -1  # the next message lands in the same host buffer
    assert np.array_equal(device.get(), np.arange(4, dtype=np.float32))


def test_bfloat16_without_ml_dtypes_says_what_to_install(monkeypatch):
    from collectives import types

    monkeypatch.delitem(types.DTYPES, "bfloat16", raising=False)
    with pytest.raises(ValueError, match="needs the ml_dtypes package"):
        types.dtype_of("bfloat16")
