"""The console report: a header block and one nccl-tests-style row per size, printed by rank 0."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from .progress import Progress

PLACEMENT_COLUMNS = ("out", "in")


def _fmt_time(seconds: float) -> str:
    return f"{seconds * 1e6:9.2f}"


def _fmt_bw(value: float) -> str:
    return f"{value:7.2f}"


def _fmt_wrong(nwrong: int | None) -> str:
    return f"{'N/A' if nwrong is None else nwrong:>7}"


class Console:
    """Writes the human-readable report to ``stream`` (rank 0 only; other ranks pass ``None``).

    With a ``progress`` whose live line shares the terminal, each line first takes that line off the screen.
    """

    def __init__(self, stream: TextIO | None = sys.stdout, progress: Progress | None = None):
        self.stream = stream
        self.progress = progress

    def line(self, text: str = "") -> None:
        if self.stream is not None:
            if self.progress is not None:
                self.progress.clear()
            print(text, file=self.stream, flush=True)

    def header(self, meta: dict[str, Any], settings: list[str]) -> None:
        """The run's header block: versions, ranks, hosts and settings."""
        mpi = meta["mpi"]
        pkgs = meta["packages"]
        hosts = sorted(set(meta["hosts"]))
        shown = ", ".join(hosts[:8]) + (f" and {len(hosts) - 8} more" if len(hosts) > 8 else "")
        self.line(f"# collbench {pkgs.get('collbench', '?')}: all-reduce benchmark")
        self.line(
            f"# MPI: {mpi['library']} (MPI {mpi['standard']}) | mpi4py {pkgs.get('mpi4py', '?')} | "
            f"numpy {pkgs.get('numpy', '?')} | Python {pkgs['python']}"
        )
        self.line(
            f"# ranks: {meta['nranks']} on {meta['nodes']} node(s), {meta['ranks_per_node']} per node; hosts: {shown}"
        )
        for text in settings:
            self.line(f"# {text}")

    def table_header(self, algos: list[str]) -> None:
        """The algorithms and the column headings."""
        import collectives

        self.line("#")
        for algo in algos:
            self.line(f"# {algo:<8} {collectives.get(algo).description}")
        self.line("#")
        self.line(f"#{'':>52}{'out-of-place':^34}{'in-place':^34}")
        self.line(
            f"#{'size':>11} {'count':>13} {'type':>8} {'redop':>6} {'algo':>9} "
            + f"{'time':>9} {'algbw':>7} {'busbw':>7} {'#wrong':>7} " * 2
        )
        self.line(
            f"#{'(B)':>11} {'(elements)':>13} {'':>8} {'':>6} {'':>9} "
            + f"{'(us)':>9} {'(GB/s)':>7} {'(GB/s)':>7} {'':>7} " * 2
        )

    def row(
        self, nbytes: int, count: int, dtype: str, op: str, algo: str, by_placement: dict[str, dict[str, Any]]
    ) -> None:
        """One size of one algorithm: time, algbw, busbw and #wrong, out-of-place then in-place."""
        cells = []
        for placement in PLACEMENT_COLUMNS:
            row = by_placement.get(placement)
            if row is None:
                cells.append(f"{'-':>9} {'-':>7} {'-':>7} {'-':>7}")
            else:
                cells.append(
                    f"{_fmt_time(row['time_s'])} {_fmt_bw(row['algbw_GBps'])} "
                    f"{_fmt_bw(row['busbw_GBps'])} {_fmt_wrong(row['nwrong'])}"
                )
        self.line(f" {nbytes:>11} {count:>13} {dtype:>8} {op:>6} {algo:>9} " + " ".join(cells))

    def skip(self, skip: dict[str, Any]) -> None:
        where = " ".join(str(skip[k]) for k in ("dtype", "op") if skip.get(k))
        self.line(f"# skipped: {skip['algo']}{' ' + where if where else ''}: {skip['reason']}")

    def footer(self, nwrong_total: int, out_dir: str, rows: int) -> None:
        self.line("#")
        verdict = "OK" if nwrong_total == 0 else "FAILED"
        self.line(f"# wrong elements, all rows and ranks: {nwrong_total} ({verdict})")
        self.line(f"# {rows} measurements written to {out_dir}")
