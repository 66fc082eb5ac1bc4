"""Rank 0's progress line: counts, ETA, the plain line's throttling and the live line, on a fake clock."""

from __future__ import annotations

import io

from bench.console import Console
from bench.progress import Progress, duration
from bench.sweep import SweepConfig


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_durations_are_short_and_whole():
    assert [duration(s) for s in (0, 0.4, 42, 800, 7500, -3)] == ["0s", "0s", "42s", "13m20s", "2h05m", "0s"]


def test_counts_and_eta_from_the_time_spent_so_far():
    clock = Clock()
    progress = Progress(10, None, clock=clock)
    assert progress.status("ring 8 B", clock.now) == "0/10 cases done (0%) in 0s, ETA unknown; now ring 8 B"
    for _ in range(4):
        progress.end()
    clock.now += 40  # 10 s a case: 6 left, 60 s
    assert progress.status("ring 1 MiB", clock.now) == "4/10 cases done (40%) in 40s, ETA 1m00s; now ring 1 MiB"
    progress.drop(2)  # an algorithm that could not be built: its larger sizes leave the total
    assert progress.status("x", clock.now).startswith("4/8 cases done (50%) in 40s, ETA 40s;")


def test_a_log_gets_a_plain_line_at_most_every_interval():
    clock, log = Clock(), io.StringIO()
    progress = Progress(100, log, interval=30, clock=clock)
    assert not progress.live
    for case in range(100):
        progress.begin(f"case {case}")
        clock.now += 1
        progress.end()
    lines = log.getvalue().splitlines()
    # the first line one interval after the start (a short run writes none), then one per interval
    assert [line.split(";")[0] for line in lines] == [
        "collbench: 30/100 cases done (30%) in 30s, ETA 1m10s",
        "collbench: 60/100 cases done (60%) in 1m00s, ETA 40s",
        "collbench: 90/100 cases done (90%) in 1m30s, ETA 10s",
    ]
    assert lines[0].endswith("; now case 30") and "\r" not in log.getvalue()
    progress.clear()
    assert len(log.getvalue().splitlines()) == 3


def test_a_terminal_gets_one_live_line_rewritten_per_case_and_cleared():
    clock, tty = Clock(), Terminal()
    progress = Progress(3, tty, interval=30, clock=clock)
    assert progress.live
    progress.begin("ring 1 MiB float32 sum on p=4")
    first = tty.getvalue()
    assert first.startswith("\r0/3 cases done") and "\n" not in first and first.endswith("on p=4")
    progress.end()
    progress.begin("mpi 8 B")  # shorter: padded over the longer line before it
    second = tty.getvalue()[len(first) :]
    assert second.startswith("\r1/3 cases done") and len(second) == len(first)
    progress.clear()
    assert tty.getvalue().endswith("\r" + " " * (len(first) - 1) + "\r") and progress.shown == 0


def test_the_live_line_leaves_the_terminal_before_each_line_of_the_table():
    tty = Terminal()
    progress = Progress(2, tty, clock=Clock())
    console = Console(tty, progress)
    progress.begin("ring 8 B")
    console.line("# a row")
    shown, after = tty.getvalue().rsplit("\r", 1)
    assert after == "# a row\n" and shown.endswith(" ")  # the line's text was blanked first


def test_a_rank_without_a_stream_shows_nothing():
    progress = Progress(2, None, live=True, clock=Clock())
    progress.begin("ring 8 B")
    progress.end()
    progress.clear()
    assert progress.done == 1


def test_case_count_covers_sizes_per_dtype_ops_buffers_and_mesh_shapes():
    config = SweepConfig(algos=["ring", "mesh"], sizes=[2, 8, 64], dtypes=["float16", "float32"], ops=["sum", "max"])
    assert config.cases(4) == (3 + 2) * 2 * 2  # float32 skips the 2-byte size
    config.meshes = ["2x2", "4x1", "2x4"]
    assert config.cases(4) == (3 + 2) * 2 * (1 + 2)  # mesh once per shape of 4 ranks
    assert config.cases(3) == (3 + 2) * 2 * 2  # no shape of 3 ranks: mesh runs its default once
