"""The floor under collbench's numbers: one MPI_Allreduce timed from C, from a bare mpi4py loop and by the harness.

What a Python benchmark adds to MPI's own time is the question a user asks first, so collbench
answers it by measurement, in one job, on the same buffers, communicator and MPI library:

- ``c-osu`` and ``c-imb``: ``floor.c`` (beside this module), built on demand with the MPI's own
  ``mpicc`` into a cache folder and loaded into every rank. It times ``MPI_Allreduce`` as OSU
  does (each call alone, a barrier after it) and as IMB does (calls back to back under one clock).
- ``py-osu`` and ``py-imb``: the same two loops written in Python over ``comm.Allreduce``.
- ``harness``: what ``collbench run --algo mpi`` times at its default settings (the ``mpi``
  algorithm's bound call, warm-up, the iteration policy, per-iteration samples, ``--timing``).

Every method yields the mean, minimum and maximum over ranks of each rank's mean time per call
(OSU's avg/min/max, IMB's t_avg/t_min/t_max); the harness also its default statistic, the median
of the slowest rank's samples. The methods run in rounds, each round every method once at the
same iteration count, in an order that rotates from round to round, so a machine whose speed
drifts slows them alike. Comparisons are paired, round by round, then the median taken: each
method over C as OSU times it; the Python call's cost, py minus C, and the harness's, harness
minus py, both with the loop that times as the harness does (OSU's for ``barrier``, IMB's for
``b2b``).
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np

import collectives

from .device import CpuDevice
from .iterations import IterationPolicy
from .mpienv import loaded_mpi_libraries
from .stats import timing_stats
from .timing import DEFAULT_TIMING, DEFAULT_WARMUP, measure, over_ranks

SOURCE = Path(__file__).with_name("floor.c")
METHODS = ("c-osu", "c-imb", "py-osu", "py-imb", "harness")
REFERENCE = "c-osu"  # what the other methods are divided by: MPI_Allreduce from C, as OSU times it
LOOPS = {"barrier": ("c-osu", "py-osu"), "b2b": ("c-imb", "py-imb")}  # the C and Python loops timing as the harness
STATS = ("avg", "min", "max")


class FloorUnavailable(Exception):
    """The C floor cannot be built or loaded here; the message says why and what to do."""


def find_mpicc(environ: dict[str, str] | None = None) -> str | None:
    """The MPI's compiler wrapper: ``$MPICC``, else the one beside this Python (an MPI wheel's), else on PATH."""
    environ = dict(os.environ) if environ is None else environ
    if environ.get("MPICC"):
        return shutil.which(environ["MPICC"]) or environ["MPICC"]
    beside = Path(sys.executable).parent / "mpicc"
    if beside.exists():
        return str(beside)
    return shutil.which("mpicc")


def cache_root(environ: dict[str, str] | None = None) -> Path:
    """Where built C code is kept: ``$COLLBENCH_CACHE``, else ``$XDG_CACHE_HOME/collbench``, else ``~/.cache/collbench``."""
    environ = dict(os.environ) if environ is None else environ
    if environ.get("COLLBENCH_CACHE"):
        return Path(environ["COLLBENCH_CACHE"])
    base = Path(environ["XDG_CACHE_HOME"]) if environ.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "collbench"


def build(mpicc: str, cache: Path) -> Path:
    """The shared library built from floor.c with ``mpicc`` (reused from ``cache`` when the inputs are unchanged).

    The key covers the source, the wrapper's path and what it runs (``mpicc -show``), so a different
    MPI builds its own. Written under a temporary name and renamed: ranks or nodes building at once
    never load half a file.
    """
    shown = _run([mpicc, "-show"], f"{mpicc} -show").stdout.strip()
    key = hashlib.sha256(SOURCE.read_bytes() + mpicc.encode() + shown.encode()).hexdigest()[:16]
    target = cache / "floor" / key / "libcollbench_floor.so"
    if target.exists():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FloorUnavailable(
            f"cannot create the cache folder {target.parent}: {exc.strerror}; set COLLBENCH_CACHE"
        ) from None
    partial = target.with_name(f".{target.name}.{os.getpid()}")
    _run([mpicc, "-O2", "-shared", "-fPIC", "-o", str(partial), str(SOURCE)], f"{mpicc} (building floor.c)")
    os.replace(partial, target)
    return target


def _run(command: list[str], what: str) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FloorUnavailable(f"{what} could not run: {exc}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise FloorUnavailable(f"{what} failed (exit {done.returncode}): {last}")
    return done


class CFloor:
    """floor.c loaded into this process, checked to run on the very MPI library mpi4py runs on."""

    def __init__(self, path: Path):
        from mpi4py import MPI

        before = set(loaded_mpi_libraries())
        self.library = ctypes.CDLL(str(path))
        added = [lib for lib in loaded_mpi_libraries() if lib not in before]
        if added:
            raise FloorUnavailable(
                f"the C floor links {added[0]}, but mpi4py runs {', '.join(sorted(before)) or 'another MPI'}; "
                "set MPICC to the compiler wrapper of the MPI that mpi4py uses"
            )
        text = ctypes.create_string_buffer(8192)
        self.library.collbench_floor_library(text, ctypes.c_int(len(text)))
        if text.value.decode(errors="replace").strip() != MPI.Get_library_version().strip():
            raise FloorUnavailable(
                "the C floor reports another MPI library version than mpi4py; set MPICC to its mpicc"
            )
        arguments = [ctypes.c_void_p, ctypes.c_void_p] + [ctypes.c_int] * 6 + [ctypes.POINTER(ctypes.c_double)]
        self._methods = {"c-osu": self.library.collbench_floor_osu, "c-imb": self.library.collbench_floor_imb}
        for function in self._methods.values():
            function.argtypes, function.restype = arguments, ctypes.c_int

    def time(self, method: str, send: np.ndarray | None, recv: np.ndarray, op: Any, comm: Any, warmup: int, iters: int):
        """(avg, min, max) over ranks of each rank's mean seconds per call; ``send`` None runs in place."""
        from mpi4py import MPI

        out = (ctypes.c_double * 3)()
        datatype = MPI._typedict[recv.dtype.char]  # the predefined type mpi4py itself sends this buffer as
        error = self._methods[method](
            None if send is None else send.ctypes.data,
            recv.ctypes.data,
            recv.size,
            datatype.py2f(),
            op.py2f(),
            comm.py2f(),
            warmup,
            iters,
            out,
        )
        if error:
            raise RuntimeError(f"the C floor's MPI_Allreduce failed with MPI error {error}")
        return tuple(out)


def open_c_floor(comm: Any) -> tuple[CFloor | None, str]:
    """The C floor on every rank, or (None, the reason) on every rank (a collective call).

    Rank 0 of each node builds into the node's cache while the node's other ranks wait.
    """
    from mpi4py import MPI

    node = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.Get_rank())
    path, reason = None, ""
    if node.Get_rank() == 0:
        mpicc = find_mpicc()
        try:
            if mpicc is None:
                raise FloorUnavailable("no mpicc found; set MPICC to the compiler wrapper of the MPI that mpi4py uses")
            path = str(build(mpicc, cache_root()))
        except FloorUnavailable as exc:
            reason = str(exc)
    path, reason = node.bcast((path, reason), root=0)
    node.Free()
    floor = None
    if path:
        try:
            floor = CFloor(Path(path))
        except (FloorUnavailable, OSError, AttributeError) as exc:
            reason = str(exc)
    reasons = [r for r in comm.allgather(reason) if r]
    return (None, reasons[0]) if reasons else (floor, "")


def python_osu(send: np.ndarray, recv: np.ndarray, op: Any, comm: Any, warmup: int, iters: int):
    """OSU's loop in Python: each ``comm.Allreduce`` timed alone, an untimed barrier after it."""
    allreduce, barrier, clock = comm.Allreduce, comm.Barrier, perf_counter
    total = 0.0
    for i in range(warmup + iters):
        start = clock()
        allreduce(send, recv, op)
        stop = clock()
        barrier()
        if i >= warmup:
            total += stop - start
    barrier()
    return over_ranks(total / iters, comm)


def python_imb(send: np.ndarray, recv: np.ndarray, op: Any, comm: Any, warmup: int, iters: int):
    """IMB's loop in Python: warm-up, two barriers, then ``iters`` calls back to back under one clock."""
    allreduce, clock = comm.Allreduce, perf_counter
    for _ in range(warmup):
        allreduce(send, recv, op)
    comm.Barrier()
    comm.Barrier()
    start = clock()
    for _ in range(iters):
        allreduce(send, recv, op)
    return over_ranks((clock() - start) / iters, comm)


class Methods:
    """Every method, set up once on the same buffers; :meth:`time` runs one of them once.

    Building it times the harness once, untimed for the comparison: that warms the buffers and
    gives the iteration count every method then runs (the harness's own policy decides its count
    each time, as in ``collbench run``).
    """

    def __init__(
        self,
        comm: Any,
        send: np.ndarray,
        recv: np.ndarray,
        dtype: str,
        op: str,
        policy: IterationPolicy,
        floor: Any,
        timing: str = DEFAULT_TIMING,
    ):
        self.comm, self.send, self.recv, self.policy, self.floor = comm, send, recv, policy, floor
        self.timing = timing
        self.op = collectives.OPS[op].mpi()
        self.alg = collectives.create("mpi", comm, recv.size, dtype, op)
        self.call = CpuDevice().timed(self.alg.bound(send, recv))
        self.iters = self._harness()[1]
        self.available = [m for m in METHODS if floor is not None or not m.startswith("c-")]

    def time(self, method: str) -> dict[str, float]:
        """One run of ``method``: avg, min and max over rank means (and for the harness its median)."""
        if method == "harness":
            return self._harness()[0]
        args = (self.send, self.recv, self.op, self.comm, DEFAULT_WARMUP, self.iters)
        if method == "py-osu":
            return _named(python_osu(*args))
        if method == "py-imb":
            return _named(python_imb(*args))
        return _named(self.floor.time(method, *args))

    def _harness(self) -> tuple[dict[str, float], int]:
        """``collbench run --algo mpi`` at its defaults: the row's statistics and its iteration count."""
        timing = measure(
            self.call, self.recv.nbytes, warmup=DEFAULT_WARMUP, policy=self.policy, mode=self.timing, comm=self.comm
        )
        stats = timing_stats(timing)
        named = {stat: stats[f"rank_{stat}"] for stat in STATS}
        return {**named, "median": stats["p50"]}, int(timing.samples.size)

    def close(self) -> None:
        self.alg.close()


def rounds_of(methods: Methods, names: list[str], rounds: int, first: int = 0) -> dict[str, dict[str, list[float]]]:
    """``rounds`` rounds of the named methods, each round in an order rotated by one more (``first`` rounds
    rotated already): per method and statistic, one value per round."""
    values: dict[str, dict[str, list[float]]] = {m: {} for m in names}
    for r in range(first, first + rounds):
        for method in names[r % len(names) :] + names[: r % len(names)]:
            for stat, value in methods.time(method).items():
                values[method].setdefault(stat, []).append(value)
    return values


def compare(methods: Methods, rounds: int) -> dict[str, Any]:
    """Every available method in ``rounds`` rotating rounds: the values, their medians, and each method's mean
    over ranks divided by the C floor's (OSU's loop) of the same round, with their medians.

    The ratios and gaps are paired, round by round: on a machine whose speed drifts, their median is
    steadier than the ratio of two medians.
    """
    values = rounds_of(methods, methods.available, rounds)
    medians = {m: {stat: float(np.median(v)) for stat, v in stats.items()} for m, stats in values.items()}
    avg = {m: np.asarray(stats["avg"]) for m, stats in values.items()}
    c, py = LOOPS[methods.timing]
    result = {"iters": methods.iters, "rounds": rounds, "timing": methods.timing, "values": values, "medians": medians}
    result["gaps"] = {"harness": float(np.median(avg["harness"] - avg[py]))}
    if REFERENCE in avg:
        ratios = {m: (a / avg[REFERENCE]).tolist() for m, a in avg.items()}
        result.update(ratios=ratios, ratio_medians={m: float(np.median(r)) for m, r in ratios.items()})
        result["gaps"]["python"] = float(np.median(avg[py] - avg[c]))
    return result


def _named(triple: tuple[float, float, float]) -> dict[str, float]:
    return dict(zip(STATS, triple, strict=True))
