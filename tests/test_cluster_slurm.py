"""Slurm on the emulated nodes (bench/cluster_slurm.py): the CPU job script, unchanged, across 2 nodes.

``sbatch -N 2 --ntasks-per-node 2 slurm/allreduce-cpu.sbatch`` in both of its launch modes (srun
--mpi=pmi2 and Hydra's mpiexec, which starts its proxies with srun); small sizes through the
script's own settings. Needs root, network namespaces and Slurm (skipped with the reason elsewhere;
COLLBENCH_REQUIRE=netns or slurm fails instead). Takes the cluster's names, as tests/test_cluster.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT
from slurm_cluster import slurm_on_nodes

from bench import cluster_slurm
from bench.results import load, read_document

BIN = Path(sys.executable).parent
NOT_ENDED = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "RESIZING"}


def _shm() -> set[str]:
    return set(os.listdir("/dev/shm"))


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """Two nodes with Slurm on them: (node names, state folder). Afterwards nothing of either is left."""
    state = tmp_path_factory.mktemp("cluster-slurm")
    before = _shm()
    with slurm_on_nodes(state, "2gbit") as nodes:
        yield nodes, state
    assert _shm() <= before, f"left in /dev/shm: {sorted(_shm() - before)}"


def _submit(env: dict[str, str], cwd: Path) -> str:
    """``sbatch -N 2 --ntasks-per-node 2 slurm/allreduce-cpu.sbatch``, as a user types it; the job id."""
    command = ["sbatch", "-N", "2", "--ntasks-per-node", "2", str(ROOT / "slurm" / "allreduce-cpu.sbatch")]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("Submitted batch job"), done.stderr
    return done.stdout.split()[-1]


def _wait(job: str, env: dict[str, str], timeout: float = 120) -> dict[str, str]:
    """scontrol's fields of ``job`` once it has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = subprocess.run(
            ["scontrol", "-o", "show", "job", job], capture_output=True, text=True, env=env, timeout=30
        )
        fields = dict(w.split("=", 1) for w in shown.stdout.split() if "=" in w)
        if fields.get("JobState", "PENDING") not in NOT_ENDED:
            return fields
        time.sleep(0.5)
    raise AssertionError(f"job {job} has not ended after {timeout:.0f} s")


@pytest.mark.parametrize("launch", ["pmi2", "mpiexec"])
def test_the_cpu_script_runs_unchanged_across_two_nodes(slurm, launch, tmp_path):
    nodes, state = slurm
    settings = {
        "PATH": f"{BIN}:{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "COLLBENCH_SLURM_DIR": str(ROOT / "slurm"),
        "COLLBENCH_SRUN_MPI": launch,
        "COLLBENCH_OUTDIR": str(tmp_path / "results"),
        "COLLBENCH_ALGOS": "ring,hier,mpi",
        "COLLBENCH_MAXBYTES": "64",
        "COLLBENCH_ARGS": "-f 8 -w 1 -n 2 --placement out",
    }
    env = cluster_slurm.environment(state, {**os.environ, **settings})  # and MPI on TCP over eth0, as . DIR/env
    job = _submit(env, tmp_path)
    ended = _wait(job, env)
    log = "\n".join(p.read_text()[-3000:] for p in tmp_path.glob("collbench-cpu-*.out"))
    assert (ended["JobState"], ended["ExitCode"]) == ("COMPLETED", "0:0"), log
    out = tmp_path / "results" / job
    document = read_document(out / "results.json")
    assert document["env"]["SLURM_JOB_ID"] == job and document["complete"] is True
    assert {k: document["env"].get(k) for k in cluster_slurm.JOB_ENV} == cluster_slurm.JOB_ENV  # sbatch passed them on
    assert document["nodes"] == 2 and document["hosts"] == [nodes[0], nodes[0], nodes[1], nodes[1]]
    rows = load(out)
    assert (rows["nwrong"] == 0).all() and set(rows["algo"]) == {"ring", "hier", "mpi"}
    assert (rows["nodes"] == 2).all() and (rows["layout"] == "physical").all()
    oversubscribed = 4 > len(os.sched_getaffinity(0))  # the emulated nodes share this machine's CPUs
    assert (rows["thread_level"] == ("multiple" if oversubscribed else "single")).all(), set(rows["thread_level"])
    assert (out / "report.html").stat().st_size > 0
