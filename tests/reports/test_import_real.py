"""collbench import on 17 real, published logs of nccl-tests, OSU and IMB.

The logs are other people's data: they stay in ``../shared/samples/real/`` beside the project and
are never copied into it. Without that folder these tests skip; with COLLBENCH_REQUIRE naming
``samples`` (as CI sets it) they fail instead. Every fact asserted here was read off the log by hand.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from capabilities import skip_or_fail

from bench.cli import main
from bench.results import load, read_document
from reports.importers import read_imb, read_nccl_tests, read_osu

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT.parent / "shared" / "samples" / "real"


@pytest.fixture
def real() -> Path:
    if not REAL.is_dir():
        skip_or_fail("samples", f"the published logs are not at {REAL} (they are never copied into the project)")
    return REAL


def _row(rows: list[dict], nbytes: int, placement: str = "out", dtype: str | None = None) -> dict:
    return next(r for r in rows if r["bytes"] == nbytes and r["placement"] == placement and dtype in (None, r["dtype"]))


# file: rows, first and last size, dtypes, ranks, nodes, ranks per node, GPU, #wrong of every row,
# and one row (size, placement, dtype) with its time (us), algbw and busbw (GB/s) as printed.
NCCL = {
    "nccl-tests-2.17.1-gh200-2nodes-8gpu.log": (
        50, 8, 134217728, {"float32"}, 8, 2, 4, "NVIDIA GH200 120GB", {0},
        (134217728, "out", None, 1916.4, 70.04, 122.57),
    ),
    "nccl-tests-2.18.2-gh200-2nodes-2gpu.log": (
        16, 1048576, 134217728, {"float32"}, 2, 2, 1, "NVIDIA GH200 120GB", {0},
        (134217728, "in", None, 5867.43, 22.88, 22.88),
    ),
    "nccl-tests-2.18.3-h200-2nodes-16gpu-alltypes.log": (
        72, 10737418240, 42949672960,
        {"int8", "uint8", "int32", "uint32", "int64", "uint64", "float16", "float32", "float64", "bfloat16",
         "float8_e4m3", "float8_e5m2"},
        16, 2, 8, "NVIDIA H200", {0},
        (21474836480, "out", "int32", 88601.0, 242.38, 454.46),
    ),
    "nccl-tests-2.18.3-h200-2nodes-16gpu-float.log": (
        50, 1024, 17179869184, {"float32"}, 16, 2, 8, "NVIDIA H200", {0},
        (17179869184, "out", None, 66326.9, 259.02, 485.66),
    ),
    "nccl-tests-2022-oldfmt-k80-4gpu-ncclinfo.log": (
        14, 33554432, 2147483648, {"float32"}, 4, 1, 4, "Tesla K80", {None},
        (2147483648, "out", None, 1258554, 1.71, 2.56),
    ),
    "nccl-tests-2022-oldfmt-t4-3nodes-nocheck.log": (
        22, 104857600, 115343360, {"float32"}, 3, 3, 1, "Tesla T4", {None},
        (104857600, "out", None, 202872, 0.52, 0.69),
    ),
    "nccl-tests-2024-awsbatch-tagoutput-prefix.log": (
        64, 8, 17179869184, {"float32"}, 8, 1, 8, None, {0},
        (17179869184, "out", None, 62239, 276.03, 483.05),
    ),
    "nccl-tests-2024-rtx3090-4nodes-wrong-failed.log": (
        54, 8, 536870912, {"float32"}, 4, 4, 1, "NVIDIA GeForce RTX 3090", None,
        (536870912, "out", None, 72335, 7.42, 11.13),
    ),
    "nccl-tests-2025-h100-2nodes-16gpu.log": (
        62, 8, 8589934592, {"float32"}, 16, 2, 8, "NVIDIA H100 80GB HBM3", {0},
        (8589934592, "in", None, 47743, 179.92, 337.35),
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(NCCL))
def test_nccl_tests_real_log(real, name):
    rows_n, first, last, dtypes, p, nodes, per_node, gpu, wrong, (size, placement, dtype, us, alg, bus) = NCCL[name]
    imported = read_nccl_tests(real / name)
    rows = imported.rows
    assert len(rows) == rows_n and rows[0]["bytes"] == first and rows[-1]["bytes"] == last
    assert {r["dtype"] for r in rows} == dtypes and {r["op"] for r in rows} == {"sum"}
    assert {(r["p"], r["nodes"], r["ranks_per_node"]) for r in rows} == {(p, nodes, per_node)}
    assert {r["device"] for r in rows} == {"gpu"} and {r["algo"] for r in rows} == {"nccl"}
    assert {r["params"].get("gpu") for r in rows} == {gpu}
    assert {r.get("ranks_per_gpu") for r in rows} == ({None} if gpu is None else {1})
    if wrong is not None:
        assert {r["nwrong"] for r in rows} == wrong
    assert {r["placement"] for r in rows} == {"out", "in"} and rows_n % 2 == 0
    row = _row(rows, size, placement, dtype)
    assert row["time_s"] == pytest.approx(us * 1e-6) and row["algbw_GBps"] == alg and row["busbw_GBps"] == bus
    assert row["count"] * {"float32": 4, "int32": 4}[row["dtype"]] == size
    assert row["busbw_factor"] == pytest.approx(2 * (p - 1) / p)
    assert imported.metadata["nranks"] == p and imported.metadata["nodes"] == nodes


def test_nccl_tests_versions_and_hosts(real):
    doc = read_nccl_tests(real / "nccl-tests-2.18.3-h200-2nodes-16gpu-float.log").metadata
    assert doc["packages"] == {"nccl-tests": "2.18.3", "nccl": "2.30.4"} and doc["mpi"]["library"] == "NCCL 2.30.4"
    assert doc["hosts"][:8] == ["nvidiatools-dell-h200-2-workload"] * 8
    assert doc["hosts"][8:] == ["nvidiatools-dell-h200-3-workload"] * 8
    assert doc["config"]["iters"] == 100 and doc["config"]["warmup"] == 50
    assert read_nccl_tests(real / "nccl-tests-2.18.2-gh200-2nodes-2gpu.log").metadata["mpi"]["library"] == "NCCL 2.30.7"
    gh200 = read_nccl_tests(real / "nccl-tests-2.17.1-gh200-2nodes-8gpu.log").metadata
    assert gh200["hosts"] == ["nid005471"] * 4 + ["nid005487"] * 4
    assert gh200["mpi"]["library"].startswith("NCCL (version not in the log")
    alltypes = read_nccl_tests(real / "nccl-tests-2.18.3-h200-2nodes-16gpu-alltypes.log").rows
    assert _row(alltypes, 10737418240, "out", "int8")["busbw_GBps"] == 389.40
    assert _row(alltypes, 21474836480, "in", "bfloat16")["count"] == 10737418240
    assert [r["dtype"] for r in alltypes[::6]] == [
        "int8", "uint8", "int32", "uint32", "int64", "uint64", "float16", "float32", "float64", "bfloat16",
        "float8_e4m3", "float8_e5m2",
    ]  # fmt: skip


def test_old_layout_error_column_is_not_a_count(real):
    k80 = read_nccl_tests(real / "nccl-tests-2022-oldfmt-k80-4gpu-ncclinfo.log").rows
    assert {r["nwrong"] for r in k80} == {None} and {r["params"]["max_abs_error"] for r in k80} == {2e-07}
    t4 = read_nccl_tests(real / "nccl-tests-2022-oldfmt-t4-3nodes-nocheck.log")
    assert {r["params"]["max_abs_error"] for r in t4.rows} == {None}  # N/A: run with -c 0
    assert t4.metadata["config"]["validation"] == 0 and t4.metadata["hosts"] == ["gpu01", "gpu02", "gpu03"]


def test_wrong_counts_as_printed(real):
    rows = read_nccl_tests(real / "nccl-tests-2024-rtx3090-4nodes-wrong-failed.log").rows
    assert _row(rows, 8)["nwrong"] == 8 and _row(rows, 524288, "in")["nwrong"] == 524288
    big = _row(rows, 1048576)
    assert big["nwrong"] == 1048580 and big["params"]["nwrong_as_printed"] == "1.04858e+06"
    assert _row(rows, 536870912, "in")["nwrong"] == 536871000
    assert all(r["nwrong"] > 0 for r in rows)


def test_tag_output_log_end_to_end(real, tmp_path, capsys):
    log, out = real / "nccl-tests-2024-awsbatch-tagoutput-prefix.log", tmp_path / "aws"
    assert main(["import", "nccl-tests", str(log), "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "8 ranks, from busbw/algbw" in printed and "1 assumed (give --nodes N)" in printed
    df = load(out)
    assert len(df) == 64 and set(df["p"]) == {8} and set(df["nwrong"]) == {0}
    assert df.iloc[1]["time_s"] == pytest.approx(12.87e-6) and df.iloc[1]["placement"] == "in"
    assert main(["import", "nccl-tests", str(log), "--ranks", "4", "-o", str(tmp_path / "x")]) == 2
    assert "busbw/algbw is that of 8 ranks" in capsys.readouterr().err


def test_unchecked_old_log_loads_with_wrong_unknown(real, tmp_path):
    log, out = real / "nccl-tests-2022-oldfmt-k80-4gpu-ncclinfo.log", tmp_path / "k80"
    assert main(["import", "nccl-tests", str(log), "-o", str(out)]) == 0
    df = load(out)
    assert df["nwrong"].isna().all() and '"max_abs_error": 2e-07' in df.iloc[0]["params"]
    assert read_document(out)["nwrong_total"] is None


# file: --ranks and --nodes, rows, first and last size, dtype, ranks, nodes, device, one size and its
# Avg Latency (us). OSU does not print the rank count: the options give it, or the launch line in the log.
OSU = {
    "osu-5.4.1-archer2-256ranks-cpu.log": ((256, 2), 19, 4, 1048576, "float32", 256, 2, "cpu", (1048576, 2173.25)),
    "osu-5.9-mvapich2gdr-cuda-2gpu-warnings.log": (
        (None, None), 19, 4, 1048576, "float32", 2, 1, "gpu", (32768, 456.73),
    ),
    "osu-6.2-full-stats-200ranks-cpu.log": (
        (200, None), 6, 100000, 3200000, "float32", 200, 1, "cpu", (3200000, 9006.89),
    ),
    "osu-7.0-cuda-ucc-trace-1size.log": ((2, None), 1, 1048576, 1048576, "float32", 2, 1, "gpu", (1048576, 582.07)),
    "osu-7.4-2vms-char-raw.log": ((2, 2), 21, 1, 1048576, "int8", 2, 2, "cpu", (1048576, 662.73)),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(OSU))
def test_osu_real_log(real, name):
    (ranks, nodes), rows_n, first, last, dtype, p, n, device, (size, us) = OSU[name]
    imported = read_osu(real / name, ranks=ranks, nodes=nodes)
    rows = imported.rows
    assert len(rows) == rows_n and rows[0]["bytes"] == first and rows[-1]["bytes"] == last
    assert {r["dtype"] for r in rows} == {dtype}
    assert {(r["p"], r["nodes"], r["device"]) for r in rows} == {(p, n, device)}
    assert {r["nwrong"] for r in rows} == {None} and {r["algo"] for r in rows} == {"osu-mpi"}
    row = _row(rows, size)
    assert row["time_s"] == pytest.approx(us * 1e-6) and row["stats"]["rank_avg"] == row["time_s"]
    assert row["count"] == size // {"float32": 4, "int8": 1}[dtype]
    assert row["busbw_GBps"] == pytest.approx(size / (us * 1e-6) / 1e9 * 2 * (p - 1) / p)


def test_osu_facts_beyond_the_table(real):
    full = read_osu(real / "osu-6.2-full-stats-200ranks-cpu.log", ranks=200).rows
    assert full[0]["stats"]["rank_min"] == pytest.approx(1168.71e-6)
    assert full[0]["stats"]["rank_max"] == pytest.approx(1188.92e-6)
    assert {r["iters"] for r in full} == {100} and full[0]["count"] == 25000
    cuda = read_osu(real / "osu-5.9-mvapich2gdr-cuda-2gpu-warnings.log")
    assert cuda.notes[0] == "2 ranks, from the launch command in the log"
    assert cuda.rows[2]["time_s"] == pytest.approx(1.60e-6)
    with pytest.raises(Exception, match="OSU does not print how many ranks ran; give --ranks P"):
        read_osu(real / "osu-7.0-cuda-ucc-trace-1size.log")


def test_failed_osu_run_is_refused(real, tmp_path, capsys):
    log = real / "osu-7.4-failed-mpi-init-no-table.log"
    assert main(["import", "osu", str(log), "--ranks", "2", "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("collbench: error: ") and err.count("\n") == 1
    assert "the run failed before osu_allreduce printed any" in err and "MPI_INIT failed" in err
    assert not (tmp_path / "o").exists()


def test_imb_real_logs(real):
    full = read_imb(real / "imb-2021.3-allreduce-1proc-full.log")
    rows = full.rows
    assert len(rows) == 22 and rows[0]["bytes"] == 0 and rows[-1]["bytes"] == 4194304
    assert {(r["p"], r["nodes"], r["dtype"], r["op"], r["algo"]) for r in rows} == {(1, 1, "float32", "sum", "imb-mpi")}
    assert rows[-1]["time_s"] == pytest.approx(291.86e-6) and rows[-1]["iters"] == 10 and rows[0]["iters"] == 1000
    assert rows[-1]["busbw_GBps"] == 0 and {r["nwrong"] for r in rows} == {None}
    assert full.metadata["packages"] == {"imb": "2021.3"}
    assert full.metadata["mpi"]["library_version"] == "MPI standard 3.1"
    fragment = read_imb(real / "imb-allreduce-1408procs-fragment.log")
    assert [r["bytes"] for r in fragment.rows] == [0, 8, 16] and {r["p"] for r in fragment.rows} == {1408}
    eight = fragment.rows[1]
    assert eight["time_s"] == pytest.approx(27.94e-6) and eight["iters"] == 10000 and eight["count"] == 2
    assert eight["stats"]["rank_min"] == pytest.approx(24.06e-6)
    assert eight["stats"]["rank_max"] == pytest.approx(30.77e-6)
    assert eight["busbw_GBps"] == pytest.approx(8 / 27.94e-6 / 1e9 * 2 * 1407 / 1408)
    assert any("no IMB banner" in note for note in fragment.notes)
