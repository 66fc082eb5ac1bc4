"""Runs the benchmarks in tests/bench under mpiexec: a smoke run, and the regression gate of make perf-compare.

The smoke run takes one round of every benchmark (and the clock's self-tests) on 2 ranks and checks
the JSON rank 0 wrote: a benchmark for every algorithm that can run here at every size, the hot
spots, and the slowest rank's time. The gate test drives the Makefile's own targets on one
benchmark in a temporary storage: a run slowed by a test-only sleep (tests/plugins/collbench_slow.py)
must fail ``make perf-compare`` against a run without it, and pass against a run slowed alike.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from capabilities import skip_or_fail
from conftest import ROOT, launch_env, mpiexec

import collectives

RANKS = 2
SIZES = ("8B", "64KiB", "4MiB")
SLOW = 0.002  # seconds of sleep added to every call of the slowed algorithm
STAMP = ".venv/.installed-collbench"  # the Makefile's install stamp: never remade from here (make -o)


def run(command: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{' '.join(command)} hung for {timeout} s:\n{exc.stdout}\n{exc.stderr}")


def test_smoke_run_measures_every_algorithm_and_size(tmp_path):
    report = tmp_path / "smoke.json"
    command = [mpiexec(), "-n", str(RANKS), sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    command += [str(ROOT / "tests" / "bench"), "--bench-rounds=1", "--bench-warmup=0", f"--benchmark-json={report}"]
    done = run(command, launch_env(COLLBENCH_PLUGINS="", COLLBENCH_TEST_SLOW=""))
    assert done.returncode == 0, f"the benchmarks failed:\n{done.stdout[-8000:]}\n{done.stderr[-4000:]}"

    saved = json.loads(report.read_text())
    benchmarks = {b["name"]: b for b in saved["benchmarks"]}
    runnable = [name for name in collectives.names() if collectives.get(name).unavailable_reason() is None]
    missing = [f"{a}-{s}" for a in runnable for s in SIZES if f"test_allreduce[{a}-{s}]" not in benchmarks]
    assert not missing, f"no benchmark saved for {missing}; saved: {sorted(benchmarks)}"
    for prefix in ("test_reduction_kernel[", "test_ring_schedule[", "test_binomial_tree[", "test_double_binary_tree["):
        assert any(name.startswith(prefix) for name in benchmarks), f"no {prefix}...] benchmark saved"
    assert saved["machine_info"]["collbench"]["nranks"] == RANKS

    # Only the last rank sleeps in this benchmark: what rank 0 saved must include the sleep.
    clock = benchmarks["test_benchmark_stats_are_the_slowest_ranks"]
    assert clock["stats"]["min"] >= clock["extra_info"]["sleep_on_last_rank_s"], clock["stats"]


def make(target: str, storage: Path, slow: str) -> subprocess.CompletedProcess[str]:
    """``make TARGET`` on ring at 8 B, 5 rounds, runs saved in ``storage``, with ring slowed as ``slow`` says."""
    command = ["make", "-C", str(ROOT), "-o", STAMP, target, f"BIN={Path(sys.executable).parent}"]
    command += [f"MPIEXEC={mpiexec()}", f"PERF_RANKS={RANKS}", f"PERF_STORAGE={storage}"]
    command += ["PERF_ARGS=-k 'test_allreduce and ring and 8B' --bench-rounds=5"]
    return run(command, launch_env(COLLBENCH_PLUGINS="collbench_slow", COLLBENCH_TEST_SLOW=slow))


def test_perf_compare_fails_on_a_slowed_algorithm():
    if shutil.which("make") is None:
        skip_or_fail("make", "make is not installed")
    # Under the repository, as make perf's own storage is: pytest-benchmark 5.3 crashes when it warns that two runs'
    # machines differ (they do here: COLLBENCH_TEST_SLOW) about a storage outside the working directory.
    (ROOT / ".benchmarks").mkdir(exist_ok=True)
    storage = Path(tempfile.mkdtemp(prefix="test-bench-suite-", dir=ROOT / ".benchmarks"))
    try:
        check_gate(storage)
    finally:
        shutil.rmtree(storage)


def check_gate(storage: Path) -> None:
    slowed = f"ring:{SLOW}"
    done = make("perf", storage, "")
    assert done.returncode == 0, f"make perf failed:\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
    assert len(list(storage.glob("*/*.json"))) == 1, "make perf saved no run"

    done = make("perf-compare", storage, slowed)
    output = done.stdout + done.stderr
    assert done.returncode != 0, f"make perf-compare passed although ring sleeps {SLOW} s per call:\n{output[-6000:]}"
    regressions = re.findall(
        r"test_allreduce\[ring-8B\].*'median' has failed PercentageRegressionCheck: ([\d.]+)", output
    )
    assert regressions, f"make perf-compare failed, but not on ring's median:\n{output[-6000:]}"
    assert float(regressions[0]) > 1000, f"ring's median rose by {regressions[0]}% only, with a {SLOW} s sleep per call"

    # Against a run slowed alike, the same comparison passes: the gate reacts to the sleep, not to the plugin.
    done = make("perf", storage, slowed)
    assert done.returncode == 0, f"make perf (slowed) failed:\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
    done = make("perf-compare", storage, slowed)
    assert done.returncode == 0, f"make perf-compare failed against an equally slowed run:\n{done.stdout[-6000:]}"
