"""Measuring α, β and γ on the machine at hand, inside a run or alone.

- α, β: every rank exchanges with a partner (rank XOR 1; the last of an odd count pairs with
  rank 0 in a second round) using ``Sendrecv``, both directions at once, as the ring and
  halving-doubling use a link; the time of an exchange is the slowest rank's median.
- γ per dtype: ``ufunc(a, b, out=c)``, the kernel the algorithms reduce with, over sizes that
  span the caches.
- On a GPU with staging: the device-to-host copy rate of the staging path.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any

import numpy as np

import collectives
from collectives.costmodel import CostModel

from .fit import fit_gamma, fit_segments, quality

EXCHANGE_SIZES = [8 << (2 * i) for i in range(12)]  # 8 B .. 32 MiB, x4
REDUCE_SIZES = [1 << k for k in range(16, 26, 2)]  # 64 KiB .. 16 MiB


def _repeat(nbytes: int, budget: float = 0.05, most: int = 200) -> int:
    return max(3, min(most, int(budget / max(nbytes / 2e9, 2e-6))))


WINDOW = 64 << 20  # messages walk through up to this much memory, as an algorithm's chunks walk a vector


def _offsets(nbytes: int, repeats: int) -> list[int]:
    """Start offsets that walk through a window of min(64 x nbytes, 64 MiB): small messages stay in
    cache as they do in a latency benchmark, large ones arrive cold as chunks of a large vector do."""
    window = max(nbytes, min(64 * nbytes, WINDOW))
    slots = max(1, window // nbytes)
    return [(i % slots) * nbytes for i in range(repeats)]


def exchange_times(comm: Any, sizes: list[int]) -> list[float]:
    """Median Sendrecv exchange time per size, the slowest rank's."""
    from mpi4py import MPI

    rank, p = comm.Get_rank(), comm.Get_size()
    partner = rank ^ 1 if (rank ^ 1) < p else (0 if p > 1 else rank)
    room = max(max(sizes), min(64 * max(sizes), WINDOW))
    # real pages on both sides: an untouched np.zeros buffer reads from the kernel's zero page
    send, recv = np.full(room, 1, np.uint8), np.full(room, 2, np.uint8)
    results = []
    for nbytes in sizes:
        repeats = comm.bcast(_repeat(nbytes), root=0)
        samples = np.empty(repeats)
        for i, offset in enumerate(_offsets(nbytes, repeats + 2)):
            a, b = send[offset : offset + nbytes], recv[offset : offset + nbytes]
            comm.Barrier()
            start = perf_counter()
            if partner != rank:
                comm.Sendrecv(a, partner, 5, b, partner, 5)
            if i >= 2:
                samples[i - 2] = perf_counter() - start
        results.append(comm.allreduce(float(np.median(samples)), op=MPI.MAX))
    return results


def reduce_times(dtype: str, sizes: list[int], xp: Any = np) -> list[float]:
    """Median seconds of the local sum kernel over ``sizes`` bytes of ``dtype``, walking a window as above."""
    add = collectives.OPS["sum"].ufunc(xp)
    itemsize = collectives.DTYPES[dtype].itemsize
    room = max(max(sizes), min(64 * max(sizes), WINDOW)) // itemsize
    a, b, c = (xp.full(room, v, dtype=dtype) for v in (1, 2, 3))
    times = []
    for nbytes in sizes:
        count = nbytes // itemsize
        repeats = max(3, min(50, int(0.03 / max(nbytes / 5e9, 1e-6))))
        samples = []
        for offset in _offsets(nbytes, repeats):
            lo = offset // itemsize
            start = perf_counter()
            add(a[lo : lo + count], b[lo : lo + count], out=c[lo : lo + count])
            samples.append(perf_counter() - start)
        times.append(float(np.median(samples)))
    return times


def calibrate(comm: Any, dtypes: list[str]) -> dict[str, Any]:
    """Measure and fit; the record stored in results (model, fit quality and the raw points)."""
    exchange = exchange_times(comm, EXCHANGE_SIZES)
    segments = fit_segments(EXCHANGE_SIZES, exchange)
    gammas, reductions = {}, {}
    for dtype in dtypes:
        times = reduce_times(dtype, REDUCE_SIZES)
        times = [comm.allreduce(t, op=_max()) for t in times]
        reductions[dtype] = times
        gammas[dtype] = fit_gamma(REDUCE_SIZES, times)
    model = CostModel(segments, gammas)
    return {
        "model": model.to_dict(),
        "extrapolation": extrapolation(model, dtypes[0]),
        "fit": quality(model, EXCHANGE_SIZES, exchange),
        "exchange": {"sizes": EXCHANGE_SIZES, "seconds": exchange},
        "reduce": {"sizes": REDUCE_SIZES, "seconds": reductions},
        "p": comm.Get_size(),
    }


def _max() -> Any:
    from mpi4py import MPI

    return MPI.MAX


def predict(model: CostModel, row: dict[str, Any]) -> float | None:
    """The model's time for a result row (None for algorithms without a cost function)."""
    try:
        cls = collectives.get(row["algo"])
    except collectives.CollectiveError:
        return None
    params = dict(row.get("params") or {})
    if row.get("mesh"):
        params.setdefault("mesh", row["mesh"])
    return cls.cost(model, int(row["p"]), int(row["bytes"]), row["dtype"], params)


def describe_calibration(record: dict[str, Any]) -> str:
    """One line: α, β (as GB/s), the breakpoint, γ per dtype and the fit quality."""
    model = CostModel.from_dict(record["model"])
    parts = []
    for segment in model.segments:
        upto = "" if segment.upto == float("inf") else f" up to {int(segment.upto)} B"
        rate = f"{1 / segment.beta / 1e9:.2f} GB/s" if segment.beta > 0 else "inf GB/s"
        parts.append(f"alpha {segment.alpha * 1e6:.2f} us, beta {rate}{upto}")
    gammas = ", ".join(f"{d} {1 / g / 1e9:.1f} GB/s" for d, g in model.gamma.items() if g > 0)
    fit = record["fit"]
    return (
        f"calibration p={record['p']}: {'; '.join(parts)}; reduce {gammas}; "
        f"R2 {fit['r2']:.3f}, median residual {fit['median_rel_residual'] * 100:.0f}%"
    )


def extrapolation(model: CostModel, dtype: str, ranks_per_node: int = 8) -> dict[str, Any]:
    """Predicted seconds of every modelled algorithm for p = 2..4096 at a few sizes, stored with the
    calibration so reports can draw the curves from the file alone."""
    from .modeling import MODELLED, lower_bounds, powers_of_two, predict_time

    ranks = powers_of_two(2, 4096)
    sizes = [1 << 10, 1 << 20, 64 << 20]
    curves = {
        str(nbytes): {
            algo: [predict_time(model, algo, p, nbytes, dtype, ranks_per_node) for p in ranks] for algo in MODELLED
        }
        for nbytes in sizes
    }
    bounds = {str(nbytes): [max(lower_bounds(model, p, nbytes).values()) for p in ranks] for nbytes in sizes}
    return {"ranks": ranks, "dtype": dtype, "ranks_per_node": ranks_per_node, "seconds": curves, "bound": bounds}
