"""Result files: writing them as a sweep runs, and loading any of them into a DataFrame.

A run directory holds three files (the schema is documented in README.md):

- ``results.jsonl`` — the journal: a ``header`` record, then one ``row`` or ``skip`` record
  per measurement as it completes (flushed and fsynced), then a ``footer``. A run cut short
  leaves a journal without a footer, which still loads. The watchdog (``--timeout``) adds a
  ``fault`` record when a rank's process ends without a word, and a run it ends has a footer
  whose ``cause`` names what was seen; it appends them with single writes, beside the main
  thread's (the journal is opened for appending).
- ``results.json`` — the record: one versioned document with the metadata, every row with
  its samples and stats, and every skip; written to a temporary file and renamed at the end.
- ``results.csv`` — a flat projection of the rows, one line per measurement.

:func:`load` reads any of the three (or a run directory) into the same DataFrame.
"""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from .stats import RANK_STAT_NAMES, STAT_NAMES, STATISTICS

SCHEMA = "collbench.results"
SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 2 added how a row was measured: stat, thread level, buffer placement

# Flat columns of a measurement, in order, with the kind of value each holds.
COLUMNS: dict[str, str] = {
    "label": "str",
    "run_start": "str",
    "algo": "str",
    "p": "int",
    "nodes": "int",
    "ranks_per_node": "nint",
    "layout": "str",
    "rank_order": "str",
    "mesh": "str",
    "bytes": "int",
    "count": "int",
    "dtype": "str",
    "op": "str",
    "placement": "str",
    "timing": "str",
    "stat": "str",
    "thread_level": "str",
    "align": "str",
    "page_offset": "nint",
    "huge_pages": "str",
    "iters": "int",
    "warmup": "int",
    "nwrong": "nint",
    "busbw_factor": "float",
    "time_s": "float",
    "algbw_GBps": "float",
    "busbw_GBps": "float",
    "min_s": "float",
    "p50_s": "float",
    "mean_s": "float",
    "p99_s": "float",
    "max_s": "float",
    "stdev_s": "float",
    "rank_avg_s": "float",
    "rank_min_s": "float",
    "rank_max_s": "float",
    "predicted_s": "float",
    "model_error": "float",
    "device": "str",
    "transport": "str",
    "ranks_per_gpu": "nint",
    "params": "json",
    "samples_s": "samples",
}

RESULT_FILES = ("results.json", "results.jsonl", "results.csv")
STAT_COLUMNS = STAT_NAMES + RANK_STAT_NAMES  # each becomes the flat column NAME_s
# The column of each --stat name (bench.stats.STATISTICS), for readers choosing a row's time.
STAT_COLUMN = {name: f"{key}_s" for name, (key, _) in STATISTICS.items()}
# Columns a version 1 file lacks, and what they meant there: the median, at the level mpi4py then asked for,
# on buffers from np.empty.
V1_DEFAULTS = {"stat": "median", "thread_level": "multiple", "align": "numpy", "huge_pages": "system"}
V2_COLUMNS = ("stat", "thread_level", "align", "page_offset", "huge_pages", "rank_avg_s", "rank_min_s", "rank_max_s")
# Columns the CSV of version 2 gained later (the rows of results.json always held them): where the buffers
# were, how they moved, and how many ranks shared the GPU.
DEVICE_COLUMNS = ("device", "transport", "ranks_per_gpu")


class ResultsError(Exception):
    """A result file cannot be read: the message names the file and what is wrong with it."""


def _fsync_line(handle: Any, record: dict[str, Any]) -> None:
    handle.write(json.dumps(record, allow_nan=True) + "\n")
    handle.flush()
    os.fsync(handle.fileno())


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class ResultsWriter:
    """Writes one run's files into ``directory``: the journal as rows arrive, the rest at ``close``."""

    def __init__(self, directory: Path, header: dict[str, Any]):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.header = {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, **header}
        self.rows: list[dict[str, Any]] = []
        self.skips: list[dict[str, Any]] = []
        self.calibrations: list[dict[str, Any]] = []
        self.floor: list[dict[str, Any]] = []
        self.faults: list[dict[str, Any]] = []
        journal = self.directory / "results.jsonl"
        journal.write_bytes(b"")
        self._journal = open(journal, "a", encoding="utf-8")  # appends land after the watchdog's, not over them
        _fsync_line(self._journal, {"record": "header", **self.header})

    def add_row(self, row: dict[str, Any]) -> None:
        """Record one measurement; it is on disk when this returns."""
        self.rows.append(row)
        _fsync_line(self._journal, {"record": "row", **row})

    def add_skip(self, skip: dict[str, Any]) -> None:
        """Record an algorithm (or case) that did not run, with its reason."""
        self.skips.append(skip)
        _fsync_line(self._journal, {"record": "skip", **skip})

    def add_calibration(self, calibration: dict[str, Any]) -> None:
        """Record a fitted cost model (``collbench run --calibrate``) for one topology."""
        self.calibrations.append(calibration)
        _fsync_line(self._journal, {"record": "calibration", **calibration})

    def add_floor(self, record: dict[str, Any]) -> None:
        """Record one size of ``collbench floor``: C, bare mpi4py and the harness side by side."""
        self.floor.append(record)
        _fsync_line(self._journal, {"record": "floor", **record})

    def add_fault(self, record: dict[str, Any]) -> None:
        """Record what the watchdog saw go wrong (from its thread: one write of one line, appended)."""
        self.faults.append(record)
        append_record(self.directory, {"record": "fault", **record})

    def close(self, footer: dict[str, Any]) -> None:
        """Finish the journal and write ``results.json`` (atomically) and ``results.csv``."""
        _fsync_line(self._journal, {"record": "footer", **footer})
        self._journal.close()
        document = {
            **self.header,
            **footer,
            "rows": self.rows,
            "skips": self.skips,
            "calibrations": self.calibrations,
            "floor": self.floor,
            **({"faults": self.faults} if self.faults else {}),
        }
        _write_atomic(self.directory / "results.json", json.dumps(document, indent=1, allow_nan=True) + "\n")
        write_csv(self.directory / "results.csv", flatten(document))


def append_record(directory: Path, record: dict[str, Any]) -> None:
    """Append one record to ``directory``'s journal with one write (O_APPEND), without creating it."""
    line = (json.dumps(record, allow_nan=True) + "\n").encode("utf-8")
    handle = os.open(Path(directory) / "results.jsonl", os.O_WRONLY | os.O_APPEND)
    try:
        os.write(handle, line)
        os.fsync(handle)
    finally:
        os.close(handle)


def append_footer(directory: Path, footer: dict[str, Any]) -> bool:
    """Close a journal whose writer was lost (the watchdog's deputy): False where it is closed or out of reach."""
    journal = Path(directory) / "results.jsonl"
    try:
        with open(journal, "rb") as handle:
            handle.seek(max(0, journal.stat().st_size - 65536))
            last = handle.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]
    except OSError:
        return False  # not on this host's file systems
    if b'"record": "footer"' in last:
        return False
    append_record(journal.parent, {"record": "footer", **footer})
    return True


def flatten(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The flat rows (:data:`COLUMNS`) of a results document or of a journal's header and rows."""
    label = document.get("label") or ""
    start = document.get("start_time") or ""
    defaults = V1_DEFAULTS if document.get("schema_version") == 1 else {}
    flat = []
    for row in document.get("rows", []):
        stats = row.get("stats", {})
        record = {
            "label": label,
            "run_start": start,
            **defaults,
            **{k: row.get(k) for k in COLUMNS if k in row},
            **{f"{name}_s": stats.get(name) for name in STAT_COLUMNS},
        }
        record["params"] = row.get("params", {})
        record["samples_s"] = tuple(row.get("samples_s", ()))
        flat.append(record)
    return flat


def _csv_cell(kind: str, value: Any) -> str:
    if value is None:
        return ""
    if kind == "float":
        return repr(float(value))
    if kind == "json":
        return json.dumps(value, sort_keys=True)
    if kind == "samples":
        return " ".join(repr(float(v)) for v in value)
    return str(value)


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write flat rows as CSV (atomically), every float in its exact repr."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([_csv_cell(kind, row.get(name)) for name, kind in COLUMNS.items()])
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def _parse_cell(kind: str, text: str) -> Any:
    if kind == "str":
        return text
    if text == "":
        return None
    if kind in ("int", "nint"):
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "json":
        return json.loads(text)
    return tuple(float(v) for v in text.split())


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The DataFrame of flat rows, with the same columns and dtypes whatever file they came from."""
    data: dict[str, Any] = {}
    for name, kind in COLUMNS.items():
        values = [row.get(name) for row in rows]
        if kind == "int":
            data[name] = pd.array(values, dtype="int64")
        elif kind == "nint":
            data[name] = pd.array(values, dtype="Int64")
        elif kind == "float":
            data[name] = pd.array([math.nan if v is None else float(v) for v in values], dtype="float64")
        elif kind == "json":
            data[name] = pd.array([json.dumps(v or {}, sort_keys=True) for v in values], dtype=object)
        elif kind == "samples":
            data[name] = pd.array([tuple(v or ()) for v in values], dtype=object)
        else:
            data[name] = pd.array(["" if v is None else str(v) for v in values], dtype=object)
    return pd.DataFrame(data, columns=list(COLUMNS))


def _check_header(path: Path, header: Any) -> None:
    if not isinstance(header, dict) or header.get("schema") != SCHEMA:
        raise ResultsError(f"{path}: not a collbench results file (no '{SCHEMA}' schema marker)")
    version = header.get("schema_version")
    if version not in READABLE_VERSIONS:
        raise ResultsError(
            f"{path}: results schema version {version!r} is not supported; this collbench reads version "
            f"{SCHEMA_VERSION} (upgrade collbench to read newer files)"
        )


def read_document(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The results document at ``path`` (a run directory, .json or .jsonl): metadata, rows and skips.

    A journal without a footer (a run cut short) loads with ``complete`` set to False.
    """
    path = _resolve(Path(path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ResultsError(f"{path}: cannot read: {exc}") from None
    if path.suffix == ".jsonl":
        return _read_journal(path, text)
    if path.suffix != ".json":
        raise ResultsError(f"{path}: expected results.json, results.jsonl or a run directory")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsError(
            f"{path}: not valid JSON ({exc}); the run may have been cut short, try results.jsonl"
        ) from None
    _check_header(path, document)
    _check_rows(path, document.get("rows"))
    return document


def _read_journal(path: Path, text: str) -> dict[str, Any]:
    document: dict[str, Any] | None = None
    rows, skips, calibrations, floor, faults = [], [], [], [], []
    complete = False
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(text.splitlines()):
                break  # a last line cut off mid-write: everything before it stands
            raise ResultsError(f"{path}:{number}: not a JSON record") from None
        kind = record.pop("record", None) if isinstance(record, dict) else None
        if document is None:
            if kind != "header":
                raise ResultsError(f"{path}: not a collbench journal (first record is not a header)")
            _check_header(path, record)
            document = record
        elif kind == "row":
            rows.append(record)
        elif kind == "skip":
            skips.append(record)
        elif kind == "calibration":
            calibrations.append(record)
        elif kind == "floor":
            floor.append(record)
        elif kind == "fault":
            faults.append(record)
        elif kind == "footer":
            document.update(record)
            complete = True
        else:
            raise ResultsError(f"{path}:{number}: unknown record type {kind!r}")
    if document is None:
        raise ResultsError(f"{path}: empty results journal")
    _check_rows(path, rows)
    document.update(rows=rows, skips=skips, calibrations=calibrations, floor=floor)
    if faults:
        document["faults"] = faults
        if "cause" not in document:  # the job ended before any rank could close it: the faults seen
            document["cause"] = {
                "kind": "ended",
                "ranks": sorted({r for f in faults for r in f.get("ranks", [])}),
                "hosts": sorted({h for f in faults for h in f.get("hosts", [])}),
                "text": "; ".join(str(f.get("text", "")) for f in faults),
            }
    document.setdefault("complete", complete)
    if not complete:
        document["complete"] = False
    return document


def _check_rows(path: Path, rows: Any) -> None:
    if not isinstance(rows, list) or not all(isinstance(r, dict) and "algo" in r and "bytes" in r for r in rows):
        raise ResultsError(f"{path}: malformed rows (each row needs at least 'algo' and 'bytes')")


def _resolve(path: Path) -> Path:
    if path.is_dir():
        for name in RESULT_FILES:
            if (path / name).exists():
                return path / name
        raise ResultsError(f"{path}: no {', '.join(RESULT_FILES)} in this directory")
    if not path.exists():
        raise ResultsError(f"{path}: no such file")
    return path


def _load_csv(path: Path) -> pd.DataFrame:
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            earlier = [name for name in COLUMNS if name not in DEVICE_COLUMNS]
            version_1 = [name for name in earlier if name not in V2_COLUMNS]
            if header not in (list(COLUMNS), earlier, version_1):
                raise ResultsError(f"{path}: not a collbench results.csv (unexpected columns)")
            defaults = V1_DEFAULTS if header == version_1 else {}
            rows = []
            for number, cells in enumerate(reader, 2):
                if len(cells) != len(header):
                    raise ResultsError(f"{path}:{number}: expected {len(header)} columns, found {len(cells)}")
                row = {name: _parse_cell(COLUMNS[name], cell) for name, cell in zip(header, cells, strict=True)}
                rows.append({**row, **defaults})
        return frame(rows)
    except (OSError, UnicodeDecodeError, ValueError, TypeError, csv.Error) as exc:
        raise ResultsError(f"{path}: cannot read as results CSV: {exc}") from None


def load(path: str | os.PathLike[str]) -> pd.DataFrame:
    """One row per measurement from a run directory, results.json, results.jsonl or results.csv."""
    resolved = _resolve(Path(path))
    if resolved.suffix == ".csv":
        return _load_csv(resolved)
    try:
        return frame(flatten(read_document(resolved)))
    except (TypeError, ValueError, AttributeError) as exc:
        raise ResultsError(f"{resolved}: malformed results: {exc}") from None
