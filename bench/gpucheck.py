"""``python -m bench.gpucheck --out DIR`` (``make gpu-check``): every GPU check in one run, one table.

On a machine with a GPU (or several), at each rank count of ``--ranks`` (default 1 and 2; ranks
beyond the visible GPUs share one, with NCCL's multi-rank mode enabled for them):

1. Correctness of every hand-written algorithm (hier across two logical nodes too) and of the
   ``mpi`` baseline on CuPy buffers, over every GPU transport: ``nccl-p2p``, ``staged`` MPI,
   and ``device-direct`` MPI when the MPI library says it is CUDA-aware.
2. Correctness of the ``nccl`` baseline in every dtype and op it has (bfloat16 and avg included).
3. A sweep (``--largest``/256 to ``--largest``, x16: 1, 16 and 256 MiB by default) of ring, tree
   and rhd over nccl-p2p against NCCL, and over staged MPI against MPI's own all-reduce.

Each step is one ``collbench run`` writing its results under DIR; ``DIR/report.html`` shows them
all. Then one table: busbw per size of every algorithm and transport at each rank count, the
rows of ranks sharing a GPU marked. The exit status is 1 when any step crashed, timed out, was
skipped or recorded a skip, or any element was wrong; 0 only when everything ran and was right.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .mpienv import find_mpiexec
from .results import load, read_document
from .sizes import format_size, parse_size

HAND_WRITTEN = "ring,tree,mesh,rhd,ps,hier,mpi"
SWEPT = "ring,tree,rhd"


@dataclass
class Step:
    name: str
    ranks: int
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    sweep: bool = False


def _mpiexec(site: Site | None = None) -> str | None:
    """The installed site's mpiexec, else the one beside this Python, else the first on PATH."""
    if site is not None:
        return str(site.mpiexec)
    return find_mpiexec()


@dataclass
class Site:
    """What ``pip install --prefix DIR`` put where: the layout depends on the Python (Debian's adds local/)."""

    mpiexec: Path
    libraries: Path
    packages: Path

    def env(self, env: dict[str, str]) -> dict[str, str]:
        """``env`` with this site first on PATH, LD_LIBRARY_PATH and PYTHONPATH (and this checkout after it)."""

        def first(name: str, *paths: Path | str) -> str:
            return os.pathsep.join([*map(str, paths), *filter(None, [env.get(name, "")])])

        root = Path(__file__).resolve().parents[1]
        return {
            **env,
            "PATH": first("PATH", self.mpiexec.parent),
            "LD_LIBRARY_PATH": first("LD_LIBRARY_PATH", self.libraries),
            "PYTHONPATH": first("PYTHONPATH", self.packages, root),
        }


def find_site(prefix: Path) -> Site:
    """The mpiexec, libmpi and mpi4py that were installed under ``prefix``; SystemExit naming what is missing."""

    def one(pattern: str, what: str) -> Path:
        found = sorted(prefix.glob(pattern))
        if not found:
            raise SystemExit(f"gpu-check: no {what} under {prefix} ({pattern}); run make gpu-check, which installs it")
        return found[0]

    mpiexec = one("**/bin/mpiexec", "mpiexec")
    libmpi = one("**/libmpi.so.12", "libmpi.so.12 (the mpich wheel)")
    mpi4py = one("**/*-packages/mpi4py/__init__.py", "mpi4py")
    return Site(mpiexec, libmpi.parent, mpi4py.parent.parent)


def check_site(site: Site, env: dict[str, str]) -> str | None:
    """Why the site's mpi4py is not the one a step would import, or None when it is."""
    code = "import mpi4py; print(mpi4py.__file__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    used = done.stdout.strip()
    if done.returncode != 0 or not used.startswith(str(site.packages)):
        return f"the steps would import mpi4py from {used or done.stderr.strip()[-200:]}, not from {site.packages}"
    return None


def cuda_aware(env: dict[str, str]) -> tuple[bool, str]:
    """What the MPI library says about CUDA support, asked in a process of its own (MPI initialised there)."""
    code = "from mpi4py import MPI\nfrom bench.device import detect_cuda_aware\nprint(*detect_cuda_aware(), sep='|')"
    try:
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    except subprocess.TimeoutExpired:
        return False, "the CUDA-support query timed out"
    if done.returncode != 0:
        return False, f"the CUDA-support query failed: {done.stderr.strip()[-200:]}"
    answer, how = done.stdout.strip().rsplit("\n", 1)[-1].split("|", 1)
    return answer == "True", how


def plan(ranks: list[int], largest: int, device_direct: bool) -> list[Step]:
    """The steps, in the order they run."""
    small = ["-b", "8", "-e", str(min(4 << 20, largest)), "-f", "16", "-n", "3"]
    transports = [("nccl-p2p", ["--transport", "nccl-p2p"]), ("staged", ["--cuda-aware", "no"])]
    if device_direct:
        transports.append(("device-direct", ["--cuda-aware", "yes"]))
    sweep = ["-b", str(max(largest // 256, 8)), "-e", str(largest), "-f", "16", "--placement", "out"]
    steps = []
    for p in ranks:
        for name, flags in transports:
            check = [*small, "-d", "float32,float16,int32", "-o", "sum,max"]
            steps.append(Step(f"correct-{name}-p{p}", p, ["--algo", HAND_WRITTEN, *flags, *check]))
            if p > 1:
                logical = ["--algo", "hier", "--ranks-per-node", "1", *flags, *check]
                steps.append(Step(f"hier-nodes-{name}-p{p}", p, logical))
        nccl = [*small, "-d", "float32,float16,bfloat16,int32,int64,float64", "-o", "sum,prod,min,max,avg"]
        steps.append(Step(f"correct-nccl-p{p}", p, ["--algo", "nccl", *nccl]))
        steps.append(Step(f"sweep-nccl-p2p-p{p}", p, ["--algo", f"{SWEPT},nccl", "--transport", "nccl-p2p", *sweep], sweep=True))
        steps.append(Step(f"sweep-staged-p{p}", p, ["--algo", f"{SWEPT},mpi", "--cuda-aware", "no", *sweep], sweep=True))
    return steps


def run_step(step: Step, out: Path, mpiexec: str | None, env: dict[str, str], timeout: float) -> tuple[bool, str]:
    """Run one step; (it ran and exited 0, what to say about it)."""
    command = [sys.executable, "-m", "bench", "run", "--device", "gpu", "--out", str(out), "--label", step.name]
    command += step.args
    if mpiexec is None:
        return False, f"not run: no mpiexec for {step.ranks} rank(s) (install the mpich wheel: make gpu-wheels)"
    command = [mpiexec, "-n", str(step.ranks), *command]
    log = out.parent / f"{step.name}.log"
    try:
        done = subprocess.run(command, capture_output=True, text=True, env={**env, **step.env}, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        log.write_text(_text(exc.stdout) + _text(exc.stderr))
        return False, f"timed out after {timeout:g} s"
    log.write_text(done.stdout + done.stderr)
    tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-3:])
    if done.returncode != 0:
        how = f"killed by signal {-done.returncode}" if done.returncode < 0 else f"exit {done.returncode}"
        return False, f"{how}: {tail}"
    return True, "exit 0"


def _text(output: bytes | str | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else (output or "")


def summarize_step(path: Path) -> tuple[int, int, list[str]]:
    """(rows, wrong elements, skip reasons) of one step's results."""
    document = read_document(path / "results.jsonl")
    skips = [f"{s['algo']} {s.get('dtype', '')} {s.get('op', '')}: {s['reason']}" for s in document.get("skips", [])]
    rows = load(path / "results.jsonl")
    return len(rows), int(rows["nwrong"].fillna(0).sum()) if len(rows) else 0, skips


def sweep_table(paths: list[Path]) -> list[str]:
    """busbw (algbw) in GB/s per size: one line per rank count, algorithm and transport (busbw is 0 at 1 rank)."""
    lines, sizes, cells = [], set(), {}
    for path in paths:
        document = read_document(path / "results.jsonl")
        for row in document["rows"]:
            key = (row["p"], row.get("ranks_per_gpu", 0), row["algo"], row.get("transport", "?"))
            cells[key, row["bytes"]] = (row["busbw_GBps"], row["algbw_GBps"], row.get("nwrong"))
            sizes.add(row["bytes"])
    ordered = sorted(sizes)
    sizes_text = " | ".join(f"{format_size(s)} busbw (algbw) GB/s" for s in ordered)
    header = f"| p | GPU | algorithm | transport | {sizes_text} | #wrong |"
    lines += [header, "|" + " --- |" * (5 + len(ordered))]
    for key in sorted({k for k, _ in cells}):
        p, per_gpu, algo, transport = key
        shared = f"shared by {per_gpu}" if per_gpu > 1 else "own"
        values = [cells.get((key, s)) for s in ordered]
        busbw = [f"{v[0]:.2f} ({v[1]:.2f})" if v else "-" for v in values]
        wrong = sum(int(v[2] or 0) for v in values if v)
        lines.append(f"| {p} | {shared} | {algo} | {transport} | {' | '.join(busbw)} | {wrong} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpucheck", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="folder for the results, the logs, table.md and report.html")
    parser.add_argument("--ranks", default="1,2", help="rank counts to check (default: 1,2)")
    parser.add_argument("--largest", default="256M", help="the sweep's largest size (default: 256M)")
    parser.add_argument("--step-timeout", type=float, default=300, help="seconds one step may take (default: 300)")
    parser.add_argument("--time-budget", help="collbench run's --time-budget for every step (default: its own)")
    parser.add_argument("--site", help="the pip --prefix holding mpi4py, mpich and plotly (make gpu-check's)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ranks = [int(r) for r in args.ranks.split(",")]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.setdefault("NCCL_MULTI_RANK_GPU_ENABLE", "1")  # ranks beyond the GPUs share them
    site = find_site(Path(args.site)) if args.site else None
    if site is not None:
        env = site.env(env)
        wrong = check_site(site, env)
        if wrong:
            print(f"# gpu-check: FAILED: {wrong}")
            return 1
    direct, how = cuda_aware(env)
    print(f"# gpu-check: results under {out}; device-direct {'runs' if direct else 'not run'} ({how})")
    failed, sweeps, summary = False, [], []
    for step in plan(ranks, parse_size(args.largest, "--largest"), direct):
        if args.time_budget:
            step.args += ["--time-budget", args.time_budget]
        ok, said = run_step(step, out / step.name, _mpiexec(site), env, args.step_timeout)
        rows, wrong, skips = summarize_step(out / step.name) if (out / step.name / "results.jsonl").exists() else (0, 0, [])
        failed |= not ok or wrong > 0 or bool(skips) or rows == 0
        summary.append(f"| {step.name} | {step.ranks} | {rows} | {wrong} | {len(skips)} | {said} |")
        summary += [f"|   skip | | | | | {s} |" for s in skips]
        if step.sweep and rows:
            sweeps.append(out / step.name)
    lines = ["| step | p | rows | #wrong | skips | result |", "| --- | --- | --- | --- | --- | --- |", *summary, ""]
    lines += sweep_table(sweeps) if sweeps else ["no sweep produced rows"]
    text = "\n".join(lines)
    print(text)
    (out / "table.md").write_text(text + "\n")
    steps = [str(p.parent) for p in sorted(out.glob("*/results.jsonl"))]
    if steps:
        report = subprocess.run(
            [sys.executable, "-m", "bench", "report", *steps, "-o", str(out / "report.html"), "--title", "gpu-check"],
            capture_output=True,
            text=True,
            env=env,
        )
        failed |= report.returncode != 0
        print(f"# report: {out / 'report.html'} (exit {report.returncode})")
    print(f"# gpu-check: {'FAILED' if failed else 'passed'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
