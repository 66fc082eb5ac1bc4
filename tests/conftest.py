"""Shared test plumbing: where mpiexec is, how to launch collbench, and required capabilities.

Tests under tests/mpi run inside ``mpiexec`` (driven by tests/test_mpi_suite.py), never in
this single process.

No test leaves MPICH's shared memory behind: MPICH (ch4) keeps one segment per job and node in
/dev/shm (``mpich_shm_<job>_<node>``) and unlinks it in ``MPI_Finalize``, so a rank that ends
without finalizing leaves it there until the machine reboots. After each test the segments its
jobs mapped that no process holds any more are removed, and the test fails unless it is marked
``kills_ranks`` (it ends ranks on purpose, which nothing in the job can clean up after).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from capabilities import skip_or_fail  # noqa: F401  (re-exported for the tests)
from hypothesis import settings

from bench.mpienv import launcher_env, without_launcher_report

# A shared 2-core machine runs these: time limits per example would only measure the neighbours.
settings.register_profile("collbench", deadline=None)
settings.load_profile("collbench")

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ROOT / "tests" / "plugins"

collect_ignore = ["mpi", "plugins", "bench", "faults"]  # faults: its own leg, make test-faults (pytest tests/faults)


def mpiexec() -> str:
    """The mpiexec beside this Python (the venv's mpich wheel), else the first on PATH."""
    local = Path(sys.executable).parent / "mpiexec"
    if local.exists():
        return str(local)
    found = shutil.which("mpiexec")
    if not found:
        pytest.fail("no mpiexec found: install the 'mpich' extra (pip install -e '.[mpich,test]')")
    return found


def launch_env(**extra: str) -> dict[str, str]:
    """The environment for launched processes: test plugins importable, unbuffered output, and what the launcher
    needs here (Open MPI's: leave to run as root and to oversubscribe)."""
    env = {**os.environ, **launcher_env(mpiexec())}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGINS), str(ROOT), env.get("PYTHONPATH", "")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run_collbench(
    nranks: int, *args: str, timeout: float = 120, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``mpiexec -n nranks python -m bench ARGS``; the finished process with its output."""
    command = [mpiexec(), "-n", str(nranks), sys.executable, "-m", "bench", *args]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=env or launch_env(), cwd=cwd or ROOT
    )
    done.stderr = without_launcher_report(done.stderr)  # what collbench said, without Open MPI's own report
    return done


def run_mpi_pytest(launch: list[str], path: str, tmp_path: Path, what: str, env: dict[str, str] | None = None) -> None:
    """Run pytest on ``path`` (under tests/mpi) as the MPI job ``launch`` starts it (mpiexec and its arguments);
    fail with its output when it fails or hangs for 600 s. ``what`` names the job in the message."""
    command = [*launch, sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", str(ROOT / path)]
    env = dict(env or launch_env(), COLLBENCH_MPI_BASETEMP=str(tmp_path))
    env["PYTHONPATH"] = f"{ROOT / 'tests' / 'mpi'}:{ROOT / 'tests'}:{env['PYTHONPATH']}"
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{path} {what} hung for 600 s:\n{exc.stdout}\n{exc.stderr}")
    assert done.returncode == 0, f"{path} failed {what}:\n{done.stdout[-8000:]}\n{done.stderr[-4000:]}"


SHM = Path("/dev/shm")
SEGMENT = "mpich_"  # mpich_shm_<job>_<node>, and mpich_vci_<job>_<node> with several VCIs
ENDING = 10.0  # seconds the ranks of a test's job may take to end after the test
_IN_A_JOB = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK")  # tests/mpi and tests/bench: the outer test watches


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "kills_ranks: the test ends MPI ranks without MPI_Finalize on purpose (their segment is removed)"
    )


class SegmentWatch:
    """The MPICH segments that this process's descendants (mpiexec, its ranks) map, polled while a test runs."""

    POLL = 0.5  # seconds; a job that maps a segment and dies quicker is not seen (what it leaves is still removed)

    def __init__(self) -> None:
        self._mapped: dict[str, tuple[int, int, int]] = {}  # path: (major, minor, inode) of the file mapped
        self._running = threading.Event()
        self._lock = threading.Lock()
        threading.Thread(target=self._poll, name="mpich-segment-watch", daemon=True).start()

    def start(self) -> None:
        with self._lock:
            self._mapped.clear()
        self._running.set()

    def stop(self) -> dict[str, tuple[int, int, int]]:
        self._running.clear()
        with self._lock:
            return dict(self._mapped)

    def _poll(self) -> None:
        while True:
            self._running.wait()
            for pid in _descendants(os.getpid()):
                found = _segments_mapped_by(pid)
                with self._lock:
                    self._mapped.update(found)
            time.sleep(self.POLL)


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", encoding="ascii", errors="replace") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])  # after "pid (command) state"
            except (OSError, IndexError, ValueError):  # gone meanwhile
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _segments_mapped_by(pid: int | str) -> dict[str, tuple[int, int, int]]:
    """``{path: (major, minor, inode)}`` of the MPICH segments process ``pid`` maps (none once it has ended)."""
    found = {}
    try:
        with open(f"/proc/{pid}/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)
                if len(fields) == 6 and fields[5].startswith(f"{SHM}/{SEGMENT}"):
                    major, minor = (int(part, 16) for part in fields[3].split(":"))
                    found[fields[5].rstrip("\n")] = (major, minor, int(fields[4]))
    except (OSError, ValueError):
        pass
    return found


def _segments() -> set[str]:
    try:
        return {f"{SHM}/{name}" for name in os.listdir(SHM) if name.startswith(SEGMENT)}
    except OSError:  # no /dev/shm here
        return set()


def _held() -> set[str]:
    """The MPICH segments that some live process maps."""
    held: set[str] = set()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            held.update(_segments_mapped_by(entry.name))
    return held


def _identity(path: str) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return os.major(info.st_dev), os.minor(info.st_dev), info.st_ino


def _dead(paths: set[str], age: float = 1.0) -> list[str]:
    """Those of ``paths`` that no live process maps, made ``age`` seconds ago or more (a job being started maps its
    segment as soon as it has made it)."""
    dead = []
    for path in sorted(paths - _held()):
        try:
            made = os.stat(path).st_ctime
        except OSError:  # removed meanwhile
            continue
        if time.time() - made >= age:
            dead.append(path)
    return dead


_REMOVED: list[str] = []  # what was removed that no job of this session was seen to map


@pytest.fixture(scope="session")
def segment_watch() -> SegmentWatch | None:
    """None inside an MPI job (tests/mpi, tests/bench): there the test that started the job watches."""
    return None if any(name in os.environ for name in _IN_A_JOB) else SegmentWatch()


@pytest.fixture(autouse=True)
def no_mpich_segment_left(request, segment_watch):
    """Remove the MPICH segments left by the test's jobs; fail the test for them unless it is marked ``kills_ranks``."""
    if segment_watch is None:
        yield
        return
    before = _segments()
    segment_watch.start()
    yield
    mapped = segment_watch.stop()
    new = _segments() - before
    if not new:
        return
    left = _dead(new)
    ending = time.monotonic() + ENDING
    while any(path in mapped and path not in left for path in _segments() & new) and time.monotonic() < ending:
        time.sleep(0.2)  # the job's ranks are still ending (their launcher has, and the test with it)
        left = _dead(new)
    ours = [path for path in left if path in mapped and _identity(path) == mapped[path]]
    for path in left:
        try:
            os.unlink(path)
        except OSError:  # removed meanwhile
            pass
    _REMOVED.extend(f"{request.node.nodeid}: {path}" for path in left if path not in ours)
    if ours and request.node.get_closest_marker("kills_ranks") is None:
        pytest.fail(
            f"the test's MPI job left {', '.join(ours)} (removed now): a rank ended without MPI_Finalize; "
            "end it through MPI_Finalize, or mark the test kills_ranks if it kills ranks on purpose",
            pytrace=False,
        )


def pytest_terminal_summary(terminalreporter):
    if _REMOVED:
        terminalreporter.section("MPICH shared memory removed")
        terminalreporter.write_line(
            f"left in {SHM} during these tests by jobs this session was not seen to start (another job on this "
            "machine, or one of ours too quick to be seen):"
        )
        for line in _REMOVED:
            terminalreporter.write_line(f"  {line}")
