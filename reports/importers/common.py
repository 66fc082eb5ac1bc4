"""What every importer's parsing shares: reading the file, the lines without launcher prefixes,
result lines split by their header's columns, numbers as a tool printed them, and the message a
failed run left.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import NamedTuple

from .base import ImportFormatError

MPI_DTYPES = {
    "MPI_CHAR": ("int8", 1),
    "MPI_BYTE": ("uint8", 1),
    "MPI_INT": ("int32", 4),
    "MPI_FLOAT": ("float32", 4),
    "MPI_DOUBLE": ("float64", 8),
}
MAX_BYTES = 512 * 1024 * 1024

# Messages a failed run leaves instead of results: the first one found is quoted in the error.
FAILURES = (
    "MPI_INIT failed",
    "An error occurred in MPI_Init",
    "MPI_ERRORS_ARE_FATAL",
    "Test NCCL failure",
    "Test CUDA failure",
    "Test failure",
    "srun: error:",
    "mpirun noticed that process",
    "BAD TERMINATION",
)


class Line(NamedTuple):
    """One line of a log: its number, the rank a launcher prefix named (or None), the text after it."""

    number: int
    rank: int | None
    text: str

    def at(self, where: str) -> str:
        """``FILE:LINE``, for an error about this line."""
        return f"{where}:{self.number}"


# Prefixes launchers put before each line, tried in turn until none matches. A named group
# ``rank`` records which rank the line came from.
PREFIXES = (
    # mpirun --timestamp-output: ctime(3) text, then the tag or <stdout>: (Open MPI's iof)
    re.compile(r"[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}(?=\[|<std)"),
    # mpirun --tag-output: [jobid,rank]<stdout>:
    re.compile(r"\[[^\[\]\s]*,(?P<rank>\d+)\]<std(?:out|err)>:"),
    re.compile(r"<std(?:out|err)>:"),
    # srun --label: the task id, right-aligned, then ": "
    re.compile(r"\s*(?P<rank>\d+): "),
    # ISO 8601 timestamps (journald, kubectl --timestamps, log shippers), bare or bracketed
    re.compile(r"\s*\[\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?\]:?(?:\s+|$)"),
    re.compile(r"\s*\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?:?(?:\s+|$)"),
)


def read_text(path: str | Path) -> str:
    """The file's text (UTF-8, else Latin-1); refused when unreadable, binary or too large for a log."""
    where = Path(path)
    try:
        if where.stat().st_size > MAX_BYTES:
            raise ImportFormatError(f"{where}: larger than {MAX_BYTES >> 20} MiB; not a benchmark log")
        data = where.read_bytes()
    except OSError as exc:
        raise ImportFormatError(f"{where}: cannot read: {exc.strerror}") from None
    if b"\x00" in data:
        raise ImportFormatError(f"{where}: a binary file, not a text log or JSON")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def log_lines(text: str) -> list[Line]:
    """The non-blank lines of ``text`` with launcher prefixes and timestamps stripped."""
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        rank = None
        stripped = True
        while stripped:
            stripped = False
            for prefix in PREFIXES:
                if match := prefix.match(raw):
                    if (label := match.groupdict().get("rank")) is not None:
                        rank = int(label)
                    raw, stripped = raw[match.end() :], True
                    break
        if raw.strip():
            lines.append(Line(number, rank, raw.strip()))
    return lines


def one_writer(data: list[Line], where: str, tool: str) -> None:
    """Refuse result lines that several ranks printed: separate runs interleaved in one log."""
    ranks = sorted({line.rank for line in data if line.rank is not None})
    if len(ranks) > 1:
        shown = ", ".join(map(str, ranks[:4])) + (", ..." if len(ranks) > 4 else "")
        raise ImportFormatError(
            f"{where}: result lines come from ranks {shown} (by their srun/mpirun prefixes): several separate "
            f"{tool} runs are interleaved, as when a build without MPI is started once per rank; "
            f"keep one rank's lines (e.g. grep '^{ranks[0]}: ') and import those"
        )


def quoted_failure(text: str) -> str:
    """`` (the log says: ...)`` quoting the first failure message in ``text``, or nothing."""
    for line in text.splitlines():
        for phrase in FAILURES:
            if phrase in line:
                return f" (the log says: {line.strip()[:120]!r})"
    return ""


def table_cells(line: Line, names: list[str], at: str) -> dict[str, str]:
    """A result line's fields by column name; refused when there are not as many as the header names."""
    tokens = line.text.split()
    if len(tokens) != len(names):
        raise ImportFormatError(f"{at}: {len(tokens)} fields where the header has {len(names)}")
    return dict(zip(names, tokens, strict=True))


def parse_number(text: str, where: str) -> float:
    """A finite number as printed; refused, with ``where``, otherwise."""
    try:
        value = float(text)
    except ValueError:
        raise ImportFormatError(f"{where}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ImportFormatError(f"{where}: {text!r} is not a finite number")
    return value


def parse_count(text: str, where: str) -> int:
    """A count as a tool printed it: ``1024``, or ``1.04858e+06`` where ``%g`` rounded it."""
    value = parse_number(text, where)
    if value < 0:
        raise ImportFormatError(f"{where}: {text!r} is not a count")
    return int(round(value))
