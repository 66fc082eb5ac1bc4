"""The algorithm correctness matrix (tests/mpi/test_algorithms.py) across emulated nodes: 2 nodes x 2 ranks
and 3 nodes x 2 ranks, MPICH's Hydra launching through the cluster's launcher, node-mates over shared memory
and the rest over TCP between the nodes' namespaces. ``hier`` finds its nodes by the shared-memory split,
so here it splits by physical node.

Needs root and network namespaces (skipped with the reason elsewhere; COLLBENCH_REQUIRE=netns fails instead).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from capabilities import namespaces_missing, skip_or_fail
from conftest import launch_env, run_mpi_pytest

from bench import cluster


@pytest.fixture(scope="module")
def three_nodes():
    reason = namespaces_missing()
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
    launch = [str(Path(sys.executable).parent / "mpiexec"), *cluster.mpiexec_args(three_nodes[:nodes])]
    launch += ["-ppn", str(per_node), "-n", str(nodes * per_node)]
    run_mpi_pytest(
        launch, "tests/mpi/test_algorithms.py", tmp_path, f"on {nodes}x{per_node} nodes", cluster.mpi_env(launch_env())
    )
