"""Faults mid-sweep on the emulated cluster: start a job, hit a node, watch every process of the job end.

    with launch("srun", SWEEP, tmp_path, nodes, state) as job:
        before = wait_rows(job, 3)                   # rows on disk before the fault
        ending = wait_end(job, inject("cut", nodes), 23)
    # leaving the block kills what is left, brings the links up and waits until Slurm is idle

The faults hit the last node (rank 0, which writes the results, runs on the first), but for ``stop-rank-0``:

- ``cut``: the host's end of the node's veth down, and left down (the node keeps its addresses and routes);
- ``outage``: the same for OUTAGE seconds, then up again;
- ``kill``: SIGKILL every rank there (its ``collbench run`` processes);
- ``stop``: SIGSTOP the highest world rank there;
- ``stop-rank-0``: SIGSTOP rank 0, on the first node: the run whose writer is lost (the deputy closes the journal).

The launchers, each for 2 nodes x 2 ranks: ``hydra`` (MPICH's mpiexec through ``python -m bench.cluster run``),
``srun`` (``srun --mpi=pmi2 --kill-on-bad-exit=1``, from the host) and ``sbatch`` (slurm/allreduce-cpu.sbatch,
whose srun runs on the first node).

A process of the job is, inside a node, any process but slurmd and slurmstepd (nothing else runs there; a slurmstepd
that outlives the job is reported apart), and on the host one whose command line names the job's results folder
(the launcher's Python, mpiexec, srun).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench import cluster, cluster_slurm

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COLLBENCH = BIN / "collbench"
SCRIPT = ROOT / "slurm" / "allreduce-cpu.sbatch"
FAULTS = ("cut", "kill", "stop", "stop-rank-0", "outage")
LAUNCHERS = ("hydra", "srun", "sbatch")
OUTAGE = 2.0  # seconds an outage keeps the link down
POLL = 0.1  # seconds between two looks at the journal or the processes
ASK = 1.0  # seconds between two questions to the launcher while waiting for rows (sbatch's are scontrol runs)
STEPD_GRACE = 6.0  # seconds a slurmstepd may outlive the job's processes: Slurm's KillWait (5 s here), and one
SETTLE = 60.0  # seconds Slurm may take to be idle again after a case
NUDGE = 5.0  # seconds after which a node still completing a job is set DOWN and RESUMEd (see _settle)
# scontrol's states of a batch job whose script has not ended (COMPLETING has: Slurm is cleaning up its nodes)
NOT_ENDED = {"PENDING", "CONFIGURING", "RUNNING", "SUSPENDED", "REQUEUED", "RESIZING"}
TABLE = "COLLBENCH_FAULT_TABLE"  # names a file to append each case to, as a markdown table line
COLUMNS = (
    "fault", "launcher", "ended after (s)", "launcher's end", "left running", "slurmstepd lingering",
    "rows before", "rows loaded", "cause",
)  # fmt: skip


@dataclass(frozen=True)
class Sweep:
    """What ``collbench run`` measures (the sbatch script takes the first three as its own settings)."""

    algos: str
    min_bytes: str
    max_bytes: str
    options: tuple[str, ...] = ()

    def args(self, out: Path) -> list[str]:
        """``collbench``'s arguments for this sweep, its results in ``out``."""
        sizes = ["-b", self.min_bytes, "-e", self.max_bytes]
        return ["run", "--algo", self.algos, *sizes, *self.options, "--out", str(out)]


@dataclass(frozen=True)
class Process:
    """A live process and where it runs."""

    pid: int
    where: str  # a node's name, or "host"
    name: str  # its /proc/PID/comm
    argv: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.where}:{self.pid} {' '.join(self.argv)[:160]}"


@dataclass
class Job:
    """A sweep under one launcher; leaving ``with`` kills what is left of it and readies the cluster for the next."""

    launcher: str
    nodes: list[str]
    state: Path  # Slurm's state folder
    out: Path  # the results folder
    log: Path  # what the launcher (sbatch: the batch script) printed
    process: subprocess.Popen[bytes] | None = None  # the launcher on the host (hydra, srun)
    job_id: str = ""  # sbatch's job

    def ended(self) -> str | None:
        """How the launcher ended ("exit 3"; sbatch: the job's state), or None while it runs."""
        if self.process is not None:
            code = self.process.poll()
            return None if code is None else f"exit {code}"
        shown = _slurm("scontrol", "-o", "show", "job", self.job_id, state=self.state)
        fields = dict(word.split("=", 1) for word in shown.split() if "=" in word)
        job_state = fields.get("JobState", "gone")
        return None if job_state in NOT_ENDED else job_state

    def __enter__(self) -> Job:
        return self

    def __exit__(self, *exc: object) -> None:
        clean(self)


@dataclass
class Ending:
    """How a job ended after a fault."""

    within: float  # the deadline, in seconds after the fault
    seconds: float | None  # from the fault until the launcher and all the job's processes had ended; None: not by then
    launcher: str  # how the launcher ended, or "running"
    left: list[str] = field(default_factory=list)  # the job's processes still running at the deadline
    stepds: list[str] = field(default_factory=list)  # slurmstepds that outlived the job by STEPD_GRACE s


@dataclass
class Case:
    """One fault under one launcher: a line of the table."""

    fault: str
    launcher: str
    ending: Ending
    rows_before: int
    rows_loaded: int
    cause: str

    def line(self) -> str:
        """The case as a markdown table line, its cells in the order of COLUMNS."""
        end = self.ending
        seconds = f"{end.seconds:.1f}" if end.seconds is not None else f"not within {end.within:g}"
        cells = [self.fault, self.launcher, seconds, end.launcher, "; ".join(end.left) or "none"]
        cells += ["; ".join(end.stepds) or "none", str(self.rows_before), str(self.rows_loaded), self.cause or "none"]
        return _table_line(cells)


def _table_line(cells: list[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def _slurm(*command: str, state: Path) -> str:
    """What a Slurm client command printed ("" if it failed)."""
    done = subprocess.run(
        command, capture_output=True, text=True, env=cluster_slurm.environment(state), timeout=30, check=False
    )
    return done.stdout if done.returncode == 0 else ""


def _start(command: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with open(log, "wb") as output:
        return subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=ROOT)


def launch(launcher: str, sweep: Sweep, folder: Path, nodes: list[str], state: Path) -> Job:
    """Start ``sweep`` on ``nodes`` (2 ranks on each) under ``launcher``, with Slurm's files in ``state``. Results go
    to ``folder / "results"`` (sbatch: a subfolder named after the job, as the script has it), logs to ``folder``."""
    out = folder / "results"
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "PYTHONUNBUFFERED": "1"}
    log = folder / f"{launcher}.log"
    if launcher == "hydra":  # bench.cluster gives mpiexec the nodes, and UCX on TCP over eth0
        mpiexec = [sys.executable, "-m", "bench.cluster", "run", "--", "-ppn", "2", "-n", "4"]
        command = [*mpiexec, str(COLLBENCH), *sweep.args(out)]
        return Job(launcher, nodes, state, out, log, _start(command, log, env))
    env = cluster_slurm.environment(state, env)  # and MPICH's OFI netmod over eth0, as srun --mpi=pmi2 needs
    if launcher == "srun":
        srun = ["srun", "-N", "2", "--ntasks-per-node", "2", "--mpi=pmi2", "--kill-on-bad-exit=1"]
        command = [*srun, str(COLLBENCH), *sweep.args(out)]
        return Job(launcher, nodes, state, out, log, _start(command, log, env))
    if launcher != "sbatch":
        raise ValueError(f"unknown launcher {launcher!r}; expected one of {', '.join(LAUNCHERS)}")
    env.update(
        COLLBENCH_SLURM_DIR=str(ROOT / "slurm"),
        COLLBENCH_SRUN_MPI="pmi2",
        COLLBENCH_OUTDIR=str(out),
        COLLBENCH_ALGOS=sweep.algos,
        COLLBENCH_MINBYTES=sweep.min_bytes,
        COLLBENCH_MAXBYTES=sweep.max_bytes,
        COLLBENCH_ARGS=" ".join(sweep.options),  # the script splits it at spaces
    )
    command = ["sbatch", "--parsable", "-N", "2", "--ntasks-per-node", "2", str(SCRIPT)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=folder, timeout=60, check=False)
    assert done.returncode == 0, f"sbatch failed: {done.stderr.strip()}"
    job_id = done.stdout.strip().split(";")[0]
    return Job(launcher, nodes, state, out / job_id, folder / f"collbench-cpu-{job_id}.out", job_id=job_id)


def tail(path: Path, size: int = 3000) -> str:
    """The end of the file at ``path`` ("" if there is none)."""
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return ""


def rows_written(out: Path) -> int:
    """How many rows the journal ``out/results.jsonl`` holds so far."""
    try:
        lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return 0
    return sum(line.startswith('{"record": "row"') for line in lines)


def wait_rows(job: Job, count: int, within: float = 90.0) -> int:
    """Wait until ``job``'s journal holds ``count`` rows; how many it holds then. Fails if the job ends first, or
    after ``within`` seconds."""
    deadline = time.monotonic() + within
    asked = 0.0
    while (rows := rows_written(job.out)) < count:
        now = time.monotonic()
        assert now < deadline, f"{rows} of {count} rows after {within:g} s:\n{tail(job.log)}"
        if now - asked >= ASK:
            asked, ended = now, job.ended()
            assert ended is None, f"the job ended ({ended}) with {rows} of {count} rows:\n{tail(job.log)}"
        time.sleep(POLL)
    return rows


def processes(nodes: list[str]) -> list[Process]:
    """Every live process, placed in a node by its network namespace, or on the host."""
    namespaces = {os.stat(f"/run/netns/{node}").st_ino: node for node in nodes}
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            net = os.readlink(Path(entry.path, "ns", "net"))  # net:[INODE]
            argv = Path(entry.path, "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:  # ended meanwhile, or not ours to look into (this container's init)
            continue
        name, after = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :]
        if after.startswith("Z"):
            continue
        where = namespaces.get(int(net[len("net:[") : -1]), "host")
        found.append(Process(int(entry.name), where, name, tuple(a for a in argv if a)))
    return found


def job_processes(job: Job) -> tuple[list[Process], list[Process]]:
    """``job``'s processes on the nodes and the host, and the slurmstepds on the nodes."""
    mine, stepds = [], []
    for process in processes(job.nodes):
        if process.where == "host":
            if str(job.out) in " ".join(process.argv):
                mine.append(process)
        elif process.name == "slurmstepd":
            stepds.append(process)
        elif process.name != "slurmd":
            mine.append(process)
    return mine, stepds


def ranks_on(node: str) -> dict[int, int]:
    """The ranks (``collbench run`` processes) on ``node``: {pid: world rank}."""
    ranks = {}
    for process in processes([node]):
        argv = process.argv
        is_rank = len(argv) > 2 and Path(argv[0]).name.startswith("python") and Path(argv[1]).name == "collbench"
        if process.where != node or not is_rank or argv[2] != "run":
            continue
        try:
            environ = Path(f"/proc/{process.pid}/environ").read_bytes().decode(errors="replace").split("\0")
        except OSError:  # ended meanwhile
            continue
        variables = dict(item.split("=", 1) for item in environ if "=" in item)
        ranks[process.pid] = int(variables.get("PMI_RANK") or variables["SLURM_PROCID"])
    return ranks


def host_end(node: str) -> str:
    """The host's end of ``node``'s veth (bench/cluster.py names it after the node's number)."""
    return f"{cluster.TAG}v{node.removeprefix(cluster.PREFIX)}"


def set_link(node: str, up: bool) -> None:
    """Bring ``node``'s link up or down at the host's end."""
    command = ["ip", "link", "set", host_end(node), "up" if up else "down"]
    subprocess.run(command, check=True, capture_output=True, timeout=30)


def _signal(pid: int, number: signal.Signals) -> None:
    try:
        os.kill(pid, number)
    except ProcessLookupError:
        pass


def inject(fault: str, nodes: list[str]) -> float:
    """Hit the last of ``nodes`` (rank 0's, the first, for stop-rank-0) with ``fault``; when it struck."""
    node = nodes[0] if fault == "stop-rank-0" else nodes[-1]
    struck = time.monotonic()
    if fault in ("cut", "outage"):
        set_link(node, up=False)
        if fault == "outage":
            time.sleep(OUTAGE)
            set_link(node, up=True)
        return struck
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}; expected one of {', '.join(FAULTS)}")
    ranks = ranks_on(node)
    assert ranks, f"no rank of the job on {node}: {[str(p) for p in processes([node]) if p.where == node]}"
    if fault == "kill":
        for pid in ranks:
            _signal(pid, signal.SIGKILL)
    else:
        _signal((min if fault == "stop-rank-0" else max)(ranks, key=ranks.__getitem__), signal.SIGSTOP)
    return struck


def wait_end(job: Job, struck: float, within: float) -> Ending:
    """Poll until ``job``'s launcher and every process of it have ended, at most ``within`` seconds after the fault
    that ``struck``; then how long slurmstepds outlive them."""
    deadline = struck + within
    while True:
        mine, stepds = job_processes(job)
        seen = time.monotonic()
        ended = None if mine else job.ended()  # sbatch asks scontrol: only once the processes are gone
        if ended is not None:
            break
        if seen >= deadline:
            return Ending(within, None, job.ended() or "running", [str(p) for p in mine], [str(p) for p in stepds])
        time.sleep(POLL)
    lingering = seen + STEPD_GRACE
    while stepds and time.monotonic() < lingering:
        time.sleep(POLL)
        stepds = job_processes(job)[1]
    return Ending(within, seen - struck, ended, stepds=[str(p) for p in stepds])


def clean(job: Job) -> None:
    """Bring every link up, SIGKILL what is left of ``job`` and wait (bounded) until Slurm is idle, with no job."""
    for node in job.nodes:
        set_link(node, up=True)
    if job.process is not None:
        job.process.kill()
        job.process.wait(timeout=30)
    else:
        _slurm("scancel", job.job_id, state=job.state)
    for process in job_processes(job)[0]:
        _signal(process.pid, signal.SIGKILL)
    _settle(job.nodes, job.state)


def _settle(nodes: list[str], state: Path) -> None:
    """Wait (bounded) until Slurm is idle, with no job. A node still completing NUDGE s after its link came back
    missed the controller's request to end the job while it was cut off, which the controller sends again only about
    a minute later: DOWN then RESUME frees it at once."""
    start = time.monotonic()
    nudged = False
    while True:
        queue = _slurm("squeue", "-h", "-o", "%i %T", state=state).split()
        listed = _slurm("sinfo", "-h", "-N", "-o", "%N %T", state=state).split()
        states = dict(zip(listed[::2], listed[1::2], strict=True))
        if not queue and sorted(states) == sorted(nodes) and set(states.values()) == {"idle"}:
            return
        waited = time.monotonic() - start
        assert waited < SETTLE, f"Slurm not idle {SETTLE:g} s after the case: jobs {queue}, nodes {states}"
        if waited > NUDGE and not nudged:
            for node in (n for n, node_state in states.items() if node_state.startswith("completing")):
                update = ["scontrol", "update", f"NodeName={node}"]
                _slurm(*update, "State=DOWN", "Reason=collbench fault test: missed the end of a job", state=state)
                _slurm(*update, "State=RESUME", state=state)
            nudged = True
        time.sleep(0.5)


def record(case: Case) -> None:
    """Print ``case`` as a markdown table line, and append it to the file $COLLBENCH_FAULT_TABLE names, if any (the
    table's header first, in a new file)."""
    line = case.line()
    print(line)
    table = os.environ.get(TABLE)
    if table:
        path = Path(table)
        new = not path.exists() or path.stat().st_size == 0
        header = [_table_line(list(COLUMNS)), _table_line(["---"] * len(COLUMNS))] if new else []
        with open(path, "a", encoding="utf-8") as handle:
            handle.write("\n".join([*header, line]) + "\n")
