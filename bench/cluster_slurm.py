"""Slurm on the emulated nodes: slurmctld and munged on the host, one slurmd inside each node.

    python -m bench.cluster up -n 2 --slurm /tmp/cb-slurm    # the nodes, then Slurm on them
    . /tmp/cb-slurm/env                                       # SLURM_CONF, and MPI on TCP over the nodes' eth0
    sbatch -N 2 --ntasks-per-node 2 slurm/allreduce-cpu.sbatch
    python -m bench.cluster down                              # Slurm's daemons too, then the nodes

The controller and munged run on the host (they are no node's): slurmctld answers on the bridge's
address, and munged on a socket in the state folder, which every namespace reaches (a path, not a
network address). Each node's slurmd starts through the cluster's launcher, so it runs inside the
node's namespace, under the node's name as hostname and with the node's own ``/dev/shm``, and so do
the jobs it starts: srun's tasks, the batch script, and the proxies Hydra's mpiexec starts with srun.
slurm.conf names each node with its address (``NodeAddr``); its spool, pid and log paths carry
``%n``, so the slurmds, which share one file system, keep apart. Jobs take MPICH's OFI netmod
(``JOB_ENV``: srun --mpi=pmi2 cannot carry the UCX netmod's address exchange across nodes).

Everything lives in the state folder (slurm.conf, ``env``, logs, spool); ``stop`` finds the daemons
through their pid files there, and the folder through a record in /run, so ``cluster down`` ends
them, also after a crash.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from .cluster import CLUSTER_ID, LAUNCHER, SUBNET, ClusterError, address, existing_nodes, mpi_env

SBIN = Path("/usr/sbin")
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "srun", "sinfo", "scontrol")
RECORD = Path(f"/run/collbench-slurm{CLUSTER_ID}")  # the state folder of the Slurm that runs now
CONTROLLER = f"{SUBNET}.1"  # the bridge's address, on the host
MADE_HERE = "# collbench's emulated Slurm (bench/cluster_slurm.py): its state folder is cleared when it starts again"
READY_WAIT = 60.0  # seconds for every slurmd to register
STOP_WAIT = 10.0  # seconds for the daemons to end on SIGTERM, before SIGKILL
# srun --mpi=pmi2 speaks PMI-1 with the mpich wheel, and Slurm (22.05) takes each PMI-1 command from one read of at
# most 1024 bytes. Across nodes, MPICH's UCX netmod puts a 4096-byte business card (its address, then whatever memory
# follows it) in segments of up to 1024 characters: a segment that does not compress arrives cut in two, and
# MPI_Init fails ("UCX ERROR failed to unpack address, invalid bandwidth 0.00") or hangs. The OFI netmod's card is
# its 16-byte TCP address, so the jobs use it, on TCP over eth0 (in both launch modes, to compare alike).
JOB_ENV = {"MPIR_CVAR_CH4_NETMOD": "ofi", "FI_PROVIDER": "tcp", "FI_TCP_IFACE": "eth0"}


def missing_commands() -> list[str]:
    """The Slurm and munge commands this machine lacks (Debian: slurmctld slurmd slurm-client munge)."""
    daemons = [d for d in DAEMONS if not (SBIN / d).exists()]
    return daemons + [c for c in CLIENTS if not shutil.which(c)]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((CONTROLLER, 0))
        return sock.getsockname()[1]


def _conf(state: Path, nodes: list[str]) -> str:
    """slurm.conf: the controller on the bridge, every node by its address, per-node paths through %n."""
    # Every node is this machine: it declares the machine's CPUs (at least 2, so -N 2 --ntasks-per-node 2
    # fits on a smaller one; config_overrides lets slurmd accept that).
    cpus = max(2, os.cpu_count() or 1)
    node_lines = "".join(
        f"NodeName={n} NodeAddr={address(i)} CPUs={cpus} State=UNKNOWN\n" for i, n in enumerate(nodes, 1)
    )
    return f"""{MADE_HERE}
ClusterName=collbench{CLUSTER_ID}
SlurmctldHost={socket.gethostname().split(".")[0]}({CONTROLLER})
SlurmUser=root
SlurmdUser=root
SlurmctldPort={_free_port()}
SlurmdPort=6818
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={state / "munge" / "munge.socket"}
StateSaveLocation={state / "slurmctld"}
SlurmctldPidFile={state / "slurmctld" / "slurmctld.pid"}
SlurmctldLogFile={state / "slurmctld" / "slurmctld.log"}
SlurmdSpoolDir={state / "%n" / "spool"}
SlurmdPidFile={state / "%n" / "slurmd.pid"}
SlurmdLogFile={state / "%n" / "slurmd.log"}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
MpiDefault=none
SlurmdParameters=config_overrides
ReturnToService=2
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
KillWait=5
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=30
{node_lines}PartitionName=emulated Nodes={",".join(nodes)} Default=YES MaxTime=INFINITE State=UP
"""


def _prepare(state: Path, nodes: list[str]) -> None:
    """An empty state folder (a new one, or the remains of an earlier emulated Slurm, cleared)."""
    if state.exists() and any(state.iterdir()):
        conf = state / "slurm.conf"
        if not conf.exists() or not conf.read_text().startswith(MADE_HERE):
            raise ClusterError(f"{state} holds files but no emulated Slurm: give a new or empty folder for its state")
        shutil.rmtree(state)
    for folder in ("munge", "slurmctld", *(f"{n}/spool" for n in nodes)):
        (state / folder).mkdir(parents=True, mode=0o700)


def _munged(state: Path) -> None:
    munge = state / "munge"
    key = munge / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    _daemon(
        "munged",
        munge / "munged.log",
        SBIN / "munged",
        "--force",
        f"--socket={munge / 'munge.socket'}",
        f"--key-file={key}",
        f"--pid-file={munge / 'munged.pid'}",
        f"--log-file={munge / 'munged.log'}",
        f"--seed-file={munge / 'munged.seed'}",
    )


def _daemon(name: str, log: Path, *command: str | Path) -> None:
    """Run a daemon's start command (the daemon forks, the command returns); a one-line error naming its log."""
    try:
        done = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired as exc:
        raise ClusterError(f"{name} did not start within 60 s; see {log}") from exc
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise ClusterError(f"{name} did not start ({said}); see {log}")


def _wait_ready(state: Path, nodes: list[str]) -> None:
    """Until every node is idle in sinfo; a ClusterError naming the stragglers and their logs after READY_WAIT."""
    env = environment(state)
    deadline = time.monotonic() + READY_WAIT
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        shown = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%N %T"], capture_output=True, text=True, env=env, timeout=30
        )
        states = dict(line.split() for line in shown.stdout.splitlines() if len(line.split()) == 2)
        if all(states.get(n) == "idle" for n in nodes):
            return
        time.sleep(0.5)
    late = [n for n in nodes if states.get(n) != "idle"]
    logs = ", ".join(str(state / n / "slurmd.log") for n in late)
    raise ClusterError(
        f"{', '.join(late)} not idle after {READY_WAIT:.0f} s ({states or 'no answer from slurmctld'}); "
        f"see {state / 'slurmctld' / 'slurmctld.log'} and {logs}"
    )


def start(nodes: list[str], state: Path) -> Path:
    """Slurm on ``nodes`` (made by ``cluster.up``) with its files in ``state``; the slurm.conf. Stops a Slurm left
    running first, and what it started if it fails half way."""
    state = Path(state).resolve()
    if missing := missing_commands():
        raise ClusterError(
            f"Slurm is not installed ({', '.join(missing)} missing): apt-get install slurmctld slurmd slurm-client munge"
        )
    if absent := sorted(set(nodes) - set(existing_nodes())):
        raise ClusterError(f"no emulated node {', '.join(absent)}: python -m bench.cluster up first")
    stop()
    _prepare(state, nodes)
    conf = state / "slurm.conf"
    RECORD.write_text(f"{state}\n")
    try:
        conf.write_text(_conf(state, nodes))
        # Inside a node /sys is the namespace's own, with no cgroup file system under it: slurmd's autodetection would
        # fail there. Nothing here uses cgroups (proctrack/linuxproc, task/none); v1 starts without one.
        (state / "cgroup.conf").write_text("CgroupPlugin=cgroup/v1\n")
        env_file = {"SLURM_CONF": str(conf), **JOB_ENV, **mpi_env({})}
        (state / "env").write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in env_file.items()))
        _munged(state)
        _daemon("slurmctld", state / "slurmctld" / "slurmctld.log", SBIN / "slurmctld", "-i", "-f", conf)
        for node in nodes:  # inside the node: its namespace, hostname and /dev/shm, for slurmd and its jobs
            slurmd = shlex.join([str(SBIN / "slurmd"), "-f", str(conf), "-N", node])
            _daemon(f"slurmd on {node}", state / node / "slurmd.log", LAUNCHER, node, slurmd)
        _wait_ready(state, nodes)
    except BaseException:
        stop()
        raise
    return conf


def environment(state: Path, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment to submit jobs in, which sbatch passes on to them: ``environ`` (or this process's; its own
    settings stay) with SLURM_CONF, MPICH's OFI netmod on TCP over each node's eth0, and the cluster's ``mpi_env``."""
    given = os.environ if environ is None else environ
    return mpi_env({**JOB_ENV, **given, "SLURM_CONF": str(Path(state).resolve() / "slurm.conf")})


def stop() -> list[str]:
    """End the emulated Slurm that runs now (its record in /run names its state folder); what was stopped.
    Bounded: SIGTERM, then SIGKILL after STOP_WAIT seconds."""
    if not RECORD.exists():
        return []
    state = Path(RECORD.read_text().strip())
    pid_files = [
        state / "slurmctld" / "slurmctld.pid",
        *sorted(state.glob("*/slurmd.pid")),
        state / "munge" / "munged.pid",
    ]
    running: dict[int, str] = {}  # pid: what it is
    for pid_file in pid_files:
        pid = _daemon_pid(pid_file)
        if pid is not None:
            running[pid] = f"slurmd on {pid_file.parent.name}" if pid_file.name == "slurmd.pid" else pid_file.stem
    for pid in running:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_WAIT
    while time.monotonic() < deadline and any(_alive(pid) for pid in running):
        time.sleep(0.1)
    for pid in running:
        if _alive(pid):
            _signal(pid, signal.SIGKILL)
    RECORD.unlink()
    return list(running.values())


def _daemon_pid(pid_file: Path) -> int | None:
    """The pid in ``pid_file`` if that process still runs one of Slurm's or munge's daemons (not a reused pid)."""
    try:
        pid = int(pid_file.read_text().strip())
        command = Path(f"/proc/{pid}/comm").read_text().strip()
    except (OSError, ValueError):
        return None
    return pid if command in DAEMONS else None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _signal(pid: int, number: signal.Signals) -> None:
    try:
        os.kill(pid, number)
    except ProcessLookupError:
        pass
