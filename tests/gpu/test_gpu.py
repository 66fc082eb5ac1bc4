"""GPU runs: skipped with a reason where there is no CuPy or no GPU (run them with ``make gpu-check``)."""

from __future__ import annotations

import pytest
from conftest import run_collbench

from bench.results import load


def _gpu_or_skip() -> None:
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed: GPU tests need pip install 'collbench[gpu]'")
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # no driver
        pytest.skip(f"no usable GPU: {exc}")
    if count < 1:
        pytest.skip("no GPU visible")


@pytest.mark.parametrize("cuda_aware", ["no", "auto"])
def test_every_algorithm_on_device_buffers(tmp_path, cuda_aware):
    _gpu_or_skip()
    out = tmp_path / "gpu"
    done = run_collbench(
        2,
        "run",
        "--device",
        "gpu",
        "--cuda-aware",
        cuda_aware,
        "--algo",
        "ring,tree,mesh,rhd,ps,mpi",
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
    )
    assert done.returncode == 0, done.stdout + done.stderr
    df = load(out)
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
