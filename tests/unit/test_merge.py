"""collbench merge: one launch per Intel MPI preset (or any runs of one library) into one results directory."""

from __future__ import annotations

import json

import pytest

from bench.cli import main
from bench.results import ResultsWriter, load, read_document
from bench.stats import summarize


def _run(directory, start, vendor, rows, env=None, complete=True):
    header = {"label": "", "start_time": start, "mpi": {"vendor": vendor}, "env": env or {}, "nranks": 2}
    writer = ResultsWriter(directory, header)
    for algo, seconds, params in rows:
        stats = summarize([seconds])
        case = {"algo": algo, "p": 2, "nodes": 1, "bytes": 8, "count": 2, "dtype": "float32", "op": "sum"}
        timing = {"placement": "out", "timing": "barrier", "iters": 1, "warmup": 5, "nwrong": 0, "busbw_factor": 1}
        found = {"time_s": seconds, "stats": stats, "params": params, "samples_s": [seconds]}
        writer.add_row(case | timing | found)
    writer.add_skip({"algo": "mpi:preset-3", "reason": "a test's skip"})
    writer.close({"end_time": start, "complete": complete, "nwrong_total": 0})
    return str(directory)


def test_launches_merge_into_one_run_that_keeps_each_rows_launch(tmp_path, capsys):
    own = _run(tmp_path / "own", "2026-12-01T00:00:00Z", "Intel MPI", [("mpi", 2e-6, {})])
    forced = {"algorithm": "preset-2", "id": 2, "library": "Intel MPI", "forced": {"I_MPI_ADJUST_ALLREDUCE": "2"}}
    launch = {"I_MPI_ADJUST_ALLREDUCE": "2", "I_MPI_PIN": "0"}
    two = _run(tmp_path / "2", "2026-12-01T00:01:00Z", "Intel MPI", [("mpi:preset-2", 1e-6, forced)], launch, False)
    assert main(["merge", own, two, "--out", str(tmp_path / "all"), "--label", "impi"]) == 0
    assert "2 measurements of 2 runs written to" in capsys.readouterr().out
    document = read_document(tmp_path / "all")
    assert (document["label"], document["complete"], len(document["skips"])) == ("impi", False, 2)
    assert [launch["steering"] for launch in document["merged"]] == [{}, {"I_MPI_ADJUST_ALLREDUCE": "2"}]
    rows = load(tmp_path / "all")
    assert rows[["algo", "run_start", "label"]].values.tolist() == [
        ["mpi", "2026-12-01T00:00:00Z", "own"],
        ["mpi:preset-2", "2026-12-01T00:01:00Z", "2"],
    ]
    assert json.loads(rows["params"][1])["forced"] == {"I_MPI_ADJUST_ALLREDUCE": "2"}


def test_runs_of_two_libraries_do_not_merge(tmp_path, capsys):
    one = _run(tmp_path / "a", "2026-12-01T00:00:00Z", "MPICH", [("mpi", 2e-6, {})])
    other = _run(tmp_path / "b", "2026-12-01T00:01:00Z", "Open MPI", [("mpi", 2e-6, {})])
    assert main(["merge", one, other, "--out", str(tmp_path / "all")]) == 2
    said = capsys.readouterr().err.strip()
    assert said.startswith("collbench: error: the runs come from 2 MPI libraries") and "\n" not in said
    assert not (tmp_path / "all").exists()


@pytest.mark.parametrize("given", ["missing", "empty"])
def test_a_run_that_is_not_there_is_a_one_line_error(tmp_path, capsys, given):
    (tmp_path / "empty").mkdir()
    assert main(["merge", str(tmp_path / given), "--out", str(tmp_path / "all")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
