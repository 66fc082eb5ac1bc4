"""The best measured algorithm per p and size range, and settings that steer MPI or NCCL to match.

    collbench tune results/RUN [--json tuning.json]

The table comes from the measurements (median time, out of place where measured). The
suggestions map each winner to the closest native algorithm: MPICH's
MPIR_CVAR_ALLREDUCE_INTRA_ALGORITHM, an Open MPI coll_tuned dynamic rules file, NCCL_ALGO.
They are suggestions: the native implementations differ from collbench's.
"""

from __future__ import annotations

import argparse
import json

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


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", help="results directories or files")
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
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(out, handle, indent=1)
    return 0
