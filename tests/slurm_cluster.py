"""A throwaway Slurm on localhost for the tests: munged, slurmctld and slurmd in a temp directory.

Generated slurm.conf: auth/munge over a private munged socket, select/cons_tres, one node
with this machine's CPUs, a partition that oversubscribes (tests submit more tasks than cores
with --overcommit). Slurm 22.05 refuses --ntasks-per-node above the node's CPUs at submission
even with --overcommit, so the node declares at least 8 CPUs (``SlurmdParameters=
config_overrides`` lets slurmd accept that on a smaller machine). Everything lives under the
given directory and is stopped afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from capabilities import namespaces_missing, skip_or_fail

from bench import cluster, cluster_slurm

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sacct")


def missing_commands() -> list[str]:
    return [name for name in DAEMONS[:-1] if not shutil.which(name) and not Path(f"/usr/sbin/{name}").exists()]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _memory_mb() -> int:
    with open("/proc/meminfo", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024 - 512
    return 1024


def _first_job_id() -> int:
    """Job ids that no earlier test cluster on this machine used: MPICH names its shared-memory segment after the
    PMI job id and a killed job leaves it in /dev/shm, where the next job 4 would collide with it ("Out of memory")."""
    return 1000 + int(time.time() * 10) % 60_000_000


class SlurmCluster:
    """Start with :meth:`start`, submit with :meth:`sbatch`, wait with :meth:`wait`, stop with :meth:`stop`."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.host = socket.gethostname().split(".")[0]
        self.conf = self.root / "slurm.conf"
        self.env = dict(os.environ, SLURM_CONF=str(self.conf))
        self._processes: list[subprocess.Popen] = []

    def _munged(self) -> None:
        munge = self.root / "munge"
        munge.mkdir(mode=0o700)
        key = munge / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self.socket = munge / "munge.socket"
        subprocess.run(
            [
                "/usr/sbin/munged",
                "--force",
                f"--socket={self.socket}",
                f"--key-file={key}",
                f"--pid-file={munge / 'munged.pid'}",
                f"--log-file={munge / 'munged.log'}",
                f"--seed-file={munge / 'munged.seed'}",
            ],
            check=True,
            capture_output=True,
            timeout=30,
        )

    def _write_conf(self) -> None:
        for name in ("state", "spool"):
            (self.root / name).mkdir()
        cpus = max(8, os.cpu_count() or 1)
        self.conf.write_text(f"""ClusterName=collbench-test
SlurmctldHost={self.host}
SlurmUser=root
SlurmdUser=root
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.socket}
StateSaveLocation={self.root / "state"}
SlurmdSpoolDir={self.root / "spool"}
SlurmctldPidFile={self.root / "slurmctld.pid"}
SlurmdPidFile={self.root / "slurmd.pid"}
SlurmctldLogFile={self.root / "slurmctld.log"}
SlurmdLogFile={self.root / "slurmd.log"}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
MpiDefault=none
SlurmdParameters=config_overrides
ReturnToService=2
FirstJobId={_first_job_id()}
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
KillWait=5
InactiveLimit=0
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName={self.host} CPUs={cpus} RealMemory={_memory_mb()} State=UNKNOWN
PartitionName=test Nodes={self.host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:8
""")

    def start(self) -> None:
        self._munged()
        self._write_conf()
        for daemon in ("slurmctld", "slurmd"):
            subprocess.run(
                [f"/usr/sbin/{daemon}", "-f", str(self.conf)] + (["-i"] if daemon == "slurmctld" else []),
                check=True,
                capture_output=True,
                env=self.env,
                timeout=60,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, env=self.env)
            if state.returncode == 0 and state.stdout.strip() in ("idle", "mixed", "allocated"):
                return
            time.sleep(0.5)
        raise RuntimeError(f"Slurm did not come up: {self.logs()}")

    def sbatch(self, script: Path, *options: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> str:
        """Submit ``script`` unchanged with sbatch ``options``; the job id."""
        done = subprocess.run(
            ["sbatch", "--parsable", *options, str(script)],
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
            cwd=cwd,
            timeout=60,
        )
        if done.returncode != 0:
            raise RuntimeError(f"sbatch failed: {done.stderr}")
        return done.stdout.strip().split(";")[0]

    def wait(self, job: str, timeout: float = 300) -> str:
        """Wait until every task of ``job`` has left the queue; the final state scontrol reports."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            queued = subprocess.run(
                ["squeue", "-h", "-j", job, "-o", "%T"], capture_output=True, text=True, env=self.env
            )
            if queued.returncode == 0 and not queued.stdout.strip():
                break
            time.sleep(1)
        else:
            raise TimeoutError(f"job {job} still queued after {timeout} s")
        shown = subprocess.run(["scontrol", "-o", "show", "job", job], capture_output=True, text=True, env=self.env)
        states = [w.split("=", 1)[1] for w in shown.stdout.split() if w.startswith("JobState=")]
        return ",".join(states) or "UNKNOWN"

    def logs(self) -> str:
        texts = []
        for name in ("slurmctld.log", "slurmd.log"):
            path = self.root / name
            if path.exists():
                texts.append(f"--- {name}\n" + path.read_text()[-3000:])
        return "\n".join(texts)

    def stop(self) -> None:
        subprocess.run(["scontrol", "shutdown"], capture_output=True, env=self.env, timeout=30)
        for pidfile in ("slurmctld.pid", "slurmd.pid", "munge/munged.pid"):
            path = self.root / pidfile
            if path.exists():
                try:
                    os.kill(int(path.read_text().strip()), 15)
                except (ProcessLookupError, ValueError):
                    pass


def running_from(state: Path) -> list[str]:
    """Live processes whose command line names ``state`` (munged, slurmctld, the slurmds)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            zombie = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        except (OSError, IndexError):
            continue
        if str(state) in command and not zombie:
            found.append(f"{proc.name}: {command.strip()}")
    return found


@contextmanager
def slurm_on_nodes(state: Path, rate: str) -> Iterator[list[str]]:
    """Two emulated nodes linked at ``rate`` with Slurm on them (bench.cluster, bench.cluster_slurm), its files in
    ``state``: their names. Skipped where they cannot run (COLLBENCH_REQUIRE=netns or slurm fails instead);
    afterwards nothing of either is left, which it asserts."""
    reason = namespaces_missing()
    if reason:
        skip_or_fail("netns", reason)
    missing = cluster_slurm.missing_commands()
    if missing:
        skip_or_fail(
            "slurm",
            f"Slurm is not installed here ({', '.join(missing)} missing): apt-get install slurmctld slurmd slurm-client munge",
        )
    try:
        nodes = cluster.up(2, rate)
        cluster_slurm.start(nodes, state)
        yield nodes
    finally:
        cluster.down()
        assert not cluster.existing_nodes(), f"namespaces left: {cluster.existing_nodes()}"
        assert not running_from(state), f"daemons left: {running_from(state)}"
        assert not cluster_slurm.RECORD.exists()
        assert not cluster.host_ends(), f"veths left: {cluster.host_ends()}"
