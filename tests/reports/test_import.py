"""collbench import: nccl-tests and OSU output, in their real formats, become loadable collbench results."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from bench.results import load, read_document
from reports.data import load_sets
from reports.html import build_report

FIXTURES = Path(__file__).parent / "fixtures"


def _import(tmp_path: Path, *args: str) -> Path:
    out = tmp_path / "imported"
    assert main(["import", *args, "--out", str(out)]) == 0
    return out


def test_nccl_tests_log(tmp_path):
    out = _import(tmp_path, "nccl-tests", str(FIXTURES / "nccl-tests-2.17.log"), "--label", "h100")
    df = load(out)
    doc = read_document(out)
    assert doc["complete"] and doc["label"] == "h100" and doc["nranks"] == 4
    assert doc["nodes"] == 2 and doc["ranks_per_node"] == 2 and doc["hosts"][2] == "gpu-n002"
    assert doc["mpi"]["library"] == "NCCL 2.27.3" and doc["packages"]["nccl-tests"] == "2.17.6"
    assert len(df) == 18 and set(df["placement"]) == {"out", "in"}
    assert set(df["algo"]) == {"nccl"} and set(df["dtype"]) == {"float32"} and set(df["op"]) == {"sum"}
    last = df[(df["bytes"] == 134217728) & (df["placement"] == "out")].iloc[0]
    assert last["count"] == 33554432 and last["time_s"] == pytest.approx(6921.7e-6)
    assert last["busbw_GBps"] == pytest.approx(29.09) and last["nwrong"] == 0 and last["iters"] == 20
    assert last["samples_s"] == (pytest.approx(6921.7e-6),)
    assert '"samples": "average only"' in last["params"] and '"source": "nccl-tests"' in last["params"]


def test_nccl_tests_old_log_without_check(tmp_path):
    out = _import(tmp_path, "nccl-tests", str(FIXTURES / "nccl-tests-2.10-nocheck.log"))
    df = load(out)
    assert len(df) == 6 and df["nwrong"].isna().all()  # #wrong N/A with -c 0
    assert set(df["dtype"]) == {"float16"} and set(df["op"]) == {"max"}
    doc = read_document(out)
    assert doc["nranks"] == 8 and doc["nodes"] == 1 and doc["mpi"]["library"].startswith("NCCL (version")


def test_nccl_tests_per_iteration_columns(tmp_path):
    df = load(_import(tmp_path, "nccl-tests", str(FIXTURES / "nccl-tests-periter.log")))
    first = df[(df["bytes"] == 1024) & (df["placement"] == "out")].iloc[0]
    assert first["min_s"] == pytest.approx(11.9e-6) and first["max_s"] == pytest.approx(15.2e-6)
    assert first["p99_s"] == pytest.approx(14.8e-6) and first["stdev_s"] == pytest.approx(0.041 * 12.4e-6)
    assert first["time_s"] == pytest.approx(12.4e-6) and len(df) == 4


def test_nccl_tests_json(tmp_path):
    out = _import(tmp_path, "nccl-tests", str(FIXTURES / "nccl-tests.json"))
    df = load(out)
    doc = read_document(out)
    assert doc["nodes"] == 2 and doc["hosts"] == ["gpu-a", "gpu-b"] and doc["env"]["NCCL_IB_HCA"] == "mlx5_0"
    assert "HOME" not in doc["env"] and doc["mpi"]["library"] == "NCCL 2.27.3"
    assert len(df) == 4
    row = df[(df["bytes"] == 1048576) & (df["placement"] == "out")].iloc[0]
    assert row["samples_s"] == pytest.approx((60.1e-6, 61e-6, 61e-6, 63e-6))
    assert row["p50_s"] == pytest.approx(61e-6) and '"per-iteration"' in row["params"]
    inplace = df[(df["bytes"] == 1048576) & (df["placement"] == "in")].iloc[0]
    assert pd_isna(inplace["nwrong"]) and inplace["iters"] == 4


def pd_isna(value: object) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def test_osu_plain_and_full(tmp_path):
    plain = load(_import(tmp_path, "osu", str(FIXTURES / "osu-5.9.txt"), "--ranks", "8", "--nodes", "2"))
    assert list(plain["bytes"]) == [4, 8, 16, 32, 1024, 1048576] and set(plain["algo"]) == {"osu-mpi"}
    big = plain.iloc[-1]
    assert big["time_s"] == pytest.approx(412.87e-6) and big["count"] == 262144 and big["dtype"] == "float32"
    assert big["algbw_GBps"] == pytest.approx(1048576 / 412.87e-6 / 1e9)
    assert big["busbw_GBps"] == pytest.approx(big["algbw_GBps"] * 2 * 7 / 8)
    assert big["nodes"] == 2 and big["ranks_per_node"] == 4 and pd_isna(big["nwrong"])
    full = load(_import(tmp_path / "f", "osu", str(FIXTURES / "osu-7.4-full.txt"), "--ranks", "4"))
    assert set(full["dtype"]) == {"float64"} and list(full["count"]) == [1, 2, 128, 8192]
    assert list(full["iters"]) == [1000, 1000, 1000, 100] and list(full["nwrong"]) == [0, 0, 0, 1]
    assert '"min_rank_average_us": 2.98' in full.iloc[0]["params"]


def test_imports_appear_in_one_report(tmp_path):
    a = _import(tmp_path / "a", "nccl-tests", str(FIXTURES / "nccl-tests-2.17.log"))
    b = _import(tmp_path / "b", "osu", str(FIXTURES / "osu-5.9.txt"), "--ranks", "4")
    page = build_report(load_sets([str(a), str(b)], labels=["nccl-tests", "osu"]))
    assert "NCCL 2.27.3" in page and "osu-mpi" in page and "gpu-n001 (2 ranks)" in page


@pytest.mark.parametrize(
    "tool, name, content, message",
    [
        ("osu", "osu-bcast.txt", None, "OSU Broadcast Latency test; collbench imports osu_allreduce only"),
        ("osu", "x.txt", "hello\nworld\n", "not OSU benchmark output"),
        ("nccl-tests", "x.log", "hello\nworld\n", "not an nccl-tests log"),
        ("nccl-tests", "x.bin", b"\x00\x01\x02", "a binary file"),
        ("nccl-tests", "x.json", '{"version": 2, "results": [{"size": 8', "not valid JSON"),
        ("nccl-tests", "x.json", '{"version": 2}', "no 'results' list"),
        ("nccl-tests", "missing.log", None, "cannot read"),
    ],
)
def test_unreadable_input_is_a_clear_error(tmp_path, capsys, tool, name, content, message):
    path = FIXTURES / name if content is None and name.startswith("osu") else tmp_path / name
    if isinstance(content, str):
        path.write_text(content)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    args = ["import", tool, str(path), "--out", str(tmp_path / "o")] + (["--ranks", "4"] if tool == "osu" else [])
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("collbench: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_cut_off_log_line_and_missing_ranks(tmp_path, capsys):
    text = (FIXTURES / "nccl-tests-2.17.log").read_text().replace("6918.2   19.40   29.10       0", "6918.2")
    (tmp_path / "cut.log").write_text(text)
    assert main(["import", "nccl-tests", str(tmp_path / "cut.log"), "--out", str(tmp_path / "o")]) == 2
    assert "may be cut off" in capsys.readouterr().err
    assert main(["import", "osu", str(FIXTURES / "osu-5.9.txt")]) == 2
    assert "--ranks" in capsys.readouterr().err
