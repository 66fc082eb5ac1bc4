"""Choosing the results directory: a new one every run, never an existing one overwritten."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from .errors import UsageError


def utc_now() -> str:
    """The current UTC time in ISO 8601, to the second."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_directory(base: Path = Path("results")) -> Path:
    """``results/<UTC timestamp>``."""
    return base / datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")


def claim(requested: str | None) -> Path:
    """Create and return a fresh results directory for ``requested`` (or the default).

    An existing non-empty directory is never reused: ``-1``, ``-2``, ... is appended, as
    nccl-tests does with its output file. An unwritable location is a UsageError.
    """
    wanted = Path(requested) if requested else default_directory()
    candidate, n = wanted, 0
    while True:
        try:
            candidate.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(
                f"cannot create results directory {str(candidate)!r}: {exc.strerror}; choose another with --out"
            ) from None
        if not any(candidate.iterdir()):
            break
        n += 1
        candidate = wanted.with_name(f"{wanted.name}-{n}")
    if not os.access(candidate, os.W_OK | os.X_OK):
        raise UsageError(f"results directory {str(candidate)!r} is not writable; choose another with --out")
    return candidate
