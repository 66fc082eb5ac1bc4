"""The watchdog ends its own process, whatever the main thread, the results or stderr are doing."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, launch_env

WATCHDOG = """
import sys, threading, time
from bench import watchdog
watchdog.GRACE = 1
watchdog.OTHERS_WAIT = 0.2
rank, closing = int(sys.argv[1]), sys.argv[2]
def close(fields):
    print("closing:", fields["aborted"].split(":")[0], fields["cause"]["kind"], flush=True)
    if closing == "hang":
        time.sleep(600)
dog = watchdog.Watchdog(0.5, rank, close, poll=0.05)
dog.watch("a test call", [0.0] * 3)
threading.Event().wait()  # the main thread never returns, as if stuck in MPI
"""


@pytest.mark.parametrize(
    "rank, closing, code",
    [
        (0, "returns", 3),  # rank 0 closes the results, then exits 3
        (1, "returns", 3),  # other ranks never close anything: they wait a little and exit 3
        (0, "hang", -14),  # the results block: the alarm's default action (SIGALRM) ends the process
    ],
)
def test_the_watchdog_ends_its_process(rank, closing, code):
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", WATCHDOG, str(rank), closing],
        capture_output=True,
        text=True,
        env=launch_env(),
        cwd=ROOT,
        timeout=30,
    )
    assert done.returncode == code, (done.stdout, done.stderr)
    assert time.monotonic() - started < 15
    assert f"rank {rank} waited" in done.stderr and "a test call" in done.stderr
    assert ("closing: collbench hang" in done.stdout) == (rank == 0)


MAPS_A_SEGMENT = """
import mmap, sys, threading
from bench import watchdog
watchdog.OTHERS_WAIT = 0.2
with open(sys.argv[1], "w+b") as segment:  # as MPICH's shared memory: a file in /dev/shm, mapped
    segment.truncate(4096)
    mapping = mmap.mmap(segment.fileno(), 4096)
dog = watchdog.Watchdog(0.5, 1, None, poll=0.05)
dog.watch("a test call", [0.0])
threading.Event().wait()
"""


def test_the_watchdog_removes_the_mpich_segment_its_process_maps():
    """Ending without MPI_Finalize, it unlinks its job's segment in /dev/shm as MPICH would have; no one else's."""
    ours = Path(f"/dev/shm/mpich_shm_collbenchtest{os.getpid()}_0")
    another = Path(f"/dev/shm/mpich_shm_collbenchtest{os.getpid()}_1")
    another.write_bytes(b"")
    try:
        done = subprocess.run(
            [sys.executable, "-c", MAPS_A_SEGMENT, str(ours)],
            capture_output=True,
            text=True,
            env=launch_env(),
            cwd=ROOT,
            timeout=30,
        )
        assert done.returncode == 3, (done.stdout, done.stderr)
        assert not ours.exists() and another.exists()
    finally:
        ours.unlink(missing_ok=True)
        another.unlink(missing_ok=True)


ENDINGS = """
import os, sys, threading, time
from bench import watchdog
watchdog.OTHERS_WAIT = 0.2
watchdog.ABORT_WAIT = 0.5
how = sys.argv[1]
def close(fields):
    print("closing:", fields["cause"]["kind"], "|", fields["cause"]["text"], flush=True)
def abort(code):  # as MPI_Abort may, when the network is gone: it never returns
    print("abort", code, flush=True)
    time.sleep(600)
dog = watchdog.Watchdog(0.5 if how == "hang" else 60, 0, close, abort, poll=0.05)
dog.watch("ring at 1024 B float32 sum", [0.0] * 3)
print("ready", flush=True)
if how == "error":
    dog.fail("Other MPI error, error stack:\\n  connection lost")
threading.Event().wait()  # the main thread never returns, as if stuck in MPI
"""


@pytest.mark.parametrize(
    "how, code, said",
    [
        ("hang", 3, "hang | rank 0 (%s) waited"),  # MPI_Abort never returns: the process ends itself, exit 3
        ("error", 1, "error | rank 0 (%s) got an MPI error in ring at 1024 B float32 sum: Other MPI error, error"),
        ("sigterm", 143, "terminated | the launcher ended the job (SIGTERM) while rank 0 was in ring at 1024 B"),
    ],
)
def test_every_ending_closes_the_results_with_its_cause_and_ends_the_process(how, code, said):
    """A hang, an MPI error in the main thread, a launcher's SIGTERM while the main thread is stuck."""
    job = subprocess.Popen(
        [sys.executable, "-c", ENDINGS, how],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=launch_env(),
        cwd=ROOT,
    )
    started = time.monotonic()
    assert job.stdout is not None and job.stdout.readline() == "ready\n"
    if how == "sigterm":
        job.send_signal(signal.SIGTERM)
    try:
        out, err = job.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        job.kill()
        pytest.fail(f"the process did not end after {how}")
    assert job.returncode == code, (out, err)
    assert time.monotonic() - started < 10
    expected = said % socket.gethostname() if "%s" in said else said
    assert f"closing: {expected}" in out, out
    assert ("abort" in out) == (how != "sigterm")  # a SIGTERM ends the job already: no abort


KEEPS_THE_GIL = """
import re, time
from bench import watchdog
watchdog.GRACE, watchdog.OTHERS_WAIT, watchdog.ABORT_WAIT = 1, 0.2, 0.2
dog = watchdog.Watchdog(0.5, 1, None, poll=0.05)
dog.watch("a call that never lets go of the GIL", [0.0])
time.sleep(0.3)  # the thread sets its alarm
re.match(r"(a+)+$", "a" * 64 + "b")  # backtracking for ages, in C, holding the GIL: the thread never runs again
"""


def test_a_main_thread_that_keeps_the_gil_cannot_stop_the_end():
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", KEEPS_THE_GIL], capture_output=True, text=True, env=launch_env(), cwd=ROOT, timeout=60
    )
    assert done.returncode == -signal.SIGALRM, (done.stdout, done.stderr)
    assert time.monotonic() - started < 15
