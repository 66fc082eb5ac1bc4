"""The fake CuPy's ``cupyx``: pinned host memory is plain NumPy memory here."""

from __future__ import annotations

from typing import Any

import numpy as np


def empty_pinned(shape: Any, dtype: Any = float) -> np.ndarray:
    return np.empty(shape, dtype=dtype)
