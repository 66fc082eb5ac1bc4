"""Run an all-reduce sweep under mpiexec/srun: check, time and record every case.

Example: mpiexec -n 4 collbench run --algo mpi -b 8 -e 16M -f 2 -d float32 -o sum
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import collectives
from collectives import mpiforce, ncclcomm
from collectives.blocks import parse_mesh

from ..buffers import check_itemsize, parse_align, transparent_huge_pages
from ..calibrate import calibrate, describe_calibration
from ..console import Console
from ..device import CUDA_AWARE_MODES, DEVICES, GPU_TRANSPORTS, local_rank, open_device
from ..environment import describe
from ..errors import UsageError
from ..iterations import DEFAULT_BUDGET, IterationPolicy
from ..memory import BUFFERS_PER_RANK, GPU_RESERVE_PER_RANK, available_host_memory, bytes_per_rank, check_fits
from ..modeling import Machine, load_calibration
from ..mpienv import SHARED_CPUS, agree, busy_wait_warning, local_ranks, thread_level
from ..options import (
    add_buffer_options,
    add_mpi_options,
    add_output_options,
    add_progress_options,
    non_negative_int,
    positive_float,
    positive_int,
    split_list,
)
from ..outdir import claim, utc_now
from ..progress import Progress
from ..results import ResultsWriter, append_footer
from ..sizes import parse_factor, parse_size, sweep
from ..stats import DEFAULT_STAT, STATISTICS
from ..sweep import PLACEMENTS, Sweep, SweepConfig
from ..timing import DEFAULT_GPU_TIMING, DEFAULT_TIMING, DEFAULT_WARMUP, TIMING_MODES
from ..topology import check_ranks_per_node, node_ids, parse_orders, parse_ranks, split
from ..watchdog import Watchdog

HELP = "run an all-reduce sweep (under mpiexec or srun)"
CALIBRATION_LIMIT = 600.0  # seconds --timeout gives a whole calibration, which reports no progress of its own
STARTUP_LIMIT = 120.0  # seconds --timeout gives the start (opening a GPU and NCCL, heartbeats), at least


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--algo",
        default="mpi",
        help="comma-separated algorithms (default: mpi); mpi:ALG forces one of the MPI library's own, mpi:all "
        "each of them, mpi:tuned=FILE the choices of a file from 'collbench tune'; 'collbench info' lists them",
    )
    parser.add_argument("-b", "--minbytes", default="8", help="smallest message size, e.g. 8, 64K, 1M (default: 8)")
    parser.add_argument("-e", "--maxbytes", default="16M", help="largest message size (default: 16M)")
    parser.add_argument("-f", "--stepfactor", default="2", help="multiply the size by this each step (default: 2)")
    parser.add_argument(
        "-n",
        "--iters",
        type=positive_int,
        help="timed iterations per size (default: scaled by volume, bounded by --time-budget)",
    )
    parser.add_argument(
        "-w",
        "--warmup",
        type=non_negative_int,
        default=DEFAULT_WARMUP,
        help=f"untimed warm-up iterations per size (default: {DEFAULT_WARMUP})",
    )
    parser.add_argument(
        "-c",
        "--check",
        type=non_negative_int,
        default=1,
        help="correctness passes per size before timing; 0 disables (default: 1)",
    )
    parser.add_argument(
        "-d",
        "--dtype",
        default="float32",
        help=f"comma-separated dtypes: {', '.join(collectives.DTYPES)} (default: float32)",
    )
    parser.add_argument(
        "-o", "--op", default="sum", help=f"comma-separated ops: {', '.join(collectives.OPS)} (default: sum)"
    )
    parser.add_argument("--placement", default="both", help="out (out of place), in (in place) or both (default)")
    parser.add_argument(
        "--timing",
        help="barrier: a barrier before each iteration, each call timed alone (as OSU); b2b: iterations back to "
        "back (as IMB); batch: launched back to back with one GPU synchronisation at the end, CUDA events between "
        f"them (as nccl-tests; b2b on the CPU) (default: {DEFAULT_TIMING}, {DEFAULT_GPU_TIMING} with --device gpu)",
    )
    parser.add_argument(
        "--stat",
        choices=tuple(STATISTICS),
        default=DEFAULT_STAT,
        help="the statistic that is a row's time: "
        + "; ".join(f"{name}: {what}" for name, (_, what) in STATISTICS.items())
        + f" (default: {DEFAULT_STAT}; every row keeps them all)",
    )
    parser.add_argument(
        "--time-budget",
        type=positive_float,
        default=DEFAULT_BUDGET,
        metavar="SECONDS",
        help=f"with automatic iterations, time limit of one size's timed loop (default: {DEFAULT_BUDGET:g})",
    )
    parser.add_argument(
        "--chunk",
        metavar="SIZE",
        help="pipeline chunk of ring, tree and mesh, e.g. 256K (default: each algorithm's own)",
    )
    parser.add_argument(
        "--tree-variant",
        choices=("auto", "binomial", "pipeline", "double"),
        help="tree variant (default: auto, by size)",
    )
    parser.add_argument(
        "--rhd-variant", choices=("auto", "halving", "doubling"), help="rhd variant (default: auto, by size)"
    )
    parser.add_argument(
        "--mesh", metavar="LIST", help="mesh shapes XxY to sweep, e.g. 2x4,4x2 (default: the most square)"
    )
    parser.add_argument(
        "--ranks", metavar="LIST", help="communicator sizes to measure, e.g. 2,4,8 (default: the whole job)"
    )
    parser.add_argument(
        "--ranks-per-node",
        type=positive_int,
        metavar="K",
        help="group ranks into logical nodes of K (default: the real hosts)",
    )
    parser.add_argument(
        "--rank-order",
        default="packed",
        metavar="LIST",
        help="packed (default), spread, random:SEED; a list sweeps each",
    )
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="measure alpha, beta, gamma first; rows then carry the model's prediction",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        metavar="SECONDS",
        help="abort the job when one collective call takes longer than this (default: no limit)",
    )
    parser.add_argument("--device", default="cpu", help="cpu (NumPy buffers, default) or gpu (CuPy buffers)")
    parser.add_argument(
        "--cuda-aware",
        default="auto",
        help="with --device gpu: is the MPI CUDA-aware? auto (detect, default), yes, no (stage through pinned host memory)",
    )
    parser.add_argument(
        "--transport",
        default="mpi",
        help="with --device gpu: how the hand-written algorithms move device buffers: mpi (as --cuda-aware says, "
        "default) or nccl-p2p (NCCL send/receive on the stream, no MPI)",
    )
    add_buffer_options(parser, several=True)
    add_mpi_options(parser)
    add_output_options(parser)
    add_progress_options(parser)


def algorithm_options(args: argparse.Namespace, algos: list[str]) -> dict[str, dict[str, Any]]:
    """The options each algorithm gets from the command line (only those it declares)."""
    given: dict[str, Any] = {}
    if args.chunk:
        given["chunk"] = parse_size(args.chunk, "chunk (--chunk)")
    per_algo = {"tree": {"variant": args.tree_variant}, "rhd": {"variant": args.rhd_variant}}
    options: dict[str, dict[str, Any]] = {}
    for algo in algos:
        accepted = collectives.get(algo).options
        chosen = {k: v for k, v in given.items() if k in accepted}
        chosen.update({k: v for k, v in per_algo.get(algo, {}).items() if v is not None and k in accepted})
        options[algo] = chosen
    return options


def parse_algorithms(text: str) -> list[str]:
    """The algorithms of ``--algo``: registered names, and NAME:VARIANT where NAME takes one (mpi:ring)."""
    names = list(dict.fromkeys(item.strip() for item in text.split(",") if item.strip()))
    if not names:
        raise UsageError(f"empty algorithm list; give one or more of {', '.join(collectives.names())}")
    for name in names:
        base, colon, variant = name.partition(":")
        if base not in collectives.names():
            raise UsageError(f"unknown algorithm {base!r}; expected one or more of {', '.join(collectives.names())}")
        if colon and not (variant and collectives.get(base).variant_option):
            raise UsageError(
                f"{name!r}: only mpi takes :ALG (mpi:ring, mpi:all, mpi:tuned=FILE); 'collbench info' lists ALG"
            )
    return names


def forced_algorithms(algos: list[str]) -> list[str]:
    """``algos`` with mpi:all as each algorithm the running MPI can force; an mpi:ALG it lacks is a UsageError.
    Where the library can force none, mpi:ALG stays, to be skipped with the reason when it runs."""
    out: list[str] = []
    for algo in algos:
        variant = algo.partition(":")[2]
        if not algo.startswith("mpi:") or variant.startswith("tuned="):
            out.append(algo)
            continue
        try:
            known = mpiforce.algorithms()
        except collectives.Unavailable:
            out.append(algo)
            continue
        if variant == "all":
            out += [f"mpi:{name}" for name in known]
        elif variant in known:
            out.append(algo)
        else:
            first = next(iter(known.values()))
            preset = variant.removeprefix("preset-")
            if first.when == "launch" and preset.isdigit():  # Intel MPI: another preset takes a launch of its own
                raise UsageError(f"{mpiforce.launch_recipe(preset)}; this launch set {first.algorithm}")
            raise UsageError(
                f"{first.library} has no all-reduce algorithm {variant!r} to force; give one of {', '.join(known)}"
            )
    return list(dict.fromkeys(out))


def config_from(args: argparse.Namespace) -> SweepConfig:
    """The validated sweep configuration; UsageError naming the first bad value."""
    algos = parse_algorithms(args.algo)
    for name, needs in collectives.OPTIONAL_DTYPES.items():
        if name in args.dtype.split(",") and name not in collectives.DTYPES:
            raise UsageError(f"-d {name} needs {needs}")
    dtypes = split_list(args.dtype, collectives.DTYPES, "dtype")
    ops = split_list(args.op, collectives.OPS, "op")
    if args.placement not in PLACEMENTS:
        raise UsageError(f"unknown placement {args.placement!r}; expected one of {', '.join(PLACEMENTS)}")
    if args.device not in DEVICES:
        raise UsageError(f"unknown device {args.device!r}; expected one of {', '.join(DEVICES)}")
    if args.cuda_aware not in CUDA_AWARE_MODES:
        raise UsageError(
            f"unknown --cuda-aware value {args.cuda_aware!r}; expected one of {', '.join(CUDA_AWARE_MODES)}"
        )
    if args.transport not in GPU_TRANSPORTS:
        raise UsageError(f"unknown --transport {args.transport!r}; expected one of {', '.join(GPU_TRANSPORTS)}")
    if args.transport != "mpi" and args.device != "gpu":
        raise UsageError(f"--transport {args.transport} moves GPU buffers; add --device gpu")
    timing = args.timing or (DEFAULT_GPU_TIMING if args.device == "gpu" else DEFAULT_TIMING)
    if timing not in TIMING_MODES:
        raise UsageError(f"unknown timing mode {timing!r}; expected one of {', '.join(TIMING_MODES)}")
    minbytes = parse_size(args.minbytes, "min size (-b)")
    maxbytes = parse_size(args.maxbytes, "max size (-e)")
    factor = parse_factor(args.stepfactor)
    for dtype in dtypes:
        itemsize = collectives.DTYPES[dtype].itemsize
        for what, value in (("min size (-b)", minbytes), ("max size (-e)", maxbytes)):
            if value % itemsize:
                raise UsageError(
                    f"{what} {value} B is not a multiple of the {itemsize}-byte {dtype}; use a multiple of {itemsize}"
                )
    sizes = sweep(minbytes, maxbytes, factor)
    buffers = parse_align(args.align, args.huge_pages)
    for spec in buffers:
        for dtype in dtypes:
            check_itemsize(spec, dtype, collectives.DTYPES[dtype].itemsize)
    for dtype in dtypes:  # a case no requested algorithm can run is an error; one only some can run, their skips
        for op in ops:
            able = [a for a in algos if dtype in collectives.get(a).dtypes and op in collectives.get(a).ops]
            if not able:
                collectives.check_support(algos[0], dtype, op)
    return SweepConfig(
        algos=algos,
        sizes=sizes,
        dtypes=dtypes,
        ops=ops,
        placements=PLACEMENTS[args.placement],
        timing=timing,
        warmup=args.warmup,
        check=args.check,
        policy=IterationPolicy(iters=args.iters, budget=args.time_budget),
        options=algorithm_options(args, algos),
        meshes=_meshes(args.mesh),
        buffers=buffers,
        stat=args.stat,
    )


def _meshes(text: str | None) -> list[str]:
    shapes = []
    for item in (text or "").split(","):
        if item.strip():
            try:
                x, y = parse_mesh(item.strip())
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            shapes.append(f"{x}x{y}")
    return list(dict.fromkeys(shapes))


def _claim_directory(comm: Any, requested: str | None) -> str:
    """Rank 0 creates the results directory; every rank learns its path or the same error."""
    verdict: tuple[str, str] | None = None
    if comm.Get_rank() == 0:
        try:
            verdict = ("ok", str(claim(requested)))
        except UsageError as exc:
            verdict = ("error", str(exc))
    status, value = comm.bcast(verdict, root=0)
    if status == "error":
        raise UsageError(value)
    return value


def _settings(config: SweepConfig, device: Any, threads: dict[str, str]) -> list[str]:
    iters = (
        f"{config.policy.iters} per size"
        if config.policy.iters
        else f"auto (<= {config.policy.budget:g} s of timing per size)"
    )
    info = device.describe()
    device_text = ", ".join(f"{k} {v}" for k, v in info.items() if k != "device") or "-"
    device_text = f"{info['device']} ({device_text})"
    buffers = ", ".join(b.name for b in config.buffers)
    pages = config.buffers[0].huge_pages
    return [
        f"device: {device_text}",
        f"timing: {config.timing}, warm-up {config.warmup}, iterations {iters}; "
        f"time = {STATISTICS[config.stat][1]} (--stat {config.stat})",
        f"MPI thread level: {threads['provided']} ({threads['reason']})",
        f"buffers: --align {buffers}, huge pages {pages} (kernel: {transparent_huge_pages()})",
        f"check passes per size: {config.check}",
    ]


def _as_list(value: Any) -> list[int]:
    return list(value) if isinstance(value, list) else [int(value)]


def _topology_plan(
    args: argparse.Namespace, config: SweepConfig, world: Any
) -> tuple[list[int], list[str], int | None]:
    """Sizes, rank orders and logical ranks per node, checked against the job (same verdict on every rank)."""
    sizes = parse_ranks(args.ranks, world.Get_size())
    orders = parse_orders(args.rank_order)
    check_ranks_per_node(args.ranks_per_node, sizes)
    if "mesh" in config.algos:
        for shape in config.meshes:
            x, y = parse_mesh(shape)
            if x * y not in sizes:
                raise UsageError(
                    f"mesh shape {shape} has {x * y} ranks but no measured size does ({', '.join(map(str, sizes))}); "
                    "give shapes with X*Y equal to a size in --ranks (or to the job)"
                )
    return sizes, orders, args.ranks_per_node


def _unwatched(
    what: str, progress: list[float] | None = None, limit: float | None = None, outside: bool = False
) -> None:
    """No --timeout: nothing watches the steps."""


def _start_watchdog(timeout: float | None, comm: Any) -> Watchdog | None:
    """The --timeout watchdog, armed before the first collective call; ``MPI_Abort`` is its way to end the job."""
    if not timeout:
        return None
    return Watchdog(timeout, comm.Get_rank(), abort=comm.Abort)


def _close_on_fire(watchdog: Watchdog, comm: Any, writer: ResultsWriter | None, out_dir: str, hosts: list[str]) -> None:
    """Tell the watchdog how to close the results (rank 0; the deputy without it), then start the heartbeats."""

    def close(fields: dict[str, Any]) -> None:
        if writer:
            writer.close({"end_time": utc_now(), "complete": False, **fields})

    def append(fields: dict[str, Any]) -> bool:
        return append_footer(Path(out_dir), {"end_time": utc_now(), "complete": False, **fields})

    watchdog.close = close
    watchdog.listen(comm, hosts, append=append, fault=writer.add_fault if writer else None)


def main(args: argparse.Namespace) -> int:
    config = config_from(args)
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    root = comm.Get_rank() == 0
    watchdog = _start_watchdog(args.timeout, comm)
    watch = watchdog.watch if watchdog else _unwatched
    watch("starting: agreeing on the settings, describing the job", limit=max(args.timeout or 0, STARTUP_LIMIT))
    threads = thread_level()
    config.thread_level = threads["provided"]
    config.algos = agree(comm, lambda: forced_algorithms(config.algos))
    sizes, orders, per_node = _topology_plan(args, config, comm)
    local = local_rank(comm) if args.device == "gpu" else 0
    device = agree(comm, lambda: open_device(args.device, local, args.cuda_aware, args.transport))
    device.join(comm)
    itemsizes = [collectives.DTYPES[d].itemsize for d in config.dtypes]
    # each further --align placement holds its own send and receive buffers
    need = bytes_per_rank(max(config.sizes), itemsizes) + 2 * max(config.sizes) * (len(config.buffers) - 1)
    check_fits(comm, need, available_host_memory(), f"node {MPI.Get_processor_name()}")
    if device.name == "gpu":  # send, receive and scratch on the GPU; the ranks sharing a GPU together
        need = (BUFFERS_PER_RANK - 1) * max(config.sizes) + GPU_RESERVE_PER_RANK
        check_fits(comm, need, device.free_memory(), f"GPU {device.index}", share=device.identity()[1])
    out_dir = _claim_directory(comm, args.out)
    meta = describe(comm)
    meta["device"] = device.describe()
    if device.name == "gpu":
        meta["device"]["ranks"] = comm.allgather(device.provenance())
    meta["mpi"]["thread_level"] = threads
    total = sum(config.cases(p) for p in sizes) * len(orders)  # world rank 0 is on every sub-communicator
    progress = Progress(total, sys.stderr if root and not args.quiet else None, interval=args.progress_interval)
    console = Console(sys.stdout if root else None, progress)
    header = {
        "collbench_version": meta["packages"].get("collbench", ""),
        "label": args.label,
        "start_time": utc_now(),
        **meta,
        "config": {
            "algos": config.algos,
            "sizes": config.sizes,
            "dtypes": config.dtypes,
            "ops": config.ops,
            "placements": list(config.placements),
            "timing": config.timing,
            "warmup": config.warmup,
            "check": config.check,
            "iters": config.policy.iters,
            "time_budget_s": config.policy.budget,
            "options": config.options,
            "ranks": sizes,
            "ranks_per_node": per_node,
            "rank_orders": orders,
            "meshes": config.meshes,
            "stat": config.stat,
            "align": [b.name for b in config.buffers],
            "huge_pages": config.buffers[0].huge_pages,
            "transparent_huge_pages": transparent_huge_pages(),
        },
    }
    writer = ResultsWriter(out_dir, header) if root else None
    sharing = local_ranks() if os.environ.get(SHARED_CPUS) else None  # an emulated cluster's nodes share the CPUs
    warning = busy_wait_warning(sharing or max(_as_list(meta["ranks_per_node"])), threads["provided"])
    console.header(meta, _settings(config, device, threads) + [w for w in [warning] if w] + [f"results: {out_dir}"])
    nodes = node_ids(meta["hosts"], per_node)
    if watchdog:
        _close_on_fire(watchdog, comm, writer, out_dir, meta["hosts"])
    nwrong, rows = 0, 0
    machines: dict[int, Machine] = {}
    try:
        for p in sizes:
            for order in orders:
                watch(f"splitting the job into {p} ranks, {order} order")
                topology = split(comm, p, order, nodes, per_node)
                if topology is not None:
                    sweeper = Sweep(topology.comm, config, console, writer, topology, device, watchdog, progress)
                    if args.calibrate:
                        node_of = topology.comm.allgather(topology.node)
                        if p not in machines:  # the machine, measured once per size; placed in each rank order
                            watch(
                                f"calibrating the cost model on {p} ranks",
                                limit=max(args.timeout or 0, CALIBRATION_LIMIT),
                            )
                            record = calibrate(topology.comm, config.dtypes, config.buffers[0], device, node_of)
                            record.update(topology.fields())
                            if writer:
                                writer.add_calibration(record)
                            console.line(f"# {describe_calibration(record)}")
                            machines[p] = load_calibration(record)
                        sweeper.model = machines[p].placed(node_of)
                    nwrong += sweeper.run()
                    rows += sweeper.rows
                    watch(f"freeing the communicator of {p} ranks, {order} order")
                    topology.comm.Free()
                # outside the p ranks measured, a rank waits here for as long as they take: while rank 0 beats
                watch(f"the barrier after {p} ranks, {order} order", outside=topology is None)
                comm.Barrier()  # ranks outside this size wait here
    except MPI.Exception as exc:  # a peer lost, say: with --timeout, the cause goes into the results
        progress.clear()
        if watchdog:
            watchdog.fail(str(exc))
        raise
    finally:
        progress.clear()  # the live line leaves the terminal, also before a traceback
    watch("releasing the NCCL communicators, adding up the wrong elements")
    ncclcomm.release_all()  # the NCCL communicators the sweep's algorithms shared
    nwrong = comm.allreduce(nwrong if root else 0, op=MPI.SUM)
    if watchdog:
        watchdog.stop()
    if writer:
        writer.close({"end_time": utc_now(), "complete": True, "nwrong_total": nwrong})
    console.footer(nwrong, out_dir, rows)
    return 1 if nwrong else 0
