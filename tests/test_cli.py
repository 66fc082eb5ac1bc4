"""The collbench command end to end, under mpiexec."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pandas as pd
from conftest import ROOT, launch_env, run_collbench, skip_or_fail

from bench.results import load, read_document

ROW = re.compile(r"^\s+(\d+)\s+(\d+)\s+(\w+)\s+(\w+)\s+(\w+)\s+(.*)$")


def _rows(stdout: str) -> list[tuple[int, str, str, list[str]]]:
    found = []
    for line in stdout.splitlines():
        match = ROW.match(line)
        if match:
            found.append((int(match.group(1)), match.group(3), match.group(4), match.group(6).split()))
    return found


def test_acceptance_sweep_three_ranks(tmp_path):
    out = tmp_path / "run"
    done = run_collbench(
        3,
        "run",
        "--algo",
        "mpi",
        "-b",
        "8",
        "-e",
        "1M",
        "-f",
        "4",
        "-d",
        "float32,int32,float16",
        "-o",
        "sum,max",
        "-c",
        "1",
        "--time-budget",
        "0.05",  # the rows' shape and correctness are the point here, not their precision
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    rows = _rows(done.stdout)
    sizes = [8, 32, 128, 512, 2048, 8192, 32768, 131072, 524288, 1048576]
    assert len(rows) == len(sizes) * 3 * 2
    for dtype in ("float32", "int32", "float16"):
        for op in ("sum", "max"):
            assert [r[0] for r in rows if r[1] == dtype and r[2] == op] == sizes
    for _, _, _, cells in rows:
        assert len(cells) == 8
        assert cells[3] == "0" and cells[7] == "0", cells  # #wrong, out-of-place and in-place
    frames = [load(out / name) for name in ("results.json", "results.jsonl", "results.csv")]
    for other in frames[1:]:
        pd.testing.assert_frame_equal(frames[0], other)
    assert len(frames[0]) == len(sizes) * 3 * 2 * 2
    doc = read_document(out)
    assert doc["nranks"] == 3 and len(doc["hosts"]) == 3
    assert doc["mpi"]["library"] and doc["packages"]["mpi4py"]
    assert "PMI_RANK" in doc["env"] or doc["env"] is not None
    assert doc["argv"][-2:] == ["--out", str(out)]


def test_wrong_algorithm_exits_one(tmp_path):
    env = launch_env(COLLBENCH_PLUGINS="collbench_testalgos")
    done = run_collbench(
        2, "run", "--algo", "wrong", "-b", "64", "-e", "64", "-n", "2", "--out", str(tmp_path / "r"), env=env
    )
    assert done.returncode == 1, done.stdout + done.stderr
    df = load(tmp_path / "r")
    assert (df["nwrong"] > 0).all()
    assert "FAILED" in done.stdout


def test_a_second_run_never_overwrites_the_first(tmp_path):
    out = tmp_path / "same"
    for _ in range(2):
        done = run_collbench(2, "run", "-b", "8", "-e", "8", "-n", "2", "--out", str(out))
        assert done.returncode == 0, done.stderr
    assert (out / "results.json").exists() and (tmp_path / "same-1" / "results.json").exists()
    assert "same-1" in done.stdout


def test_info_shows_the_library_and_the_thread_level():
    done = run_collbench(2, "info")
    assert done.returncode == 0, done.stderr
    assert "MPI library:" in done.stdout and "ranks:          2" in done.stdout and "mpi " in done.stdout
    assert "thread level:   single provided (single requested: as MPI_Init gives the C benchmarks)" in done.stdout
    done = run_collbench(2, "info", "--thread-level", "multiple")
    assert "thread level:   multiple provided (multiple requested: --thread-level)" in done.stdout, done.stdout


def test_the_thread_level_and_buffers_are_on_every_row(tmp_path):
    out = tmp_path / "levels"
    done = run_collbench(
        2,
        "run",
        "-b",
        "8",
        "-e",
        "64K",
        "-f",
        "64",
        "-n",
        "3",
        "--thread-level",
        "funneled",
        "--align",
        "page+64",
        "--stat",
        "max",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    assert "MPI thread level: funneled (--thread-level)" in done.stdout and "--align 4096+64" in done.stdout
    df = load(out)
    assert (df["thread_level"] == "funneled").all() and (df["align"] == "4096+64").all()
    assert (df["page_offset"] == 64).all() and (df["stat"] == "max").all() and (df["time_s"] == df["rank_max_s"]).all()
    assert read_document(out)["mpi"]["thread_level"] == {
        "requested": "funneled",
        "provided": "funneled",
        "reason": "--thread-level",
    }


def test_floor_puts_c_python_and_the_harness_side_by_side(tmp_path):
    out = tmp_path / "floor"
    done = run_collbench(2, "floor", "-b", "8", "-e", "64K", "-f", "64", "--rounds", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    if "# skipped: C floor:" in done.stdout:
        skip_or_fail("mpicc", done.stdout.split("# skipped: C floor:")[1].splitlines()[0].strip())
    rows = [line.split() for line in done.stdout.splitlines() if line and not line.startswith("#")]
    assert [int(row[0]) for row in rows] == [8, 512, 32768, 65536], done.stdout
    for row in rows:
        values = [float(v) for v in row[2:9]]  # C OSU .. cb med, microseconds
        assert all(v > 0 for v in values), row
    document = read_document(out)
    assert [r["bytes"] for r in document["floor"]] == [8, 512, 32768, 65536]
    for record in document["floor"]:
        assert set(record["medians"]) == {"c-osu", "c-imb", "py-osu", "py-imb", "harness"}
        assert all(len(v) == 2 for stats in record["values"].values() for v in stats.values())


def test_floor_without_a_compiler_skips_c_with_its_reason(tmp_path):
    env = launch_env(MPICC=str(tmp_path / "no-such-mpicc"), COLLBENCH_CACHE=str(tmp_path / "cache"))
    done = run_collbench(2, "floor", "-b", "8", "-e", "8", "--rounds", "1", "--out", str(tmp_path / "f"), env=env)
    assert done.returncode == 0, done.stderr
    assert "# skipped: C floor:" in done.stdout and "no-such-mpicc" in done.stdout, done.stdout
    row = next(line.split() for line in done.stdout.splitlines() if line and not line.startswith("#"))
    assert row[2:5] == ["-", "-", "-"] and float(row[5]) > 0, row  # no C columns; the Python ones measured
    skips = read_document(tmp_path / "f")["skips"]
    assert skips and skips[0]["algo"] == "c-floor" and "no-such-mpicc" in skips[0]["reason"]


def test_topology_sweep_rows_for_every_size_order_and_algorithm(tmp_path):
    out = tmp_path / "topo"
    done = run_collbench(
        4,
        "run",
        "--ranks",
        "2,4",
        "--ranks-per-node",
        "2",
        "--algo",
        "ring,mesh,hier,mpi",
        "--mesh",
        "2x2,1x4",
        "--rank-order",
        "packed,spread,random:3",
        "-b",
        "8",
        "-e",
        "4K",
        "-f",
        "8",
        "-n",
        "2",
        "-d",
        "int32,float32",
        "-o",
        "sum,max",
        "--out",
        str(out),
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    df = load(out)
    assert (df["nwrong"] == 0).all()
    assert set(df["layout"]) == {"logical"}
    for p, nodes in ((2, 1), (4, 2)):
        at_p = df[df["p"] == p]
        assert set(at_p["nodes"]) == {nodes} and set(at_p["ranks_per_node"]) == {2}
        assert set(at_p["rank_order"]) == {"packed", "spread", "random:3"}
        assert set(at_p["algo"]) == {"ring", "mesh", "hier", "mpi"}
    assert set(df[(df["p"] == 4) & (df["algo"] == "mesh")]["mesh"]) == {"2x2", "1x4"}
    assert "# topology: p=4: 2 node(s) x 2 rank(s) (logical), rank order spread" in done.stdout


def test_calibrate_model_and_tune(tmp_path):
    out = tmp_path / "cal"
    done = run_collbench(
        2,
        "run",
        "--calibrate",
        "--algo",
        "ring,rhd,mpi",
        "-b",
        "64K",
        "-e",
        "1M",
        "-f",
        "4",
        "-n",
        "5",
        "--placement",
        "out",
        "--out",
        str(out),
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    assert "# calibration p=2: alpha" in done.stdout
    document = read_document(out)
    assert document["calibrations"][0]["fit"]["r2"] > 0.5
    steps = document["calibrations"][0]["model"]["cache"]
    assert [s["window"] for s in steps] == sorted(s["window"] for s in steps) and len(steps) == 11
    for factor in ("beta", "gamma"):  # within (0, 1], never shrinking as the vector grows
        factors = [s[factor] for s in steps]
        assert all(0 < f <= 1 for f in factors) and factors == sorted(factors)
    df = load(out)
    modelled = df[df["algo"].isin(["ring", "rhd"])]
    assert modelled["predicted_s"].notna().all() and (modelled["model_error"] >= 0).all()
    assert df[df["algo"] == "mpi"]["predicted_s"].isna().all()
    model = subprocess.run(
        [sys.executable, "-m", "bench", "model", str(out), "--ranks", "2..1024", "--json", str(tmp_path / "m.json")],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert model.returncode == 0, model.stderr
    assert "p=1024:" in model.stdout and "ring over tree" in model.stdout
    assert json.loads((tmp_path / "m.json").read_text())["crossovers"]
    tune = subprocess.run([sys.executable, "-m", "bench", "tune", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert tune.returncode == 0, tune.stderr
    assert "MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM=" in tune.stdout and "coll_tuned_use_dynamic_rules" in tune.stdout
    empty = subprocess.run(
        [sys.executable, "-m", "bench", "model", str(tmp_path / "nothing")], capture_output=True, text=True, cwd=ROOT
    )
    assert empty.returncode == 2 and "no such file" in empty.stderr


def test_calibration_at_an_odd_rank_count(tmp_path):
    """The last of three ranks has no partner: it sits the exchanges out instead of waiting for rank 0."""
    done = run_collbench(3, "calibrate", "--out", str(tmp_path / "odd"), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


def _table(stdout: str, out: str) -> list[str]:
    """The report without its measured numbers: comment lines (the results path as OUT) and each row's case."""
    lines = [line.replace(out, "OUT") for line in stdout.splitlines() if line.startswith("#")]
    return lines + [" ".join(map(str, row[:3])) for row in _rows(stdout)]


def test_progress_goes_to_stderr_and_quiet_silences_it(tmp_path):
    sweep = ("run", "--algo", "mpi,ring", "-b", "8", "-e", "64", "-f", "8", "-n", "2", "-w", "1")
    shown = run_collbench(2, *sweep, "--progress-interval", "0.001", "--out", str(tmp_path / "shown"))
    assert shown.returncode == 0, shown.stderr
    lines = [line for line in shown.stderr.splitlines() if "cases done" in line]
    assert lines and "\r" not in shown.stderr, shown.stderr  # not a terminal: plain lines
    last = lines[-1]  # the last case begins with the three before it done
    assert last.startswith("collbench: 3/4 cases done (75%) in "), last
    assert last.endswith("; now ring 64 B float32 sum on p=2"), last
    quiet = run_collbench(2, *sweep, "--progress-interval", "0.001", "--quiet", "--out", str(tmp_path / "quiet"))
    assert quiet.returncode == 0, quiet.stderr
    assert "cases done" not in quiet.stderr + quiet.stdout + shown.stdout, quiet.stderr
    assert _table(shown.stdout, str(tmp_path / "shown")) == _table(quiet.stdout, str(tmp_path / "quiet"))
    assert len(_rows(shown.stdout)) == 4
