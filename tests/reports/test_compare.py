"""collbench compare: known shifts are flagged, identical samples are not, exit codes for CI."""

from __future__ import annotations

import pytest
from runs import row, samples, standard_rows, write_run

from bench.cli import main
from bench.results import load
from reports.compare import compare, parse_threshold


def test_identical_runs_flag_nothing(tmp_path, capsys):
    a = write_run(tmp_path / "a", standard_rows())
    b = write_run(tmp_path / "b", standard_rows())
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "16 matching rows: 0 regressions, 0 improvements, 16 unchanged" in out


def test_known_slowdown_is_a_regression_and_exits_one(tmp_path, capsys):
    a = write_run(tmp_path / "a", standard_rows(seed=0))
    b = write_run(tmp_path / "b", standard_rows(scale=1.2, seed=100))  # 20% slower, fresh noise
    assert main(["compare", str(a), str(b), "--threshold", "5%"]) == 1
    out = capsys.readouterr().out
    assert "16 regressions" in out and "REGRESSION: 16 row(s)" in out
    result = compare(load(a), load(b), threshold=0.05)
    assert (result.rows["change"].between(0.15, 0.25)).all()
    # the same shift under a higher threshold is not an alert
    assert main(["compare", str(a), str(b), "--threshold", "30%"]) == 0


def test_speedup_is_an_improvement(tmp_path, capsys):
    a = write_run(tmp_path / "a", standard_rows(seed=0))
    b = write_run(tmp_path / "b", standard_rows(scale=0.8, seed=100))
    assert main(["compare", str(a), str(b)]) == 0
    assert "16 improvements" in capsys.readouterr().out


def test_noise_alone_is_not_significant(tmp_path):
    a = write_run(tmp_path / "a", standard_rows(seed=0))
    b = write_run(tmp_path / "b", standard_rows(seed=1000))  # same distribution, other draws
    result = compare(load(a), load(b), threshold=0.0)
    assert (result.rows["verdict"] == "unchanged").all()


def test_only_shifted_rows_are_flagged(tmp_path):
    base = [row("ring", n, samples(1e-4, seed=n)) for n in (8, 64, 512)]
    new = [row("ring", 8, samples(1e-4, seed=7)), row("ring", 64, samples(1.5e-4, seed=8))]
    new.append(row("ring", 512, samples(1e-4, seed=512)))
    result = compare(load(write_run(tmp_path / "a", base)), load(write_run(tmp_path / "b", new)))
    assert dict(zip(result.rows["bytes"], result.rows["verdict"], strict=True)) == {
        8: "unchanged",
        64: "regression",
        512: "unchanged",
    }


def test_single_sample_rows_are_untested_and_unmatched_rows_counted(tmp_path, capsys):
    a = write_run(tmp_path / "a", [row("mpi", 8, [1e-5]), row("mpi", 64, samples(1e-5))])
    b = write_run(tmp_path / "b", [row("mpi", 8, [5e-5]), row("ring", 64, samples(1e-5))])
    assert main(["compare", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "1 untested" in out and "1 rows only in the base run, 1 only in the new run" in out


def test_bad_input_is_a_usage_error(tmp_path, capsys):
    a = write_run(tmp_path / "a", standard_rows())
    b = write_run(tmp_path / "b", [row("tree", 8, samples(1e-5))])
    assert main(["compare", str(a), str(b)]) == 2
    assert "nothing to compare" in capsys.readouterr().err
    assert main(["compare", str(a), str(a), "--threshold", "5"]) == 2
    assert "ambiguous" in capsys.readouterr().err
    (tmp_path / "empty.json").write_text("")
    assert main(["compare", str(a), str(tmp_path / "empty.json")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


@pytest.mark.parametrize("text, value", [("5%", 0.05), ("0.05", 0.05), ("12.5%", 0.125), ("0", 0.0)])
def test_parse_threshold(text, value):
    assert parse_threshold(text) == pytest.approx(value)
