"""Every subcommand that writes files takes --out, and -o wherever -o means nothing else (run and floor use it for
--op)."""

from __future__ import annotations

import pytest

from bench.cli import build_parser

WRITERS = {
    "run": [],
    "calibrate": [],
    "floor": [],
    "tune": ["results/RUN"],
    "report": ["results/RUN"],
    "import": ["nccl-tests", "log.txt"],
    "merge": ["results/A", "results/B"],
}
SHORT = {"calibrate", "tune", "report", "import", "merge"}


@pytest.mark.parametrize("command", sorted(WRITERS))
def test_out_is_accepted(command):
    args = build_parser().parse_args([command, *WRITERS[command], "--out", "where"])
    assert getattr(args, "out", None) == "where" or getattr(args, "output", None) == "where"


@pytest.mark.parametrize("command", sorted(SHORT))
def test_o_is_out_where_it_is_free(command):
    args = build_parser().parse_args([command, *WRITERS[command], "-o", "where"])
    assert getattr(args, "out", None) == "where" or getattr(args, "output", None) == "where"


def test_o_stays_op_for_run_and_floor():
    for command in ("run", "floor"):
        assert build_parser().parse_args([command, "-o", "max"]).op == "max"
