"""GPU runs: skipped with a reason where there is no CuPy or no GPU (run them with ``make gpu-check``)."""

from __future__ import annotations

import pytest
from conftest import launch_env, run_collbench

from bench.results import load


def _gpu_or_skip() -> None:
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed: GPU tests need pip install 'collbench[gpu]'")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # no driver
        pytest.skip(f"no usable GPU: {exc}")
    if count < 1:
        pytest.skip("no GPU visible")


@pytest.mark.parametrize("flags", [["--cuda-aware", "no"], ["--cuda-aware", "auto"], ["--transport", "nccl-p2p"]])
def test_every_algorithm_on_device_buffers(tmp_path, flags):
    _gpu_or_skip()
    out = tmp_path / "gpu"
    done = run_collbench(
        2,
        "run",
        "--device",
        "gpu",
        *flags,
        "--algo",
        "ring,tree,mesh,rhd,ps,hier,mpi",
        "-b",
        "8",
        "-e",
        "1M",
        "-f",
        "32",
        "-d",
        "float32,float16",
        "-o",
        "sum,min",
        "-n",
        "3",
        "--out",
        str(out),
        timeout=300,
        env=launch_env(NCCL_MULTI_RANK_GPU_ENABLE="1"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    df = load(out)  # two ranks on one GPU unless there are two: NCCL's multi-rank mode for nccl-p2p
    assert (df["nwrong"] == 0).all() and len(df) > 0


def test_nccl_one_rank(tmp_path):
    _gpu_or_skip()
    done = run_collbench(
        1,
        "run",
        "--device",
        "gpu",
        "--algo",
        "nccl",
        "-b",
        "8",
        "-e",
        "1M",
        "-f",
        "32",
        "-n",
        "3",
        "--out",
        str(tmp_path / "nccl"),
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (load(tmp_path / "nccl")["nwrong"] == 0).all()
