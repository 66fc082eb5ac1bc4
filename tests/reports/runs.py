"""Deterministic result files for the report, compare and import tests, written with ResultsWriter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from bench.results import SCHEMA, SCHEMA_VERSION, ResultsWriter

HOSTILE = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'


def header(label: str = "", hosts: list[str] | None = None, env: dict[str, str] | None = None) -> dict[str, Any]:
    """A run header like collbench run writes."""
    hosts = hosts or ["node-a", "node-a", "node-b", "node-b"]
    return {
        "collbench_version": "0.1.0",
        "label": label,
        "argv": ["collbench", "run", "--algo", "ring,mpi", "--label", label],
        "start_time": "2026-11-22T10:00:00Z",
        "mpi": {"library": "MPICH Version: 5.0.2", "library_version": "MPICH Version: 5.0.2\nMPICH Device: ch4"},
        "packages": {"python": "3.11.7", "mpi4py": "4.1.2"},
        "platform": {"system": "Linux", "machine": "x86_64"},
        "nranks": len(hosts),
        "hosts": hosts,
        "nodes": len(set(hosts)),
        "ranks_per_node": 2,
        "env": env if env is not None else {"SLURM_JOB_ID": "42"},
        "config": {"algos": ["ring", "mpi"]},
    }


def row(
    algo: str,
    nbytes: int,
    samples: list[float],
    p: int = 4,
    placement: str = "out",
    nwrong: int | None = 0,
    dtype: str = "float32",
    op: str = "sum",
) -> dict[str, Any]:
    """One measurement row with its stats computed from ``samples``."""
    values = np.asarray(samples, dtype=float)
    median = float(np.median(values))
    factor = 2 * (p - 1) / p
    algbw = nbytes / median / 1e9
    return {
        "algo": algo,
        "p": p,
        "nodes": 2,
        "ranks_per_node": p // 2,
        "layout": "physical",
        "rank_order": "packed",
        "mesh": "",
        "bytes": nbytes,
        "count": nbytes // 4,
        "dtype": dtype,
        "op": op,
        "placement": placement,
        "timing": "b2b",
        "iters": len(samples),
        "warmup": 5,
        "nwrong": nwrong,
        "busbw_factor": factor,
        "time_s": median,
        "algbw_GBps": algbw,
        "busbw_GBps": algbw * factor,
        "stats": {
            "min": float(values.min()),
            "p50": median,
            "mean": float(values.mean()),
            "p99": float(np.percentile(values, 99)),
            "max": float(values.max()),
            "stdev": float(values.std()),
        },
        "params": {"chunk": 1048576} if algo == "ring" else {},
        "samples_s": [float(v) for v in samples],
    }


def samples(base_s: float, n: int = 40, seed: int = 0, spread: float = 0.02) -> list[float]:
    """``n`` positive timings around ``base_s`` with a small relative spread, reproducibly."""
    rng = np.random.default_rng(seed)
    return list(base_s * (1 + spread * rng.standard_normal(n)).clip(0.5))


SIZES = [8, 1024, 65536, 1048576]


def standard_rows(scale: float = 1.0, seed: int = 0) -> list[dict[str, Any]]:
    """ring and mpi at four sizes, both placements; ring twice as fast above 64 KiB."""
    rows = []
    for i, nbytes in enumerate(SIZES):
        for placement in ("out", "in"):
            mpi = 5e-6 + nbytes / 2e9
            ring = 8e-6 + nbytes / 4e9
            rows.append(row("mpi", nbytes, samples(mpi * scale, seed=seed + 10 * i), placement=placement))
            rows.append(row("ring", nbytes, samples(ring * scale, seed=seed + 10 * i + 1), placement=placement))
    return rows


def write_run(
    directory: Path,
    rows: list[dict[str, Any]],
    label: str = "",
    skips: list[dict[str, Any]] | None = None,
    complete: bool = True,
    **header_fields: Any,
) -> Path:
    """A run directory as collbench run leaves it (without the footer when not ``complete``)."""
    writer = ResultsWriter(directory, {**header(label), **header_fields})
    for r in rows:
        writer.add_row(r)
    for s in skips or []:
        writer.add_skip(s)
    nwrong = sum(int(r["nwrong"] or 0) for r in rows)
    writer.close({"end_time": "2026-11-22T10:05:00Z", "complete": True, "nwrong_total": nwrong})
    if not complete:  # what a killed job leaves: the journal without its footer, no results.json
        journal = directory / "results.jsonl"
        lines = journal.read_text(encoding="utf-8").splitlines(keepends=True)
        journal.write_text("".join(lines[:-1]), encoding="utf-8")
        (directory / "results.json").unlink()
        (directory / "results.csv").unlink()
    return directory


def write_document(path: Path, rows: list[dict[str, Any]], label: str = "") -> Path:
    """results.json in one write (no per-row fsync): for large synthetic runs."""
    document = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, **header(label), "end_time": "", "complete": True}
    document.update(nwrong_total=0, rows=rows, skips=[], calibrations=[])
    path.mkdir(parents=True, exist_ok=True)
    (path / "results.json").write_text(json.dumps(document), encoding="utf-8")
    return path
