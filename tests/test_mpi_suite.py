"""Runs tests/mpi under mpiexec at 1 to 4 ranks, the algorithm matrix at 5 to 8 ranks too, and the
fake-GPU matrix at 5 and 6.

Oversubscribed here (8 ranks on 2 cores), as on any laptop; written to pass at any rank count.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT, launch_env, mpiexec

SUITES = [(n, "tests/mpi") for n in (1, 2, 3, 4)] + [(n, "tests/mpi/test_algorithms.py") for n in (5, 6, 7, 8)]
SUITES += [(n, "tests/mpi/test_fake_gpu.py") for n in (5, 6)]


@pytest.mark.parametrize("nranks, path", SUITES)
def test_mpi_suite(nranks, path, tmp_path):
    command = [mpiexec(), "-n", str(nranks), sys.executable, "-m", "pytest", "-q", "-x"]
    command += ["-p", "no:cacheprovider", str(ROOT / path)]
    env = launch_env(COLLBENCH_MPI_BASETEMP=str(tmp_path))
    env["PYTHONPATH"] = f"{ROOT / 'tests' / 'mpi'}:{ROOT / 'tests'}:{env['PYTHONPATH']}"
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{path} at {nranks} ranks hung for 600 s:\n{exc.stdout}\n{exc.stderr}")
    assert done.returncode == 0, f"{path} failed at {nranks} ranks:\n{done.stdout[-8000:]}\n{done.stderr[-4000:]}"
