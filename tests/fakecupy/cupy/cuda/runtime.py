"""The CUDA runtime calls collbench makes, answered for ``FAKE_GPU_COUNT`` identical fake GPUs.

``CUDA_VISIBLE_DEVICES`` (a list of indices) hides the others and renumbers the rest, as CUDA does.
"""

from __future__ import annotations

import os
from typing import Any


class CUDARuntimeError(RuntimeError):
    pass


def _physical() -> list[int]:
    present = range(int(os.environ.get("FAKE_GPU_COUNT", "1")))
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return list(present)
    return [int(v) for v in visible.split(",") if v.strip().isdigit() and int(v) in present]


def getDeviceCount() -> int:  # noqa: N802  (CUDA's names)
    return len(_physical())


def _check(device: int) -> None:
    if not 0 <= device < getDeviceCount():
        raise CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")


def getDeviceProperties(device: int) -> dict[str, Any]:  # noqa: N802
    _check(device)
    physical = _physical()[device]
    return {
        "name": b"Fake GPU (NumPy)",
        # CuPy cuts the UUID at its first zero byte: GPU 0's comes back empty, as it can on real hardware
        "uuid": bytes([physical, *range(1, 16)]).split(b"\0")[0],
        "pciBusID": 0x10 + physical,
        "pciDeviceID": 0,
        "pciDomainID": 0,
        "totalGlobalMem": _total(),
        "multiProcessorCount": 1,
    }


def deviceGetPCIBusId(device: int) -> str:  # noqa: N802
    _check(device)
    return f"0000:{0x10 + _physical()[device]:02X}:00.0"


def _total() -> int:
    return int(float(os.environ.get("FAKE_GPU_MEMORY", "80e9")))


def memGetInfo() -> tuple[int, int]:  # noqa: N802
    import cupy

    total = _total()
    return max(total - cupy._allocated[0], 0), total


def driverGetVersion() -> int:  # noqa: N802
    return 13000


def runtimeGetVersion() -> int:  # noqa: N802
    return 13000


def deviceSynchronize() -> None:  # noqa: N802
    from . import _streams

    for stream in list(_streams.values()):
        stream.synchronize()
