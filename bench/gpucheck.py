"""``python -m bench.gpucheck`` (``make gpu-check``): the GPU checks, on a machine with a GPU.

1. Correctness of every algorithm on CuPy buffers with 1, 2 and 4 ranks sharing the GPU(s).
2. NCCL with 1 rank, and with 2 ranks on one GPU under NCCL_MULTI_RANK_GPU_ENABLE=1.
3. A short sweep (1 MiB, 16 MiB, 256 MiB) of ring, mpi and nccl, once staged and once with
   --cuda-aware auto, to show the staging overhead.

Then one table of every row: ranks, algorithm, transport, size, busbw and #wrong. Exits 1 if
any element was wrong or any step failed; a skip (NCCL refusing two ranks on one GPU, say) is
printed with its reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .results import load, read_document

HAND_WRITTEN = "ring,tree,mesh,rhd,ps,mpi"


def _mpiexec() -> str | None:
    local = Path(sys.executable).parent / "mpiexec"
    return str(local) if local.exists() else shutil.which("mpiexec")


def _step(mpiexec: str | None, ranks: int, out: Path, args: list[str], env: dict[str, str]) -> tuple[int, str]:
    command = [sys.executable, "-m", "bench", "run", "--device", "gpu", "--out", str(out), *args]
    if ranks > 1:
        if mpiexec is None:
            return -1, f"skipped: no mpiexec for {ranks} ranks (install the mpich wheel)"
        command = [mpiexec, "-n", str(ranks), *command]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=540)
    tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
    return done.returncode, "\n".join(tail)


def main() -> int:
    mpiexec = _mpiexec()
    base = Path(os.environ.get("COLLBENCH_GPU_CHECK_OUT") or tempfile.mkdtemp(prefix="gpu-check-"))
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    plans: list[tuple[str, int, list[str], dict[str, str]]] = []
    for ranks in (1, 2, 4):
        plans.append(
            (
                f"correct-{ranks}",
                ranks,
                [
                    "--algo",
                    HAND_WRITTEN,
                    "-b",
                    "8",
                    "-e",
                    "4M",
                    "-f",
                    "16",
                    "-d",
                    "float32,float16,int32",
                    "-o",
                    "sum,max",
                    "-n",
                    "3",
                ],
                env,
            )
        )
    plans.append(
        (
            "nccl-1",
            1,
            [
                "--algo",
                "nccl",
                "-b",
                "8",
                "-e",
                "4M",
                "-f",
                "16",
                "-d",
                "float32,float16,int64",
                "-o",
                "sum,prod,min,max",
                "-n",
                "3",
            ],
            env,
        )
    )
    plans.append(
        (
            "nccl-2-shared",
            2,
            ["--algo", "nccl", "-b", "8", "-e", "4M", "-f", "16", "-n", "3"],
            dict(env, NCCL_MULTI_RANK_GPU_ENABLE="1"),
        )
    )
    sweep = ["--algo", "ring,mpi,nccl", "-b", "1M", "-e", "256M", "-f", "16", "--placement", "out"]
    plans.append(("sweep-staged", 2, [*sweep, "--cuda-aware", "no"], dict(env, NCCL_MULTI_RANK_GPU_ENABLE="1")))
    plans.append(("sweep-auto", 2, [*sweep, "--cuda-aware", "auto"], dict(env, NCCL_MULTI_RANK_GPU_ENABLE="1")))
    failed = False
    print(f"# gpu-check: results under {base}")
    for name, ranks, args, step_env in plans:
        code, tail = _step(mpiexec, ranks, base / name, args, step_env)
        print(f"# {name} ({ranks} rank(s)): exit {code}")
        if code != 0:
            print("#   " + tail.replace("\n", "\n#   "))
            failed |= code > 0
    print(
        f"{'step':<16} {'p':>2} {'algo':>6} {'transport':>13} {'dtype':>8} {'op':>5} {'bytes':>10} "
        f"{'busbw GB/s':>10} {'dev us':>10} {'#wrong':>6}"
    )
    for name, *_ in plans:
        path = base / name
        if not (path / "results.jsonl").exists():
            continue
        document = read_document(path / "results.jsonl")
        for skip in document.get("skips", []):
            print(f"{name:<16} skip {skip['algo']}: {skip['reason']}")
        for row in load(path / "results.jsonl").itertuples():
            raw = next(
                r
                for r in document["rows"]
                if r["algo"] == row.algo
                and r["bytes"] == row.bytes
                and r["dtype"] == row.dtype
                and r["op"] == row.op
                and r["placement"] == row.placement
            )
            device_us = raw.get("device_stats", {}).get("p50", float("nan")) * 1e6
            failed |= bool(row.nwrong)
            print(
                f"{name:<16} {row.p:>2} {row.algo:>6} {raw.get('transport', '?'):>13} {row.dtype:>8} {row.op:>5} "
                f"{row.bytes:>10} {row.busbw_GBps:>10.2f} {device_us:>10.1f} {row.nwrong!s:>6}"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
