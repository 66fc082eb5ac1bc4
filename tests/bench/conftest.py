"""Benchmarks as tests: pytest-benchmark under mpiexec, every rank in lockstep, the slowest rank's time.

    mpiexec -n 2 python -m pytest tests/bench --benchmark-only --benchmark-autosave

- Run under mpiexec only: tests/conftest.py's ``collect_ignore`` keeps the suite's plain ``pytest``
  out of this folder, and tests/test_bench_suite.py runs it under mpiexec instead.
- Pedantic mode with fixed rounds, warm-up rounds (``--bench-rounds``, ``--bench-warmup``) and
  iterations (per case, in the tests): every rank runs the same loop, none calibrates on its own.
- The timer of every benchmark is a :class:`SlowestRankClock`: each round lasts as long as it did
  on the slowest rank, and that is what every rank records.
- Rank 0 alone prints the table, saves, writes JSON and compares with a saved run; the others
  only measure. After each test the ranks agree on the verdict, so a failure on one rank fails all.
"""

from __future__ import annotations

import pytest

from bench.mpienv import request_thread_level

request_thread_level(None)  # benchmarks run at collbench's default thread level (single), as the CLI does
from mpi4py import MPI
from pytest_benchmark.session import PerformanceRegression
from ranks_agree import pytest_runtest_call  # noqa: F401  (the ranks agree on every verdict)
from slowest_rank import SlowestRankClock

import collectives
from bench.environment import describe, relevant_env

# What ranks other than 0 must not do: report, save, write JSON, compare (the saved runs may live on rank 0's disk
# only). Profiling stays on everywhere: it calls the target again, and a collective needs every rank to.
RANK0_ONLY = {
    "benchmark_save": None,
    "benchmark_autosave": None,
    "benchmark_json": None,
    "benchmark_compare": [],
    "benchmark_compare_fail": None,
    "benchmark_histogram": None,
    "benchmark_quiet": True,
}

# The parts of collbench's run description that decide whether two runs compare: a warning when they differ.
MACHINE_KEYS = ("mpi", "packages", "nranks", "hosts", "nodes", "ranks_per_node")
MACHINE = pytest.StashKey[dict]()
SESSION = pytest.StashKey[pytest.Session]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("collbench benchmarks")
    group.addoption("--bench-rounds", type=int, help="timed rounds of every benchmark (default: each one's own)")
    group.addoption("--bench-warmup", type=int, default=2, help="untimed warm-up rounds per benchmark (default: 2)")


def pytest_configure(config: pytest.Config) -> None:
    collectives.load_plugins()
    comm = MPI.COMM_WORLD
    if comm.Get_rank() != 0:
        for option, off in RANK0_ONLY.items():
            setattr(config.option, option, off)
        config.option.verbose = min(config.option.verbose, -2)  # failures only: rank 0 prints the session
    run = describe(comm)
    config.stash[MACHINE] = {
        **{key: run[key] for key in MACHINE_KEYS},
        "env": {k: v for k, v in relevant_env().items() if k.startswith("COLLBENCH_")},
        "timing": "per round, the slowest rank's time (MPI MAX), after a barrier",
    }


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    machine_info["collbench"] = config.stash[MACHINE]


def pytest_runtest_setup(item: pytest.Item) -> None:
    if "benchmark" not in getattr(item, "fixturenames", ()):
        return
    # A fresh agreed clock per benchmark, as the closest benchmark mark (pytest-benchmark's way to set a timer).
    settings: dict = {}
    for mark in reversed(list(item.iter_markers("benchmark"))):
        settings.update(mark.kwargs)
    settings["timer"] = SlowestRankClock(MPI.COMM_WORLD)
    item.add_marker(pytest.mark.benchmark(**settings), append=False)


@pytest.hookimpl(wrapper=True)
def pytest_terminal_summary(terminalreporter):
    try:
        return (yield)
    except PerformanceRegression:
        # pytest-benchmark has listed the regressions above; fail the session without its traceback.
        terminalreporter.config.stash[SESSION].exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[SESSION] = session


@pytest.hookimpl(trylast=True)
def pytest_internalerror(excrepr, excinfo) -> None:
    # Printed above; the other ranks may be waiting in a collective for this one, so end the whole job.
    MPI.COMM_WORLD.Abort(3)


@pytest.fixture
def comm():
    return MPI.COMM_WORLD


@pytest.fixture
def measure(benchmark, request):
    """``measure(target, rounds, iterations)``: ``target`` benchmarked in pedantic mode; returns its result.

    ``--bench-rounds`` replaces every benchmark's own rounds (the smoke run in ``make test`` uses 1).
    """
    warmup = request.config.getoption("bench_warmup")

    def run(target, rounds: int, iterations: int):
        rounds = request.config.getoption("bench_rounds") or rounds
        return benchmark.pedantic(target, rounds=rounds, warmup_rounds=warmup, iterations=iterations)

    return run
