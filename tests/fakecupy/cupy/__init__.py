"""A fake CuPy for the CPU tests: NumPy memory behind a GPU's asynchronous semantics.

Put ``tests/fakecupy`` first on ``PYTHONPATH`` and ``import cupy`` gets this module. It mimics the
part of CuPy 14 collbench uses, and above all its timing rules, in their most hostile form:

- Kernels (``add``, ``maximum``, ..., ``a[...] = b``, ``fill``) and copies to the device
  (``ndarray.set``) are queued on the current stream and run only when that stream, an event
  recorded on it, or the device is synchronised. ``set`` reads its host source when it runs,
  as an asynchronous copy from pinned memory does.
- ``ndarray.get()`` synchronises its stream first (CuPy's ``blocking=True``), then copies.
- Arrays expose ``__cuda_array_interface__`` with the address of their NumPy memory, so mpi4py
  hands them to MPI as it hands real device arrays: at once, without synchronising anything.

So code that gives MPI a buffer before synchronising reads stale data or overwrites data a
queued kernel has yet to read, every time, not once in a thousand runs on a real GPU.

``cupy.cuda.nccl`` is a fake NCCL over MPI (see :mod:`cupy.cuda` below): its operations are
queued on the stream too, and run as MPI calls when it is synchronised. Environment:
``FAKE_GPU_COUNT`` (visible GPUs, default 1), ``FAKE_GPU_MEMORY`` (bytes per GPU, default 80e9),
``FAKE_NCCL_VERSION`` (default 23004), ``FAKE_NCCL_MISSING=1`` (libnccl did not load).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__version__ = "14.0.0+fake"
FAKE = True

bfloat16 = None  # this fake, like a CuPy without ml_dtypes, has no bfloat16


class _Memory:
    __slots__ = ("ptr",)

    def __init__(self, ptr: int):
        self.ptr = ptr


class ndarray:  # noqa: N801  (CuPy's name)
    """A device array: NumPy memory that only queued kernels and copies may change."""

    __slots__ = ("_a",)

    def __init__(self, host_view: np.ndarray):
        self._a = host_view

    # -- description ------------------------------------------------------------------
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    size = property(lambda self: self._a.size)
    nbytes = property(lambda self: self._a.nbytes)
    itemsize = property(lambda self: self._a.itemsize)
    ndim = property(lambda self: self._a.ndim)
    data = property(lambda self: _Memory(self._a.ctypes.data))

    def __len__(self) -> int:
        return len(self._a)

    @property
    def __cuda_array_interface__(self) -> dict[str, Any]:
        return {
            "shape": self._a.shape,
            "typestr": self._a.dtype.str,
            "data": (self._a.ctypes.data, False),
            "strides": None if self._a.flags.c_contiguous else self._a.strides,
            "version": 3,
            "stream": cuda.get_current_stream().ptr or 1,
        }

    # -- views ---------------------------------------------------------------------------
    def __getitem__(self, key: Any) -> ndarray:
        return ndarray(self._a[key])

    def view(self, dtype: Any) -> ndarray:
        return ndarray(self._a.view(dtype))

    # -- queued work -----------------------------------------------------------------------
    def __setitem__(self, key: Any, value: Any) -> None:
        target = self._a[key] if key is not Ellipsis else self._a
        if isinstance(value, ndarray):
            source = value._a
            _launch(lambda: np.copyto(target, source))
        else:
            snapshot = np.array(value, dtype=self._a.dtype)  # CuPy copies host data in before the kernel
            _launch(lambda: np.copyto(target, snapshot))

    def fill(self, value: Any) -> None:
        target = self._a
        _launch(lambda: target.fill(value))

    def set(self, arr: np.ndarray, stream: Any = None) -> None:
        """Host to device, asynchronous: the host array is read when the copy runs."""
        _same(self._a, arr, "set")
        target, source = self._a, arr
        _launch(lambda: np.copyto(target, source.reshape(target.shape)), stream)

    def get(self, stream: Any = None, order: str = "C", out: np.ndarray | None = None, blocking: bool = True) -> Any:
        """Device to host; with ``blocking`` (the default) the stream is synchronised first."""
        stream = stream or cuda.get_current_stream()
        if out is not None:
            _same(self._a, out, "get(out=)")
        host = np.empty(self._a.shape, self._a.dtype) if out is None else out
        if blocking:
            stream.synchronize()
            np.copyto(host, self._a.reshape(host.shape))
        else:
            source = self._a
            _launch(lambda: np.copyto(host, source.reshape(host.shape)), stream)
        return host

    def copy(self) -> ndarray:
        result = empty(self._a.shape, self._a.dtype)
        result[...] = self
        return result

    def __repr__(self) -> str:
        return f"fake cupy.ndarray(shape={self.shape}, dtype={self.dtype})"


def _same(device: np.ndarray, host: Any, what: str) -> None:
    """CuPy's checks: a NumPy array of the same size and dtype."""
    if not isinstance(host, np.ndarray):
        raise TypeError(f"{what}: only numpy.ndarray is supported, got {type(host)}")
    if host.size != device.size:
        raise ValueError(f"{what}: shape mismatch {host.shape} and {device.shape}")
    if host.dtype != device.dtype:
        raise TypeError(f"{what}: {host.dtype} array cannot be set to {device.dtype} array")


def _launch(work: Callable[[], Any], stream: Any = None) -> None:
    (stream or cuda.get_current_stream()).enqueue(work)


def _host(array: Any) -> np.ndarray:
    return array._a if isinstance(array, ndarray) else np.asarray(array)


_allocated = [0]


def empty(shape: Any, dtype: Any = float) -> ndarray:
    memory = np.empty(shape, dtype=dtype)
    _allocated[0] += memory.nbytes
    return ndarray(memory)


def zeros(shape: Any, dtype: Any = float) -> ndarray:
    array = empty(shape, dtype)
    array.fill(0)
    return array


def full(shape: Any, value: Any, dtype: Any = float) -> ndarray:
    array = empty(shape, dtype)
    array.fill(value)
    return array


def asarray(host: Any, dtype: Any = None) -> ndarray:
    host = np.asarray(host, dtype=dtype)
    array = empty(host.shape, host.dtype)
    array[...] = host
    return array


def may_share_memory(a: Any, b: Any) -> bool:
    return bool(np.may_share_memory(_host(a), _host(b)))


def get_array_module(*arrays: Any) -> Any:
    import sys

    return sys.modules[__name__] if any(isinstance(a, ndarray) for a in arrays) else np


def _ufunc(name: str) -> Callable[..., ndarray]:
    kernel = getattr(np, name)

    def launch(a: Any, b: Any, out: ndarray | None = None) -> ndarray:
        if any(isinstance(x, np.ndarray) for x in (a, b, out)):  # CuPy refuses host arrays in a kernel
            raise TypeError(f"Unsupported type {np.ndarray}")
        if out is None:
            out = empty(np.broadcast_shapes(_host(a).shape, _host(b).shape), _host(a).dtype)
        x, y, z = _host(a), _host(b), out._a
        _launch(lambda: kernel(x, y, out=z))
        return out

    launch.__name__ = name
    return launch


add = _ufunc("add")
multiply = _ufunc("multiply")
maximum = _ufunc("maximum")
minimum = _ufunc("minimum")
divide = _ufunc("divide")

from . import cuda  # noqa: E402  (cuda uses ndarray and _allocated from above)

__all__ = ["FAKE", "add", "asarray", "cuda", "empty", "full", "maximum", "minimum", "multiply", "ndarray", "zeros"]
