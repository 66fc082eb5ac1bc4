"""A fault mid-sweep on 2 emulated nodes x 2 ranks, under each launcher (issue 19; tests/faults/harness.py).

Each case starts the sweep, waits until ROWS_BEFORE rows are in the journal, then hits node 2 (cut its link, kill its
ranks, stop one of them, or cut its link for less than --timeout) or stops rank 0 on node 1. The launcher and every process of the job, on
every node and on the host, must end within --timeout + 15 s of the fault; the rows written before it must load; the
run must say why it stopped (the footer's cause, shown on the report's card). After the short outage the sweep
finishes as if nothing happened. Needs root, network namespaces and Slurm (skipped with the reason elsewhere;
COLLBENCH_REQUIRE=netns or slurm fails instead). COLLBENCH_FAULT_TABLE=FILE appends each case to FILE as a markdown
table line.
"""

from __future__ import annotations

import html
from pathlib import Path

import pytest

from bench.cli import main
from bench.results import load, read_document

from . import harness

TIMEOUT = 8  # collbench run --timeout, seconds
ENDS_WITHIN = TIMEOUT + 15  # seconds after the fault
ROWS_BEFORE = 3
SWEEP = harness.Sweep("ring,mpi", "64K", "2M", ("-f", "2", "--placement", "out", "-n", "20", "--timeout", str(TIMEOUT)))

pytestmark = pytest.mark.kills_ranks
# What the cause must say of the ranks lost (2 ranks per node: 0-1 on the first, 2-3 on the last)
NAMED = {
    "cut": "ranks 2-3 ({last}) stopped answering: last heard",
    "kill": "({last}) ended without a word",
    "stop": "rank 3 ({last}) stopped answering: last heard",
    "stop-rank-0": "rank 0 ({first}) stopped answering: last heard",
}


@pytest.mark.parametrize("launcher", harness.LAUNCHERS)
@pytest.mark.parametrize("fault", harness.FAULTS)
def test_a_fault_ends_every_process_and_keeps_the_rows(
    slurm_nodes: tuple[list[str], Path], fault: str, launcher: str, tmp_path: Path
) -> None:
    nodes, state = slurm_nodes
    with harness.launch(launcher, SWEEP, tmp_path, nodes, state) as job:
        before = harness.wait_rows(job, ROWS_BEFORE)
        ending = harness.wait_end(job, harness.inject(fault, nodes), ENDS_WITHIN)
    document = read_document(job.out)
    rows = load(job.out)
    cause = (document.get("cause") or {}).get("text", "")
    harness.record(harness.Case(fault, launcher, ending, before, len(rows), cause))
    assert ending.seconds is not None, (
        f"{ENDS_WITHIN} s after the fault, the launcher: {ending.launcher}; still running: {ending.left}"
    )
    assert before <= len(rows), f"{before} rows were in the journal before the fault, {len(rows)} load"
    if fault == "outage":
        assert document["complete"] is True, f"the sweep did not finish after the outage:\n{harness.tail(job.log)}"
        assert (rows["nwrong"] == 0).all(), rows[rows["nwrong"] != 0][["algo", "bytes", "nwrong"]]
        return
    assert document["complete"] is False
    assert cause, f"no cause in the footer: {document.get('aborted')!r}"
    assert NAMED[fault].format(first=nodes[0], last=nodes[-1]) in cause, "the cause does not name the lost ranks"
    if fault == "stop-rank-0":  # rank 0 never closed the journal: the deputy did, with what it saw
        assert document["closed_by"] == "rank 2 (the deputy: rank 0 was lost)"
    report = job.out / "report.html"
    assert main(["report", str(job.out), "-o", str(report)]) == 0
    assert html.escape(cause) in report.read_text(encoding="utf-8"), "the cause is not on the run's card"
