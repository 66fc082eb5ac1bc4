import csv
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


def test_version_1_files_still_load(run_dir, tmp_path):
    """Files written before version 2 (no stat, thread level or buffer columns) load, with what they meant then."""
    document = json.loads((run_dir / "results.json").read_text())
    document["schema_version"] = 1
    old = tmp_path / "old"
    old.mkdir()
    (old / "results.json").write_text(json.dumps(document))
    df = load(old / "results.json")
    assert (df["stat"] == "median").all() and (df["thread_level"] == "multiple").all()
    assert (df["align"] == "numpy").all() and df["rank_avg_s"].isna().all()

    lines = (run_dir / "results.csv").read_text().splitlines()
    later = results.V2_COLUMNS + results.DEVICE_COLUMNS
    keep = [i for i, name in enumerate(lines[0].split(",")) if name not in later]
    with open(old / "results.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([[row[i] for i in keep] for row in csv.reader(lines)])
    pd.testing.assert_frame_equal(load(old / "results.csv"), df)


def test_csv_without_the_device_columns_still_loads(tmp_path):
    """A version 2 CSV written before it held device, transport and ranks per GPU."""
    row = {**_row("ring", 8, "out", [1e-6]), "device": "gpu", "transport": "nccl-p2p", "ranks_per_gpu": 2}
    writer = ResultsWriter(tmp_path / "run", {"label": "x", "start_time": "t"})
    writer.add_row(row)
    writer.close({"complete": True})
    df = load(tmp_path / "run" / "results.csv")
    assert (df["device"][0], df["transport"][0], df["ranks_per_gpu"][0]) == ("gpu", "nccl-p2p", 2)
    lines = (tmp_path / "run" / "results.csv").read_text().splitlines()
    keep = [i for i, name in enumerate(lines[0].split(",")) if name not in results.DEVICE_COLUMNS]
    with open(tmp_path / "early.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([[line[i] for i in keep] for line in csv.reader(lines)])
    early = load(tmp_path / "early.csv")
    assert early["transport"][0] == "" and early["ranks_per_gpu"].isna().all() and early["time_s"][0] == df["time_s"][0]


def test_rows_carry_how_they_were_measured(tmp_path):
    row = {**_row("mpi", 8, "out", [1e-6, 2e-6]), "stat": "avg", "thread_level": "single", "align": "4096"}
    row.update(page_offset=0, huge_pages="system")
    row["stats"].update(rank_avg=1.5e-6, rank_min=1.4e-6, rank_max=1.6e-6)
    writer = ResultsWriter(tmp_path / "run", {"label": "x", "start_time": "t"})
    writer.add_row(row)
    writer.add_floor({"bytes": 8, "medians": {"c-osu": {"avg": 5e-7}}})
    writer.close({"complete": True})
    for name in results.RESULT_FILES:
        df = load(tmp_path / "run" / name)
        assert df["stat"][0] == "avg" and df["thread_level"][0] == "single" and df["align"][0] == "4096"
        assert df["page_offset"][0] == 0 and df["huge_pages"][0] == "system"
        assert (df["rank_avg_s"][0], df["rank_min_s"][0], df["rank_max_s"][0]) == (1.5e-6, 1.4e-6, 1.6e-6)
    for name in ("results.json", "results.jsonl"):
        assert read_document(tmp_path / "run" / name)["floor"] == [{"bytes": 8, "medians": {"c-osu": {"avg": 5e-7}}}]


def test_a_watchdog_fault_and_a_lost_writer_still_leave_a_journal_that_names_the_cause(tmp_path):
    """Rank 0 records a peer's end, then is lost; the deputy appends the footer, once."""
    writer = ResultsWriter(tmp_path / "run", {"label": "x", "start_time": "2026-12-02T00:00:00Z", "hosts": ["a"]})
    writer.add_row(_row("ring", 8, "out", [1e-6]))
    writer.add_fault({"kind": "ended", "ranks": [3], "hosts": ["n2"], "text": "rank 3 (n2) ended without a word"})
    writer.add_row(_row("ring", 64, "out", [2e-6]))  # the main thread's rows land after the thread's record
    doc = read_document(tmp_path / "run" / "results.jsonl")
    assert doc["complete"] is False and len(doc["rows"]) == 2
    assert doc["cause"]["ranks"] == [3] and "rank 3 (n2) ended" in doc["cause"]["text"]
    footer = {"complete": False, "cause": {"kind": "hang", "text": "rank 0 (n1) stopped answering"}}
    assert results.append_footer(tmp_path / "run", footer) is True
    assert results.append_footer(tmp_path / "run", footer) is False  # closed already: not twice
    assert results.append_footer(tmp_path / "elsewhere", footer) is False  # not reachable from this host
    doc = read_document(tmp_path / "run")
    assert doc["complete"] is False and doc["cause"]["text"] == "rank 0 (n1) stopped answering"
    assert [f["ranks"] for f in doc["faults"]] == [[3]] and len(load(tmp_path / "run")) == 2
