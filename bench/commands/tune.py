"""The best measured algorithm per p and size range, and settings that steer MPI or NCCL to match.

    collbench tune results/RUN [--out tuned-mpi.env] [--json tuning.json]

The table comes from the measurements (each row's time, out of place where measured). The
suggestions map each winner to the closest native algorithm: MPICH's
MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM, an Open MPI coll_tuned dynamic rules file, NCCL_ALGO.
They are suggestions: the native implementations differ from collbench's.

Where the run measured the library's own algorithms (``--algo mpi,mpi:all``), the tuning is
measured instead of guessed, and written ready to use (:func:`collectives.mpiforce.write_tuning`):
per communicator size and size range, the forced algorithm that beat the library's own choice
by at least ``MARGIN`` in every placement measured (the file holds for both), else the library's
choice, with the gain expected from the rows. Several runs may be given: each time is then the
median over them, so one quiet or busy moment of the host does not pick the winner.
Open MPI's rules file holds a choice per size range, Intel MPI's variable a condition per size
range. MPICH takes per-size choices from the tuning files built into the library, rewritten for
all-reduce (:func:`collectives.mpiforce.mpich_selection`): the composition without an intra-node
part and the forced MPIR algorithm where one wins, MPICH's own choice elsewhere. Where those
built-in files are not found, MPICH's file forces one algorithm for every size, the one with the
largest median gain that is nowhere more than ``WORST`` slower, or none.
``--algo mpi,mpi:tuned=FILE`` then times the file against the library's choice in one job, and
``collbench tune`` on such runs prints the gain per size, measured side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from dataclasses import dataclass
from typing import Any

from collectives.mpiforce import MPICH_FILE_ALGORITHMS, Tuning, mpich_selection, write_tuning

from ..errors import UsageError
from ..modeling import size_ranges
from ..results import ResultsError, load
from ..sizes import format_size

HELP = "best algorithm per p and size range, with MPI/NCCL settings to match"

# closest native algorithm: (MPICH CVAR value, Open MPI coll_tuned allreduce id, NCCL_ALGO)
NATIVE = {
    "ring": ("ring", 4, "Ring"),
    "mesh": ("ring", 5, "Ring"),
    "rhd": ("reduce_scatter_allgather", 6, "Ring"),
    "rhd/doubling": ("recursive_doubling", 3, "Tree"),
    "tree": ("tree", 2, "Tree"),
    "tree/binomial": ("recursive_doubling", 2, "Tree"),
    "ps": ("reduce_scatter_allgather", 1, "Ring"),
    "hier": ("ring", 4, "CollnetDirect"),
}
OMPI_NAMES = {
    1: "basic_linear",
    2: "nonoverlapping",
    3: "recursive_doubling",
    4: "ring",
    5: "segmented_ring",
    6: "rabenseifner",
}


MARGIN = 1.05  # a forced algorithm replaces the library's choice only where it is this much faster
WORST = 1.10  # MPICH's one algorithm for all sizes may be at most this much slower at any size


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", help="results directories or files")
    parser.add_argument(
        "--out",
        "-o",
        metavar="FILE",
        help="where the measured MPI tuning goes, with runs that measured mpi:ALG (default: tuned-mpi.env in "
        "the first results directory)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the table and suggestions as JSON")


def _native_key(algo: str, params: str) -> str:
    if algo == "rhd" and '"doubling"' in params:
        return "rhd/doubling"
    if algo == "tree" and '"binomial"' in params:
        return "tree/binomial"
    return algo


def main(args: argparse.Namespace) -> int:
    import pandas as pd

    try:
        df = pd.concat([load(path) for path in args.results], ignore_index=True)
    except ResultsError as exc:
        raise UsageError(str(exc)) from None
    if df.empty:
        raise UsageError("no measurements in the given results")
    rows = df
    if (df["placement"] == "out").any():
        df = df[df["placement"] == "out"]
    best = df.loc[df.groupby(["p", "bytes"])["time_s"].idxmin()].sort_values(["p", "bytes"])
    out: dict = {"table": [], "mpich": {}, "openmpi_rules": "", "nccl": {}}
    rules = []
    for p, group in best.groupby("p"):
        table = [(int(r.bytes), _native_key(r.algo, r.params), float(r.time_s)) for r in group.itertuples()]
        ranges = size_ranges(table)
        print(f"p={p}: " + ", ".join(f"{a} {format_size(lo)}-{format_size(hi)}" for lo, hi, a in ranges))
        for lo, hi, algo in ranges:
            out["table"].append({"p": int(p), "from": lo, "to": hi, "algo": algo})
        mpich = [(lo, NATIVE[a][0]) for lo, _, a in ranges if a in NATIVE]
        nccl = [(lo, NATIVE[a][2]) for lo, _, a in ranges if a in NATIVE]
        out["mpich"][int(p)] = mpich
        out["nccl"][int(p)] = nccl
        rules.append((int(p), [(lo, NATIVE[a][1]) for lo, _, a in ranges if a in NATIVE]))
    print("\n# suggestions (closest native algorithm per size range)")
    for p, mpich in out["mpich"].items():
        text = "; ".join(f"from {format_size(lo)}: MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM={v}" for lo, v in mpich)
        print(f"MPICH, p={p}: {text}")
    for p, nccl in out["nccl"].items():
        print(f"NCCL, p={p}: " + "; ".join(f"from {format_size(lo)}: NCCL_ALGO={v}" for lo, v in nccl))
    lines = ["1  # collectives in this file", "2  # allreduce", f"{len(rules)}  # communicator sizes"]
    for p, ranges in rules:
        lines += [f"{p}  # communicator size", f"{len(ranges)}  # message size rules"]
        lines += [f"{lo} {alg} 0 0  # from {format_size(lo)}: {OMPI_NAMES[alg]}" for lo, alg in ranges]
    out["openmpi_rules"] = "\n".join(lines) + "\n"
    print(
        "\nOpen MPI: save as rules.txt and run with --mca coll_tuned_use_dynamic_rules 1 "
        "--mca coll_tuned_dynamic_rules_filename rules.txt"
    )
    print(out["openmpi_rules"], end="")
    measured = measured_tuning(rows)
    if measured is not None:
        out["measured"] = _write_measured(measured, args)
    checked = tuned_against_default(rows)
    if checked:
        out["tuned_against_default"] = checked
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(out, handle, indent=1)
    return 0


@dataclass
class Measured:
    """The library's own choice (``mpi``) against its forced algorithms (``mpi:ALG``), from the rows."""

    library: str
    # p -> bytes -> placement -> {"" (the library's choice) or ALG: seconds, the median over the runs given}
    times: dict[int, dict[int, dict[str, dict[str, float]]]]
    ids: dict[str, int]


def measured_tuning(df: Any) -> Measured | None:
    """The rows' ``mpi`` and ``mpi:ALG`` times, where a run measured both (None otherwise)."""
    forced = df[df["algo"].str.startswith("mpi:") & (df["algo"] != "mpi:tuned")]
    if forced.empty or not (df["algo"] == "mpi").any():
        return None
    samples: dict[tuple[int, int, str, str], list[float]] = {}
    ids: dict[str, int] = {}
    libraries = set()
    for row in df[(df["algo"] == "mpi") | df.index.isin(forced.index)].itertuples():
        params = json.loads(row.params) if isinstance(row.params, str) and row.params else {}
        if row.algo == "mpi" and params.get("launch"):
            continue  # its launch steered the library (a sourced tuning, a forced preset): not its own choice
        name = "" if row.algo == "mpi" else row.algo.partition(":")[2]
        if name:
            libraries.add(params.get("library", ""))
            ids[name] = int(params.get("id", 0))
        placement = str(getattr(row, "placement", "out"))
        samples.setdefault((int(row.p), int(row.bytes), placement, name), []).append(float(row.time_s))
    if len(libraries) != 1:
        raise UsageError(f"the runs measured the algorithms of {len(libraries)} MPI libraries; tune one at a time")
    times: dict[int, dict[int, dict[str, dict[str, float]]]] = {}
    for (p, nbytes, placement, name), seconds in samples.items():
        times.setdefault(p, {}).setdefault(nbytes, {}).setdefault(placement, {})[name] = statistics.median(seconds)
    return Measured(libraries.pop(), times, ids)


def _gain(cell: dict[str, dict[str, float]], name: str) -> float | None:
    """How many times faster ``name`` ran than the library's choice at one size: the smallest ratio over the
    placements where both were measured (the tuning holds for every placement), None where none was."""
    ratios = [times[""] / times[name] for times in cell.values() if "" in times and name in times]
    return min(ratios) if ratios else None


def _per_size_choice(cell: dict[str, dict[str, float]], candidates: set[str] | None = None) -> str:
    """The forced algorithm (of ``candidates``, default all) with the largest gain at this size if that gain is at
    least MARGIN in every placement measured, else "" (the library's own choice)."""
    gains = {name: _gain(cell, name) for times in cell.values() for name in times if name}
    gains = {name: gain for name, gain in gains.items() if candidates is None or name in candidates}
    name, gain = max(((n, g) for n, g in gains.items() if g is not None), key=lambda item: item[1], default=("", 0))
    return name if gain >= MARGIN else ""


def _one_for_all(measured: Measured) -> tuple[str, str]:
    """MPICH's single algorithm for every size and p: the largest median gain, nowhere WORST slower; and why."""
    best, best_gain = "", 1.0
    for name in sorted(measured.ids):
        gains = [
            gain
            for sizes in measured.times.values()
            for cell in sizes.values()
            if (gain := _gain(cell, name)) is not None
        ]
        if not gains or min(gains) < 1 / WORST:
            continue
        gain = statistics.median(gains)
        if gain > best_gain:
            best, best_gain = name, gain
    if not best:
        return "", f"no algorithm beats MPICH's own choice without being more than {WORST - 1:.0%} slower at some size"
    return best, f"{best}: median gain {best_gain:.2f}x over all sizes, nowhere more than {WORST - 1:.0%} slower"


def _write_measured(measured: Measured, args: argparse.Namespace) -> dict[str, Any]:
    """Print the measured tuning, write its file; what ``--json`` records of it."""
    rules: dict[int, list[tuple[int, str]]] = {}
    print(f"\n# measured: {measured.library}'s own choice (mpi) against its forced algorithms (mpi:ALG)")
    print(f"# {'p':>3} {'from':>8} {'to':>8}  {'force':<28} expected gain (the library's time / the forced one's)")
    selection = mpich_selection() if measured.library == "MPICH" else None
    if measured.library == "MPICH" and selection is not None:
        named = set(MPICH_FILE_ALGORITHMS)
        choices = {
            p: {n: _per_size_choice(cell, named) for n, cell in sizes.items()} for p, sizes in measured.times.items()
        }
        why = (
            f"per size range: a forced algorithm where it is at least {MARGIN - 1:.0%} faster, of those MPICH's "
            f"tuning files name without parameters ({', '.join(MPICH_FILE_ALGORITHMS)})"
        )
    elif measured.library == "MPICH":
        chosen, why = _one_for_all(measured)
        choices = {p: {n: chosen for n in sizes} for p, sizes in measured.times.items()}
    else:
        choices = {p: {n: _per_size_choice(cell) for n, cell in sizes.items()} for p, sizes in measured.times.items()}
        why = f"per size range: a forced algorithm where it is at least {MARGIN - 1:.0%} faster"
    table = []
    for p, sizes in sorted(choices.items()):
        ranges = size_ranges([(n, name, 0.0) for n, name in sorted(sizes.items())])
        rules[p] = [(0 if i == 0 else lo, name) for i, (lo, _, name) in enumerate(ranges)]  # from 0 B on
        for lo, hi, name in ranges:
            cells = [measured.times[p][n] for n in sorted(sizes) if lo <= n <= hi]
            gains = [g for c in cells if name and (g := _gain(c, name)) is not None] or [1.0]
            gain = statistics.median(gains)
            shown = name or "(the library's own choice)"
            print(f"  {p:>3} {format_size(lo):>8} {format_size(hi):>8}  {shown:<28} {gain:.2f}x")
            table.append({"p": p, "from": lo, "to": hi, "force": name, "gain": gain})
    print(f"# {why}")
    if measured.library == "MPICH" and selection is None:
        rules = {0: [(0, chosen)]} if chosen else {}
    path = args.out or os.path.join(_first_directory(args.results), "tuned-mpi.env")
    comments = [
        f"collbench tune {' '.join(args.results)}: {measured.library}, {why}",
        "source this file before mpiexec",
    ]
    written = write_tuning(Tuning(measured.library, rules, selection), path, measured.ids, comments)
    if measured.library == "Intel MPI":
        how = f"launch --algo mpi, then . {written[0]} and launch --algo mpi:tuned={written[0]}; collbench merge both"
    else:
        how = f"--algo mpi,mpi:tuned={written[0]}"
    print(f"# written: {', '.join(written)}; time it against the default: {how}")
    return {"library": measured.library, "table": table, "files": written, "why": why}


def tuned_against_default(df: Any) -> list[dict[str, Any]]:
    """Where runs timed ``mpi:tuned=FILE`` beside ``mpi``: per p and size, how many times faster the tuned
    setting ran, and what the file forced there. Each run and placement gives one ratio of two rows timed side
    by side; the gain is the median of those ratios (one slow moment of the host moves it little). Printed with
    the median gain over the sizes the file forces and the slowest size."""
    tuned = df[df["algo"] == "mpi:tuned"]
    own = df[(df["algo"] == "mpi") & ~df["params"].map(lambda text: bool(json.loads(text or "{}").get("launch")))]
    if tuned.empty or own.empty:
        return []
    case = ["p", "bytes", "placement", "dtype", "op"]
    both = tuned.merge(own, on=["run_start", *case], suffixes=("", "_mpi"))
    side_by_side = not both.empty
    if not side_by_side:  # Intel MPI: the file holds for a whole launch, the library's own choice in another
        medians = own.groupby(case, as_index=False)["time_s"].median().rename(columns={"time_s": "time_s_mpi"})
        both = tuned.groupby(case, as_index=False).agg(time_s=("time_s", "median"), params=("params", "first"))
        both = both.merge(medians, on=case)
        both["run_start"] = ""
    table = []
    for (p, nbytes), rows in both.groupby(["p", "bytes"]):
        params = json.loads(rows["params"].iloc[0] or "{}")
        name = params.get("algorithm", "")
        gain = statistics.median(rows["time_s_mpi"] / rows["time_s"])
        table.append({"p": int(p), "bytes": int(nbytes), "forced": "" if name.startswith("(") else name, "gain": gain})
    if not table:
        return []
    if side_by_side:
        print(f"\n# mpi:tuned against mpi, timed side by side in {both['run_start'].nunique()} run(s)")
        print("# gain: mpi's time / mpi:tuned's, the median over runs and placements")
    else:
        print("\n# mpi:tuned against mpi, timed in separate launches (the setting is read at start-up)")
        print("# gain: the median of mpi's times / the median of mpi:tuned's, then the median over placements")
    print(f"# {'p':>3} {'size':>8}  {'the file forces':<28} gain")
    for entry in table:
        shown = entry["forced"] or "(the library's own choice)"
        print(f"  {entry['p']:>3} {format_size(entry['bytes']):>8}  {shown:<28} {entry['gain']:.2f}x")
    gains = [entry["gain"] for entry in table if entry["forced"]]
    slowest = min(table, key=lambda entry: entry["gain"])
    summary = (
        f"median gain where the file forces an algorithm: {statistics.median(gains):.2f}x"
        if gains
        else "the file forces nothing"
    )
    print(f"# {summary}; slowest size: {format_size(slowest['bytes'])} on {slowest['p']} ranks, {slowest['gain']:.2f}x")
    return table


def _first_directory(results: list[str]) -> str:
    first = results[0]
    return first if os.path.isdir(first) else os.path.dirname(first) or "."
