"""Result sets for reports and comparisons: one stored run each, its metadata and its rows.

Files are only ever parsed as JSON or CSV text (through :mod:`bench.results`, which reads
files and never runs MPI); nothing in a results file is executed or unpickled.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.results import COLUMNS, STAT_COLUMN, STAT_COLUMNS, V1_DEFAULTS, ResultsError, load, read_document

# The columns that place a measurement: two rows with equal keys measured the same thing.
TOPOLOGY = ["p", "nodes", "ranks_per_node", "layout", "rank_order"]
CASE = ["dtype", "op", "timing"]
MATCH_KEY = ["algo", "mesh", *TOPOLOGY, "bytes", "dtype", "op", "placement", "timing", "align"]


@dataclass
class ResultSet:
    """One run: a label, where it came from, its metadata (no rows) and its rows as a DataFrame."""

    label: str
    source: str
    metadata: dict[str, Any]
    frame: pd.DataFrame
    skips: list[dict[str, Any]] = field(default_factory=list)

    @property
    def complete(self) -> bool | None:
        """False for a run cut short (a journal without a footer); None when unknown (CSV)."""
        value = self.metadata.get("complete")
        return None if value is None else bool(value)


def _default_label(path: Path, document_label: str) -> str:
    if document_label:
        return document_label
    if path.is_dir():
        return path.resolve().name
    if path.name.startswith("results."):
        return path.resolve().parent.name
    return path.name


def load_set(path: str | os.PathLike[str], label: str | None = None) -> ResultSet:
    """Read one run (a run directory, results.json, results.jsonl or results.csv) as a :class:`ResultSet`.

    Raises :class:`bench.results.ResultsError` with a one-line message for anything unreadable.
    """
    where = Path(path)
    if where.is_file() and where.suffix not in (".json", ".jsonl", ".csv"):
        raise ResultsError(
            f"{where}: expected results.json, results.jsonl, results.csv or a run directory; "
            "other files (pickles included) are never read"
        )
    csv = where.suffix == ".csv" or (
        where.is_dir() and not (where / "results.json").exists() and not (where / "results.jsonl").exists()
    )
    if csv:
        rows = load(where)
        metadata: dict[str, Any] = {}
        skips: list[dict[str, Any]] = []
        document_label = str(rows["label"].iloc[0]) if len(rows) else ""
    else:
        document = read_document(where)
        try:
            rows = rows_frame(document)
        except (TypeError, ValueError, AttributeError) as exc:
            raise ResultsError(f"{where}: malformed results: {exc}") from None
        skips = [s for s in document.get("skips") or [] if isinstance(s, dict)]
        metadata = {k: v for k, v in document.items() if k not in ("rows", "skips")}
        document_label = str(metadata.get("label") or "")
    return ResultSet(
        label=label or _default_label(where, document_label),
        source=str(path),
        metadata=metadata,
        frame=rows,
        skips=skips,
    )


STAT_NAMES = {f"{name}_s": name for name in STAT_COLUMNS}  # flat column -> key in a row's stats


def rows_frame(document: dict[str, Any]) -> pd.DataFrame:
    """The rows of a results document as :func:`bench.results.load` gives them, built a column at a time.

    The same columns, dtypes and values as ``frame(flatten(document))``, without a flat dict per row (a third
    of the time of a 100,000-row report); ``samples_s`` holds each row's list as the file gave it.
    """
    rows = document.get("rows", [])
    n = len(rows)
    defaults = V1_DEFAULTS if document.get("schema_version") == 1 else {}
    stats = [row.get("stats") or {} for row in rows]
    fixed = {"label": document.get("label") or "", "run_start": document.get("start_time") or ""}
    names = [name for name in COLUMNS if name not in fixed and name not in STAT_NAMES]
    found = {**_columns(rows, names, defaults), **_columns(stats, list(STAT_NAMES.values()), {})}
    data: dict[str, Any] = {}
    for name, kind in COLUMNS.items():
        if name in fixed:
            data[name] = np.full(n, fixed[name], dtype=object)
            continue
        values = found[STAT_NAMES.get(name, name)]
        if kind == "int":
            data[name] = np.array(values, dtype="int64")
        elif kind == "nint":
            data[name] = pd.array(values, dtype="Int64")
        elif kind == "float":
            data[name] = np.array(values, dtype="float64")  # None becomes NaN
        elif kind == "json":
            data[name] = _json_column(values)
        elif kind == "samples":
            data[name] = _object_column([v or () for v in values])
        else:
            data[name] = np.array(
                ["" if v is None else v if v.__class__ is str else str(v) for v in values], dtype=object
            )
    return pd.DataFrame(data, columns=list(COLUMNS))


def _columns(records: list[dict], names: list[str], defaults: dict[str, Any]) -> dict[str, Sequence]:
    """Each of ``names`` as a sequence over ``records`` (None, or its default, where a record lacks it).

    The names every record has are read in one pass (``itemgetter`` of them all, then transposed); a name no
    record has is filled; the others are looked up record by record.
    """
    present = set().union(*records)
    everywhere = [k for k in names if k in present]
    out: dict[str, Sequence] = {k: [defaults.get(k)] * len(records) for k in names if k not in present}
    if not everywhere or not records:
        return {**out, **{k: [] for k in everywhere}}
    getter = itemgetter(*everywhere)
    try:
        found = map(getter, records) if len(everywhere) > 1 else ((value,) for value in map(getter, records))
        out.update(zip(everywhere, zip(*found, strict=True), strict=True))
    except KeyError:  # some records lack some of them
        for k in everywhere:
            out[k] = [r.get(k, defaults.get(k)) for r in records]
    return out


def _object_column(values: list) -> np.ndarray:
    """``values`` as a 1-d object array (lists stay one cell each)."""
    column = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        column[i] = value
    return column


def _json_column(values: list) -> np.ndarray:
    """Each dict as sorted JSON text; equal dicts (most rows share their parameters) are encoded once."""
    encoded: dict[Any, str] = {}
    out = []
    for value in values:
        try:
            key = tuple(sorted(value.items())) if value else ()
            text = encoded.get(key)
            if text is None:
                text = encoded[key] = json.dumps(value or {}, sort_keys=True)
        except (TypeError, AttributeError):  # unhashable values, or not a dict: encode it alone
            text = json.dumps(value or {}, sort_keys=True)
        out.append(text)
    return _object_column(out)


def load_sets(paths: list[str], labels: list[str] | None = None) -> list[ResultSet]:
    """Every path as a ResultSet, labelled by ``labels`` (in order), the run's label or its file name.

    Equal labels get `` (2)``, `` (3)``, ... appended so each set stays distinguishable.
    """
    labels = list(labels or [])
    if len(labels) > len(paths):
        raise ResultsError(f"{len(labels)} labels given for {len(paths)} results; give at most one label per result")
    sets = [load_set(path, labels[i] if i < len(labels) else None) for i, path in enumerate(paths)]
    seen: dict[str, int] = {}
    for result in sets:
        count = seen.get(result.label, 0) + 1
        seen[result.label] = count
        if count > 1:
            result.label = f"{result.label} ({count})"
    return sets


def with_stat(df: pd.DataFrame, stat: str) -> pd.DataFrame:
    """``df`` with each row's time (and algbw, busbw) taken from statistic ``stat`` where the row has it.

    Rows without it (imports, files older than schema 2) keep the time they were recorded with.
    """
    column = df[STAT_COLUMN[stat]]
    has = column.notna() & (column > 0)
    out = df.copy()
    scale = (out["time_s"] / column).where(has, 1.0)
    out.loc[has, "time_s"] = column[has]
    out.loc[has, "stat"] = stat
    out["algbw_GBps"] = out["algbw_GBps"] * scale
    out["busbw_GBps"] = out["busbw_GBps"] * scale
    return out


def combined(sets: list[ResultSet], stat: str | None = None) -> pd.DataFrame:
    """All sets' rows in one DataFrame with a ``set`` column (the set's label) and a ``series`` column.

    ``series`` names what a line in a plot is: the algorithm, with its mesh shape when it has one.
    With ``stat`` (a ``--stat`` name) times are that statistic's (:func:`with_stat`).
    """
    frames = [result.frame.assign(set=result.label) for result in sets]  # the sets' own frames stay as they are
    df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0] if frames else pd.DataFrame()
    if df.empty:
        return df
    if stat:
        df = with_stat(df, stat)
    algo, mesh = df["algo"].astype(str).to_numpy(dtype=object), df["mesh"].fillna("").astype(str).to_numpy(dtype=object)
    series, meshed = algo.copy(), np.flatnonzero(mesh != "")
    series[meshed] = [f"{a} {m}" for a, m in zip(algo[meshed], mesh[meshed], strict=True)]
    df["series"] = series
    df["ranks_per_node"] = df["ranks_per_node"].fillna(0).astype("int64")
    return df


def runs(frame: pd.DataFrame, keys: list[str]) -> list[int]:
    """Where each run of equal ``keys`` starts in ``frame`` (sorted by them), then ``len(frame)``: run i is rows
    ``[runs[i], runs[i + 1])``. One pass of comparisons with the row before, no grouping."""
    if frame.empty:
        return [0]
    return runs_of_codes([frame[key].to_numpy() for key in keys]).tolist()


# The order lines are drawn in: every key of a measurement, the size last.
ORDER = [*TOPOLOGY, *CASE, "set", "series", "placement", "bytes"]
WINNER_KEY = ["set", *TOPOLOGY, "dtype", "op", "placement", "timing", "bytes"]


class Measurements:
    """The rows of :func:`combined` keyed once: each key column as integer codes (in the order of its values),
    and the rows sorted by :data:`ORDER`, so that medians, winners and matches are array operations."""

    def __init__(self, df: pd.DataFrame) -> None:
        self.df = df
        factorized = {k: pd.factorize(df[k].to_numpy(), sort=True) for k in ORDER} if len(df) else {}
        self.codes = {k: codes for k, (codes, _) in factorized.items()}
        self.levels = {k: levels for k, (_, levels) in factorized.items()}
        self.order = np.lexsort([self.codes[k] for k in reversed(ORDER)]) if len(df) else np.zeros(0, dtype=int)

    def medians(self, mask: np.ndarray | None = None) -> pd.DataFrame:
        """One row per measurement key (of the rows in ``mask``) in :data:`ORDER`: the key, the median
        ``time_s`` and ``busbw`` over the rows with that key, and ``row``, the first such row of the frame."""
        columns = [*ORDER, "time_s", "busbw", "row"]
        order = self.order if mask is None else self.order[mask[self.order]]
        if not len(order):
            return pd.DataFrame(columns=columns)
        starts = runs_of_codes([self.codes[k][order] for k in ORDER])
        rows = order[starts[:-1]]
        out = self.df.iloc[rows][ORDER].reset_index(drop=True)
        time_s, busbw = self.df["time_s"].to_numpy(dtype=float), self.df["busbw_GBps"].to_numpy(dtype=float)
        if len(rows) == len(order):
            out["time_s"], out["busbw"] = time_s[rows], busbw[rows]
        else:  # a key measured more than once (or under settings the key leaves out): the median of its rows
            ids = np.repeat(np.arange(len(rows)), np.diff(starts))
            out["time_s"] = pd.Series(time_s[order]).groupby(ids).median().to_numpy()
            out["busbw"] = pd.Series(busbw[order]).groupby(ids).median().to_numpy()
        out["row"] = rows
        return out

    def packed(self, rows: np.ndarray, keys: list[str]) -> np.ndarray:
        """One integer per row of the frame in ``rows``, equal where the rows' values of ``keys`` are equal."""
        packed, total = np.zeros(len(rows), dtype=np.int64), 1
        for key in keys:
            levels = int(self.codes[key].max()) + 1 if len(self.codes[key]) else 1
            total *= levels
            if total >= 1 << 62:  # too many combinations for one int64: number the distinct ones instead
                stacked = np.column_stack([self.codes[k][rows] for k in keys])
                return np.unique(stacked, axis=0, return_inverse=True)[1].ravel().astype(np.int64)
            packed = packed * levels + self.codes[key][rows]
        return packed

    def match(self, medians: pd.DataFrame, keys: list[str], where: np.ndarray, value: str = "time_s") -> np.ndarray:
        """For each row of ``medians``, the ``value`` of the row among ``where`` (a mask of ``medians``) with the
        same ``keys``, NaN where there is none."""
        rows = medians["row"].to_numpy(dtype=np.int64)
        packed = self.packed(rows, keys)
        found = pd.Index(packed[where]).get_indexer(packed)
        values = medians[value].to_numpy(dtype=float)[where]
        return np.where(found >= 0, values[np.maximum(found, 0)], np.nan) if len(values) else np.full(len(rows), np.nan)

    def peaks(self, medians: pd.DataFrame) -> pd.DataFrame:
        """The row of highest ``busbw`` per set, topology and series (the smallest size of equal ones), sorted so."""
        medians = medians[np.isfinite(medians["busbw"].to_numpy(dtype=float))]
        if medians.empty:
            return medians
        rows = medians["row"].to_numpy(dtype=np.int64)
        key = self.packed(rows, ["set", *TOPOLOGY, "series"])
        order = np.lexsort([self.codes["bytes"][rows], -medians["busbw"].to_numpy(dtype=float), key])
        return medians.iloc[order[runs_of_codes([key[order]])[:-1]]].reset_index(drop=True)

    def runs(self, frame: pd.DataFrame, keys: list[str]) -> list[int]:
        """:func:`runs` of a frame with a ``row`` column (rows of this one), by their codes."""
        rows = frame["row"].to_numpy(dtype=np.int64)
        return runs_of_codes([self.codes[k][rows] for k in keys]).tolist() if len(rows) else [0]

    def winners(self, medians: pd.DataFrame) -> pd.DataFrame:
        """The fastest series per :data:`WINNER_KEY` (ties to the first name), sorted by it."""
        if medians.empty:
            return medians
        rows = medians["row"].to_numpy(dtype=np.int64)
        keys = [self.codes[k][rows] for k in WINNER_KEY]
        order = np.lexsort([self.codes["series"][rows], medians["time_s"].to_numpy(dtype=float), *reversed(keys)])
        first = runs_of_codes([k[order] for k in keys])[:-1]
        return medians.iloc[order[first]].reset_index(drop=True)


def runs_of_codes(columns: list[np.ndarray]) -> np.ndarray:
    """Where each run of equal values (in all ``columns`` at once) starts, then the length."""
    n = len(columns[0])
    change = np.zeros(max(n - 1, 0), dtype=bool)
    for column in columns:
        change |= column[1:] != column[:-1]
    return np.concatenate([[0], np.flatnonzero(change) + 1, [n]]).astype(np.int64)
