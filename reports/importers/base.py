"""What every importer returns, and the collbench row a measurement becomes.

A tool's module reads its own format and hands each measurement to ``result_row`` (or, for a
tool that prints the mean of the ranks' own averages, to ``RankAverages.row``), so every tool's
rows have the same fields; the run's header fields, rows and remarks go back as ``Imported``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np


class ImportFormatError(Exception):
    """The input is not output of the expected tool; the message says what was wrong and where."""


@dataclass
class Imported:
    """What an importer read: header fields of a results document, its rows, skips and notes.

    ``notes`` are one-line remarks for the user (what was assumed or left out); ``complete`` is
    False when the tool's own output shows the run stopped early, with ``reason`` saying how.
    """

    metadata: dict[str, Any]
    rows: list[dict[str, Any]]
    skips: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    complete: bool = True
    reason: str = ""


# ----------------------------------------------------------------------------- where the ranks ran
class Topology(NamedTuple):
    """Where a run's ranks were: their count, nodes, ranks per node (0 when uneven) and hosts."""

    p: int
    nodes: int
    ranks_per_node: int
    hosts: list[str]

    def header(self) -> dict[str, Any]:
        """The results document's fields for it."""
        return {"nranks": self.p, "hosts": self.hosts, "nodes": self.nodes, "ranks_per_node": self.ranks_per_node}


def topology_of(hosts: list[str], ranks: int | None, nodes: int | None, where: str) -> Topology:
    """The topology from the per-rank hosts a log lists, or from the options."""
    if hosts:
        if ranks is not None and ranks != len(hosts):
            raise ImportFormatError(f"{where}: the log lists {len(hosts)} ranks but --ranks says {ranks}")
        counts: dict[str, int] = {}
        for host in hosts:
            counts[host] = counts.get(host, 0) + 1
        if nodes is not None and nodes != len(counts):
            raise ImportFormatError(f"{where}: the log lists {len(counts)} hosts but --nodes says {nodes}")
        per = set(counts.values())
        return Topology(len(hosts), len(counts), per.pop() if len(per) == 1 else 0, hosts)
    if ranks is None:
        raise ImportFormatError(f"{where}: the output does not say how many ranks ran; give --ranks P")
    nodes = nodes or 1
    return Topology(ranks, nodes, ranks // nodes if ranks % nodes == 0 else 0, [])


# ----------------------------------------------------------------------------- the row
def _busbw_factor(p: int) -> float:
    return 2.0 * (p - 1) / p if p > 1 else 0.0


def _sample_stats(samples: list[float]) -> dict[str, float]:
    values = np.asarray(samples, dtype=float)
    return {
        "min": float(values.min()),
        "p50": float(np.median(values)),
        "mean": float(values.mean()),
        "p99": float(np.percentile(values, 99)),
        "max": float(values.max()),
        "stdev": float(values.std()),
    }


def result_row(
    *,
    algo: str,
    topology: Topology,
    nbytes: int,
    count: int,
    dtype: str,
    op: str,
    placement: str,
    timing: str,
    iters: int,
    warmup: int,
    nwrong: int | None,
    time_s: float,
    params: dict[str, Any],
    device: str,
    algbw: float | None = None,
    busbw: float | None = None,
    samples: list[float] | None = None,
    stats: dict[str, float | None] | None = None,
    ranks_per_gpu: int | None = None,
    stat: str | None = None,
) -> dict[str, Any]:
    """One collbench row; algbw and busbw are computed from the time where the tool did not print them.

    Without per-iteration ``samples`` the time is the row's one sample and its params say
    ``"samples": "average only"``; ``stats`` overrides or adds to the statistics of the samples.
    """
    factor = _busbw_factor(topology.p)
    if algbw is None:
        algbw = nbytes / time_s / 1e9 if time_s > 0 else 0.0
    if busbw is None:
        busbw = algbw * factor
    if samples:
        params = {**params, "samples": "per-iteration"}
        row_stats: dict[str, float | None] = _sample_stats(samples)
    else:
        samples = [time_s]
        params = {**params, "samples": "average only"}
        row_stats = {"min": time_s, "p50": time_s, "mean": time_s, "p99": time_s, "max": time_s, "stdev": 0.0}
    if stats:
        row_stats.update(stats)
    row = {
        "algo": algo,
        "p": topology.p,
        "nodes": topology.nodes,
        "ranks_per_node": topology.ranks_per_node,
        "layout": "physical",
        "rank_order": "packed",
        "mesh": "",
        "bytes": nbytes,
        "count": count,
        "dtype": dtype,
        "op": op,
        "placement": placement,
        "timing": timing,
        "iters": iters,
        "warmup": warmup,
        "nwrong": nwrong,
        "busbw_factor": factor,
        "time_s": time_s,
        "algbw_GBps": algbw,
        "busbw_GBps": busbw,
        "stats": row_stats,
        "params": params,
        "samples_s": samples,
        "device": device,
    }
    if ranks_per_gpu is not None:
        row["ranks_per_gpu"] = ranks_per_gpu
    if stat is not None:
        row["stat"] = stat
    return row


@dataclass(frozen=True)
class RankAverages:
    """The rows of a tool that prints, per size, the mean of the ranks' own average times (OSU, IMB).

    The mean is the row's time (``stat`` ``avg``, ``stats`` ``rank_avg``) and its one sample; the
    fastest and slowest of the ranks' averages, where printed, are ``rank_min`` and ``rank_max``.
    """

    algo: str
    timing: str
    dtype: str
    elem: int  # bytes per element: a size's count is its bytes // elem
    op: str
    device: str

    def row(
        self,
        topology: Topology,
        nbytes: int,
        iters: int,
        avg_us: float,
        spread_us: dict[str, float],
        params: dict[str, Any],
        nwrong: int | None = None,
        stats: dict[str, float | None] | None = None,
    ) -> dict[str, Any]:
        """The row of one size; ``spread_us`` holds the fastest and slowest averages (``min``, ``max``) where printed."""
        time_s = avg_us * 1e-6
        rank_stats = {**(stats or {}), **{f"rank_{k}": v * 1e-6 for k, v in spread_us.items()}, "rank_avg": time_s}
        return result_row(
            algo=self.algo,
            topology=topology,
            nbytes=nbytes,
            count=nbytes // self.elem,
            dtype=self.dtype,
            op=self.op,
            placement="out",
            timing=self.timing,
            iters=iters,
            warmup=0,
            nwrong=nwrong,
            time_s=time_s,
            params=params,
            device=self.device,
            stats=rank_stats,
            stat="avg",
        )
