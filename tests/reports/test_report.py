"""collbench report over fixture result files: findings, sections, axes, numbers, escaping, bad input."""

from __future__ import annotations

import html
import json
import pickle
import re

import pytest
from plotly.offline import get_plotlyjs
from runs import HOSTILE, SIZES, row, samples, standard_rows, write_run

from bench.cli import main
from bench.results import append_footer, flatten, frame, load, read_document
from reports.data import load_sets, rows_frame
from reports.figures import as_drawn, log_axis, read_payload, size_axis, time_label
from reports.findings import model_bound
from reports.html import WINNER_MIN_WIDTH, build_report, label_width, table_data

SECTIONS = ["metadata", "topologies", "winners", "model", "correctness", "skips", "rows"]


def _table(page: str) -> dict:
    return read_payload(page)["table"]


def _specs(page: str) -> list[dict]:
    plots = read_payload(page)["plots"]
    return [as_drawn(spec, plots) for spec in plots["figures"]]


def _column(table: dict, name: str) -> list:
    """A column of the rows table, one value per row (a constant column holds one value for all)."""
    column = next(c for c in table["columns"] if c["name"] == name)
    if "const" in column:
        return [column["const"]] * table["n"]
    if "runs" in column:
        pairs = column["runs"]
        return [v for v, count in zip(pairs[::2], pairs[1::2], strict=True) for _ in range(count)]
    return table["values"][name]


def _findings(page: str) -> str:
    """The findings section as text, a row of a table per line."""
    start = page.index("<section id='findings'>")
    section = page[start : page.index("</section>", start)]
    section = re.sub(r"</t[dh]><t[dh][^>]*>", " | ", section)
    section = re.sub(r"<(tr|p|h\d|li|div)[^>]*>", "\n", section)
    return html.unescape(re.sub(r"<[^>]+>", "", section))


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
    algo = next(c for c in table["columns"] if c["name"] == "algo")
    columns = {
        name: _column(table, name) for name in ("algo", "bytes", "p", "nwrong", "time_us", "busbw_GBps", "p99_us")
    }
    assert "const" in next(c for c in table["columns"] if c["name"] == "p")  # one value for every row: sent once
    for i, r in enumerate(df.itertuples(index=False)):
        assert algo["levels"][columns["algo"][i]] == r.algo
        assert columns["bytes"][i] == r.bytes and columns["p"][i] == r.p and columns["nwrong"][i] == r.nwrong
        # as the table prints them: 4 significant digits
        assert columns["time_us"][i] == pytest.approx(r.time_s * 1e6, rel=5e-4)
        assert columns["busbw_GBps"][i] == pytest.approx(r.busbw_GBps, rel=5e-4)
        assert columns["p99_us"][i] == pytest.approx(r.p99_s * 1e6, rel=5e-4)


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
    # in the payload, what plotly shows is escaped; the rows table holds the text itself (shown as text)
    payload = read_payload(page)
    assert HOSTILE not in json.dumps(payload["plots"]) and "&lt;img src=x" in json.dumps(payload["plots"])
    assert HOSTILE in next(c for c in payload["table"]["columns"] if c["name"] == "algo")["levels"]


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


def test_the_cause_of_an_ended_run_is_on_its_card(tmp_path):
    run = write_run(tmp_path / "run", standard_rows(), complete=False)
    cause = "rank 0 (n1) waited 8.0 s without progress in ring at 1024 B; ranks 2-3 (n2) stopped answering: <cut>"
    append_footer(run, {"complete": False, "aborted": "collbench: watchdog: ...", "cause": {"text": cause}})
    page = build_report(load_sets([str(run)]))
    assert f"<span class='cause'>{html.escape(cause)}</span>" in page
    assert f"is INCOMPLETE ({html.escape(cause)})" in page


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
    # the findings hold each peak against the model's bound at its size
    ring = re.search(r"ring \| ([\d.]+) \| 1 MiB, [^|]+ \| [\d.]+× \| (\d+)% of ([\d.]+) GB/s", _findings(page))
    assert ring, _findings(page)
    bound = model_bound(document["calibrations"][0], 4, 2, 2, 1 << 20)
    assert float(ring.group(3)) == pytest.approx(bound, rel=0.01)
    assert int(ring.group(2)) == pytest.approx(100 * float(ring.group(1)) / bound, abs=1)


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
    assert _column(avg, "time_us") == pytest.approx([2 * t for t in _column(median, "time_us")], rel=1e-3)
    assert _column(avg, "busbw_GBps") == pytest.approx([b / 2 for b in _column(median, "busbw_GBps")], rel=1e-3)
    assert next(c for c in avg["columns"] if c["name"] == "stat")["levels"] == ["avg"]


def test_the_findings_lead_the_report(tmp_path):
    rows = standard_rows() + [row("tree", 1024, samples(2e-5, seed=9), nwrong=2)]
    rows.append(row("ring", 64, samples(1e-5), p=8, nwrong=5))  # a topology where nothing was right
    skips = [{"algo": "nccl", "p": 4, "dtype": "float32", "op": "sum", "reason": "NCCL is not available: no GPU"}]
    page = build_report(load_sets([str(write_run(tmp_path / "run", rows, label="run-a", skips=skips))]))
    findings = page.index("<section id='findings'>")
    assert findings < min(page.index(f"<section id='{s}'>") for s in SECTIONS)
    assert findings < page.index("<nav>") + 400  # right under the links, above every other section
    text = _findings(page)
    assert "p=4 · 2 nodes × 2 ranks (physical) · order packed" in text
    # mpi wins up to 1 KiB, ring (twice as fast at 1 MiB, see standard_rows) from 64 KiB, in both placements
    winners = "float32 sum · in place · b2b; float32 sum · out of place · b2b | mpi 8 B – 1 KiB; ring 64 KiB – 1 MiB"
    assert re.search(re.escape(winners) + r" \(up to 1\.9\d× mpi\)", text), text
    peaks = re.search(r"ring \| (\d\.\d\d) \| 1 MiB, float32 sum · (in|out of) place · b2b \| (\d\.\d\d)×", text)
    assert peaks, text
    assert float(peaks.group(1)) == pytest.approx(1.5 * 1048576 / (8e-6 + 1048576 / 4e9) / 1e9, rel=0.05)
    assert float(peaks.group(3)) == pytest.approx(1.96, abs=0.06)
    assert re.search(r"mpi \| \d\.\d\d \| 1 MiB, .* \| \(baseline\)", text)
    assert "WRONG RESULTS: tree: 1 measurement(s), 2 wrong elements (1 KiB float32 sum out)" in text
    assert "p=8 · 2 nodes × 4 ranks (physical) · order packed\nWRONG RESULTS: ring: 1 measurement(s), 5 wrong" in text
    assert "nccl (p=4; float32 sum): NCCL is not available: no GPU" in text
    assert "No calibrated cost model in these results" in text


def test_peaks_are_held_against_nccl_too_where_measured(tmp_path):
    rows = [r for r in standard_rows() if r["placement"] == "out"]
    rows += [row("nccl", n, samples(3e-6 + n / 8e9, seed=n)) for n in SIZES]  # 4 times mpi's bandwidth
    text = _findings(build_report(load_sets([str(write_run(tmp_path / "run", rows))])))
    assert "| against mpi there | against nccl there" in text
    assert re.search(r"nccl \| [\d.]+ \| 1 MiB, float32 sum · out of place · b2b \| [\d.]+× \| \(itself\)", text)
    assert re.search(r"ring \| [\d.]+ \| 1 MiB, float32 sum · out of place · b2b \| 1\.9\d× \| 0\.[45]\d×", text)


@pytest.mark.parametrize("levels", [1, 2])
def test_the_model_bound_is_bench_modeling_lower_bound(levels):
    from bench.modeling import Machine, layout, lower_bounds
    from collectives.costmodel import CacheStep, CostModel, Segment

    model = CostModel(
        (Segment(4096, 2e-6, 1e-9), Segment(float("inf"), 5e-6, 2e-10)),
        {"float32": 1e-10},
        (CacheStep(1 << 20, 0.4, 0.3), CacheStep(64 << 20, 1.0, 1.0)),
    )
    record = {"p": 8, "model": model.to_dict()}
    machine = Machine(model)
    if levels == 2:
        inter = CostModel((Segment(1 << 16, 20e-6, 4e-10), Segment(float("inf"), 30e-6, 1.5e-10)), {})
        record["inter"] = {"model": inter.to_dict(), "link_beta": 2e-10}
        machine = Machine(model, inter, 2e-10)
    placed = machine.placed(layout(2, 4))
    for nbytes in (8, 4096, 65536, 1 << 20, 3 << 20, 256 << 20):
        seconds = max(lower_bounds(placed, 8, nbytes).values())
        assert model_bound(record, 8, 2, 4, nbytes) == pytest.approx(2 * 7 / 8 * nbytes / seconds / 1e9, rel=1e-12)


@pytest.mark.parametrize(
    "values, label, ticks",
    [
        ([1e-4, 5.0], None, ["0.0001", "0.001", "0.01", "0.1", "1"]),  # not 100µ, 0.001 ... 5, 2
        ([0.5, 2e6], time_label, ["1 µs", "10 µs", "100 µs", "1 ms", "10 ms", "100 ms", "1 s"]),
        ([0.6, 1.7], None, ["0.7", "1", "1.5"]),
        ([2.1, 7.9], time_label, ["3 µs", "5 µs", "7 µs"]),
        ([0.95, 1.05], None, ["0.95", "1", "1.05"]),
        ([1e-9, 1e3], None, ["10⁻⁸", "10⁻⁶", "10⁻⁴", "10⁻²", "10⁰", "10²"]),
    ],
)
def test_log_axes_tick_decades_in_one_notation(values, label, ticks):
    axis = log_axis(values, "y", label)
    assert axis["ticktext"] == ticks
    low, high = (10**r for r in axis["range"])
    assert all(low <= v <= high for v in axis["tickvals"])


def test_size_axes_tick_powers_of_two():
    assert size_axis([8, 1 << 27])["ticktext"] == ["32 B", "1 KiB", "32 KiB", "1 MiB", "32 MiB"]
    assert size_axis([8, 64, 512])["ticktext"] == ["8 B", "16 B", "32 B", "64 B", "128 B", "256 B", "512 B"]


def test_every_log_axis_of_a_report_has_its_own_ticks(tmp_path):
    a = write_run(tmp_path / "a", standard_rows(), label="a")
    b = write_run(tmp_path / "b", standard_rows(scale=1.5, seed=2), label="b")
    patterns = [r"[\d.]+", r"(\d(\.\d+)?×)?10[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+", r"[\d.]+ (ns|µs|ms|s)", r"[\d.]+ (B|KiB|MiB|GiB)"]
    axes = 0
    for spec in _specs(build_report(load_sets([str(a), str(b)]))):
        for name in ("xaxis", "yaxis"):
            axis = spec["layout"].get(name, {})
            if axis.get("type") != "log":
                continue
            axes += 1
            labels = axis["ticktext"]
            assert 2 <= len(labels) <= 12 and len(axis["tickvals"]) == len(labels)
            assert any(all(re.fullmatch(p, t) for t in labels) for p in patterns), labels
    assert axes == 9  # busbw, latency, speedup, against the first set: x and y; the distributions: y


def test_winner_map_labels_never_overlap(tmp_path):
    rows = []
    sizes = [8 << i for i in range(24)]
    for p in (4, 8):
        for i, nbytes in enumerate(sizes):
            # at p=4 the winner changes at every size, at p=8 in runs of five
            first = (i % 2 == 0) if p == 4 else (i // 5 % 2 == 0)
            for algo, base in (("ring", 1e-5 if first else 2e-5), ("rabenseifner", 2e-5 if first else 1e-5)):
                rows.append(row(algo, nbytes, samples(base, n=5, seed=i), p=p))
    page = build_report(load_sets([str(write_run(tmp_path / "run", rows))]))
    assert f".cb-fig.winner{{min-width:{WINNER_MIN_WIDTH}px}}" in page  # the width the labels were fitted to
    (spec,) = [s for s in _specs(page) if s["data"][0]["type"] == "heatmap"]
    heatmap, layout = spec["data"][0], spec["layout"]
    names = {"ring", "rabenseifner"}
    cell = (WINNER_MIN_WIDTH - layout["margin"]["l"] - layout["margin"]["r"]) / len(heatmap["x"])
    spans: dict[int, list[tuple[float, float]]] = {}
    for note in layout["annotations"]:
        text, center, cells = note["text"], note["x"], heatmap["z"][note["y"]]
        assert text in names or (text.endswith("…") and len(text) >= 4 and "rabenseifner".startswith(text[:-1])), text
        # the run of equal winners the label is centred on; the label fits in it at the narrowest map
        start, end = int(center), int(center + 0.5)
        while start > 0 and cells[start - 1] == cells[start]:
            start -= 1
        while end < len(cells) - 1 and cells[end + 1] == cells[end]:
            end += 1
        assert center == (start + end) / 2 and cells[start] == cells[end]
        width = label_width(text)
        assert width <= (end - start + 1) * cell - 4
        spans.setdefault(note["y"], []).append(((center + 0.5) * cell - width / 2, (center + 0.5) * cell + width / 2))
    for found in spans.values():
        found.sort()
        assert all(a[1] <= b[0] for a, b in zip(found, found[1:], strict=False))
    assert len(spans[1]) == 5  # p=8: a label per run of five
    assert not any(note["text"] == "rabenseifner" for note in layout["annotations"] if note["y"] == 0)


def test_report_takes_out_and_output(tmp_path, capsys):
    run = write_run(tmp_path / "run", standard_rows())
    for flag in ("--out", "--output", "-o"):
        out = tmp_path / f"report{flag}.html"
        assert main(["report", str(run), flag, str(out)]) == 0
        assert out.stat().st_size > 100_000 and capsys.readouterr().out.strip().endswith(str(out))


def test_rows_are_read_as_bench_reads_them(tmp_path):
    rows = standard_rows()[:4]
    rows[0]["nwrong"] = None
    rows[1]["predicted_s"] = 1e-5
    run = write_run(tmp_path / "run", rows)
    document = read_document(run)
    old = json.loads((run / "results.json").read_text())
    old["schema_version"] = 1
    for r in old["rows"]:
        for key in ("stat", "thread_level", "align", "page_offset", "huge_pages"):
            r.pop(key, None)
    for doc in (document, old):
        ours, theirs = rows_frame(doc), frame(flatten(doc))
        assert list(ours.columns) == list(theirs.columns)
        for column in ours.columns:
            assert ours[column].dtype == theirs[column].dtype, column
            if column == "samples_s":
                assert [tuple(v) for v in ours[column]] == list(theirs[column])
            else:
                assert ours[column].equals(theirs[column]), column
