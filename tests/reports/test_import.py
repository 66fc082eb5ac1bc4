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
    assert last["device"] == "gpu" and last["ranks_per_gpu"] == 1 and '"gpu": "NVIDIA H100 80GB HBM3"' in last["params"]


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
    first = full.iloc[0]
    assert first["rank_min_s"] == pytest.approx(2.98e-6) and first["rank_max_s"] == pytest.approx(3.44e-6)
    assert first["rank_avg_s"] == first["time_s"] and first["stat"] == "avg" and first["device"] == "cpu"


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


LOG = (FIXTURES / "nccl-tests-2.17.log").read_text().splitlines()


@pytest.mark.parametrize(
    "prefix",
    [
        "[1,0]<stdout>:",  # mpirun --tag-output
        "Fri Nov 20 14:02:11 2026[1,0]<stdout>:",  # mpirun --tag-output --timestamp-output
        "Fri Nov 20 14:02:11 2026<stdout>:",  # mpirun --timestamp-output
        " 0: ",  # srun --label
        "2026-11-20T14:02:11.512034Z ",  # kubectl logs --timestamps, journald
        "[2026-11-20 14:02:11] 0: ",  # a log shipper's stamp, then srun's label
    ],
)
def test_launcher_prefixes_are_stripped(tmp_path, prefix):
    (tmp_path / "tagged.log").write_text("\n".join(prefix + line for line in LOG) + "\n")
    df = load(_import(tmp_path, "nccl-tests", str(tmp_path / "tagged.log")))
    assert len(df) == 18 and set(df["p"]) == {4} and set(df["nodes"]) == {2}
    assert df.iloc[-2]["busbw_GBps"] == pytest.approx(29.09)


def test_run_that_failed_part_way_is_incomplete(tmp_path):
    cut = LOG[: LOG.index("# Out of bounds values : 0 OK") - 3]
    failure = " .. gpu-n002 pid 39817: Test failure common.cu:1103"
    (tmp_path / "cut.log").write_text("\n".join([*cut, "gpu-n002: Test NCCL failure common.cu:412", failure]) + "\n")
    out = _import(tmp_path, "nccl-tests", str(tmp_path / "cut.log"))
    doc = read_document(out)
    assert len(load(out)) == 12 and doc["complete"] is False
    assert (
        doc["reason"]
        == "nccl-tests stopped before its summary (the log says: 'gpu-n002: Test NCCL failure common.cu:412')"
    )


def test_separate_runs_interleaved_by_rank_are_refused(tmp_path, capsys):
    lines = [f"{rank}: {line}" for line in LOG for rank in (0, 1)]
    (tmp_path / "two.log").write_text("\n".join(lines) + "\n")
    assert main(["import", "nccl-tests", str(tmp_path / "two.log"), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "result lines come from ranks 0, 1" in err and "grep '^0: '" in err and err.count("\n") == 1


def test_nccl_tests_json_version_3(tmp_path):
    # No real -J file of nccl-tests 2.19.6 is public: this fixture was written by hand, with made-up
    # values, in the layout src/util.cu of that version writes (JSON_FILE_VERSION 3).
    out = _import(tmp_path, "nccl-tests", str(FIXTURES / "nccl-tests-2.19.6-v3.json"))
    df = load(out)
    doc = read_document(out)
    assert doc["complete"] and doc["mpi"]["library"] == "NCCL 2.29.7" and doc["source"]["format"] == "json v3"
    assert doc["hosts"] == ["node-a", "node-a", "node-b", "node-b"] and doc["nodes"] == 2 and doc["ranks_per_node"] == 2
    assert doc["env"] == {"NCCL_IB_HCA": "mlx5_0,mlx5_1", "UCX_TLS": "rc"} and doc["nwrong_total"] == 3
    assert doc["source"]["out_of_bounds"] == {"count": 1, "okay": "false"} and doc["config"]["per_iter_skip"] == 1
    assert len(df) == 4 and set(df["ranks_per_gpu"]) == {1} and set(df["device"]) == {"gpu"}
    row = df[(df["bytes"] == 1048576) & (df["placement"] == "out")].iloc[0]
    assert row["samples_s"] == pytest.approx((48.0e-6, 48.5e-6, 47.75e-6, 49.0e-6))  # the skipped 97.5 us left out
    assert row["time_s"] == pytest.approx(48.3125e-6) and row["p50_s"] == pytest.approx(48.25e-6)
    assert '"skipped_iterations": 1' in row["params"] and '"gpu": "NVIDIA H200"' in row["params"]
    wrong = df[(df["bytes"] == 4194304) & (df["placement"] == "in")].iloc[0]
    assert wrong["nwrong"] == 3 and '"bitwise_different_elements": 3' in wrong["params"]
    assert wrong["busbw_factor"] == 1.5 and wrong["iters"] == 5 and wrong["warmup"] == 5


def test_nccl_tests_json_cut_short_and_too_new(tmp_path, capsys):
    text = (FIXTURES / "nccl-tests-2.19.6-v3.json").read_text()
    head = text[: text.index(',"out_of_bounds"')]
    (tmp_path / "cut.json").write_text(head + ',"errors":["NCCL WARN Net : Connection closed"]}')
    out = _import(tmp_path, "nccl-tests", str(tmp_path / "cut.json"))
    doc = read_document(out)
    assert doc["complete"] is False
    assert doc["reason"] == "nccl-tests stopped before its summary: NCCL WARN Net : Connection closed"
    (tmp_path / "v4.json").write_text(text.replace('{"version":3', '{"version":4', 1))
    assert main(["import", "nccl-tests", str(tmp_path / "v4.json"), "-o", str(tmp_path / "o")]) == 2
    assert "nccl-tests JSON version 4; this collbench reads versions 1 to 3" in capsys.readouterr().err


def test_old_layout_error_column(tmp_path):
    out = _import(tmp_path, "nccl-tests", str(FIXTURES / "nccl-tests-oldfmt-error.log"))
    df = load(out)
    assert len(df) == 6 and df["nwrong"].isna().all() and read_document(out)["nwrong_total"] is None
    assert '"max_abs_error": 1e-07' in df.iloc[0]["params"] and '"max_abs_error": 2e-07' in df.iloc[-1]["params"]
    assert set(df["p"]) == {2} and set(df["ranks_per_gpu"]) == {1}  # one bus id [0x00], two CUDA devices


def test_imb_allreduce_blocks(tmp_path, capsys):
    out = _import(tmp_path, "imb", str(FIXTURES / "imb-mpi1-allreduce-pingpong.log"), "--nodes", "2")
    assert "left out the IMB benchmarks other than Allreduce: PingPong" in capsys.readouterr().out
    df = load(out)
    assert len(df) == 9 and set(df["algo"]) == {"imb-mpi"} and set(df["dtype"]) == {"float32"}
    assert list(df["p"]) == [2] * 3 + [4] * 3 + [8] * 3
    assert list(df["nodes"]) == [1] * 6 + [2] * 3 and list(df["ranks_per_node"]) == [2] * 3 + [4] * 6
    row = df[(df["p"] == 8) & (df["bytes"] == 1024)].iloc[0]
    assert row["time_s"] == pytest.approx(11.02e-6) and row["rank_max_s"] == pytest.approx(12.40e-6)
    assert row["rank_min_s"] == pytest.approx(9.87e-6) and row["stat"] == "avg" and row["count"] == 256
    assert row["busbw_GBps"] == pytest.approx(1024 / 11.02e-6 / 1e9 * 1.75) and pd_isna(row["nwrong"])
    doc = read_document(out)
    assert doc["nranks"] == 8 and doc["packages"] == {"imb": "2021.7"} and doc["source"]["left_out"] == ["PingPong"]


@pytest.mark.parametrize(
    "edit, args, message",
    [
        (lambda t: t[: t.index("# Benchmarking Allreduce")], [], "PingPong but no Allreduce"),
        (lambda t: t, ["--nodes", "3"], "the job ran 8 processes, which --nodes 3 does not divide"),
        (lambda t: t.replace("t_avg[usec]", "t_avg[usec] Mbytes/sec"), [], "expected '#bytes #repetitions"),
        (lambda t: t.split("# List of Benchmarks")[0], [], "the run stopped after the banner"),
    ],
)
def test_imb_bad_input(tmp_path, capsys, edit, args, message):
    (tmp_path / "imb.log").write_text(edit((FIXTURES / "imb-mpi1-allreduce-pingpong.log").read_text()))
    assert main(["import", "imb", str(tmp_path / "imb.log"), *args, "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and not (tmp_path / "o").exists()
