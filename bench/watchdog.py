"""``--timeout SECONDS``: stop the whole job when one collective call hangs.

A thread on every rank watches the progress of the loop in flight (the list its samples are
written to, or a one-call check) without touching the hot path. When no call has completed
for ``timeout`` seconds it says which algorithm, size and ranks are waiting, lets rank 0 close
the results it has (the journal already holds every completed row; results.json is written
marked incomplete), and ends its own process with exit code 3. The launcher (Hydra's mpiexec,
Open MPI's mpirun, ``srun --kill-on-bad-exit``) then ends every other rank of the job.

A process that ends without ``MPI_Finalize`` leaves MPICH's shared-memory segment of its node in
/dev/shm (``mpich_shm_<job>_<node>``, about 1 MB per rank), where it stays until the node reboots:
MPICH unlinks it only when it finalizes. So the watchdog unlinks the segments its process maps
before anything else; the ranks still running keep their mappings, only the name goes.

The thread never calls MPI: MPI runs at the single thread level by default, where a second
thread must not, and a hung MPI may hold locks an ``MPI_Abort`` would wait on. It does not
depend on Python locks or pipes either: the message goes out with one ``os.write`` on the
stderr descriptor, and before anything else it sets an alarm whose default action ends the
process (SIGALRM) should the results, the disk or a full stderr pipe block it.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable

from .mpienv import release_shared_memory

WATCHDOG_EXIT = 3
GRACE = 10  # seconds the results may take to close before the alarm ends the process anyway
OTHERS_WAIT = 3.0  # ranks other than 0 wait this long before exiting, so rank 0 can close the results first


class Watchdog:
    """Arm it around each loop of calls with :meth:`watch`; it fires if a call outlasts ``timeout``."""

    def __init__(
        self, timeout: float, rank: int, on_fire: Callable[[str], None] | None = None, poll: float = 0.2
    ) -> None:
        self.timeout = timeout
        self.rank = rank
        self.on_fire = on_fire
        self.poll = poll
        self._what = ""
        self._progress: list[float] | None = None
        self._armed_at = 0.0
        self._last_count = 0
        self._lock = threading.Lock()
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGALRM, signal.SIG_DFL)  # the last resort below must end the process
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

    def _fire(self, what: str, waited: float) -> None:
        """Report, let rank 0 close the results, end this process; never returns."""
        signal.alarm(GRACE + int(OTHERS_WAIT) + 1)
        release_shared_memory()
        message = (
            f"collbench: watchdog: rank {self.rank} waited {waited:.1f} s in one call of {what} "
            f"(--timeout {self.timeout:g}); ending the job"
        )
        _say(message)
        if self.rank == 0:
            if self.on_fire is not None:
                try:
                    self.on_fire(message)
                except Exception as exc:  # the results must not stop the exit
                    _say(f"collbench: watchdog: could not close the results: {exc}")
        else:
            time.sleep(OTHERS_WAIT)
        os._exit(WATCHDOG_EXIT)


def _say(text: str) -> None:
    """One line on stderr's descriptor, without Python's stream locks; lost if stderr is gone."""
    try:
        os.write(sys.stderr.fileno(), (text + "\n").encode("utf-8", "replace"))
    except (OSError, ValueError):
        pass
