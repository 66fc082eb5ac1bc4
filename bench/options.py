"""Options shared by several subcommands, defined once, and the parsing of list values."""

from __future__ import annotations

import argparse
from collections.abc import Iterable

from .buffers import HUGE_PAGES
from .errors import UsageError
from .mpienv import THREAD_LEVELS
from .progress import LOG_INTERVAL


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one-line :class:`UsageError` s instead of usage dumps."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")


def split_list(text: str, accepted: Iterable[str], what: str) -> list[str]:
    """Comma-separated names from ``text``, each one of ``accepted``; duplicates dropped, order kept."""
    accepted = list(accepted)
    names = [item.strip() for item in text.split(",") if item.strip()]
    if not names:
        raise UsageError(f"empty {what} list; give one or more of {', '.join(accepted)}")
    for name in names:
        if name not in accepted:
            raise UsageError(f"unknown {what} {name!r}; expected one or more of {', '.join(accepted)}")
    return list(dict.fromkeys(names))


def positive_int(text: str) -> int:
    value = non_negative_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
    return value


def add_output_options(parser: argparse.ArgumentParser, short: bool = False) -> None:
    """--out (and -o with ``short``, where the command has no other -o) and --label, shared by every command that
    writes results."""
    parser.add_argument(
        *(["-o"] if short else []),
        "--out",
        metavar="DIR",
        help="results directory (default: results/<UTC timestamp>); never overwritten",
    )
    parser.add_argument("--label", default="", help="a name for this run, shown in reports and comparisons")


def add_progress_options(parser: argparse.ArgumentParser) -> None:
    """--quiet and --progress-interval: rank 0's progress line on stderr."""
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress line on stderr (the table on stdout is the same either way)",
    )
    parser.add_argument(
        "--progress-interval",
        type=positive_float,
        default=LOG_INTERVAL,
        metavar="SECONDS",
        help="where stderr is not a terminal (a Slurm log, CI, a pipe): at most one progress line every SECONDS "
        f"(default: {LOG_INTERVAL:g}); on a terminal the line is live, rewritten as each case begins",
    )


def add_mpi_options(parser: argparse.ArgumentParser) -> None:
    """--thread-level, shared by every command that starts MPI."""
    parser.add_argument(
        "--thread-level",
        choices=THREAD_LEVELS,
        help="the MPI thread level to ask for (default: $MPI4PY_RC_THREAD_LEVEL, else single as MPI_Init gives C "
        "benchmarks, or multiple where a node has more ranks than CPUs: below it MPICH never yields the CPU)",
    )


def add_buffer_options(parser: argparse.ArgumentParser, several: bool) -> None:
    """--align and --huge-pages: where host buffers start and which pages back them."""
    sweep = "; a list sweeps each" if several else ""
    parser.add_argument(
        "--align",
        default="page",
        metavar="LIST" if several else "SPEC",
        help="where buffers start: on a multiple of BYTES (a power of two, e.g. 64), on a page boundary (page, "
        "as OSU allocates), OFFSET bytes past either (BYTES+OFFSET, page+OFFSET; page+16 is where NumPy's large "
        f"arrays start), or wherever np.empty puts them (numpy){sweep} (default: page)",
    )
    parser.add_argument(
        "--huge-pages",
        choices=HUGE_PAGES,
        default="system",
        help="transparent huge pages for host buffers: system (no advice, as a C benchmark gets; default), "
        "on or off (madvise)",
    )
