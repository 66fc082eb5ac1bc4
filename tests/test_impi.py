"""Intel MPI (the impi-rt wheel): its all-reduce presets, forced one launch each, exact, different from each other,
merged into one run, tuned and applied. Runs under ``make test MPI=impi`` (the .venv-impi venv); elsewhere it skips
(COLLBENCH_REQUIRE=impi makes that a failure).

Intel MPI reads ``I_MPI_ADJUST_ALLREDUCE`` at start-up only, so every test here sets it per launch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata

import pytest
from capabilities import skip_or_fail
from conftest import launch_env, mpiexec, run_collbench, run_mpi_pytest

from bench.results import load, read_document
from collectives.mpiforce import INTEL_PRESETS, INTEL_VARIABLE, Tuning, write_tuning


@pytest.fixture(autouse=True)
def intel_mpi():
    try:
        metadata.version("impi-rt")
    except metadata.PackageNotFoundError:
        skip_or_fail("impi", "this venv has no Intel MPI: make test MPI=impi (pip install -e '.[impi,test]')")


# The presets whose algorithms Intel's reference names (1-12) and one more with a sum of its own: a launch each, 12 s
# here. All 32 passed when tried by hand: COLLBENCH_IMPI_PRESETS=all checks every one.
CHECKED = list(INTEL_PRESETS) if os.environ.get("COLLBENCH_IMPI_PRESETS") == "all" else [*range(1, 13), 19]


def test_presets_are_exact_at_2_to_5_ranks(tmp_path):
    """The forced-algorithm matrix of tests/mpi (every dtype, op and placement, counts around p), once per preset,
    on 2 to 5 ranks in turn."""
    for preset in CHECKED:
        ranks = 2 + preset % 4
        run_mpi_pytest(
            [mpiexec(), "-n", str(ranks)],
            "tests/mpi/test_algorithms.py::test_the_librarys_own_algorithms_forced_are_exact",
            tmp_path / str(preset),
            f"at {ranks} ranks with {INTEL_VARIABLE}={preset}",
            env=_env(str(preset)),
        )


SUM = """
import hashlib, sys
import numpy as np
from mpi4py import MPI
import collectives
comm = MPI.COMM_WORLD
p, rank = comm.Get_size(), comm.Get_rank()
big = np.float32(2**25)
pattern = np.array([big, 1, -big, 1], np.float32)  # 2**25 + 1 rounds to 2**25: the sum depends on the order
given = np.array([pattern[(rank + i) % p] for i in range(64)], np.float32)
given[::3] *= -1
alg = collectives.create(sys.argv[1], comm, 64, "float32", "sum")
sums = []
for _ in range(2):
    out = np.empty_like(given)
    alg(given, out)
    sums.append(hashlib.sha1(out.tobytes()).hexdigest())
if rank == 0:
    print("SUM", sums[0] if sums[0] == sums[1] else "unstable")
"""


def _env(preset: str = "") -> dict[str, str]:
    """The launch environment with ``preset`` set, or with no preset at all."""
    env = launch_env()
    env.pop(INTEL_VARIABLE, None)
    return {**env, INTEL_VARIABLE: preset} if preset else env


def _sum(algo: str, preset: str = "") -> str:
    env = _env(preset)
    command = [mpiexec(), "-n", "4", sys.executable, "-c", SUM, algo]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return next(line.split()[1] for line in done.stdout.splitlines() if line.startswith("SUM "))


def test_a_preset_set_at_launch_changes_the_algorithm():
    """Proof that the presets run: on values whose float32 sum depends on the order of the additions, presets
    associate the 4 ranks differently (measured: 1, 4, 7, 8 and 19 give five different sums, none Intel MPI's
    own), and each gives the same sum every time."""
    sums = {preset: _sum(f"mpi:preset-{preset}", preset) for preset in ("1", "4", "7", "8", "19")}
    own = _sum("mpi")
    assert "unstable" not in [*sums.values(), own]
    assert len(set(sums.values())) == len(sums) and own not in sums.values(), (sums, own)


def test_launches_merge_tune_and_the_file_applies_at_launch(tmp_path):
    sweep = ["-b", "8", "-e", "4K", "-f", "8", "-q"]
    runs = []
    for preset in ("", "1", "8"):
        out = str(tmp_path / (preset or "own"))
        done = run_collbench(2, "run", "--algo", "mpi,mpi:all", *sweep, "--out", out, env=_env(preset))
        assert done.returncode == 0, done.stdout + done.stderr
        runs.append(out)
    own = read_document(runs[0])
    assert any("at start-up only" in skip["reason"] for skip in own["skips"])  # mpi:all without a preset: why
    done = run_collbench(1, "merge", *runs, "--out", str(tmp_path / "all"))
    assert done.returncode == 0, done.stderr
    rows = load(tmp_path / "all")
    assert set(rows["algo"]) == {"mpi", "mpi:preset-1", "mpi:preset-8"} and rows["nwrong"].sum() == 0
    # mpi in a launch that set a preset is that preset, not Intel MPI's own choice: its rows say so
    launches = rows[rows["algo"] == "mpi"]["params"].map(lambda text: json.loads(text).get("launch", {}))
    assert sorted(launch.get(INTEL_VARIABLE, "") for launch in launches) == [""] * 8 + ["1"] * 8 + ["8"] * 8
    done = run_collbench(1, "tune", str(tmp_path / "all"), "--out", str(tmp_path / "tuned.env"))
    assert done.returncode == 0 and "Intel MPI" in done.stdout, done.stdout + done.stderr
    # a file that forces preset 8 from 512 B on, as tune writes it, applied at launch
    path = str(tmp_path / "by-hand.env")
    write_tuning(Tuning("Intel MPI", {2: [(0, ""), (512, "preset-8")]}), path, {}, ["made by a test"])
    value = next(line.split("=", 1)[1].strip('"\n') for line in open(path) if INTEL_VARIABLE in line)
    done = run_collbench(2, "run", "--algo", f"mpi:tuned={path}", *sweep, "--out", str(tmp_path / "t"), env=_env(value))
    assert done.returncode == 0, done.stdout + done.stderr
    chosen = {int(r.bytes): json.loads(r.params)["algorithm"] for r in load(tmp_path / "t").itertuples()}
    assert chosen == {8: "(the library's own)", 64: "(the library's own)", 512: "preset-8", 4096: "preset-8"}
    done = run_collbench(2, "run", "--algo", f"mpi:tuned={path}", *sweep, "--out", str(tmp_path / "u"), env=_env())
    assert "source the file before mpiexec" in done.stdout + done.stderr
