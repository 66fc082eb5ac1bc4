"""``--timeout SECONDS``: end the whole job when it stops making progress, everywhere, and say why.

A thread on every rank watches the step in flight: a loop of collective calls (through the
list its samples are written to, without touching the hot path) or any other step of the run
(a check, an agreement, a barrier). When nothing has moved for ``timeout`` seconds it fires:

1. it sets an alarm whose default action ends the process (SIGALRM), whatever happens next (while a
   step is watched, that alarm is always set, a little further out, in case this thread never runs
   again: a main thread that keeps the GIL cannot stop the end either);
2. it unlinks the MPICH shared-memory segments its process maps (see below);
3. it says which call, size and ranks it waited in, with one ``os.write`` on stderr's descriptor;
4. it names the cause from the heartbeats (:mod:`bench.heartbeat`): which ranks and hosts
   stopped answering or ended, in which call, and how long ago;
5. rank 0 closes the results with that cause in the journal's footer (results.json is written
   marked incomplete); the deputy does so instead when rank 0 is the one lost and the journal
   can be reached; every other rank waits :data:`OTHERS_WAIT` seconds for them;
6. it calls ``MPI_Abort``, which makes the launcher end every rank of the job (Hydra's mpiexec
   waits forever on a node it cannot reach unless a rank aborts), from a thread that ends the
   process with :data:`WATCHDOG_EXIT` should ``MPI_Abort`` not return within :data:`ABORT_WAIT`.

On rank 0 and the deputy the thread also writes a ``fault`` record the moment a rank's process
ends without a word, since the launcher may end the others (rank 0 with them) before any call
times out. A launcher's SIGTERM (Slurm ending a step) reaches the thread through a wakeup socket,
since a Python signal handler would wait for the main thread to leave MPI: rank 0 closes the
results with the cause, and the process exits with 128 + SIGTERM.

A process that ends without ``MPI_Finalize`` leaves MPICH's shared-memory segment of its node in
/dev/shm (``mpich_shm_<job>_<node>``, about 1 MB per rank), where it stays until the node reboots:
MPICH unlinks it only when it finalizes. So the watchdog unlinks the segments its process maps
before anything else; the ranks still running keep their mappings, only the name goes.

Nothing on the way out may wait without a deadline: the thread holds no lock while it ends the
process, writes without Python's stream locks, and every step has the alarm behind it. Its only
MPI call is the last one, ``MPI_Abort``, by which time the process is ending either way.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from .heartbeat import Heartbeat, Peer, rank_spans
from .mpienv import release_shared_memory

WATCHDOG_EXIT = 3
ERROR_EXIT = 1  # an MPI call failed (Watchdog.fail)
TERMINATED_EXIT = 128 + signal.SIGTERM
GRACE = 7  # seconds the results may take to close before the alarm ends the process anyway (the footer goes first)
OTHERS_WAIT = 3.0  # ranks other than 0 wait this long before aborting, so rank 0 can close the results first
ABORT_WAIT = 3.0  # seconds MPI_Abort has to end the job before the process ends itself
BEAT = 1.0  # seconds between heartbeats (less for a short --timeout)
STOP_WAIT = 2.0  # seconds stop() waits for the thread

Fields = dict[str, Any]


class Watchdog:
    """Arm it with :meth:`watch` before each step; it fires when a step outlasts ``timeout`` with no progress.

    ``close(fields)`` closes the results with the footer fields given (rank 0's), ``abort(code)`` aborts
    the job (``MPI_Abort``); :meth:`listen` adds the heartbeats, the deputy's footer and fault records.
    """

    def __init__(
        self,
        timeout: float,
        rank: int,
        close: Callable[[Fields], None] | None = None,
        abort: Callable[[int], None] | None = None,
        poll: float = 0.2,
    ) -> None:
        self.timeout = timeout
        self.rank = rank
        self.host = socket.gethostname()
        self.close = close
        self.abort = abort
        self.poll = poll
        self.started = time.monotonic()
        self._what = ""
        self._limit = timeout
        self._progress: list[float] | None = None
        self._armed_at = 0.0
        self._last_count = 0
        self._outside = False
        self._lock = threading.Lock()
        self._beat: Heartbeat | None = None
        self._append: Callable[[Fields], bool] | None = None
        self._fault: Callable[[Fields], None] | None = None
        self._stopping = False
        self._ending = False  # a thread is ending the process: the watch does nothing more
        self._wake: socket.socket | None = None
        self._waker: socket.socket | None = None  # the end the C-level handler writes to, kept open
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGALRM, signal.SIG_DFL)  # the last resort below must end the process
            self._wake, self._waker = _wake_on_sigterm()
        self._thread = threading.Thread(target=self._watch, name="collbench-watchdog", daemon=True)
        self._thread.start()

    def listen(
        self,
        comm: Any,
        hosts: list[str],
        append: Callable[[Fields], bool] | None = None,
        fault: Callable[[Fields], None] | None = None,
    ) -> None:
        """Start the heartbeats (collective); ``append`` closes the journal from the deputy, ``fault`` records one."""
        self.host = hosts[self.rank]
        beat = Heartbeat.connect(comm, hosts, min(BEAT, self.timeout / 5))
        if beat.unreached:
            _say(
                f"collbench: watchdog: rank {self.rank} ({self.host}) cannot send heartbeats to "
                f"{'; '.join(beat.unreached)}; if the job hangs, that listener will not name this rank"
            )
        self._append, self._fault = append, fault
        self._beat = beat

    def watch(
        self, what: str, progress: list[float] | None = None, limit: float | None = None, outside: bool = False
    ) -> None:
        """Start watching the step ``what``; ``progress`` fills with nonzero values as calls end; ``limit`` s.

        ``outside``: this rank waits while others run (a smaller ``--ranks``), for as long as they take;
        rank 0's heartbeats are its progress, so it fires when rank 0 is silent for ``limit``.
        """
        self._park_if_ending()
        with self._lock:
            self._what, self._progress, self._limit = what, progress, limit or self.timeout
            self._armed_at, self._last_count, self._outside = time.monotonic(), 0, outside

    def idle(self) -> None:
        """Nothing to watch (a step without MPI, such as writing the results)."""
        with self._lock:
            self._what, self._progress = "", None

    def stop(self) -> None:
        """The run ended normally: say so to the listeners, end the thread, give SIGTERM back."""
        self._park_if_ending()
        self.idle()
        self._stopping = True
        self._thread.join(STOP_WAIT)
        signal.setitimer(signal.ITIMER_REAL, 0.0)
        if self._wake is not None and threading.current_thread() is threading.main_thread():
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

    def _park_if_ending(self) -> None:
        """Once the thread is ending the job, the main thread goes no further (no call, no second close of the
        results) until the process ends: by the thread, or by the alarm set for the way out."""
        if self._ending and threading.current_thread() is not self._thread:
            threading.Event().wait()

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
        while not self._stopping:
            self._wait_for_news()
            if self._ending:
                continue
            with self._lock:
                what, limit = self._what, self._limit
                done = self._completed()
                if done != self._last_count:
                    self._last_count, self._armed_at = done, time.monotonic()
                heard = self._beat.heard(0) if self._outside and self._beat is not None else None
                if heard is not None and heard > self._armed_at:  # rank 0 goes on: so does the sweep
                    self._armed_at = heard
                waited = time.monotonic() - self._armed_at
            if self._beat is not None:
                self._beat.beat(what or "between steps", done)
            # The dead man's switch: should this thread not run again (a main thread that never lets go of the GIL),
            # the kernel ends the process when the step's time and the whole way out have passed.
            signal.setitimer(signal.ITIMER_REAL, max(0.01, limit - waited + _way_out()) if what else 0.0)
            if what and waited > limit and not self._ending:
                self._fire(what, waited)
        if self._beat is not None:
            self._beat.bye()

    def _wait_for_news(self) -> None:
        """Sleep one poll, waking for a heartbeat, a peer's end or SIGTERM; act on the last two."""
        sockets: list[Any] = self._beat.sockets() if self._beat is not None else []
        if self._wake is not None:
            sockets.append(self._wake)
        if not sockets:
            time.sleep(self.poll)
            return
        try:
            readable, _, _ = select.select(sockets, [], [], self.poll)
        except (OSError, ValueError):
            time.sleep(self.poll)
            return
        if self._wake is not None and self._wake in readable:
            signals = self._wake.recv(64)
            if bytes([signal.SIGTERM]) in signals and not self._ending:
                self._terminated()
        if self._beat is not None:
            ended = self._beat.handle(readable)
            if ended and self._fault is not None and self.rank == 0:
                self._record_ended(ended)

    def _record_ended(self, ended: list[Peer]) -> None:
        with self._lock:
            what = self._what or "between steps"
        record = {
            "kind": "ended",
            "ranks": [p.rank for p in ended],
            "hosts": sorted({p.host for p in ended}),
            "after_s": round(time.monotonic() - self.started, 3),
            "text": f"{_group(ended, 'ended without a word', time.monotonic())}, while rank 0 was in {what}",
        }
        try:
            self._fault(record)  # type: ignore[misc]
        except Exception as exc:  # the record must not stop the watch
            _say(f"collbench: watchdog: could not record a fault: {exc}")

    def _fire(self, what: str, waited: float) -> None:
        """A step outlasted its limit: end the job, naming the cause; never returns."""
        message = (
            f"collbench: watchdog: rank {self.rank} waited {waited:.1f} s without progress in {what} "
            f"(--timeout {self.timeout:g}); ending the job"
        )
        seen = f"rank {self.rank} ({self.host}) waited {waited:.1f} s without progress in {what}"
        self._end(WATCHDOG_EXIT, message, "hang", seen, call=what, waited_s=round(waited, 3), timeout_s=self.timeout)

    def fail(self, error: str) -> None:
        """An MPI call failed here (a peer lost, say): end the job as for a hang, with the error; never returns.

        Called from the main thread, in place of a traceback.
        """
        with self._lock:
            what = self._what or "between steps"
        error = _short(error)
        message = f"collbench: rank {self.rank} ({self.host}): MPI error in {what}: {error}; ending the job"
        seen = f"rank {self.rank} ({self.host}) got an MPI error in {what}: {error}"
        self._end(ERROR_EXIT, message, "error", seen, call=what, error=error)

    def _end(self, code: int, message: str, kind: str, seen: str, **fields: Any) -> None:
        """Report, close the results, abort the job, end this process with ``code``; never returns."""
        self._ending = True
        signal.setitimer(signal.ITIMER_REAL, _way_out())
        release_shared_memory()
        _say(message)
        cause = {**self._cause(kind, seen), **fields}
        if self._speaks_for_the_job() and cause["text"] != seen:
            _say(f"collbench: {cause['text']}")
        self._close_results({"aborted": message, "cause": cause})
        ender = threading.Thread(target=_exit_after, args=(ABORT_WAIT, code), daemon=True)
        ender.start()
        if self.abort is not None:
            try:
                self.abort(code)
            except Exception:  # the process ends below either way
                pass
        os._exit(code)

    def _terminated(self) -> None:
        """The launcher sent SIGTERM: close the results with what was seen, end this process; never returns."""
        self._ending = True
        signal.alarm(GRACE)
        release_shared_memory()
        with self._lock:
            what = self._what or "between steps"
        cause = self._cause("terminated", f"the launcher ended the job (SIGTERM) while rank {self.rank} was in {what}")
        cause["call"] = what
        if self._speaks_for_the_job():
            _say(f"collbench: {cause['text']}")
        self._close_results({"aborted": f"collbench: {cause['seen']}", "cause": cause}, wait=False)
        os._exit(TERMINATED_EXIT)

    def _speaks_for_the_job(self) -> bool:
        """Rank 0, or the deputy once rank 0 is lost: the one rank that prints the cause and closes the results."""
        if self.rank == 0:
            return True
        beat = self._beat
        return beat is not None and self.rank == beat.deputy and any(p.rank == 0 for p in beat.silent())

    def _close_results(self, fields: Fields, wait: bool = True) -> None:
        """Rank 0 closes the results; the deputy does when rank 0 is lost; others give them the time to."""
        try:
            if self.rank == 0 and self.close is not None:
                self.close(fields)
            elif self._speaks_for_the_job() and self._append is not None:  # at once: the others abort soon
                self._append({**fields, "closed_by": f"rank {self.rank} (the deputy: rank 0 was lost)"})
            elif wait:
                time.sleep(OTHERS_WAIT)
        except Exception as exc:  # the results must not stop the exit
            _say(f"collbench: watchdog: could not close the results: {exc}")

    def _cause(self, kind: str, seen: str) -> Fields:
        """What this rank saw, with the ranks that stopped answering or ended, as data and as one line."""
        now = time.monotonic()
        cause: Fields = {"kind": kind, "seen_by": {"rank": self.rank, "host": self.host}, "seen": seen}
        parts = [seen]
        if self._beat is not None:  # rank 0 and the deputy hear every rank; the others hear those two
            lost = self._beat.silent(now)
            ended = [p for p in lost if p.ended is not None]
            quiet = [p for p in lost if p.ended is None]
            cause["ended"] = [_peer(p, now) for p in ended]
            cause["silent"] = [_peer(p, now) for p in quiet]
            if ended:
                parts.append(_group(ended, "ended without a word", now))
            if quiet:
                parts.append(_group(quiet, "stopped answering", now))
            if not lost and self._beat.listens:
                parts.append("every other rank still answers (a deadlock or a lost message, not a lost rank)")
        cause["text"] = "; ".join(parts)
        return cause


def _peer(peer: Peer, now: float) -> Fields:
    since = peer.ended if peer.ended is not None else peer.heard
    return {
        "rank": peer.rank,
        "host": peer.host,
        "last_heard_s": None if since is None else round(now - since, 3),
        "last_call": peer.state,
        "calls_done": peer.done,
    }


def _group(peers: list[Peer], verb: str, now: float) -> str:
    """``ranks 2-3 (cbn2) stopped answering: last heard 8.1 s ago, then in ring at 1048576 B ...``, one per host."""
    clauses = []
    for host in sorted({p.host for p in peers}):
        mine = [p for p in peers if p.host == host]
        ranks = [p.rank for p in mine]
        times = [p.ended if p.ended is not None else p.heard for p in mine]
        heard = [t for t in times if t is not None]
        when = f"last heard {now - max(heard):.1f} s ago" if heard else "never heard"
        calls = sorted({p.state for p in mine if p.state})
        last = f", then in {calls[0]}" + (" and others" if len(calls) > 1 else "") if calls else ""
        noun = "rank" if len(ranks) == 1 else "ranks"
        clauses.append(f"{noun} {rank_spans(ranks)} ({host}) {verb}: {when}{last}")
    return "; ".join(clauses)


def _short(error: str, most: int = 300) -> str:
    """An MPI error on one line: its class and its innermost frame (MPICH prints a whole stack)."""
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()] or ["(no message)"]
    text = lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1]}"
    return text if len(text) <= most else text[: most - 3] + "..."


def _wake_on_sigterm() -> tuple[socket.socket | None, socket.socket | None]:
    """A socket that receives SIGTERM's number as it arrives (the C-level handler writes it), and its other end."""
    try:
        reader, writer = socket.socketpair()
        writer.setblocking(False)
        reader.setblocking(False)
        signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, lambda number, frame: None)  # the thread ends the process
    except (OSError, ValueError):
        return None, None
    return reader, writer


def _way_out() -> float:
    """Seconds from firing to the end of the process at the latest: closing the results, the others' wait, the abort."""
    return GRACE + OTHERS_WAIT + ABORT_WAIT + 1


def _exit_after(seconds: float, code: int) -> None:
    time.sleep(seconds)
    os._exit(code)


def _say(text: str) -> None:
    """One line on stderr's descriptor, without Python's stream locks; lost if stderr is gone."""
    try:
        os.write(sys.stderr.fileno(), (text + "\n").encode("utf-8", "replace"))
    except (OSError, ValueError):
        pass
