"""The GPU path end to end on CPUs: ``collbench run --device gpu`` and ``make gpu-check``'s driver
over the fake asynchronous CuPy (tests/fakecupy), where any missing synchronisation gives wrong
results every time. The same checks on a real GPU are ``make gpu-check``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, launch_env, mpiexec, run_collbench

from bench.gpucheck import Step, run_step
from bench.results import load, read_document

FAKE = ROOT / "tests" / "fakecupy"


def fake_env(**extra: str) -> dict[str, str]:
    env = launch_env(**extra)
    env["PYTHONPATH"] = f"{FAKE}{os.pathsep}{env['PYTHONPATH']}"
    env["FAKE_NCCL_DIR"] = extra.get("FAKE_NCCL_DIR", env.get("TMPDIR", "/tmp"))
    return env


@pytest.mark.parametrize("flags", [["--transport", "nccl-p2p"], ["--cuda-aware", "no"], ["--cuda-aware", "yes"]])
def test_every_algorithm_through_the_cli(tmp_path, flags):
    """Per-thread default stream (synchronising Stream.null would leave the work queued), an inherited
    SLURM_LOCALID=0 (which would put both ranks on GPU 0), every algorithm and NCCL."""
    out = tmp_path / "run"
    env = fake_env(FAKE_GPU_COUNT="2", CUPY_CUDA_PER_THREAD_DEFAULT_STREAM="1", SLURM_LOCALID="0")
    done = run_collbench(
        2,
        *["run", "--device", "gpu", *flags, "--algo", "ring,tree,mesh,rhd,ps,hier,mpi,nccl"],
        *["-b", "8", "-e", "4K", "-f", "64", "-d", "float32,int32", "-o", "sum,min", "--time-budget", "0.02"],
        *["--out", str(out)],
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = load(out)
    assert len(rows) == 8 * 3 * 2 * 2 * 2 and (rows["nwrong"] == 0).all()
    document = read_document(out)
    ranks = document["device"]["ranks"]
    assert sorted(r["gpu_index"] for r in ranks) == [0, 1], "each rank picks the GPU of its place on the node"
    assert all(r["pci_bus_id"] and r["nccl"] == "2.30.4" for r in ranks) and len({r["pci_bus_id"] for r in ranks}) == 2
    # the fake's GPU 0, like some real ones, has a zero byte in its UUID, which CuPy cuts short: left empty
    assert sorted(bool(r["gpu_uuid"].startswith("GPU-")) for r in ranks) == [False, True]
    assert document["device"]["stream"] == "per-thread default"
    transports = {r["algo"]: r["transport"] for r in document["rows"]}
    kind = "nccl-p2p" if "nccl-p2p" in flags else ("staged" if "no" in flags else "device-direct")
    assert transports["ring"] == kind and transports["nccl"] == "nccl"
    assert transports["mpi"] == ("device-direct" if kind == "device-direct" else "staged")
    assert {r["gpu_shared"] for r in document["rows"]} == {False}
    assert {(r["timing"], r["clock"]) for r in document["rows"]} == {("batch", "cuda-events")}


def test_ranks_sharing_a_gpu_are_flagged_and_nccl_is_told(tmp_path):
    out = tmp_path / "shared"
    env = fake_env(FAKE_GPU_COUNT="1", NCCL_MULTI_RANK_GPU_ENABLE="1")
    args = ["run", "--device", "gpu", "--algo", "ring,nccl", "-b", "1K", "-e", "1K", "--time-budget", "0.02"]
    args += ["--out", str(out)]
    done = run_collbench(2, *args, env=env, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = load(out)
    assert (rows["nwrong"] == 0).all() and len(rows) == 4
    document = read_document(out)
    advised = {"NCCL_MAX_CTAS": "4", "NCCL_NET_GDR_LEVEL": "LOC"}
    assert document["device"]["ranks_per_gpu"] == 2 and document["device"]["nccl_settings"] == advised
    assert all(r["gpu_shared"] and r["ranks_per_gpu"] == 2 for r in document["rows"])
    refused = run_collbench(2, *args[:-1], str(tmp_path / "refused"), env=fake_env(FAKE_GPU_COUNT="1"), timeout=120)
    assert refused.returncode == 0, refused.stdout + refused.stderr
    assert "NCCL_MULTI_RANK_GPU_ENABLE=1" in refused.stdout


def test_memory_is_checked_per_gpu_not_per_index(tmp_path):
    """Each rank sees one GPU (its own, as index 0): they fit one per GPU, not two on one."""
    need = 4 * (64 << 20) + (512 << 20)  # send, receive, scratch at 64 MiB and the reserve
    env = fake_env(FAKE_GPU_COUNT="2", FAKE_GPU_MEMORY=str(int(need * 1.5)))
    run = [sys.executable, "-m", "bench", "run", "--device", "gpu", "-b", "64M", "-e", "64M", "-n", "1", "-w", "0"]
    ranks = []
    for gpu in ("0", "1"):
        ranks += ["-n", "1", "-env", "CUDA_VISIBLE_DEVICES", gpu, *run, "--out", str(tmp_path / "fits"), ":"]
    done = subprocess.run([mpiexec(), *ranks[:-1]], capture_output=True, text=True, env=env, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    shared = run_collbench(2, *run[3:], "--out", str(tmp_path / "no"), env=dict(env, FAKE_GPU_COUNT="1"), timeout=120)
    assert shared.returncode == 2 and "2 rank(s)" in shared.stderr, shared.stdout + shared.stderr


def gpu_check(out: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m bench.gpucheck`` with a short time budget per row."""
    command = [sys.executable, "-m", "bench.gpucheck", "--out", str(out), "--time-budget", "0.02", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)


def test_gpu_check_passes_on_a_working_device_and_writes_its_table(tmp_path):
    out = tmp_path / "check"
    done = gpu_check(out, "--largest", "16K", "--ranks", "1,2", env=fake_env(FAKE_GPU_COUNT="1"))
    assert done.returncode == 0, done.stdout + done.stderr
    table = (out / "table.md").read_text()
    for needed in (
        "| 2 | shared by 2 | ring | nccl-p2p |",
        "| 1 | own | nccl | nccl |",
        "| 2 | shared by 2 | rhd | staged |",
    ):
        assert needed in table, table
    assert "hier-nodes-nccl-p2p-p2" in table and (out / "report.html").stat().st_size > 10_000


def test_gpu_check_fails_on_a_skip(tmp_path):
    """libnccl missing: the NCCL steps are recorded skips, and a skip fails the check."""
    done = gpu_check(tmp_path / "check", "--largest", "1K", "--ranks", "1", env=fake_env(FAKE_NCCL_MISSING="1"))
    assert done.returncode == 1 and "FAILED" in done.stdout, done.stdout + done.stderr
    assert "could not load the NCCL library" in done.stdout


@pytest.mark.parametrize(
    "script, said",
    [("kill -SEGV $$", "killed by signal 11"), ("exit 3", "exit 3"), ("sleep 5", "timed out after 1 s")],
)
def test_gpu_check_counts_crashes_and_timeouts_as_failures(tmp_path, script, said):
    launcher = tmp_path / "mpiexec"
    launcher.write_text(f"#!/bin/sh\n{script}\n")
    launcher.chmod(0o755)
    ok, text = run_step(Step("s", 1, []), tmp_path / "s", str(launcher), dict(os.environ), timeout=1)
    assert not ok and said in text
    ok, text = run_step(Step("s", 2, []), tmp_path / "s", None, dict(os.environ), timeout=1)
    assert not ok and "no mpiexec" in text


@pytest.mark.parametrize(
    "flags, transport", [(["--cuda-aware", "no"], "staged"), (["--transport", "nccl-p2p"], "nccl-p2p")]
)
def test_calibration_on_the_gpu_measures_the_gpu_path(tmp_path, flags, transport):
    out = tmp_path / "calibrated"
    args = ["run", "--device", "gpu", *flags, "--calibrate", "--algo", "ring", "-b", "1M", "-e", "1M"]
    done = run_collbench(
        2, *args, "--time-budget", "0.02", "--out", str(out), env=fake_env(FAKE_GPU_COUNT="2"), timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    record = read_document(out)["calibrations"][0]
    assert (record["device"], record["transport"]) == ("gpu", transport)
    assert ("staging" in record) == (transport == "staged") and not record["model"].get("cache")
    assert f"on the GPU over {transport}" in done.stdout


def test_a_batch_that_never_completes_ends_the_job(tmp_path):
    """Every timed call sleeps 2 s (tests/plugins/collbench_slow.py): the batch outlasts --timeout, and the
    watchdog ends the job naming the loop (not the correctness pass before it)."""
    env = fake_env(FAKE_GPU_COUNT="2", COLLBENCH_PLUGINS="collbench_slow", COLLBENCH_TEST_SLOW="ring:2")
    args = ["run", "--device", "gpu", "--algo", "ring", "-b", "8", "-e", "8", "-n", "5", "-w", "0", "--timeout", "3"]
    done = run_collbench(2, *args, "--out", str(tmp_path / "slow"), env=env, timeout=120)
    assert done.returncode != 0 and "watchdog" in done.stderr, done.stdout + done.stderr
    assert "ring at 8 B" in done.stderr and "(check)" not in done.stderr, done.stderr


def test_gpu_check_finds_what_pip_installed_under_any_layout(tmp_path):
    """Debian's Python puts pip --prefix installs under local/ and dist-packages; others do not."""
    from bench.gpucheck import find_site

    for prefix, packages in (
        (tmp_path / "debian", "local/lib/python3.12/dist-packages"),
        (tmp_path / "plain", "lib/python3.12/site-packages"),
    ):
        bin_dir = "local/bin" if "local" in packages else "bin"
        lib_dir = "local/lib" if "local" in packages else "lib"
        for path in (f"{bin_dir}/mpiexec", f"{lib_dir}/libmpi.so.12", f"{packages}/mpi4py/__init__.py"):
            (prefix / path).parent.mkdir(parents=True, exist_ok=True)
            (prefix / path).write_text("")
        site = find_site(prefix)
        assert (site.mpiexec, site.libraries, site.packages) == (
            prefix / bin_dir / "mpiexec",
            prefix / lib_dir,
            prefix / packages,
        )
        env = site.env({"PATH": "/usr/bin"})
        assert env["PATH"].startswith(str(prefix / bin_dir)) and env["LD_LIBRARY_PATH"] == str(prefix / lib_dir)
    with pytest.raises(SystemExit, match="no mpiexec"):
        find_site(tmp_path / "empty")


def test_bfloat16_and_avg_run_on_nccl_and_are_skipped_by_the_rest(tmp_path):
    pytest.importorskip("ml_dtypes", reason="bfloat16 needs ml_dtypes (the test extra installs it)")
    out = tmp_path / "bf16"
    args = ["run", "--device", "gpu", "--algo", "ring,nccl", "-d", "bfloat16,float32", "-o", "sum,avg"]
    done = run_collbench(
        2, *args, "-b", "8", "-e", "4K", "-f", "8", "--out", str(out), env=fake_env(FAKE_GPU_COUNT="2"), timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    document = read_document(out)
    ran = {(r["algo"], r["dtype"], r["op"]) for r in document["rows"]}
    assert ran == {("nccl", d, o) for d in ("bfloat16", "float32") for o in ("sum", "avg")} | {
        ("ring", "float32", "sum")
    }
    assert all(r["nwrong"] == 0 for r in document["rows"])
    skipped = {(s["algo"], s["dtype"], s["op"]) for s in document["skips"]}
    assert skipped == {("ring", "bfloat16", "sum"), ("ring", "bfloat16", "avg"), ("ring", "float32", "avg")}
