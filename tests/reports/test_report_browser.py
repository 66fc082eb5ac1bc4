"""The report in a real browser: headless Chromium draws every plot, fetches nothing, runs no injected script,
shows the findings first and never lets two winner-map labels overlap."""

from __future__ import annotations

import re

from cdp import Page, find_chromium
from conftest import run_collbench, skip_or_fail
from runs import HOSTILE, row, samples, standard_rows, write_run

from bench.results import load
from reports.data import load_sets
from reports.figures import size_label
from reports.html import write_report

# Every winner-map label's box on the screen, per map: [left, top, right, bottom].
LABEL_BOXES = """Array.from(document.querySelectorAll('div.cb-fig.winner')).map(f =>
  Array.from(f.querySelectorAll('.annotation-text')).map(t => {
    const r = t.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; }))"""


def _chromium() -> str:
    executable = find_chromium()
    if executable is None:
        skip_or_fail("browser", "chromium is not installed (Debian: apt-get install chromium)")
    return executable


def _drawn(page: Page) -> int:
    page.wait_for("document.body.getAttribute('data-plots-drawn') === document.body.getAttribute('data-plots-total')")
    total = int(page.evaluate("document.body.getAttribute('data-plots-total')"))
    drawn = page.evaluate(
        "Array.from(document.querySelectorAll('div.cb-fig')).filter("
        "f => f.querySelector('svg.main-svg') && f.querySelectorAll('path, rect').length > 5).length"
    )
    assert drawn == total, f"{drawn} of {total} plots hold rendered SVG"
    return total


def _no_overlap(page: Page) -> int:
    """Assert that no two labels of a winner map overlap; the number of labels."""
    maps = page.evaluate(LABEL_BOXES)
    for boxes in maps:
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                apart = a[2] <= b[0] + 0.5 or b[2] <= a[0] + 0.5 or a[3] <= b[1] + 0.5 or b[3] <= a[1] + 0.5
                assert apart, f"winner-map labels overlap: {a} {b}"
    return sum(len(boxes) for boxes in maps)


def _offline(page: Page, url: str) -> None:
    requests = page.requests()
    assert requests[0] == url
    left = [r for r in requests if r != url and not r.startswith(("data:", "blob:"))]
    assert left == [], f"the page made requests: {left}"
    assert page.problems() == []


def test_report_draws_offline_in_chromium(tmp_path):
    executable = _chromium()
    rows = standard_rows() + [row("tree", 1024, samples(2e-5, seed=9), nwrong=2)]
    a = write_run(tmp_path / "a", rows, label=HOSTILE, hosts=[HOSTILE, "x", "y", "z"])
    b = write_run(tmp_path / "b", standard_rows(scale=1.1, seed=3), label="second")
    report = write_report(tmp_path / "report.html", load_sets([str(a), str(b)]))
    url = report.resolve().as_uri()
    with Page(executable, tmp_path / "profile") as page:
        page.open(url)
        assert _drawn(page) == 9  # busbw, latency, speedup, ratio of sets, distributions; 2 sets x 2 winner maps
        assert page.evaluate("document.querySelectorAll('#cb-table tbody tr').length") == len(rows) + 16
        assert page.evaluate("document.querySelectorAll('#cb-table tbody tr.bad').length") == 1
        # sorting by size descending puts the 1 MiB rows first
        page.evaluate("document.querySelectorAll('#cb-table thead button')[8].click()")
        page.evaluate("document.querySelectorAll('#cb-table thead button')[8].click()")
        assert page.evaluate("document.querySelector('#cb-table tbody td:nth-child(9)').textContent") == "1048576"
        # the hostile label is text, not markup
        assert page.evaluate("document.querySelectorAll('img').length") == 0
        assert HOSTILE in page.evaluate("document.querySelector('.card h3').textContent")
        assert HOSTILE in page.evaluate("document.querySelector('#findings h3').textContent")
        assert _no_overlap(page) >= 4
        page.screenshot(tmp_path / "report.png")
        _offline(page, url)
    assert (tmp_path / "report.png").stat().st_size > 10_000


def _expected_winners(run) -> str:
    """The fastest algorithm by size of a run, out of place, as the findings write it (without the margins)."""
    rows = load(run)
    rows = rows[(rows["placement"] == "out") & (rows["nwrong"] == 0)]
    best = rows.loc[rows.groupby("bytes")["time_s"].idxmin()].sort_values("bytes")
    parts: list[list] = []
    for algo, nbytes in zip(best["algo"], best["bytes"], strict=True):
        if parts and parts[-1][0] == algo:
            parts[-1][2] = nbytes
        else:
            parts.append([algo, nbytes, nbytes])
    return "; ".join(f"{a} {size_label(lo)}" + (f" – {size_label(hi)}" if hi != lo else "") for a, lo, hi in parts)


def test_findings_of_a_real_run_in_chromium(tmp_path):
    executable = _chromium()
    run = tmp_path / "real"
    done = run_collbench(
        2,
        *("run", "--algo", "ring,mpi", "-b", "8", "-e", "32K", "-f", "8", "-n", "20", "-w", "2"),
        *("--placement", "out", "--label", "real", "--out", str(run), "-q"),
    )
    assert done.returncode == 0, done.stderr
    report = write_report(tmp_path / "report.html", load_sets([str(run)]))
    url = report.resolve().as_uri()
    with Page(executable, tmp_path / "profile") as page:
        page.open(url)
        _drawn(page)
        # the findings are on the first screen, before anything else, and name the winner per size range
        assert page.evaluate("document.querySelector('#findings').getBoundingClientRect().top") < 200
        assert page.evaluate("document.querySelector('section').id") == "findings"
        heading = page.evaluate("document.querySelector('#findings h4').textContent")
        assert heading == "p=2 · 1 node × 2 ranks (physical) · order packed"
        cells = page.evaluate(
            "Array.from(document.querySelectorAll('#findings table.winners td')).map(c => c.innerText)"
        )
        assert cells[0] == "float32 sum · out of place · barrier"
        assert re.sub(r" \(up to [\d.]+× mpi\)", "", cells[1]) == _expected_winners(run)
        peaks = page.evaluate(
            "Array.from(document.querySelectorAll('#findings table.peaks td:first-child')).map(c => c.innerText)"
        )
        assert sorted(peaks) == ["mpi", "ring"]
        assert "Every measurement was checked and correct." in page.evaluate(
            "document.querySelector('#findings').innerText"
        )
        _no_overlap(page)
        page.screenshot(tmp_path / "findings.png")
        _offline(page, url)
