"""The report in a real browser: headless Chromium draws every plot, fetches nothing, runs no injected script."""

from __future__ import annotations

from cdp import Page, find_chromium
from conftest import skip_or_fail
from runs import HOSTILE, row, samples, standard_rows, write_run

from reports.data import load_sets
from reports.html import write_report


def test_report_draws_offline_in_chromium(tmp_path):
    executable = find_chromium()
    if executable is None:
        skip_or_fail("browser", "chromium is not installed (Debian: apt-get install chromium)")
    rows = standard_rows() + [row("tree", 1024, samples(2e-5, seed=9), nwrong=2)]
    a = write_run(tmp_path / "a", rows, label=HOSTILE, hosts=[HOSTILE, "x", "y", "z"])
    b = write_run(tmp_path / "b", standard_rows(scale=1.1, seed=3), label="second")
    report = write_report(tmp_path / "report.html", load_sets([str(a), str(b)]))
    url = report.resolve().as_uri()
    with Page(executable, tmp_path / "profile") as page:
        page.open(url)
        page.wait_for(
            "document.body.getAttribute('data-plots-drawn') === document.body.getAttribute('data-plots-total')"
        )
        total = int(page.evaluate("document.body.getAttribute('data-plots-total')"))
        assert total == 9  # busbw, latency, speedup, ratio of sets, distributions; 2 sets x 2 winner maps
        drawn = page.evaluate(
            "Array.from(document.querySelectorAll('div.cb-fig')).filter("
            "f => f.querySelector('svg.main-svg') && f.querySelectorAll('path, rect').length > 5).length"
        )
        assert drawn == total, f"{drawn} of {total} plots hold rendered SVG"
        assert page.evaluate("document.querySelectorAll('#cb-table tbody tr').length") == len(rows) + 16
        assert page.evaluate("document.querySelectorAll('#cb-table tbody tr.bad').length") == 1
        # sorting by size descending puts the 1 MiB rows first
        page.evaluate("document.querySelectorAll('#cb-table thead button')[8].click()")
        page.evaluate("document.querySelectorAll('#cb-table thead button')[8].click()")
        assert page.evaluate("document.querySelector('#cb-table tbody td:nth-child(9)').textContent") == "1048576"
        # the hostile label is text, not markup
        assert page.evaluate("document.querySelectorAll('img').length") == 0
        assert HOSTILE in page.evaluate("document.querySelector('.card h3').textContent")
        page.screenshot(tmp_path / "report.png")
        requests = page.requests()
        problems = page.problems()
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert requests[0] == url
    left = [r for r in requests if r != url and not r.startswith(("data:", "blob:"))]
    assert left == [], f"the page made requests: {left}"
    assert problems == []
