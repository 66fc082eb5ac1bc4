"""Bad input, hangs, killed ranks and damaged result files: clear errors, nothing lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, launch_env, mpiexec, run_collbench
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.results import ResultsError, ResultsWriter, load, read_document

PLUGINS = launch_env(COLLBENCH_PLUGINS="collbench_testalgos")

# (ranks, arguments after "run", what the one-line message must say)
BAD_INPUTS = [
    (2, ["--algo", "nope"], "unknown algorithm 'nope'"),
    (2, ["--algo", ","], "empty algorithm list"),
    (2, ["-d", "complex64"], "unknown dtype 'complex64'"),
    (2, ["-d", ""], "empty dtype list"),
    (2, ["-o", "xor"], "unknown op 'xor'"),
    (2, ["--placement", "sideways"], "unknown placement 'sideways'"),
    (2, ["--timing", "fast"], "unknown timing mode 'fast'"),
    (2, ["-b", "1Q"], "is not a size"),
    (2, ["-b", "0"], "must be at least 1 byte"),
    (2, ["-b=-8"], "is not a size"),
    (2, ["-e", "0"], "must be at least 1 byte"),
    (2, ["-b", "1M", "-e", "8"], "smaller than min size"),
    (2, ["-f", "1"], "must be greater than 1"),
    (2, ["-f", "0.5"], "must be greater than 1"),
    (2, ["-f", "abc"], "is not a number"),
    (2, ["-b", "6", "-d", "float64"], "not a multiple of the 8-byte float64"),
    (2, ["-b", "8", "-e", "10", "-d", "int32"], "not a multiple of the 4-byte int32"),
    (2, ["-n", "0"], "must be at least 1"),
    (2, ["-w=-1"], "must not be negative"),
    (2, ["-c=-2"], "must not be negative"),
    (2, ["--time-budget", "0"], "must be greater than 0"),
    (2, ["--bogus"], "unrecognized arguments"),
    (2, ["-e", "512G"], "is available; lower -e"),
    (2, ["--ranks", "8"], "larger than the job"),
    (2, ["--ranks", "0"], "not a positive whole number"),
    (2, ["--ranks-per-node", "3"], "does not divide 2 ranks"),
    (4, ["--algo", "mesh", "--mesh", "3x3"], "no measured size does"),
    (2, ["--algo", "mesh", "--mesh", "2by2"], "is not XxY"),
    (2, ["--rank-order", "zigzag"], "unknown rank order"),
    (2, ["--device", "tpu"], "unknown device 'tpu'"),
    (2, ["--device", "gpu"], "--device gpu"),
    (2, ["--cuda-aware", "maybe"], "unknown --cuda-aware value"),
    (2, ["--out", "/proc/collbench-forbidden/run"], "cannot create results directory"),
    (2, ["--chunk", "0"], "must be at least 1 byte"),
    (2, ["--tree-variant", "bogus"], "invalid choice"),
    (2, ["--timeout", "0"], "must be greater than 0"),
    (2, ["--algo", "sumonly", "-o", "max"], "sumonly does not support op max"),
    (2, ["--align", "fast"], "is not BYTES, BYTES+OFFSET, page"),
    (2, ["--align", "3000"], "not a power of two"),
    (2, ["--align", "page+3"], "splits the 4-byte float32"),
    (2, ["--align", "64+64"], "smaller than the alignment 64"),
    (2, ["--align", "numpy", "--huge-pages", "on"], "NUMPY_MADVISE_HUGEPAGE"),
    (2, ["--huge-pages", "sometimes"], "invalid choice"),
    (2, ["--stat", "fastest"], "invalid choice"),
    (2, ["--thread-level", "many"], "invalid choice"),
]


def test_a_bad_thread_level_in_the_environment_is_refused_on_every_rank(tmp_path):
    env = launch_env(MPI4PY_RC_THREAD_LEVEL="lots")
    done = run_collbench(2, "run", "--out", str(tmp_path / "r"), timeout=30, env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "MPI4PY_RC_THREAD_LEVEL='lots' is not a thread level" in done.stderr
    assert len([line for line in done.stderr.splitlines() if line.strip()]) == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["floor", "--align", "page,page+16"], "floor measures one buffer placement"),
        (["floor", "-d", "complex64"], "unknown dtype 'complex64'"),
        (["floor", "-b", "6"], "not a positive multiple of the 4-byte float32"),
        (["calibrate", "--align", "page,64"], "calibrate measures one buffer placement"),
        (["info", "--thread-level", "some"], "invalid choice"),
    ],
)
def test_bad_input_to_the_other_mpi_commands(args, message, tmp_path):
    done = run_collbench(2, *args, timeout=30, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr + done.stdout, done.stderr
    assert len([line for line in done.stderr.splitlines() if line.strip()]) == 1, done.stderr


def test_at_least_thirty_bad_inputs():
    assert len(BAD_INPUTS) >= 30


@pytest.mark.parametrize("ranks, args, message", BAD_INPUTS, ids=[" ".join(a) for _, a, _ in BAD_INPUTS])
def test_bad_input_is_one_line_and_exit_two_on_every_rank(ranks, args, message, tmp_path):
    if "--device" in args and "gpu" in args:
        pytest.importorskip("no_cupy_here" if _has_cupy() else "os", reason="CuPy is installed: no error to test")
    out = ["--out", str(tmp_path / "r")] if "--out" not in args else []
    started = time.monotonic()
    done = run_collbench(ranks, "run", *args, *out, timeout=30, env=PLUGINS)
    assert time.monotonic() - started < 10, "a bad input took 10 s or more to be refused"
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert len([line for line in done.stderr.splitlines() if line.strip()]) == 1, done.stderr
    assert not (tmp_path / "r").exists(), "a refused run left a results directory"


def _has_cupy() -> bool:
    try:
        import cupy  # noqa: F401
    except ImportError:
        return False
    return True


def test_watchdog_aborts_a_hung_collective_and_keeps_the_results(tmp_path):
    out = tmp_path / "hung"
    started = time.monotonic()
    done = run_collbench(
        3,
        "run",
        "--algo",
        "deadlock",
        "-b",
        "1K",
        "-e",
        "16K",
        "-f",
        "4",
        "-n",
        "5",
        "--timeout",
        "2",
        "--out",
        str(out),
        timeout=60,
        env=PLUGINS,
    )
    assert time.monotonic() - started < 30
    assert done.returncode != 0
    assert "watchdog" in done.stderr and "deadlock at 4096 B float32 sum" in done.stderr
    assert "world ranks 0-2" in done.stderr
    document = read_document(out / "results.json")
    assert document["complete"] is False and "watchdog" in document["aborted"]
    assert sorted(set(load(out)["bytes"])) == [1024]  # the size before the hang, both placements


def test_a_rank_outside_a_smaller_ranks_count_waits_as_long_as_rank_0_beats(tmp_path):
    """--ranks 2 on 3 ranks: rank 2 waits at the barrier for the whole sweep, far past --timeout, and must not fire."""
    out = tmp_path / "outside"
    args = ["--algo", "ring", "--ranks", "2", "-b", "256K", "-e", "256K", "-n", "15000", "--placement", "out"]
    done = run_collbench(3, "run", *args, "--timeout", "1", "--out", str(out), timeout=120)
    assert done.returncode == 0, done.stderr
    document = read_document(out)
    assert document["complete"] is True and [r["p"] for r in document["rows"]] == [2]
    # rank 2 waited at least as long as the timed loop, longer than --timeout, without a call of its own
    assert sum(document["rows"][0]["samples_s"]) > 1.0


@pytest.mark.kills_ranks
def test_a_killed_rank_ends_the_job_and_completed_rows_survive(tmp_path):
    out = tmp_path / "killed"
    command = [
        mpiexec(),
        "-n",
        "3",
        sys.executable,
        "-m",
        "bench",
        "run",
        "--algo",
        "ring,mpi",
        "-b",
        "8",
        "-e",
        "64M",
        "-f",
        "2",
        "-n",
        "20",
        "--out",
        str(out),
    ]
    job = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=launch_env(), cwd=ROOT
    )
    journal = out / "results.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if journal.exists() and journal.read_text().count('"record": "row"') >= 6:
            break
        time.sleep(0.2)
    else:
        job.kill()
        pytest.fail("the sweep never wrote 6 rows")
    ranks = _rank_pids(str(out))
    assert len(ranks) == 3, ranks
    os.kill(max(ranks), signal.SIGKILL)
    killed_at = time.monotonic()
    try:
        job.wait(timeout=30)
    except subprocess.TimeoutExpired:
        job.kill()
        pytest.fail("the job did not end within 30 s of a rank being killed")
    assert time.monotonic() - killed_at < 30
    assert job.returncode != 0
    document = read_document(journal)
    assert document["complete"] is False
    assert len(document["rows"]) >= 6
    assert len(load(journal)) == len(document["rows"])


def _rank_pids(marker: str) -> list[int]:
    """Processes running ``python -m bench run`` with ``marker`` on their command line (not mpiexec)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                args = handle.read().split(b"\0")
        except OSError:
            continue
        text = [a.decode(errors="replace") for a in args]
        launcher = any(a.endswith(("mpiexec", "mpirun", "prterun")) for a in text)  # Hydra's, Open MPI's
        if marker in text and "bench" in text and os.path.basename(text[0]).startswith("python") and not launcher:
            pids.append(int(entry))
    return pids


def _valid_files(directory):
    writer = ResultsWriter(directory, {"label": "fuzz", "start_time": "2026-11-22T00:00:00Z", "hosts": ["h"]})
    for nbytes in (8, 64):
        writer.add_row(
            {
                "algo": "ring",
                "p": 2,
                "nodes": 1,
                "bytes": nbytes,
                "count": nbytes // 4,
                "dtype": "float32",
                "op": "sum",
                "placement": "out",
                "timing": "b2b",
                "iters": 2,
                "warmup": 1,
                "nwrong": 0,
                "busbw_factor": 1.0,
                "time_s": 1e-6,
                "algbw_GBps": 0.1,
                "busbw_GBps": 0.1,
                "stats": {"min": 1e-6, "p50": 1e-6, "mean": 1e-6, "p99": 1e-6, "max": 1e-6, "stdev": 0.0},
                "params": {},
                "samples_s": [1e-6, 1e-6],
            }
        )
    writer.add_skip({"algo": "nccl", "reason": "no GPU"})
    writer.close({"end_time": "2026-11-22T00:00:01Z", "complete": True})
    return {name: (directory / name).read_bytes() for name in ("results.json", "results.jsonl", "results.csv")}


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(["results.json", "results.jsonl", "results.csv"]), data=st.data())
def test_damaged_result_files_give_only_clear_errors(tmp_path_factory, name, data):
    directory = tmp_path_factory.mktemp("fuzz")
    original = _valid_files(directory / "valid")[name]
    mutation = data.draw(st.sampled_from(["truncate", "flip", "insert", "delete", "replace_value"]))
    raw = bytearray(original)
    if mutation == "truncate":
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    elif mutation == "flip":
        for _ in range(data.draw(st.integers(1, 8))):
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    elif mutation == "insert":
        at = data.draw(st.integers(0, len(raw)))
        raw[at:at] = data.draw(st.binary(min_size=1, max_size=20))
    elif mutation == "delete":
        at = data.draw(st.integers(0, len(raw) - 1))
        del raw[at : at + data.draw(st.integers(1, 40))]
    else:
        text = raw.decode()
        token = data.draw(
            st.sampled_from(['"bytes": 8', '"p": 2', '"rows": [', '"samples_s": [', '"schema_version": 1'])
        )
        value = data.draw(st.sampled_from(['"x"', "null", "[]", "{}", "-1", "1e400", "true"]))
        raw = bytearray(text.replace(token, token.split(":")[0] + ": " + value, 1).encode())
    path = directory / name
    path.write_bytes(bytes(raw))
    try:
        load(path)
    except ResultsError as exc:
        assert "\n" not in str(exc)


def test_result_files_are_data_never_code(tmp_path):
    """A results file that looks like a pickle or Python is refused as data, never run."""
    marker = tmp_path / "ran"
    (tmp_path / "results.json").write_text(
        json.dumps(
            {
                "schema": "collbench.results",
                "schema_version": 1,
                "rows": "__import__('os').system('touch " + str(marker) + "')",
            }
        )
    )
    with pytest.raises(ResultsError, match="malformed rows"):
        load(tmp_path / "results.json")
    (tmp_path / "p.json").write_bytes(b"\x80\x04\x95cos\nsystem\n(S'touch " + str(marker).encode() + b"'\ntR.")
    with pytest.raises(ResultsError):
        load(tmp_path / "p.json")
    assert not marker.exists()
