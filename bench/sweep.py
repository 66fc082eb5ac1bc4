"""The sweep: every algorithm x dtype x op x size x placement, checked, timed and recorded.

Buffers are allocated once per dtype (and per ``--align`` placement) at the largest size and
viewed for each smaller one (as nccl-tests does); each algorithm is constructed once per size,
outside any timer. Correctness passes run before timing and are never timed.

A case is one algorithm at one size, dtype, op and buffer placement (both in- and out-of-place):
rank 0's progress line counts them, between cases only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

import collectives

from .buffers import PAGE_ALIGNED, BufferSpec, page_offset
from .calibrate import predict
from .check import count_wrong, expected_result, rank_input
from .console import Console
from .device import CpuDevice
from .heartbeat import rank_spans
from .iterations import IterationPolicy
from .progress import Progress
from .results import ResultsWriter
from .sizes import format_size
from .stats import DEFAULT_STAT, STATISTICS, bandwidths, timing_stats
from .timing import DEFAULT_TIMING, measure
from .topology import Topology

PLACEMENTS = {"both": ("out", "in"), "out": ("out",), "in": ("in",)}


@dataclass
class SweepConfig:
    """What to measure: validated, identical on every rank."""

    algos: list[str]
    sizes: list[int]
    dtypes: list[str]
    ops: list[str]
    placements: tuple[str, ...] = ("out", "in")
    timing: str = DEFAULT_TIMING
    warmup: int = 5
    check: int = 1
    policy: IterationPolicy = field(default_factory=IterationPolicy)
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    meshes: list[str] = field(default_factory=list)  # mesh shapes to sweep ("2x4"); empty: the default shape
    buffers: list[BufferSpec] = field(default_factory=lambda: [PAGE_ALIGNED])  # --align (and --huge-pages)
    stat: str = DEFAULT_STAT  # --stat: the statistic that is a row's time
    thread_level: str = ""  # the MPI thread level provided (recorded on every row)

    def sizes_for(self, dtype: str) -> list[int]:
        """The sweep's sizes that hold a whole number of ``dtype`` elements."""
        itemsize = collectives.DTYPES[dtype].itemsize
        return [s for s in self.sizes if s % itemsize == 0]

    def fitting_meshes(self, p: int) -> list[str]:
        """The requested mesh shapes of ``p`` ranks."""
        return [s for s in self.meshes if _ranks_of(s) == p]

    def entries(self, p: int) -> int:
        """How many algorithms run at each size on ``p`` ranks: mesh once per fitting shape (its default when none)."""
        return sum(max(len(self.fitting_meshes(p)), 1) if a == "mesh" and self.meshes else 1 for a in self.algos)

    def cases(self, p: int) -> int:
        """How many cases a sweep on ``p`` ranks runs, before any algorithm turns out unable to."""
        sizes = sum(len(self.sizes_for(dtype)) for dtype in self.dtypes)
        return sizes * len(self.ops) * len(self.buffers) * self.entries(p)


class Sweep:
    """Runs a :class:`SweepConfig` on ``comm``; rank 0 prints and writes results."""

    def __init__(
        self,
        comm: Any,
        config: SweepConfig,
        console: Console,
        writer: ResultsWriter | None,
        topology: Topology,
        device: Any = None,
        watchdog: Any = None,
        progress: Progress | None = None,
    ):
        self.comm = comm
        self.topology = topology
        self.watchdog = watchdog
        self.model: Any = None  # a fitted CostModel: rows then carry the prediction and its error
        from mpi4py import MPI

        self.world_ranks = rank_spans(comm.allgather(MPI.COMM_WORLD.Get_rank()))
        self.device = device or CpuDevice()
        self.config = config
        self.console = console
        self.progress = progress or Progress(0, None)
        self.writer = writer
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        self.nwrong_total = 0
        self.rows = 0
        self.ranks_per_gpu = self.device.ranks_per_gpu(comm)  # > 1: ranks time-slice a GPU; rows say so
        self._no_buffers = ""

    def run(self) -> int:
        """Run every case; the total number of wrong elements seen.

        Sizes are the outer loop and algorithms the inner one, so a slow spell on a shared
        machine touches every algorithm at the sizes it hits, not one algorithm's whole curve.
        """
        self.console.line(f"# topology: {self.topology.describe()}")
        self.console.table_header(self.config.algos)
        for dtype in self.config.dtypes:
            sizes = self.config.sizes_for(dtype)
            if not sizes:
                continue
            buffers = self._buffers(dtype, max(sizes))
            for op in self.config.ops:
                if buffers is None:
                    for algo in self.config.algos:
                        self._skip(algo, dtype, op, self._no_buffers)
                    self.progress.drop(len(sizes) * len(self.config.buffers) * self.config.entries(self.size))
                else:
                    self._run_case(dtype, op, sizes, buffers)
        return self.nwrong_total

    def _buffers(self, dtype: str, nbytes: int) -> list[tuple[BufferSpec, Any, Any]] | None:
        """Send and receive buffers of ``nbytes`` per placement; None on every rank when any rank's device cannot
        hold ``dtype`` (CuPy without bfloat16, say), the reason in ``_no_buffers``."""
        dt = collectives.DTYPES[dtype]
        self._watch(f"allocating {format_size(nbytes)} {dtype} buffers, world ranks {self.world_ranks}")
        count, error, buffers = nbytes // dt.itemsize, None, []
        try:
            for spec in self.config.buffers:
                buffers.append((spec, self.device.empty(count, dt, spec), self.device.empty(count, dt, spec)))
        except (TypeError, ValueError, NotImplementedError) as exc:
            error = f"the {self.device.name} cannot hold {dtype} arrays here: {exc}"
        errors = [e for e in self.comm.allgather(error) if e]
        if errors:
            self._no_buffers = errors[0]
            return None
        return buffers

    def _watch(self, what: str) -> None:
        """Tell the watchdog (--timeout) which step runs now; its clock starts again."""
        if self.watchdog is not None:
            self.watchdog.watch(what)

    def _skip(self, algo: str, dtype: str, op: str, reason: str) -> None:
        skip = {"algo": algo, "dtype": dtype, "op": op, **self.topology.fields(), "reason": reason}
        self.console.skip(skip)
        if self.writer:
            self.writer.add_skip(skip)

    def _entries(self, dtype: str, op: str) -> list[tuple[str, str, dict[str, Any]]]:
        """(label, algorithm, options) to run: one per algorithm, one per mesh shape that fits p."""
        entries = []
        for algo in self.config.algos:
            options = dict(self.config.options.get(algo, {}))
            if algo == "hier" and self.topology.layout == "logical":
                options.setdefault("node", self.topology.node)
            if algo == "mesh" and self.config.meshes:
                fitting = self.config.fitting_meshes(self.size)
                entries += [(f"mesh{shape}", algo, {**options, "mesh": shape}) for shape in fitting]
                if not fitting:  # no requested shape fits this p: measure the default shape, and say so
                    entries.append((algo, algo, options))
                    shapes = ", ".join(self.config.meshes)
                    self._skip(algo, dtype, op, f"mesh {shapes} do not fit {self.size} ranks; ran the default shape")
            else:  # mpi:tuned=FILE shows and records as mpi:tuned (its file is in params)
                entries.append((algo.partition("=")[0], algo, options))
        return entries

    def _run_case(self, dtype: str, op: str, sizes: list[int], buffers: list[tuple[BufferSpec, Any, Any]]) -> None:
        """Every size of one dtype and op: per size, each buffer placement, each algorithm (interleaved)."""
        running = self._entries(dtype, op)
        per_entry, step = len(sizes) * len(buffers), 0
        order = "" if self.topology.rank_order == "packed" else f" ({self.topology.rank_order})"
        for nbytes in sizes:
            count = nbytes // collectives.DTYPES[dtype].itemsize
            expected = expected_result(self.size, count, dtype, op) if self.config.check else None
            given = rank_input(self.rank, self.size, count, dtype, op)
            for spec, send, recv in buffers:
                step += 1
                sendbuf, recvbuf = send[:count], recv[:count]
                self.device.upload(given, sendbuf)
                shown = f"@{spec.name}" if len(buffers) > 1 else ""
                for entry in list(running):
                    self.progress.begin(f"{entry[0]}{shown} {format_size(nbytes)} {dtype} {op} on p={self.size}{order}")
                    built = self._run_entry(entry, dtype, op, spec, sendbuf, recvbuf, expected, shown)
                    self.progress.end()
                    if not built:  # its cases at the larger sizes will not run
                        running.remove(entry)
                        self.progress.drop(per_entry - step)

    def _run_entry(
        self,
        entry: tuple[str, str, dict[str, Any]],
        dtype: str,
        op: str,
        spec: BufferSpec,
        sendbuf: Any,
        recvbuf: Any,
        expected: Any,
        suffix: str,
    ) -> bool:
        """Build one algorithm for these buffers and measure it in each placement; False when it cannot be built
        (recorded as a skip: it is not tried again at larger sizes)."""
        label, algo, options = entry
        nbytes, count = sendbuf.nbytes, sendbuf.size
        transport = self.device.transport_for(spec)
        self._watch(f"setting up {label} at {nbytes} B {dtype} {op}, world ranks {self.world_ranks}")
        try:
            alg = collectives.create(
                algo, self.comm, count, dtype, op, xp=self.device.xp, transport=transport, **options
            )
        except collectives.CollectiveError as exc:
            self._skip(algo, dtype, op, str(exc))
            return False
        by_placement = {}
        try:
            for placement in self.config.placements:
                row = self._measure(alg, sendbuf, recvbuf, placement, expected)
                row.update(algo=label if "=" in algo else algo, dtype=dtype, op=op, bytes=nbytes, count=count)
                row["mesh"] = options.get("mesh") or alg.params().get("mesh", "")
                row.update(self._buffer_fields(spec, sendbuf))
                if self.model is not None:
                    predicted = predict(self.model, row)
                    if predicted:
                        row["predicted_s"] = predicted
                        row["model_error"] = abs(predicted - row["time_s"]) / row["time_s"]
                by_placement[placement] = row
                self.rows += 1
                if self.writer:
                    self.writer.add_row(row)
        finally:
            alg.close()
        self.console.row(nbytes, count, dtype, op, label + suffix, by_placement)
        return True

    def _buffer_fields(self, spec: BufferSpec, sendbuf: Any) -> dict[str, Any]:
        """How the timed buffers were placed, and the MPI thread level: recorded on every row."""
        return {
            "align": spec.name,
            "page_offset": page_offset(sendbuf),
            "huge_pages": spec.huge_pages if self.device.name == "cpu" else "device",
            "thread_level": self.config.thread_level,
        }

    def _measure(
        self,
        alg: collectives.Allreduce,
        sendbuf: np.ndarray,
        recvbuf: np.ndarray,
        placement: str,
        expected: np.ndarray | None,
    ) -> dict[str, Any]:
        from mpi4py import MPI

        in_place = placement == "in"
        target = recvbuf if in_place else sendbuf
        alg.bind(target, recvbuf)
        nwrong = None
        where = "in place" if in_place else "out of place"
        what = (
            f"{alg.name} at {sendbuf.nbytes} B {alg.dtype_name} {alg.op.name} {where}, world ranks {self.world_ranks}"
        )
        watch = None
        if self.watchdog is not None:
            watchdog = self.watchdog

            def watch(samples: list[float]) -> None:
                watchdog.watch(what, samples)

        if expected is not None:
            wrong = 0
            for _ in range(self.config.check):
                self._watch(f"{what} (check)")
                if in_place:
                    recvbuf[...] = sendbuf
                else:
                    recvbuf.fill(0)
                alg(target, recvbuf)
                wrong += count_wrong(recvbuf, expected)
            nwrong = self.comm.allreduce(wrong, op=MPI.SUM)
            self.nwrong_total += nwrong
        if in_place:
            recvbuf[...] = sendbuf
        nbytes = sendbuf.nbytes
        with np.errstate(all="ignore"):  # in place, repeated sums overflow to inf: harmless for timing
            timing = measure(
                self.device.loop_call(alg.bound(target, recvbuf), self.config.timing),
                nbytes,
                warmup=self.config.warmup,
                policy=self.config.policy,
                mode=self.config.timing,
                comm=self.comm,
                watch=watch,
                batch=self.device.batch,
                around=alg.running,
            )
        self._watch(f"{what} (after its timed calls)")
        samples = timing.samples
        extra: dict[str, Any] = {}
        if self.device.name == "gpu":
            clock = "cuda-events" if self.config.timing == "batch" else "host, after a stream synchronisation"
            extra = {"clock": clock, "ranks_per_gpu": self.ranks_per_gpu, "gpu_shared": self.ranks_per_gpu > 1}
        stats = timing_stats(timing)
        time_s = stats[STATISTICS[self.config.stat][0]]
        factor = alg.busbw_factor(self.size)
        algbw, busbw = bandwidths(nbytes, time_s, factor)
        return {
            "placement": placement,
            **self.topology.fields(),
            "timing": self.config.timing,
            "iters": int(samples.size),
            "warmup": self.config.warmup,
            "nwrong": nwrong,
            "busbw_factor": factor,
            "stat": self.config.stat,
            "time_s": time_s,
            "algbw_GBps": algbw,
            "busbw_GBps": busbw,
            "stats": stats,
            "params": alg.params(),
            "samples_s": samples.tolist(),
            "device": self.device.name,
            "transport": transport_of(alg, self.device.transport),
            **extra,
        }


def transport_of(alg: collectives.Allreduce, spec: Any) -> str:
    """How this algorithm's data moved: a library's own way, MPI's path for the other baselines, else the transport."""
    if alg.own_transport:
        return alg.own_transport
    return spec.for_mpi().kind if alg.baseline else spec.kind


def _ranks_of(shape: str) -> int:
    x, y = (int(v) for v in shape.lower().split("x"))
    return x * y
