"""Result sets for reports and comparisons: one stored run each, its metadata and its rows.

Files are only ever parsed as JSON or CSV text (through :mod:`bench.results`, which reads
files and never runs MPI); nothing in a results file is executed or unpickled.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bench.results import STAT_COLUMN, ResultsError, flatten, frame, load, read_document

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
            rows = frame(flatten(document))
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
    frames = []
    for result in sets:
        df = result.frame.copy()
        df.insert(0, "set", result.label)
        frames.append(df)
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if df.empty:
        return df
    if stat:
        df = with_stat(df, stat)
    mesh = df["mesh"].fillna("").astype(str)
    df["series"] = df["algo"].astype(str).where(mesh == "", df["algo"].astype(str) + " " + mesh)
    df["ranks_per_node"] = df["ranks_per_node"].fillna(0).astype("int64")
    return df
