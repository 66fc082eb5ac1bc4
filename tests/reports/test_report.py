"""collbench report over fixture result files: sections, numbers, escaping, bad input."""

from __future__ import annotations

import json
import pickle
import re

import pytest
from plotly.offline import get_plotlyjs
from runs import HOSTILE, SIZES, row, samples, standard_rows, write_run

from bench.cli import main
from bench.results import load
from reports.data import load_sets
from reports.html import build_report, table_data

SECTIONS = ["metadata", "topologies", "winners", "correctness", "skips", "rows"]


def _table(page: str) -> dict:
    match = re.search(r"<script type='application/json' id='cb-table-data'>(.*?)</script>", page, re.S)
    assert match, "the rows table data is missing"
    return json.loads(match.group(1))


def _specs(page: str) -> list[dict]:
    return [
        json.loads(m) for m in re.findall(r'<script type="application/json" id="cb-fig-\d+-spec">(.*?)</script>', page)
    ]


def test_sections_and_plots(tmp_path, capsys):
    run = write_run(tmp_path / "run", standard_rows(), label="cluster-a")
    out = tmp_path / "report.html"
    assert main(["report", str(run), "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip().endswith(str(out))
    page = out.read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f"<section id='{section}'>" in page
    assert "MPICH Version: 5.0.2" in page and "node-a (2 ranks)" in page and "SLURM_JOB_ID" in page
    assert "collbench run --algo ring,mpi --label cluster-a" in page
    specs = _specs(page)
    titles = [s["layout"]["title"]["text"] for s in specs]
    assert "bus bandwidth" in titles and "latency (median)" in titles
    assert any(t.startswith("speedup over mpi") for t in titles)
    assert "per-iteration time (min, quartiles, max)" in titles
    heatmaps = [s for s in specs if s["data"][0]["type"] == "heatmap"]
    assert len(heatmaps) == 2  # out and in place
    # ring wins the two large sizes, mpi the small ones (see standard_rows)
    assert [c.split(" ")[0] for c in heatmaps[0]["data"][0]["text"][0]] == ["mpi", "mpi", "ring", "ring"]
    busbw = next(s for s in specs if s["layout"]["title"]["text"] == "bus bandwidth")
    assert busbw["layout"]["xaxis"]["type"] == "log" and busbw["layout"]["yaxis"]["type"] == "log"
    assert {t["name"] for t in busbw["data"]} == {"mpi · out", "mpi · in", "ring · out", "ring · in"}
    # plotly.js is embedded once, nothing is loaded from elsewhere
    plotly_js = get_plotlyjs()
    assert page.count(plotly_js) == 1
    ours = page.replace(plotly_js, "")  # the library holds URLs it uses only when told to (maps, links)
    assert not re.search(r"""(src|href|url)\s*[=(]\s*["']?(https?:|ftp:)?//""", ours, re.I)
    assert "<link" not in ours and "<iframe" not in ours and "@import" not in ours


def test_table_numbers_match_the_data(tmp_path):
    run = write_run(tmp_path / "run", standard_rows())
    page = build_report(load_sets([str(run)]))
    table = _table(page)
    df = load(run)
    assert table["n"] == len(df)
    columns = {c["name"]: c for c in table["columns"]}
    values = table["values"]
    for i, r in enumerate(df.itertuples(index=False)):
        assert columns["algo"]["levels"][values["algo"][i]] == r.algo
        assert values["bytes"][i] == r.bytes and values["p"][i] == r.p and values["nwrong"][i] == r.nwrong
        assert values["time_us"][i] == pytest.approx(r.time_s * 1e6, rel=1e-5)
        assert values["busbw_GBps"][i] == pytest.approx(r.busbw_GBps, rel=1e-5)
        assert values["p99_us"][i] == pytest.approx(r.p99_s * 1e6, rel=1e-5)


def test_hostile_strings_are_escaped_everywhere(tmp_path):
    rows = [row(HOSTILE, n, samples(1e-5, seed=n), nwrong=3) for n in SIZES] + standard_rows()
    rows[0]["params"] = {"note": HOSTILE}
    rows[0]["dtype"] = HOSTILE
    skips = [{"algo": HOSTILE, "dtype": "float32", "op": "sum", "p": 4, "reason": HOSTILE}]
    run = write_run(
        tmp_path / "run",
        rows,
        label=HOSTILE,
        skips=skips,
        hosts=[HOSTILE, "b", "c", "d"],
        env={"NCCL_" + HOSTILE: HOSTILE},
        mpi={"library": HOSTILE, "library_version": HOSTILE},
    )
    page = build_report(load_sets([str(run), str(run)], labels=[HOSTILE]), baseline=HOSTILE)
    for fragment in ("<script>alert", "<img src=x", "onerror=alert(1)>"):
        assert fragment not in page
    assert page.count("&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;") >= 5  # label, host, env, skip, ...
    assert "WRONG RESULTS: 8 measurement(s)" in page  # nwrong > 0 shown loudly (both copies)


def test_several_sets_side_by_side_with_ratios(tmp_path):
    a = write_run(tmp_path / "a", standard_rows(), label="commit-a")
    b = write_run(tmp_path / "b", standard_rows(scale=1.25, seed=5), label="commit-b")
    out = tmp_path / "r.html"
    assert main(["report", str(a), str(b), "--label", "cluster A", "-o", str(out), "--sizes", "8,1M"]) == 0
    page = out.read_text(encoding="utf-8")
    assert "cluster A" in page and "commit-b" in page
    specs = _specs(page)
    ratio = next(s for s in specs if s["layout"]["title"]["text"].startswith("against cluster A"))
    values = [v for t in ratio["data"] for v in t["y"]]
    assert all(v == pytest.approx(0.8, rel=0.05) for v in values)  # b is 25% slower
    boxes = next(s for s in specs if s["data"][0]["type"] == "box")
    assert boxes["data"][0]["x"] == ["8 B", "1 MiB"]
    assert len([s for s in specs if s["data"][0]["type"] == "heatmap"]) == 4  # two sets x two placements


def test_incomplete_run_is_marked(tmp_path):
    run = write_run(tmp_path / "run", standard_rows(), complete=False)
    assert not (run / "results.json").exists()
    page = build_report(load_sets([str(run)]))
    assert "is INCOMPLETE" in page and "16 measured rows" in page


def test_csv_results_are_accepted(tmp_path):
    run = write_run(tmp_path / "run", standard_rows())
    page = build_report(load_sets([str(run / "results.csv")]))
    assert _table(page)["n"] == 16 and "a CSV file holds the rows only" in page


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "not valid JSON"),
        (b'{"schema": "collbench.results", "schema_version": 1, "rows": [', "not valid JSON"),
        (b'{"schema": "collbench.results", "schema_version": 99, "rows": []}', "schema version 99 is not supported"),
        (b'{"hello": "world"}', "not a collbench results file"),
        (pickle.dumps({"rows": []}), "cannot read"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path, capsys, content, message):
    bad = tmp_path / "results.json"
    bad.write_bytes(content)
    assert main(["report", str(bad), "-o", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("collbench: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "r.html").exists()


def test_pickle_and_foreign_suffixes_are_refused(tmp_path, capsys):
    bad = tmp_path / "results.pkl"
    bad.write_bytes(pickle.dumps({"rows": []}))
    assert main(["report", str(bad)]) == 2
    assert "expected results.json, results.jsonl, results.csv or a run directory" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_unknown_baseline_is_refused(tmp_path, capsys):
    run = write_run(tmp_path / "run", standard_rows())
    assert main(["report", str(run), "--baseline", "nope", "-o", str(tmp_path / "r.html")]) == 2
    assert "baseline 'nope' is not in the results" in capsys.readouterr().err


def test_table_data_of_no_rows():
    import pandas as pd

    from bench.results import COLUMNS

    assert table_data(pd.DataFrame(columns=[*COLUMNS, "set", "series"]))["n"] == 0


def test_cost_model_section_shows_prediction_and_extrapolation(tmp_path):
    from bench.calibrate import extrapolation
    from bench.modeling import Machine
    from collectives.costmodel import CacheStep, CostModel, Segment

    model = CostModel(
        (Segment(4096, 2e-6, 1e-9), Segment(float("inf"), 5e-6, 2e-10)),
        {"float32": 1e-10},
        (CacheStep(1 << 20, 0.4, 0.3), CacheStep(64 << 20, 1.0, 1.0)),
    )
    rows = standard_rows()
    for r in rows:
        if r["algo"] == "ring":
            r["predicted_s"] = r["time_s"] * 1.1
            r["model_error"] = 0.1
    run = write_run(tmp_path / "run", rows, label="modelled")
    document = json.loads((run / "results.json").read_text())
    document["calibrations"] = [
        {
            "p": 4,
            "model": model.to_dict(),
            "fit": {"r2": 0.99, "median_rel_residual": 0.03},
            "extrapolation": extrapolation(Machine(model), "float32"),
        }
    ]
    (run / "results.json").write_text(json.dumps(document))
    page = build_report(load_sets([str(run / "results.json")], []))
    assert "<section id='model'>" in page and "R&sup2; 0.990" in page
    assert "1 MiB &times;0.40/&times;0.30" in page  # the in-cache factors
    titles = [s["layout"]["title"]["text"] for s in _specs(page)]
    assert "measured (solid) and predicted (dashed)" in titles
    assert "extrapolated, 1 MiB" in titles
    predicted = next(s for s in _specs(page) if s["layout"]["title"]["text"].startswith("measured"))
    assert {t["name"] for t in predicted["data"]} >= {"ring · out measured", "ring · out predicted"}


def test_a_setting_that_moves_the_numbers_is_a_finding(tmp_path):
    rows = []
    for nbytes in SIZES:
        for align, slower in (("4096", 1.0), ("4096+16", 2.5)):
            measured = row("mpi", nbytes, samples((5e-6 + nbytes / 2e9) * slower, seed=nbytes))
            rows.append({**measured, "align": align, "thread_level": "single", "huge_pages": "system"})
    page = build_report(load_sets([str(write_run(tmp_path / "run", rows, label="aligned"))]))
    assert "<section id='settings'>" in page and "href='#settings'" in page
    finding = re.search(
        r"<b>mpi</b> \(aligned\): with buffer placement \(--align\) <code>4096\+16</code>.*?</li>", page
    )
    assert finding, "no finding for the slower placement"
    assert re.search(r"<b>2\.[45]\d&times;</b> the time of <code>4096</code> \(median over 4 sizes", finding.group(0))
    plain = build_report(load_sets([str(write_run(tmp_path / "plain", standard_rows()))]))
    assert "<section id='settings'>" not in plain


def test_the_floor_is_a_section_of_its_own(tmp_path):
    writer_rows: list = []
    run = write_run(
        tmp_path / "floor", writer_rows, label="floor", config={"dtype": "float32", "op": "sum", "rounds": 3}
    )
    journal = run / "results.jsonl"
    medians = {m: {"avg": t, "max": t * 1.1, "min": t * 0.9} for m, t in (("c-osu", 4e-6), ("c-imb", 3.8e-6))}
    medians |= {"py-osu": {"avg": 6e-6}, "py-imb": {"avg": 5.5e-6}, "harness": {"avg": 5.4e-6, "median": 5.2e-6}}
    record = {"record": "floor", "bytes": 65536, "count": 16384, "iters": 1000, "medians": medians, "values": {}}
    record["ratio_medians"] = {"c-osu": 1.0, "harness": 1.35}
    record["gaps"] = {"python": 1.7e-6, "harness": -0.1e-6}
    lines = journal.read_text().splitlines()
    journal.write_text("\n".join([*lines[:-1], json.dumps(record), lines[-1]]) + "\n")
    (run / "results.json").unlink()
    page = build_report(load_sets([str(journal)]))
    assert "<section id='floor'>" in page and "No measurements in the given results" not in page
    cells = re.search(r"<td>64 KiB</td><td>1000</td>(.*?)</tr>", page).group(1)
    values = re.findall(r"<td>([-\d.]+)</td>", cells)
    # C OSU, C IMB t_avg, t_max, py OSU, py IMB, cb avg, cb median, python gap, harness gap, cb/C
    assert values == ["4.00", "3.80", "4.18", "6.00", "5.50", "5.40", "5.20", "1.70", "-0.10", "1.35"]
    titles = [s["layout"]["title"]["text"] for s in _specs(page)]
    assert "time per call (mean over ranks)" in titles
    assert "over the C floor (OSU's loop), median of the rounds' ratios" in titles


def test_report_stat_chooses_the_time_shown(tmp_path):
    rows = []
    for measured in standard_rows():
        measured["stats"].update(rank_avg=measured["time_s"] * 2, rank_min=measured["time_s"], rank_max=1.0)
        rows.append(measured)
    run = write_run(tmp_path / "run", rows)
    median = _table(build_report(load_sets([str(run)])))
    avg = _table(build_report(load_sets([str(run)]), stat="avg"))
    assert avg["values"]["time_us"] == pytest.approx([2 * t for t in median["values"]["time_us"]], rel=1e-5)
    assert avg["values"]["busbw_GBps"] == pytest.approx([b / 2 for b in median["values"]["busbw_GBps"]], rel=1e-4)
    stats = next(c for c in avg["columns"] if c["name"] == "stat")
    assert {stats["levels"][i] for i in avg["values"]["stat"]} == {"avg"}
