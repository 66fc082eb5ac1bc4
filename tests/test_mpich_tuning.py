"""MPICH's tuning files from ``collbench tune``, applied at launch as a user sources them: MPICH's own composition
and algorithm tuning with all-reduce's size ranges rewritten. Proof from the results: on values whose float32 sum
depends on the order of the additions, each size gives the sum of the algorithm the file chose for it, and a size
the file leaves to MPICH gives MPICH's own sum."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import launch_env, mpiexec

from collectives.mpiforce import Tuning, mpich_selection, read_tuning, write_tuning

SUMS = """
import hashlib, sys
import numpy as np
from mpi4py import MPI
import collectives
comm = MPI.COMM_WORLD
p, rank = comm.Get_size(), comm.Get_rank()
big = np.float32(2**25)  # 2**25 + 1 rounds to 2**25: the sum depends on the order of the additions
said = []
for count in (64, 1 << 16):
    given = np.resize(np.roll(np.array([big, 1, -big, 1], np.float32), rank), count)
    given[::3] *= -1
    for algo in sys.argv[1:]:
        alg = collectives.create(algo, comm, count, "float32", "sum")
        out = np.empty_like(given)
        for _ in range(7):  # past MPIR_CVAR_POSIX_NUM_COLLS_THRESHOLD (5): then MPICH's shared-memory all-reduce runs
            alg(given, out)
        alg.close()
        said.append(f"{algo}@{count * 4}={hashlib.sha1(out.tobytes()).hexdigest()[:8]}")
if rank == 0:
    print(" ".join(said))
"""


def _sums(env: dict[str, str], *algos: str) -> dict[str, str]:
    # single: MPICH's shared-memory all-reduce, its own choice on one node, serves single-threaded processes only
    command = [mpiexec(), "-n", "4", sys.executable, "-c", SUMS, *algos]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env={**env, "MPI4PY_RC_THREAD_LEVEL": "single"}
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(item.split("=") for item in done.stdout.split())


def test_the_file_hands_its_size_ranges_to_the_forced_algorithm(tmp_path):
    from mpi4py import MPI

    if MPI.get_vendor()[0] != "MPICH":
        pytest.skip(f"the composition tuning file is MPICH's; this is {MPI.get_vendor()[0]}")
    selection = mpich_selection()
    assert selection is not None, "no built-in tuning files found in this MPICH's library"
    path = str(tmp_path / "tuned.env")
    write_tuning(Tuning("MPICH", {4: [(0, ""), (1024, "ring")]}, selection), path, {}, ["made by a test"])
    assert read_tuning(path).rules == {4: [(0, ""), (1024, "ring")]}
    settings = dict(line.split()[1].split("=", 1) for line in open(path) if line.startswith("export "))
    own = _sums(launch_env(), "mpi", "mpi:ring")
    tuned = _sums(launch_env(**settings), "mpi")
    assert own["mpi@256"] != own["mpi:ring@256"] and own["mpi@262144"] != own["mpi:ring@262144"], own
    assert tuned == {"mpi@256": own["mpi@256"], "mpi@262144": own["mpi:ring@262144"]}, (tuned, own)
