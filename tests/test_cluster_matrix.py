"""The algorithm correctness matrix (tests/mpi/test_algorithms.py) across emulated nodes: 2 nodes x 2 ranks
and 3 nodes x 2 ranks, MPICH's Hydra launching through the cluster's launcher, node-mates over shared memory
and the rest over TCP between the nodes' namespaces. ``hier`` finds its nodes by the shared-memory split,
so here it splits by physical node.

Needs root and network namespaces (skipped with the reason elsewhere; COLLBENCH_REQUIRE=netns fails instead).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from capabilities import skip_or_fail
from conftest import ROOT, launch_env
from test_cluster import _can_make_namespaces

from bench import cluster


@pytest.fixture(scope="module")
def three_nodes():
    reason = _can_make_namespaces()
    if reason:
        skip_or_fail("netns", reason)
    before = set(os.listdir("/dev/shm"))
    made = cluster.up(3, "10gbit")
    try:
        yield made
    finally:
        cluster.down()
    assert not cluster.existing_nodes()
    assert set(os.listdir("/dev/shm")) <= before, f"left in /dev/shm: {sorted(set(os.listdir('/dev/shm')) - before)}"


@pytest.mark.parametrize("nodes, per_node", [(2, 2), (3, 2)])
def test_the_algorithm_matrix_across_physical_nodes(three_nodes, nodes, per_node, tmp_path):
    hosts = three_nodes[:nodes]
    command = [str(Path(sys.executable).parent / "mpiexec"), *cluster.mpiexec_args(hosts)]
    command += ["-ppn", str(per_node), "-n", str(nodes * per_node), sys.executable, "-m", "pytest", "-q", "-x"]
    command += ["-p", "no:cacheprovider", str(ROOT / "tests/mpi/test_algorithms.py")]
    env = cluster.mpi_env(launch_env(COLLBENCH_MPI_BASETEMP=str(tmp_path)))
    env["PYTHONPATH"] = f"{ROOT / 'tests' / 'mpi'}:{ROOT / 'tests'}:{env['PYTHONPATH']}"
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the matrix on {nodes}x{per_node} nodes hung for 600 s:\n{exc.stdout}\n{exc.stderr}")
    assert done.returncode == 0, f"{nodes}x{per_node}:\n{done.stdout[-8000:]}\n{done.stderr[-4000:]}"
