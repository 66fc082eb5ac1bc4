"""What every report section draws with: escaping, size labels, colours and plot containers.

Escaping: every string from a results file reaches the page through :func:`html.escape` (in
HTML), through JSON with ``<``, ``>`` and ``&`` written as ``\\u003c`` ... inside
``<script type="application/json">`` (read with ``JSON.parse``, shown with ``textContent``), and
plot text is HTML-escaped as well, because plotly interprets a few tags in its labels.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

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


def esc(value: Any) -> str:
    """``value`` as text safe inside HTML element content and quoted attributes."""
    return html.escape("" if value is None else str(value), quote=True)


def json_for_script(value: Any) -> str:
    """JSON that cannot end a ``<script>`` element or open markup, whatever strings it holds."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False, default=str)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def size_label(nbytes: float) -> str:
    """A byte count in short binary units: ``8 B``, ``64 KiB``, ``1.5 MiB``."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= scale:
            return f"{nbytes / scale:g} {unit}"
    return f"{int(nbytes)} B"


def finite(values: Any) -> list[float | None]:
    return [None if v is None or not math.isfinite(float(v)) else float(f"{float(v):.6g}") for v in values]


class Plots:
    """Collects plot specs; each becomes a container div and a JSON script element."""

    def __init__(self) -> None:
        self.count = 0

    def figure(self, data: list[dict], layout: dict, css_class: str = "") -> str:
        self.count += 1
        ident = f"cb-fig-{self.count}"
        base = {
            "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
            "height": 380,
            "legend": {"font": {"size": 10}},
            "font": {"family": "system-ui, sans-serif", "size": 12},
        }
        spec = json_for_script({"data": data, "layout": {**base, **layout}})
        height = int({**base, **layout}["height"])
        return (
            f'<div class="cb-fig {css_class}" id="{ident}" data-spec="{ident}-spec" style="min-height:{height}px"></div>'
            f'<script type="application/json" id="{ident}-spec">{spec}</script>'
        )


def size_axis(sizes: list[int], title: str = "message size") -> dict:
    ticks = sorted(set(sizes))
    step = max(1, math.ceil(len(ticks) / 10))
    ticks = ticks[::step]
    return {
        "type": "log",
        "title": {"text": title},
        "tickvals": ticks,
        "ticktext": [size_label(t) for t in ticks],
    }
