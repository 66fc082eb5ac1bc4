"""Rank 0's progress through a sweep, on stderr: the case it is on, cases done of the total, and an ETA.

On a terminal it is one live line, rewritten in place as each case begins and cleared before any
line of the table (so stdout never mixes with it) and at the end. Elsewhere (a Slurm log, CI, a
pipe) it is a plain line at most every ``interval`` seconds, the first one interval after the
start, so a short run writes none. It is updated between cases only, reads only
``time.monotonic`` and makes no MPI call: the timed loops never see it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TextIO

LOG_INTERVAL = 30.0  # seconds between two plain lines where stderr is not a terminal


def duration(seconds: float) -> str:
    """``42s``, ``13m20s``, ``2h05m``: a short duration for a progress line."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


class Progress:
    """Cases done out of ``total`` and the case under way, shown on ``stream`` (None: nothing is shown).

    ``live`` says whether ``stream`` is a terminal (default: ask it); ``clock`` gives seconds (tests pass a fake).
    """

    def __init__(
        self,
        total: int,
        stream: TextIO | None = sys.stderr,
        *,
        interval: float = LOG_INTERVAL,
        live: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.total = total
        self.done = 0
        self.stream = stream
        self.live = _is_terminal(stream) if live is None else live
        self.interval = interval
        self.clock = clock
        self.started = clock()
        self.last_line = self.started  # when the last plain line was written
        self.shown = 0  # characters of the live line now on the terminal

    def begin(self, case: str) -> None:
        """``case`` starts: redraw the live line, or write a plain line once ``interval`` has passed."""
        if self.stream is None:
            return
        now = self.clock()
        if self.live:
            text = self.status(case, now)[: _width(self.stream) - 1]
            self.stream.write("\r" + text + " " * (self.shown - len(text)))
            self.stream.flush()
            self.shown = max(self.shown, len(text))
        elif now - self.last_line >= self.interval:
            self.last_line = now
            print(f"collbench: {self.status(case, now)}", file=self.stream, flush=True)

    def end(self) -> None:
        """The case under way is done."""
        self.done += 1

    def drop(self, cases: int) -> None:
        """``cases`` will not run after all (an algorithm that could not be built is not tried at larger sizes)."""
        self.total -= cases

    def status(self, case: str, now: float) -> str:
        """``12/240 cases done (5%) in 42s, ETA 13m20s; now CASE``."""
        elapsed = now - self.started
        eta = duration(elapsed / self.done * (self.total - self.done)) if self.done else "unknown"
        percent = 100 * self.done // self.total if self.total else 100
        return f"{self.done}/{self.total} cases done ({percent}%) in {duration(elapsed)}, ETA {eta}; now {case}"

    def clear(self) -> None:
        """Take the live line off the terminal (before a line of the table, and at the end)."""
        if self.stream is not None and self.shown:
            self.stream.write("\r" + " " * self.shown + "\r")
            self.stream.flush()
            self.shown = 0


def _is_terminal(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _width(stream: TextIO) -> int:
    """The terminal's width in characters (80 when it cannot tell), so the live line never wraps."""
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, OSError, ValueError):
        return 80
