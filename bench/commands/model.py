"""Extrapolate every algorithm with the cost model fitted in a results directory.

    collbench model results/RUN --ranks 2..4096 --sizes 8,64K,1M,64M

Prints the predicted time of each algorithm per p and size, the lower bounds (⌈lg p⌉α for
latency, 2(p-1)/p·nβ for bandwidth), which algorithm wins which size range at each p, and
the crossover sizes between pairs (for example where ring overtakes the double binary tree).
"""

from __future__ import annotations

import argparse
import json

from collectives.costmodel import CostModel

from ..errors import UsageError
from ..modeling import MODELLED, crossover, lower_bounds, powers_of_two, predict_time, size_ranges, winners
from ..results import ResultsError, read_document
from ..sizes import format_size, parse_size

HELP = "extrapolate every algorithm with a fitted cost model: crossovers and bounds"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "results", help="a results directory or file holding a calibration (run --calibrate, or calibrate)"
    )
    parser.add_argument(
        "--ranks", default="2..4096", help="p range LO..HI (powers of two) or a list (default: 2..4096)"
    )
    parser.add_argument(
        "--sizes", default="8,1K,64K,1M,16M,256M", help="sizes to tabulate (default: 8,1K,64K,1M,16M,256M)"
    )
    parser.add_argument("--dtype", default="float32", help="dtype whose reduction rate to use (default: float32)")
    parser.add_argument("--ranks-per-node", type=int, default=8, help="ranks per node assumed for hier (default: 8)")
    parser.add_argument("--json", metavar="FILE", help="also write the predictions as JSON")


def load_model(path: str) -> tuple[CostModel, dict]:
    """The last calibration stored at ``path`` as a CostModel, and its record."""
    try:
        document = read_document(path)
    except ResultsError as exc:
        raise UsageError(str(exc)) from None
    calibrations = document.get("calibrations") or []
    if not calibrations:
        raise UsageError(f"{path} holds no calibration; run 'collbench calibrate' or 'collbench run --calibrate' first")
    record = max(calibrations, key=lambda c: c.get("p", 0))
    try:
        return CostModel.from_dict(record["model"]), record
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"{path}: malformed calibration ({exc})") from None


def parse_rank_range(text: str) -> list[int]:
    try:
        if ".." in text:
            lo, hi = (int(v) for v in text.split(".."))
            if lo < 1 or hi < lo:
                raise ValueError
            return powers_of_two(lo, hi)
        values = [int(v) for v in text.split(",")]
        if min(values) < 1:
            raise ValueError
        return values
    except ValueError:
        raise UsageError(f"--ranks {text!r}: give LO..HI (e.g. 2..4096) or a list (e.g. 2,8,1024)") from None


def main(args: argparse.Namespace) -> int:
    model, record = load_model(args.results)
    ranks = parse_rank_range(args.ranks)
    sizes = [parse_size(s, "--sizes value") for s in args.sizes.split(",") if s.strip()]
    dtype, per_node = args.dtype, args.ranks_per_node
    print(
        f"# model from {args.results} (calibrated at p={record.get('p')}): alpha {model.alpha * 1e6:.2f} us, "
        f"beta {1 / model.beta / 1e9 if model.beta else float('inf'):.2f} GB/s, "
        f"gamma({dtype}) {model.reduce(1e9, dtype):.3f} s/GB; hier assumes {per_node} ranks per node"
    )
    out: dict = {"model": model.to_dict(), "predictions": [], "crossovers": [], "winners": []}
    print(
        f"{'p':>6} {'size':>10} "
        + " ".join(f"{a:>10}" for a in MODELLED)
        + f" {'lat.bound':>10} {'bw.bound':>10}  (us)"
    )
    for p in ranks:
        for nbytes in sizes:
            times = {a: predict_time(model, a, p, nbytes, dtype, per_node) for a in MODELLED}
            bounds = lower_bounds(model, p, nbytes)
            cells = " ".join(f"{t * 1e6:10.1f}" if t is not None else f"{'-':>10}" for t in times.values())
            print(
                f"{p:>6} {format_size(nbytes):>10} {cells} {bounds['latency'] * 1e6:10.1f} {bounds['bandwidth'] * 1e6:10.1f}"
            )
            out["predictions"].append({"p": p, "bytes": nbytes, "seconds": times, "bounds": bounds})
    print("\n# best algorithm by size range (8 B .. 16 GiB)")
    grid = powers_of_two(8, 1 << 34)
    for p in ranks:
        ranges = size_ranges(winners(model, p, grid, dtype, list(MODELLED), per_node))
        text = ", ".join(f"{a} {format_size(lo)}-{format_size(hi)}" for lo, hi, a in ranges)
        print(f"p={p}: {text}")
        out["winners"].append({"p": p, "ranges": [{"from": lo, "to": hi, "algo": a} for lo, hi, a in ranges]})
    print("\n# crossovers: from this size the second algorithm is faster than the first")
    for first, second in (("tree", "ring"), ("rhd", "ring"), ("ring", "hier"), ("tree", "rhd")):
        cells = []
        for p in ranks:
            size = crossover(model, first, second, p, dtype, per_node)
            cells.append(f"p={p}: {format_size(size) if size else 'never'}")
            out["crossovers"].append({"first": first, "second": second, "p": p, "bytes": size})
        print(f"{second} over {first}: " + ", ".join(cells))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(out, handle, indent=1)
    return 0
