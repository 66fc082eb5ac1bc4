"""Options shared by several subcommands, defined once, and the parsing of list values."""

from __future__ import annotations

import argparse
from collections.abc import Iterable

from .errors import UsageError


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


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """--out and --label, shared by every command that writes results."""
    parser.add_argument(
        "--out", metavar="DIR", help="results directory (default: results/<UTC timestamp>); never overwritten"
    )
    parser.add_argument("--label", default="", help="a name for this run, shown in reports and comparisons")
