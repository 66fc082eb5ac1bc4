"""``--timeout SECONDS``: stop the whole job when one collective call hangs.

A thread on every rank watches the progress of the loop in flight (the list its samples are
written to, or a one-call check) without touching the hot path. When no call has completed
for ``timeout`` seconds it prints which algorithm, size and ranks are waiting, lets rank 0
close the results it has (the journal already holds every completed row; results.json is
written marked incomplete), and aborts every rank through ``MPI_Abort``.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import Any

WATCHDOG_EXIT = 3


class Watchdog:
    """Arm it around each loop of calls with :meth:`watch`; it fires if a call outlasts ``timeout``."""

    def __init__(self, timeout: float, comm: Any, on_fire: Callable[[str], None] | None = None, poll: float = 0.2):
        self.timeout = timeout
        self.comm = comm
        self.on_fire = on_fire
        self.poll = poll
        self._what = ""
        self._progress: list[float] | None = None
        self._armed_at = 0.0
        self._last_count = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._watch, name="collbench-watchdog", daemon=True)
        self._thread.start()

    def watch(self, what: str, progress: list[float] | None = None) -> None:
        """Start watching a loop described by ``what``; ``progress`` is filled with nonzero values as calls end."""
        with self._lock:
            self._what, self._progress = what, progress
            self._armed_at, self._last_count = time.monotonic(), 0

    def idle(self) -> None:
        """Nothing to watch (between loops)."""
        with self._lock:
            self._what, self._progress = "", None

    def _completed(self) -> int:
        progress = self._progress
        if progress is None:
            return 0
        done = 0
        for value in progress:
            if value == 0.0:
                break
            done += 1
        return done

    def _watch(self) -> None:
        while True:
            time.sleep(self.poll)
            with self._lock:
                if not self._what:
                    continue
                done = self._completed()
                if done != self._last_count:
                    self._last_count, self._armed_at = done, time.monotonic()
                    continue
                waited = time.monotonic() - self._armed_at
                what = self._what
            if waited > self.timeout:
                self._fire(what, waited)
                return

    def _fire(self, what: str, waited: float) -> None:
        from mpi4py import MPI

        rank = MPI.COMM_WORLD.Get_rank()
        message = (
            f"collbench: watchdog: rank {rank} waited {waited:.1f} s in one call of {what} "
            f"(--timeout {self.timeout:g}); aborting the job"
        )
        print(message, file=sys.stderr, flush=True)
        # let every rank say where it waits; rank 0 closes the results before anyone aborts
        time.sleep(1.0 if rank == 0 else 3.0)
        if self.on_fire is not None:
            try:
                self.on_fire(message)
            except Exception as exc:  # the results must not stop the abort
                print(f"collbench: watchdog: could not close the results: {exc}", file=sys.stderr, flush=True)
        sys.stdout.flush()
        MPI.COMM_WORLD.Abort(WATCHDOG_EXIT)
