"""The MPI thread level collbench asks for, decided before MPI starts."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT, launch_env

from bench.mpienv import busy_wait_warning, default_thread_level, local_ranks


@pytest.mark.parametrize(
    "environ, expected",
    [
        ({}, None),
        ({"MPI_LOCALNRANKS": "3"}, 3),
        ({"OMPI_COMM_WORLD_LOCAL_SIZE": "8"}, 8),
        ({"PMIX_LOCAL_SIZE": "2"}, 2),
        ({"SLURM_STEP_TASKS_PER_NODE": "3(x2),1", "SLURM_NODEID": "0"}, 3),
        ({"SLURM_STEP_TASKS_PER_NODE": "3(x2),1", "SLURM_NODEID": "1"}, 3),
        ({"SLURM_STEP_TASKS_PER_NODE": "3(x2),1", "SLURM_NODEID": "2"}, 1),
        ({"SLURM_STEP_TASKS_PER_NODE": "3(x2),1", "SLURM_NODEID": "3"}, None),
        ({"SLURM_STEP_TASKS_PER_NODE": "garbage", "SLURM_NODEID": "0"}, None),
        # an emulated cluster's nodes share one machine's CPUs: every rank of the job counts
        ({"COLLBENCH_NODES_SHARE_CPUS": "1", "MPI_LOCALNRANKS": "2", "PMI_SIZE": "4"}, 4),
        ({"COLLBENCH_NODES_SHARE_CPUS": "1", "OMPI_COMM_WORLD_LOCAL_SIZE": "2", "OMPI_COMM_WORLD_SIZE": "6"}, 6),
        (
            {
                "COLLBENCH_NODES_SHARE_CPUS": "1",
                "SLURM_STEP_TASKS_PER_NODE": "2(x2)",
                "SLURM_NODEID": "1",
                "SLURM_STEP_NUM_TASKS": "4",
            },
            4,
        ),
        ({"COLLBENCH_NODES_SHARE_CPUS": "", "MPI_LOCALNRANKS": "2", "PMI_SIZE": "4"}, 2),
    ],
)
def test_local_ranks_from_the_launcher(environ, expected):
    assert local_ranks(environ) == expected


@pytest.mark.parametrize(
    "environ, cpus, machine, level",
    [
        ({}, 2, 2, "single"),  # launched alone
        ({"MPI_LOCALNRANKS": "2"}, 2, 2, "single"),
        ({"MPI_LOCALNRANKS": "3"}, 2, 2, "multiple"),  # oversubscribed: MPICH would never yield
        ({"MPI_LOCALNRANKS": "8"}, 1, 64, "single"),  # each rank bound to its own core
        ({"OMPI_COMM_WORLD_LOCAL_SIZE": "8"}, 4, 4, "multiple"),
        ({"OMPI_COMM_WORLD_LOCAL_SIZE": "8", "OMPI_COMM_WORLD_SIZE": "8"}, 4, 4, "single"),  # mpirun yields itself
        # 2 emulated nodes x 2 ranks on a 2-CPU machine: each node alone looks fine, the machine is oversubscribed
        ({"MPI_LOCALNRANKS": "2", "PMI_SIZE": "4"}, 2, 2, "single"),
        ({"MPI_LOCALNRANKS": "2", "PMI_SIZE": "4", "COLLBENCH_NODES_SHARE_CPUS": "1"}, 2, 2, "multiple"),
    ],
)
def test_default_is_single_unless_the_node_is_oversubscribed(environ, cpus, machine, level):
    chosen, reason = default_thread_level(environ, cpus, machine)
    assert chosen == level
    assert ("busy-waits" in reason) == (level == "multiple")


def test_busy_wait_warning():
    assert busy_wait_warning(2, "single", cpus=2) is None
    assert busy_wait_warning(8, "multiple", cpus=2) is None
    assert "8 ranks share 2 CPUs" in busy_wait_warning(8, "single", cpus=2)


@pytest.mark.parametrize(
    "environ, flag, expected",
    [
        ({}, None, "single"),
        ({"MPI4PY_RC_THREAD_LEVEL": "serialized"}, None, "serialized"),
        ({"MPI4PY_RC_THREAD_LEVEL": "serialized"}, "funneled", "funneled"),
    ],
)
def test_the_level_mpi_starts_at(environ, flag, expected):
    """In a fresh process (MPI starts once): the flag, else mpi4py's variable, else collbench's default."""
    script = (
        "from bench.mpienv import request_thread_level, thread_level\n"
        f"request_thread_level({flag!r})\n"
        "print(thread_level()['provided'])\n"
    )
    env = launch_env()
    for name in ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE", "MPI4PY_RC_THREAD_LEVEL"):
        env.pop(name, None)  # a process launched alone, whatever launched this test
    env.update(environ)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected


def test_open_mpis_report_of_a_failed_rank_is_taken_out_and_nothing_else():
    from bench.mpienv import without_launcher_report

    rule = "-" * 74
    report = f"{rule}\nprterun detected that one or more processes exited with non-zero status,\n   Exit code:    2\n{rule}\n"
    assert without_launcher_report(f"collbench: error: bad\n{report}") == "collbench: error: bad\n"
    unreach = "[vm:04967] PMIX ERROR: PMIX_ERR_UNREACH in file pmix_server.c at line 3146\n"
    assert without_launcher_report(f"collbench: error: bad\n{unreach}") == "collbench: error: bad\n"
    other = f"{rule}\nsome other help message\n{rule}\n"  # any other message of Open MPI's stays
    assert without_launcher_report(other) == other
    assert without_launcher_report("a\nb\n") == "a\nb\n"


def test_open_mpi_gets_leave_to_run_as_root_and_to_oversubscribe(tmp_path):
    from bench.mpienv import launcher, launcher_env

    fake = tmp_path / "mpiexec"
    fake.write_text("#!/bin/sh\necho 'mpiexec (Open MPI) 5.0.11'\n")
    fake.chmod(0o755)
    assert launcher(str(fake))[0] == "openmpi"
    assert launcher_env(str(fake))["PRTE_MCA_rmaps_default_mapping_policy"] == ":oversubscribe"
    hydra = tmp_path / "hydra"
    hydra.write_text("#!/bin/sh\necho 'HYDRA build details:'\n")
    hydra.chmod(0o755)
    assert launcher(str(hydra))[0] == "hydra" and launcher_env(str(hydra)) == {}  # Hydra does both of itself
