"""Runs tests/mpi under mpiexec at 1 to 4 ranks, and the algorithm matrix on up to 8 ranks.

Oversubscribed here (8 ranks on 2 cores), as on any laptop; written to pass at any rank count.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT, launch_env, mpiexec


@pytest.mark.parametrize("nranks", [1, 2, 3, 4])
def test_mpi_suite(nranks, tmp_path):
    command = [
        mpiexec(),
        "-n",
        str(nranks),
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-x",
        "-p",
        "no:cacheprovider",
        str(ROOT / "tests" / "mpi"),
    ]
    env = launch_env(COLLBENCH_MPI_BASETEMP=str(tmp_path))
    env["PYTHONPATH"] = f"{ROOT / 'tests' / 'mpi'}:{env['PYTHONPATH']}"
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"MPI suite at {nranks} ranks hung for 600 s:\n{exc.stdout}\n{exc.stderr}")
    assert done.returncode == 0, f"MPI suite failed at {nranks} ranks:\n{done.stdout[-8000:]}\n{done.stderr[-4000:]}"
