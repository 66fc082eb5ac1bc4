"""Where buffers start in memory and which pages back them: placed as the C benchmarks place theirs.

How a buffer is placed changes what MPI measures. OSU page-aligns its buffers
(``posix_memalign``), IMB takes them from ``MPI_Alloc_mem``; NumPy's large arrays come from
``malloc`` and start 16 bytes past a page boundary. With the mpich wheel's shared-memory path at
the single thread level, that offset alone makes 64 KiB..16 MiB all-reduces 2-2.7x slower. NumPy
also advises transparent huge pages for arrays of 4 MiB and more, which a C program on a
``madvise`` system never gets.

So collbench allocates every host buffer it times (the send and receive buffers, and the
algorithms' scratch space) from its own anonymous mapping, placed as a :class:`BufferSpec` says:

- ``align``/``offset``: the buffer starts ``offset`` bytes past a multiple of ``align``
  (``--align page``, the default, is a page boundary as OSU's; ``--align page+16`` is where NumPy's
  large arrays land; ``--align 64`` is what PyTorch's CPU allocator guarantees, though an anonymous
  mapping starts on a page anyway: ``page_offset`` on every row says where a buffer really started).
- ``huge_pages``: ``system`` gives no advice (the kernel's policy, as a C benchmark gets), ``on``
  and ``off`` advise ``MADV_HUGEPAGE`` / ``MADV_NOHUGEPAGE``.
- ``--align numpy`` hands placement back to ``np.empty`` (and NumPy's own huge-page advice), to
  measure what a NumPy program's arrays really get.

Device buffers honour ``align``/``offset`` inside a larger allocation; pages are the driver's.
"""

from __future__ import annotations

import mmap
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import UsageError

PAGE = mmap.PAGESIZE
HUGE_PAGES = ("system", "on", "off")
NUMPY = "numpy"
_SPEC = re.compile(r"^(\d+|page)(?:\+(\d+))?$")
_LARGEST_ALIGN = 1 << 30


@dataclass(frozen=True)
class BufferSpec:
    """Where a buffer starts (``offset`` bytes past a multiple of ``align``) and its huge-page advice.

    ``align == 0`` means NumPy places the buffer itself (``--align numpy``).
    """

    align: int = PAGE
    offset: int = 0
    huge_pages: str = "system"

    @property
    def numpy(self) -> bool:
        return self.align == 0

    @property
    def name(self) -> str:
        """The ``--align`` value that gives this placement: ``4096``, ``4096+16`` or ``numpy``."""
        if self.numpy:
            return NUMPY
        return f"{self.align}+{self.offset}" if self.offset else str(self.align)


PAGE_ALIGNED = BufferSpec()  # the default: on a page boundary, no huge-page advice (a C benchmark's buffers)


def parse_align(text: str, huge_pages: str = "system") -> list[BufferSpec]:
    """The specs a comma-separated ``--align`` value names, in order, duplicates dropped."""
    if huge_pages not in HUGE_PAGES:
        raise UsageError(f"unknown --huge-pages value {huge_pages!r}; expected one of {', '.join(HUGE_PAGES)}")
    specs: list[BufferSpec] = []
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise UsageError("empty --align list; give page, BYTES (a power of two, e.g. 64), BYTES+OFFSET or numpy")
    for item in items:
        if item == NUMPY:
            if huge_pages != "system":
                raise UsageError(
                    "--align numpy leaves placement and huge pages to NumPy; drop --huge-pages, or set "
                    "NUMPY_MADVISE_HUGEPAGE=0 or 1 in the environment instead"
                )
            spec = BufferSpec(0, 0, "system")
        else:
            match = _SPEC.match(item)
            if not match:
                raise UsageError(
                    f"--align {item!r} is not BYTES, BYTES+OFFSET, page, page+OFFSET or numpy; e.g. page, 64, or "
                    "page+16 (16 bytes past a page boundary, where NumPy's large arrays start)"
                )
            align = PAGE if match.group(1) == "page" else int(match.group(1))
            offset = int(match.group(2) or 0)
            if align < 1 or align > _LARGEST_ALIGN or align & (align - 1):
                raise UsageError(f"--align {item}: {align} is not a power of two between 1 and {_LARGEST_ALIGN}")
            if offset >= align:
                raise UsageError(f"--align {item}: the offset {offset} must be smaller than the alignment {align}")
            spec = BufferSpec(align, offset, huge_pages)
        if spec not in specs:
            specs.append(spec)
    return specs


def check_itemsize(spec: BufferSpec, dtype: str, itemsize: int) -> None:
    """UsageError when ``spec`` would start a ``dtype`` buffer between two elements."""
    if spec.offset % itemsize:
        raise UsageError(
            f"--align {spec.name}: an offset of {spec.offset} B splits the {itemsize}-byte {dtype}; "
            f"use an offset that is a multiple of {itemsize}"
        )


def host_empty(count: int, dtype: Any, spec: BufferSpec = PAGE_ALIGNED) -> np.ndarray:
    """An uninitialised NumPy array of ``count`` elements, placed as ``spec`` says."""
    dtype = np.dtype(dtype)
    if spec.numpy:
        return np.empty(count, dtype=dtype)
    nbytes = count * dtype.itemsize
    slack = spec.align if spec.align > PAGE else 0  # a mapping starts on a page already
    region = mmap.mmap(-1, max(nbytes + slack + spec.offset, 1), flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    _advise(region, spec.huge_pages)
    raw = np.frombuffer(region, dtype=np.uint8)
    start = (-raw.ctypes.data) % spec.align + spec.offset
    return raw[start : start + nbytes].view(dtype)


def host_full(count: int, dtype: Any, value: Any, spec: BufferSpec = PAGE_ALIGNED) -> np.ndarray:
    """A placed array filled with ``value`` (every page touched, so none reads from the kernel's zero page)."""
    array = host_empty(count, dtype, spec)
    array.fill(value)
    return array


def device_empty(xp: Any, count: int, dtype: Any, spec: BufferSpec = PAGE_ALIGNED) -> Any:
    """An uninitialised device array (CuPy) starting ``offset`` bytes past a multiple of ``align``."""
    dtype = np.dtype(dtype)
    if spec.numpy:
        return xp.empty(count, dtype=dtype)
    nbytes = count * dtype.itemsize
    raw = xp.empty(nbytes + spec.align + spec.offset, dtype=np.uint8)
    start = (-raw.data.ptr) % spec.align + spec.offset
    return raw[start : start + nbytes].view(dtype)


def page_offset(array: Any) -> int:
    """Bytes from the page boundary below ``array``'s first element to the element (what actually happened)."""
    pointer = array.data.ptr if hasattr(array.data, "ptr") else array.ctypes.data
    return int(pointer % PAGE)


def _advise(region: mmap.mmap, huge_pages: str) -> None:
    advice = {"on": "MADV_HUGEPAGE", "off": "MADV_NOHUGEPAGE"}.get(huge_pages)
    if advice is None:
        return
    if not hasattr(mmap, advice):
        raise UsageError(f"--huge-pages {huge_pages}: this system has no {advice}; use --huge-pages system")
    region.madvise(getattr(mmap, advice))


def transparent_huge_pages() -> str:
    """The kernel's transparent huge page policy (``always``, ``madvise`` or ``never``), or ``unknown``."""
    try:
        text = Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text()
    except OSError:
        return "unknown"
    chosen = re.search(r"\[(\w+)\]", text)
    return chosen.group(1) if chosen else "unknown"
