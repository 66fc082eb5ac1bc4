"""Message sizes: parsing ``8``, ``64K``, ``1M``, ``2G`` and building the sweep.

Suffixes are powers of two, as in nccl-tests: K = KiB = 1024 bytes, M = MiB, G = GiB.
Bandwidths elsewhere use GB = 1e9 bytes; sizes never do.
"""

from __future__ import annotations

import math
import re

from .errors import UsageError

_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gib": 1 << 30}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str, what: str = "size") -> int:
    """Bytes in ``text`` (``"8"``, ``"64K"``, ``"1MiB"``, ``"1.5G"``); UsageError if malformed or not positive."""
    match = _SIZE.match(str(text))
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _UNITS:
        raise UsageError(
            f"{what} {text!r} is not a size; use a positive number of bytes with an optional "
            "K, M or G suffix (powers of two), e.g. 8, 64K, 16M"
        )
    value = float(match.group(1)) * _UNITS[unit]
    if value != int(value):
        raise UsageError(f"{what} {text!r} is not a whole number of bytes")
    if value <= 0:
        raise UsageError(f"{what} {text!r} must be at least 1 byte")
    return int(value)


def format_size(nbytes: int) -> str:
    """Short human form of a byte count: ``8 B``, ``64 KiB``, ``1.5 MiB``."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= scale:
            value = nbytes / scale
            return f"{value:g} {unit}"
    return f"{nbytes} B"


def parse_factor(text: str) -> float:
    """The step factor between consecutive sizes; must be a number greater than 1."""
    try:
        factor = float(text)
    except ValueError:
        raise UsageError(f"step factor {text!r} is not a number; use a factor > 1 such as 2") from None
    if not math.isfinite(factor) or factor <= 1:
        raise UsageError(f"step factor {text!r} must be greater than 1 (e.g. -f 2 doubles each size)")
    return factor


def sweep(minbytes: int, maxbytes: int, factor: float, align: int = 1) -> list[int]:
    """Sizes from ``minbytes`` up to ``maxbytes`` multiplying by ``factor``, each a multiple of ``align``.

    ``maxbytes`` itself is always included, so ``-b 8 -e 1M -f 4`` ends at 1 MiB.
    """
    if maxbytes < minbytes:
        raise UsageError(f"max size {maxbytes} B is smaller than min size {minbytes} B; give -e >= -b")
    sizes: list[int] = []
    size = float(minbytes)
    while size <= maxbytes * (1 + 1e-12):
        rounded = int(size) // align * align
        if rounded >= align and (not sizes or rounded > sizes[-1]):
            sizes.append(rounded)
        size *= factor
    top = maxbytes // align * align
    if top >= align and (not sizes or sizes[-1] < top):
        sizes.append(top)
    return sizes
