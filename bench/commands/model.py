"""Extrapolate every algorithm with the cost model fitted in a results directory.

    collbench model results/RUN --ranks 2..4096 --sizes 8,64K,1M,64M
    collbench model results/RUN --nodes 2..512 --ranks-per-node 8 --rank-order packed,spread

Prints the predicted time of each algorithm per p and size, the lower bounds (⌈lg p⌉α for
latency, 2(p-1)/p·nβ for bandwidth), which algorithm wins which size range at each p, and
the crossover sizes between pairs (for example where ring overtakes the double binary tree).

A calibration that spanned nodes (physical or logical) has two levels: the model is then laid out
on N nodes x L ranks (``--nodes``, ``--ranks-per-node``) in each ``--rank-order``, every
algorithm charged on the links its schedule crosses, and a last table says per level where the
time goes (latency and bandwidth inside a node and between nodes, and the reductions).
"""

from __future__ import annotations

import argparse
import json

from collectives.costmodel import parts

from ..errors import UsageError
from ..modeling import (
    MODELLED,
    Machine,
    crossover,
    layout,
    load_calibration,
    lower_bounds,
    powers_of_two,
    predict_time,
    size_ranges,
    winners,
)
from ..results import ResultsError, read_document
from ..sizes import format_size, parse_size
from ..topology import parse_orders

HELP = "extrapolate every algorithm with a fitted cost model: crossovers and bounds"
TERMS = ("intra latency", "intra bandwidth", "inter latency", "inter bandwidth", "reduce")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "results", help="a results directory or file holding a calibration (run --calibrate, or calibrate)"
    )
    parser.add_argument(
        "--ranks", default="2..4096", help="p range LO..HI (powers of two) or a list (default: 2..4096)"
    )
    parser.add_argument(
        "--nodes",
        help="node counts N, LO..HI or a list: p = N x --ranks-per-node on the calibration's two levels "
        "(default for a two-level calibration: 1..512)",
    )
    parser.add_argument(
        "--sizes", default="8,1K,64K,1M,16M,256M", help="sizes to tabulate (default: 8,1K,64K,1M,16M,256M)"
    )
    parser.add_argument("--dtype", default="float32", help="dtype whose reduction rate to use (default: float32)")
    parser.add_argument("--ranks-per-node", type=int, default=8, help="ranks per node L (default: 8)")
    parser.add_argument(
        "--rank-order",
        default="packed",
        help="rank orders on two levels: packed, spread, random:SEED (default: packed)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the predictions as JSON")


def load_model(path: str) -> tuple[Machine, dict]:
    """The last calibration stored at ``path`` (the one on most ranks), and its record."""
    try:
        document = read_document(path)
    except ResultsError as exc:
        raise UsageError(str(exc)) from None
    calibrations = document.get("calibrations") or []
    if not calibrations:
        raise UsageError(f"{path} holds no calibration; run 'collbench calibrate' or 'collbench run --calibrate' first")
    record = max(calibrations, key=lambda c: (c.get("p", 0), bool(c.get("inter"))))
    try:
        return load_calibration(record), record
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"{path}: malformed calibration ({exc})") from None


def parse_rank_range(text: str, flag: str = "--ranks") -> list[int]:
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
        raise UsageError(f"{flag} {text!r}: give LO..HI (e.g. 2..4096) or a list (e.g. 2,8,1024)") from None


def _cases(args: argparse.Namespace, machine: Machine) -> list[tuple[str, int, object]]:
    """(label, p, placed model) for every case to tabulate."""
    per_node = args.ranks_per_node
    if per_node < 1:
        raise UsageError(f"--ranks-per-node {per_node} must be at least 1")
    if machine.inter is None:
        if args.nodes:
            raise UsageError(
                "--nodes needs a calibration across nodes (run --calibrate on a job that spans nodes, "
                "or with --ranks-per-node); this one has one level: use --ranks"
            )
        return [(f"p={p}", p, machine.intra) for p in parse_rank_range(args.ranks)]
    cases = []
    for order in parse_orders(args.rank_order):
        for nodes in parse_rank_range(args.nodes or "1..512", "--nodes"):
            label = f"{nodes}x{per_node}" + ("" if order == "packed" else f" {order}")
            cases.append((label, nodes * per_node, machine.placed(layout(nodes, per_node, order))))
    return cases


def _describe(machine: Machine, record: dict, args: argparse.Namespace) -> str:
    model, dtype = machine.intra, args.dtype
    text = (
        f"# model from {args.results} (calibrated at p={record.get('p')}): alpha {model.alpha * 1e6:.2f} us, "
        f"beta {1 / model.beta / 1e9 if model.beta else float('inf'):.2f} GB/s, "
        f"gamma({dtype}) {model.reduce(1e9, dtype):.3f} s/GB"
    )
    if machine.inter is None:
        return text + f"; hier assumes {args.ranks_per_node} ranks per node"
    inter = machine.inter
    link = f"{1 / machine.link_beta / 1e9:.3f} GB/s" if machine.link_beta else "not shared"
    return (
        text.replace("alpha", "inside a node: alpha", 1)
        + f"\n# between nodes: alpha {inter.alpha * 1e6:.2f} us, beta {1 / inter.beta / 1e9 if inter.beta else float('inf'):.3f} GB/s "
        f"one flow, a node's link {link}; N nodes x {args.ranks_per_node} ranks"
    )


def main(args: argparse.Namespace) -> int:
    machine, record = load_model(args.results)
    sizes = [parse_size(s, "--sizes value") for s in args.sizes.split(",") if s.strip()]
    cases = _cases(args, machine)
    dtype, per_node = args.dtype, args.ranks_per_node
    print(_describe(machine, record, args))
    out: dict = {"model": machine.intra.to_dict(), "predictions": [], "crossovers": [], "winners": []}
    if machine.inter is not None:
        out["inter"] = {"model": machine.inter.to_dict(), "link_beta": machine.link_beta}
    width = max(6, max(len(label) for label, _, _ in cases))
    print(
        f"{'case':>{width}} {'size':>10} "
        + " ".join(f"{a:>10}" for a in MODELLED)
        + f" {'lat.bound':>10} {'bw.bound':>10}  (us)"
    )
    for label, p, model in cases:
        for nbytes in sizes:
            times = {a: predict_time(model, a, p, nbytes, dtype, per_node) for a in MODELLED}
            bounds = lower_bounds(model, p, nbytes)
            cells = " ".join(f"{t * 1e6:10.1f}" if t is not None else f"{'-':>10}" for t in times.values())
            print(
                f"{label:>{width}} {format_size(nbytes):>10} {cells} "
                f"{bounds['latency'] * 1e6:10.1f} {bounds['bandwidth'] * 1e6:10.1f}"
            )
            out["predictions"].append(
                {
                    "case": label,
                    "p": p,
                    "bytes": nbytes,
                    "seconds": {a: None if t is None else float(t) for a, t in times.items()},
                    "parts": {a: parts(t) for a, t in times.items() if t is not None},
                    "bounds": bounds,
                }
            )
    print("\n# best algorithm by size range (8 B .. 16 GiB)")
    grid = powers_of_two(8, 1 << 34)
    for label, p, model in cases:
        ranges = size_ranges(winners(model, p, grid, dtype, list(MODELLED), per_node))
        text = ", ".join(f"{a} {format_size(lo)}-{format_size(hi)}" for lo, hi, a in ranges)
        print(f"{label}: {text}")
        out["winners"].append(
            {"case": label, "p": p, "ranges": [{"from": lo, "to": hi, "algo": a} for lo, hi, a in ranges]}
        )
    print("\n# crossovers: from this size the second algorithm is faster than the first")
    for first, second in (("tree", "ring"), ("rhd", "ring"), ("ring", "hier"), ("tree", "rhd")):
        cells = []
        for label, p, model in cases:
            size = crossover(model, first, second, p, dtype, per_node)
            cells.append(f"{label}: {format_size(size) if size else 'never'}")
            out["crossovers"].append({"first": first, "second": second, "case": label, "p": p, "bytes": size})
        print(f"{second} over {first}: " + ", ".join(cells))
    if machine.inter is not None:
        _where_time_goes(cases[-1], sizes, dtype, per_node)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(out, handle, indent=1)
    return 0


def _where_time_goes(case: tuple[str, int, object], sizes: list[int], dtype: str, per_node: int) -> None:
    """Per algorithm and size, the share of each level's latency and bandwidth and of the reductions."""
    label, p, model = case
    print(f"\n# where the time goes at {label} ({p} ranks): % of each algorithm's time")
    print(f"{'size':>10} {'algo':>6} {'total us':>10} " + " ".join(f"{t:>15}" for t in TERMS))
    for nbytes in sizes:
        for algo in MODELLED:
            seconds = predict_time(model, algo, p, nbytes, dtype, per_node)
            if seconds is None:
                continue
            share = parts(seconds)
            cells = " ".join(f"{100 * share.get(t, 0.0) / seconds:14.0f}%" if seconds else f"{'-':>15}" for t in TERMS)
            print(f"{format_size(nbytes):>10} {algo:>6} {seconds * 1e6:10.1f} {cells}")
