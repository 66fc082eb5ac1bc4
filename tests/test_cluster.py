"""The emulated cluster (bench/cluster.py): nodes as network namespaces, MPI across them, nothing left after.

Needs root and network namespaces; skipped with the reason elsewhere (COLLBENCH_REQUIRE=netns fails
instead). The tests take the cluster's names (cbn<i>, cbbr0; others under COLLBENCH_CLUSTER_ID), so one
cluster's tests run one at a time.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from capabilities import skip_or_fail
from conftest import ROOT, launch_env

from bench import cluster
from bench.results import load, read_document


def _can_make_namespaces() -> str | None:
    if os.geteuid() != 0:
        return "the emulated cluster needs root"
    if not shutil.which("ip") or not shutil.which("tc") or not shutil.which("unshare"):
        return "the emulated cluster needs ip, tc and unshare (iproute2, util-linux)"
    probe = subprocess.run(["ip", "netns", "add", "cbprobe"], capture_output=True, text=True)
    subprocess.run(["ip", "netns", "del", "cbprobe"], capture_output=True)
    return None if probe.returncode == 0 else f"cannot make a network namespace: {probe.stderr.strip()}"


@pytest.fixture
def nodes():
    reason = _can_make_namespaces()
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


def test_a_run_crosses_two_physical_nodes_and_leaves_nothing(nodes, tmp_path):
    before = _shm()
    out = tmp_path / "run"
    run = [sys.executable, "-m", "bench", "run", "--algo", "ring,hier,mpi", "-b", "1K", "-e", "64K", "-f", "8"]
    command = _mpiexec(nodes, "-ppn", "2", "-n", "4", *run, "--rank-order", "packed,spread", "--out", str(out))
    done = subprocess.run(
        command, capture_output=True, text=True, env=cluster.mpi_env(launch_env()), timeout=300, cwd=ROOT
    )
    assert done.returncode == 0, done.stdout + done.stderr
    document = read_document(out)
    assert document["hosts"] == [nodes[0], nodes[0], nodes[1], nodes[1]] and document["nodes"] == 2
    rows = load(out)
    assert (rows["nwrong"] == 0).all() and set(rows["rank_order"]) == {"packed", "spread"}
    assert (rows["nodes"] == 2).all() and (rows["ranks_per_node"] == 2).all() and (rows["layout"] == "physical").all()
    assert _shm() <= before, f"left in /dev/shm: {sorted(_shm() - before)}"


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
    done = subprocess.run([str(cluster.LAUNCHER), "-x", f"{cluster.PREFIX}9", "true"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 255 and f"no emulated node '{cluster.PREFIX}9'" in done.stderr
