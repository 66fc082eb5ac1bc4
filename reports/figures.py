"""What every report section draws with: escaping, size labels, axes, colours and plot containers.

Escaping: every string from a results file reaches the page through :func:`html.escape` (in
HTML), or inside the base64 payload, which cannot end its ``<script>`` element (read with
``JSON.parse``, shown with ``textContent``); plot text is HTML-escaped as well, because plotly
interprets a few tags in its labels.

The page carries the plots and the rows table as one payload (:class:`Payload`): a JSON document
whose long numeric arrays are binary arrays after it, all deflated and written in base64, which
the page inflates with the browser's own ``DecompressionStream`` before it draws. Measured values
travel as integers with a decimal scale (:func:`decimals`), so they pack as tightly as their digits.

Log axes get their ticks from here (:func:`log_axis`, :func:`size_axis`): decades, or 1-2-5 over
a short range, all in one unit and one notation, so an axis never mixes ``100µ``, ``0.001`` and
minor ticks.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
import zlib
from collections.abc import Callable, Hashable, Iterable
from typing import Any

import numpy as np

PALETTE = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#ad494a",
    "#637939",
    "#e7ba52",
    "#7b4173",
    "#3182bd",
]
SYMBOLS = ["circle", "square", "diamond", "triangle-up", "x", "star", "cross", "triangle-down"]
# Significant digits of a plotted value: more than a screen shows, fewer than a file would need.
PLOT_DIGITS = 4


def esc(value: Any) -> str:
    """``value`` as text safe inside HTML element content and quoted attributes."""
    return html.escape("" if value is None else str(value), quote=True)


class Payload:
    """The page's data: a JSON document in which ``{"@": i}`` (with ``from``/``to``: a slice; with ``k``: divide
    by 10^k) stands for binary array i. Encoded as the header's length (4 bytes), the header (the document
    and each array's type, offset and length), then the arrays at multiples of 8 bytes, little-endian;
    deflated (zlib), in base64. Writing an array is a copy of its bytes, where JSON would format each number."""

    def __init__(self) -> None:
        self.arrays: list[np.ndarray] = []

    def array(self, values: np.ndarray) -> int:
        """Add ``values`` (integers that fit 32 bits as such, anything else as doubles); its number."""
        values = np.asarray(values)
        whole = values.dtype.kind in "iub" or (
            values.dtype.kind == "f" and np.isfinite(values).all() and (values == np.round(values)).all()
        )
        fits = whole and (not len(values) or np.abs(values).max() < 2**31)
        self.arrays.append(values.astype("<i4" if fits else "<f8"))
        return len(self.arrays) - 1

    def encode(self, document: Any) -> str:
        specs, offset = [], 0
        for array in self.arrays:
            specs.append(["i4" if array.dtype.kind == "i" else "f8", offset, len(array)])
            offset += -(-array.nbytes // 8) * 8
        header = json.dumps({"document": document, "arrays": specs}, separators=(",", ":"), allow_nan=False)
        head = header.encode("utf-8")
        start = -(-(4 + len(head)) // 8) * 8
        parts = [len(head).to_bytes(4, "little"), head, bytes(start - 4 - len(head))]
        for array in self.arrays:
            parts += [array.tobytes(), bytes(-array.nbytes % 8)]
        # offsets in the header count from the first array, which starts at ``start``
        return base64.b64encode(zlib.compress(b"".join(parts), 1)).decode("ascii")


def read_payload(page: str) -> dict[str, Any]:
    """The document of a report page's payload as the page reads it: every array reference replaced by its
    values (a list; None where missing; divided by 10^k), for tests and for reading a report's data."""
    match = re.search(r"<script type='application/octet-stream' id='cb-payload'>([^<]*)</script>", page)
    if not match:
        raise ValueError("not a collbench report: no cb-payload element")
    raw = zlib.decompress(base64.b64decode(match.group(1)))
    size = int.from_bytes(raw[:4], "little")
    header = json.loads(raw[4 : 4 + size])
    start = -(-(4 + size) // 8) * 8
    arrays = [
        np.frombuffer(raw, dtype="<" + kind, count=length, offset=start + offset)
        for kind, offset, length in header["arrays"]
    ]

    def resolve(node: Any) -> Any:
        if isinstance(node, list):
            return [resolve(v) for v in node]
        if not isinstance(node, dict):
            return node
        if "@" not in node:
            return {k: resolve(v) for k, v in node.items()}
        values = arrays[node["@"]][node.get("from", 0) : node.get("to")]
        if values.dtype.kind == "i" and not node.get("k"):
            return values.tolist()
        values = values / 10.0 ** node.get("k", 0)
        return [None if v != v else v for v in values.tolist()]

    return resolve(header["document"])


def size_label(nbytes: float) -> str:
    """A byte count in short binary units: ``8 B``, ``64 KiB``, ``1.5 MiB``."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= scale:
            return f"{nbytes / scale:g} {unit}"
    return f"{int(nbytes)} B"


def rounded(values: Any, digits: int = PLOT_DIGITS) -> np.ndarray:
    """``values`` (array-like of floats) rounded to ``digits`` significant digits; NaN and inf stay."""
    values = np.asarray(values, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        magnitude = np.floor(np.log10(np.abs(values)))
        scale = 10.0 ** (digits - 1 - np.where(np.isfinite(magnitude), magnitude, 0))
        return np.where(np.isfinite(values) & (values != 0), np.round(values * scale) / scale, values)


def _floats(values: Iterable[Any]) -> np.ndarray:
    """``values`` as a float array, None as NaN."""
    if isinstance(values, np.ndarray):
        return values.astype(float, copy=False)
    return np.array([math.nan if v is None else v for v in values], dtype=float)


def decimals(values: np.ndarray, at_least: int = 0) -> tuple[np.ndarray, int]:
    """Rounded ``values`` as whole numbers of 10^-k (NaN stays), and k (at least ``at_least``).

    The page divides by 10^k, which gives the same double as parsing the decimal would; a whole number packs
    into 4 bytes, or into a double whose low bytes are zeros. k is what the smallest value needs for its digits,
    less where the largest would pass 2^53 (whole numbers stay exact in a double).
    """
    values = np.asarray(values, dtype=float)
    usable = np.isfinite(values)
    magnitudes = np.abs(values[usable & (values != 0)])
    k = at_least
    if len(magnitudes):
        k = max(k, PLOT_DIGITS - 1 - math.floor(math.log10(magnitudes.min())))
        k = max(0, min(k, math.floor(math.log10(2.0**53 / magnitudes.max()))))
    return np.where(usable, np.round(values * 10.0**k), np.nan), k


def finite(values: Iterable[Any], digits: int = PLOT_DIGITS) -> list[float | None]:
    """Plot values rounded to ``digits`` significant digits, None where missing or not finite."""
    array = _floats(values)
    out = rounded(array, digits).tolist()
    for i in np.flatnonzero(~np.isfinite(array)).tolist():
        out[i] = None
    return out


class Plots:
    """Collects the plots for the page's payload (:meth:`document`); each figure on the page is an empty
    container div. What many plots share is sent once: the base of every layout (:data:`BASE_LAYOUT`), and
    trace styles (:meth:`style`) that a trace names with ``style``; :func:`as_drawn` puts them together."""

    def __init__(self) -> None:
        self.specs: list[dict[str, Any]] = []
        self.styles: list[dict[str, Any]] = []
        self._style_of: dict[Hashable, int] = {}

    @property
    def count(self) -> int:
        return len(self.specs)

    def style(self, key: Hashable, attributes: Callable[[], dict[str, Any]]) -> int:
        """The number of the trace style named ``key`` (attributes many traces share: type, mode, line, marker
        ...), made by ``attributes`` the first time."""
        if key not in self._style_of:
            self._style_of[key] = len(self.styles)
            self.styles.append(attributes())
        return self._style_of[key]

    def figure(self, data: list[dict], layout: dict, css_class: str = "", x: list | None = None) -> str:
        """A container for a plot of ``data`` (arrays may be :class:`Payload` references) with ``layout`` (over
        :data:`BASE_LAYOUT`); ``x``: the x of the traces that have none."""
        spec: dict[str, Any] = {"data": data, "layout": {**layout, "title": {**BASE_TITLE, **layout.get("title", {})}}}
        if x is not None:
            spec["x"] = x
        self.specs.append(spec)
        index = len(self.specs) - 1
        height = int(layout.get("height", BASE_LAYOUT["height"]))
        return (
            f'<div class="cb-fig {css_class}" id="cb-fig-{index + 1}" data-fig="{index}" '
            f'style="min-height:{height}px"></div>'
        )

    def document(self) -> dict[str, Any]:
        return {"layout": BASE_LAYOUT, "styles": self.styles, "figures": self.specs}


BASE_LAYOUT = {
    "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
    "height": 380,
    "legend": {"font": {"size": 10}},
    "font": {"family": "system-ui, sans-serif", "size": 12},
}
BASE_TITLE = {"x": 0.01, "xanchor": "left"}  # clear of the mode bar on the right


def as_drawn(spec: dict[str, Any], plots: dict[str, Any]) -> dict[str, Any]:
    """A figure of :func:`read_payload` (``plots``: its ``plots``) as the page draws it: over the base layout,
    each trace over its style, the shared ``x`` given to the traces without one."""
    shared = spec.pop("x", None)
    spec["layout"] = {**plots["layout"], **spec["layout"]}
    data = []
    for trace in spec["data"]:
        style = trace.pop("style", None)
        trace = {**plots["styles"][style], **trace} if style is not None else trace
        if shared is not None and "x" not in trace:
            trace["x"] = list(shared)
        data.append(trace)
    spec["data"] = data
    return spec


SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def number_label(value: float, plain: bool = True) -> str:
    """A tick label: ``0.01``, ``20``, ``5000``, or as a power of ten (``10⁶``, ``2×10⁻⁵``) when not ``plain``."""
    if plain:
        return f"{value:.6g}" if abs(value) >= 1e-4 else f"{value:.1g}"
    exponent = math.floor(math.log10(value) + 1e-9)
    mantissa = round(value / 10**exponent, 6)
    power = f"10{str(exponent).translate(SUPERSCRIPT)}"
    return power if mantissa == 1 else f"{mantissa:g}×{power}"


def time_label(microseconds: float) -> str:
    """A time tick in the unit that keeps it short: ``500 ns``, ``20 µs``, ``1 ms``, ``2 s``."""
    for unit, scale in (("s", 1e6), ("ms", 1e3), ("µs", 1.0)):
        if microseconds >= scale * 0.9999:
            return f"{microseconds / scale:.6g} {unit}"
    return f"{microseconds * 1e3:.6g} ns"


def log_ticks(lo: float, hi: float, most: int = 9) -> list[float]:
    """Tick values for a log axis over [lo, hi]: decades (every k-th when there are many), or 1-2-5 and
    then 1-1.5-2-3-5-7 per decade when fewer than three fall in the range; linear steps for a range
    narrower than that."""
    first, last = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    decades = last - first
    step = max(1, math.ceil(decades / most))
    ticks = [
        10.0**e
        for e in range(first, last + 1)
        if e % step == 0 and lo <= 10.0**e * (1 + 1e-9) and 10.0**e <= hi * (1 + 1e-9)
    ]
    for mantissas in ((1, 2, 5), (1, 1.5, 2, 3, 5, 7)):
        if len(ticks) >= 3:
            break
        ticks = [
            m * 10.0**e
            for e in range(first, last + 1)
            for m in mantissas
            if lo * (1 - 1e-9) <= m * 10.0**e <= hi * (1 + 1e-9)
        ]
    if len(ticks) >= 2:
        return [float(f"{t:.6g}") for t in ticks]
    raw = (hi - lo) / 4
    unit = 10.0 ** math.floor(math.log10(raw))
    nice = next(m * unit for m in (1, 2, 2.5, 5, 10) if m * unit >= raw)
    return [float(f"{k * nice:.6g}") for k in range(math.ceil(lo / nice), math.floor(hi / nice) + 1)]


def log_axis(values: Iterable[Any], title: str, label: Callable[[float], str] | None = None) -> dict[str, Any]:
    """A log axis over ``values`` (floats; None, NaN and values <= 0 are ignored) with explicit ticks, in one
    notation: ``label`` (e.g. :func:`time_label`), else plain numbers, or powers of ten over a wide range."""
    array = _floats(values)
    array = array[np.isfinite(array) & (array > 0)]
    return (
        log_axis_over(float(array.min()), float(array.max()), title, label)
        if len(array)
        else log_axis_over(math.nan, math.nan, title, label)
    )


def log_axis_over(lo: float, hi: float, title: str, label: Callable[[float], str] | None = None) -> dict[str, Any]:
    """:func:`log_axis` over values from ``lo`` to ``hi`` (NaN: none)."""
    axis: dict[str, Any] = {"type": "log", "title": {"text": title}}
    if not (lo > 0 and hi > 0):
        return axis
    if hi / lo < 1.0001:
        lo, hi = lo / 1.05, hi * 1.05
    ticks = log_ticks(lo, hi)
    if label is None:
        plain = all(1e-4 <= t < 1e6 for t in ticks)
        texts = [number_label(t, plain) for t in ticks]
    else:
        texts = [label(t) for t in ticks]
    pad = max(0.04, 0.04 * math.log10(hi / lo))
    axis.update(
        tickvals=ticks,
        ticktext=texts,
        range=[math.log10(lo) - pad, math.log10(hi) + pad],
        minor={"showgrid": False, "ticks": ""},
    )
    return axis


def size_axis(sizes: Iterable[int], title: str = "message size") -> dict[str, Any]:
    """A log axis of byte counts with ticks at powers of two (every k-th, at most about ten), in binary units."""
    array = np.asarray(sizes if isinstance(sizes, np.ndarray) else list(sizes), dtype=np.int64)
    array = array[array > 0]
    axis: dict[str, Any] = {"type": "log", "title": {"text": title}}
    if not len(array):
        return axis
    lo, hi = int(array.min()), int(array.max())
    first, last = math.floor(math.log2(lo)), math.ceil(math.log2(hi))
    step = next(s for s in (1, 2, 5, 10, 20) if (last - first) / s <= 10)
    ticks = [1 << e for e in range(first, last + 1) if e % step == 0 and lo <= 1 << e <= hi]
    if len(ticks) < 2:
        ticks = np.unique(array).tolist()
    pad = 0.04 * max(1.0, math.log10(hi / lo))
    axis.update(
        tickvals=ticks,
        ticktext=[size_label(t) for t in ticks],
        range=[math.log10(lo) - pad, math.log10(hi) + pad],
    )
    return axis


def topology_title(key: tuple) -> str:
    """A topology as a heading: ``p=4 · 2 nodes × 2 ranks (logical) · order spread``."""
    p, nodes, rpn, layout, order = key
    per = f"{rpn} ranks" if rpn else "uneven ranks"
    return f"p={p} · {nodes} node{'s' if nodes != 1 else ''} × {per} ({layout}) · order {order}"


def topology_short(key: tuple) -> str:
    """A topology as a short axis label: ``p=4 · 2×2 · spread``, ``(logical)`` added for logical nodes."""
    p, nodes, rpn, layout, order = key
    shape = f"{nodes}×{rpn}" if rpn else f"{nodes} nodes"
    return f"p={p} · {shape} · {order}" + (" (logical)" if layout == "logical" else "")
