import json

import pandas as pd
import pytest

from bench import results
from bench.results import COLUMNS, ResultsError, ResultsWriter, load, read_document
from bench.stats import summarize


def _row(algo, nbytes, placement, samples, nwrong=0):
    stats = summarize(samples)
    return {
        "algo": algo,
        "p": 4,
        "nodes": 1,
        "bytes": nbytes,
        "count": nbytes // 4,
        "dtype": "float32",
        "op": "sum",
        "placement": placement,
        "timing": "b2b",
        "iters": len(samples),
        "warmup": 5,
        "nwrong": nwrong,
        "busbw_factor": 1.5,
        "time_s": stats["p50"],
        "algbw_GBps": nbytes / stats["p50"] / 1e9,
        "busbw_GBps": 1.5 * nbytes / stats["p50"] / 1e9,
        "stats": stats,
        "params": {"chunk": 65536},
        "samples_s": samples,
    }


@pytest.fixture
def run_dir(tmp_path):
    writer = ResultsWriter(
        tmp_path / "run", {"label": 'night,ly "A"', "start_time": "2026-11-22T10:00:00Z", "hosts": ["n1"]}
    )
    writer.add_row(_row("mpi", 8, "out", [1.1e-6, 1.3e-6, 0.1 + 0.2]))
    writer.add_row(_row("mpi", 8, "in", [2e-6, 3e-6], nwrong=None))
    writer.add_skip({"algo": "nccl", "reason": "no GPU"})
    writer.add_row(_row("mpi", 1 << 20, "out", [1e-3], nwrong=3))
    writer.close({"end_time": "2026-11-22T10:01:00Z", "complete": True})
    return tmp_path / "run"


def test_all_three_files_load_to_the_same_frame(run_dir):
    frames = [load(run_dir / name) for name in results.RESULT_FILES]
    for other in frames[1:]:
        pd.testing.assert_frame_equal(frames[0], other)
    df = frames[0]
    assert list(df.columns) == list(COLUMNS)
    assert len(df) == 3
    assert df["samples_s"][0] == (1.1e-6, 1.3e-6, 0.1 + 0.2)  # exact, not rounded
    assert df["nwrong"].isna().tolist() == [False, True, False]
    assert df["label"][0] == 'night,ly "A"'
    assert json.loads(df["params"][0]) == {"chunk": 65536}
    pd.testing.assert_frame_equal(load(run_dir), frames[0])


def test_document_is_versioned_and_keeps_skips(run_dir):
    doc = read_document(run_dir / "results.json")
    assert doc["schema"] == "collbench.results"
    assert doc["schema_version"] == results.SCHEMA_VERSION
    assert doc["skips"] == [{"algo": "nccl", "reason": "no GPU"}]
    assert doc["complete"] is True
    assert read_document(run_dir / "results.jsonl")["skips"] == doc["skips"]


def test_cut_short_journal_loads_as_incomplete(run_dir, tmp_path):
    lines = (run_dir / "results.jsonl").read_text().splitlines()
    cut = tmp_path / "cut.jsonl"
    cut.write_text("\n".join(lines[:3]) + "\n" + lines[3][:20])  # header, two rows, half a line
    doc = read_document(cut)
    assert doc["complete"] is False
    assert len(doc["rows"]) == 2
    assert len(load(cut)) == 2


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "empty"),
        ('{"a": 1}', "not a collbench results file"),
        ('{"schema": "collbench.results", "schema_version": 99, "rows": []}', "version 99 is not supported"),
        ("[1, 2", "not valid JSON"),
    ],
)
def test_bad_json_files_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "results.json"
    path.write_text(content)
    with pytest.raises(ResultsError, match=message if message != "empty" else "not valid JSON"):
        load(path)


def test_foreign_csv_and_missing_files(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ResultsError, match="unexpected columns"):
        load(path)
    with pytest.raises(ResultsError, match="no such file"):
        load(tmp_path / "nothing.json")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ResultsError, match="no results.json"):
        load(tmp_path / "empty")
