"""Measuring α, β and γ on the machine at hand, inside a run or alone.

- α, β: every rank exchanges with a partner (rank XOR 1; the last of an odd count sits out)
  using ``Sendrecv``, both directions at once, as the ring and
  halving-doubling use a link; the time of an exchange is the slowest rank's median. Messages
  walk a 64 MiB window, so large ones arrive cold from memory as chunks of a large vector do.
- γ per dtype: ``ufunc(a, b, out=c)``, the kernel the algorithms reduce with, walking the same window.
- Cache steps: a benchmark loop runs an all-reduce on the same buffers again and again, so a vector
  that fits in the caches (shared by the node's ranks) stays there and moves and reduces several
  times faster per byte than a 64 MiB one. For vectors of 64 KiB .. 64 MiB, half-vector exchanges
  and reductions on the same buffers, on every rank at once, give per-byte factors on the cold β
  and γ.
- On a GPU (``--device gpu``) everything is measured where the rows are: α and β by exchanges of
  device buffers over the transport the hand-written algorithms use (nccl-p2p, staged or
  device-direct MPI), each ended by a stream synchronisation; γ by the device's own kernel. No
  cache steps (they model the CPU's caches). With staging, the device-to-host and host-to-device
  copy rates of its pinned buffers are recorded beside the model, the part of β they explain.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from time import perf_counter
from typing import Any

import numpy as np

import collectives
from collectives.costmodel import CacheStep, CostModel, Segment

from .buffers import PAGE_ALIGNED, BufferSpec, host_full
from .fit import fit_gamma, fit_segments, quality
from .modeling import (
    MODELLED,
    Machine,
    Model,
    cost_at,
    layout,
    load_calibration,
    lower_bounds,
    powers_of_two,
    predict_time,
)

EXCHANGE_SIZES = [8 << (2 * i) for i in range(12)]  # 8 B .. 32 MiB, x4
REDUCE_SIZES = [1 << k for k in range(16, 26, 2)]  # 64 KiB .. 16 MiB
CACHE_WINDOWS = [64 << (10 + k) for k in range(11)]  # vectors of 64 KiB .. 64 MiB


def _filled(count: int, dtype: Any, value: int, buffers: BufferSpec, xp: Any = np) -> Any:
    """A buffer placed as the sweep's, written so its pages are real (an untouched one would read from the
    kernel's zero page)."""
    if xp is np:
        return host_full(count, dtype, value, buffers)
    return xp.full(count, value, dtype=dtype)


def _partner(comm: Any) -> int:
    """Rank XOR 1; the last of an odd count has none and sits the exchanges out (itself)."""
    rank, p = comm.Get_rank(), comm.Get_size()
    return rank ^ 1 if (rank ^ 1) < p else rank


def node_partners(node_of: list[int]) -> dict[str, list[int]]:
    """Partners for a job that spans nodes (``node_of``: each rank's node), each rank's own where it sits out:

    - ``intra``: the node-mate whose index in the node differs in the last bit, every node at once;
    - ``inter``: the first ranks of the first two nodes, alone on the network (one flow each way);
    - ``link``: the rank with the same index on the partner node (node index XOR 1), every rank at once,
      so each node's link carries as many flows as the node has ranks paired.
    """
    names = list(dict.fromkeys(node_of))
    members = {name: [r for r, n in enumerate(node_of) if n == name] for name in names}
    intra, inter, link = list(range(len(node_of))), list(range(len(node_of))), list(range(len(node_of)))
    for index, name in enumerate(names):
        ranks = members[name]
        for i, rank in enumerate(ranks):
            if i ^ 1 < len(ranks):
                intra[rank] = ranks[i ^ 1]
            if index ^ 1 < len(names) and i < len(members[names[index ^ 1]]):
                link[rank] = members[names[index ^ 1]][i]
    first, second = members[names[0]][0], members[names[1]][0]
    inter[first], inter[second] = second, first
    return {"intra": intra, "inter": inter, "link": link}


def _repeat(nbytes: int, budget: float = 0.05, most: int = 200) -> int:
    return max(3, min(most, int(budget / max(nbytes / 2e9, 2e-6))))


_EMPTY = np.empty(0, np.uint8)
WINDOW = 64 << 20  # messages walk through up to this much memory, as an algorithm's chunks walk a vector


def _offsets(nbytes: int, repeats: int) -> list[int]:
    """Start offsets of ``repeats`` pieces of ``nbytes`` walking through the window, round and round."""
    slots = max(1, max(nbytes, WINDOW) // nbytes)
    return [(i % slots) * nbytes for i in range(repeats)]


Exchange = Callable[[int, int], tuple[Callable[[], None], Callable[[], None]]]  # (offset, bytes) -> (run, release)


def _host_exchange(comm: Any, room: int, buffers: BufferSpec, partner: int, one_way: bool = False) -> Exchange:
    """Sendrecv with ``partner`` on host buffers placed as ``buffers`` says; ``one_way``: the lower rank sends,
    the higher receives."""
    rank = comm.Get_rank()
    send, recv = _filled(room, np.uint8, 1, buffers), _filled(room, np.uint8, 2, buffers)

    def prepare(offset: int, nbytes: int) -> tuple[Callable[[], None], Callable[[], None]]:
        a, b = send[offset : offset + nbytes], recv[offset : offset + nbytes]

        def run() -> None:
            if partner == rank:
                return
            if not one_way:
                comm.Sendrecv(a, partner, 5, b, partner, 5)
            elif rank < partner:
                comm.Send(a, partner, 5)
            else:
                comm.Recv(b, partner, 5)

        return run, _nothing

    return prepare


def _device_exchange(comm: Any, room: int, device: Any, partner: int, one_way: bool = False) -> Exchange:
    """A send and a receive with ``partner`` on device buffers through the device's transport, the stream
    synchronised at the end (requests made and freed outside the clock); ``one_way``: the lower rank only
    sends, the higher only receives."""
    rank = comm.Get_rank()
    spec, transport = device.transport, device.transport.make(comm)
    send, recv = device.empty(room, np.uint8), device.empty(room, np.uint8)
    send.fill(1)
    recv.fill(2)
    spec.sync()

    def prepare(offset: int, nbytes: int) -> tuple[Callable[[], None], Callable[[], None]]:
        a, b = send[offset : offset + nbytes], recv[offset : offset + nbytes]
        requests = [] if partner == rank else [transport.recv_init(b, partner, 5), transport.send_init(a, partner, 5)]
        if requests and one_way:
            requests = requests[1:] if rank < partner else requests[:1]

        def run() -> None:
            transport.startall(requests)
            transport.waitall(requests)
            spec.sync()

        def release() -> None:
            for request in requests:
                request.Free()

        return run, release

    return prepare


def exchange_times(
    comm: Any,
    sizes: list[int],
    buffers: BufferSpec = PAGE_ALIGNED,
    device: Any = None,
    partner: int | None = None,
    one_way: bool = False,
) -> list[float]:
    """Median exchange time per size, the slowest rank's, the messages walking a 64 MiB window (the first two
    untimed): cold data, as the chunks of a large vector. On a GPU ``device``, through its transport. Each rank
    exchanges with ``partner`` (default rank XOR 1; its own rank: it sits out), or with ``one_way`` sends to it
    (the lower rank of a pair) or receives from it. Before each, a barrier lines the pairs up and an empty
    exchange lines each pair up: ranks leave a barrier at different times, up to milliseconds apart across
    nodes, which would otherwise be timed as the exchange's latency."""
    from mpi4py import MPI

    room = max(max(sizes), WINDOW)
    gpu = device is not None and device.name == "gpu"
    partner = _partner(comm) if partner is None else partner
    if gpu:
        prepare = _device_exchange(comm, room, device, partner, one_way)
    else:
        prepare = _host_exchange(comm, room, buffers, partner, one_way)
    results = []
    for nbytes in sizes:
        timed, warm = comm.bcast(_repeat(nbytes), root=0), 2
        samples = np.empty(timed)
        for i, offset in enumerate(_offsets(nbytes, warm + timed)):
            run, release = prepare(offset, nbytes)
            comm.Barrier()
            if partner != comm.Get_rank():
                comm.Sendrecv(_EMPTY, partner, 6, _EMPTY, partner, 6)
            start = perf_counter()
            run()
            if i >= warm:
                samples[i - warm] = perf_counter() - start
            release()
        results.append(comm.allreduce(float(np.median(samples)), op=MPI.MAX))
    return results


def _nothing() -> None:
    return None


def staging_rates(device: Any, sizes: list[int]) -> dict[str, Any]:
    """Median seconds of a device-to-host and a host-to-device copy (pinned host memory) per size."""
    spec = device.transport
    whole = device.empty(max(sizes), np.uint8)
    whole.fill(1)
    host = spec.host_buffer(whole)
    to_host, to_device = [], []
    for nbytes in sizes:
        view, landing = whole[:nbytes], host[:nbytes]
        down, up = [], []
        for _ in range(5):
            start = perf_counter()
            spec.to_host(view, landing)
            down.append(perf_counter() - start)
            start = perf_counter()
            spec.to_device(landing, view)
            up.append(perf_counter() - start)
        to_host.append(float(np.median(down)))
        to_device.append(float(np.median(up)))
    return {"sizes": sizes, "to_host_seconds": to_host, "to_device_seconds": to_device}


def reduce_times(
    dtype: str,
    sizes: list[int],
    buffers: BufferSpec = PAGE_ALIGNED,
    xp: Any = np,
    sync: Any = None,
) -> list[float]:
    """Median seconds of the local sum kernel over ``sizes`` bytes of ``dtype``, walking a 64 MiB window
    of each operand (one untimed pass first): cold data. On a device, ``sync`` ends each kernel."""
    add = collectives.OPS["sum"].ufunc(xp)
    itemsize = collectives.DTYPES[dtype].itemsize
    room = max(max(sizes), WINDOW) // itemsize
    a, b, c = (_filled(room, dtype, v, buffers, xp) for v in (1, 2, 3))
    times = []
    for nbytes in sizes:
        count = nbytes // itemsize
        warm = max(1, WINDOW // nbytes)
        repeats = max(3, min(50, int(0.03 / max(nbytes / 5e9, 1e-6))))
        samples = []
        for i, offset in enumerate(_offsets(nbytes, warm + repeats)):
            lo = offset // itemsize
            start = perf_counter()
            add(a[lo : lo + count], b[lo : lo + count], out=c[lo : lo + count])
            if sync is not None:
                sync()
            if i >= warm:
                samples.append(perf_counter() - start)
        times.append(float(np.median(samples)))
    return times


def hot_exchange_times(
    comm: Any, sizes: list[int], buffers: BufferSpec = PAGE_ALIGNED, partner: int | None = None
) -> list[float]:
    """Median Sendrecv exchange time per size, the slowest rank's, on the same buffers back to back, as a
    benchmark loop reuses an all-reduce's buffers: whatever fits in the caches stays there."""
    from mpi4py import MPI

    rank = comm.Get_rank()
    partner = _partner(comm) if partner is None else partner
    # one pair of buffers at the largest size, viewed from the start for each, as the harness allocates
    send, recv = _filled(max(sizes), np.uint8, 1, buffers), _filled(max(sizes), np.uint8, 2, buffers)
    results = []
    for nbytes in sizes:
        repeats = comm.bcast(_repeat(nbytes, budget=0.02, most=100), root=0)
        samples = np.empty(repeats)
        a, b = send[:nbytes], recv[:nbytes]
        comm.Barrier()
        for i in range(-3, repeats):
            start = perf_counter()
            if partner != rank:
                comm.Sendrecv(a, partner, 5, b, partner, 5)
            if i >= 0:
                samples[i] = perf_counter() - start
        results.append(comm.allreduce(float(np.median(samples)), op=MPI.MAX))
    return results


def hot_reduce_times(dtype: str, sizes: list[int], buffers: BufferSpec = PAGE_ALIGNED) -> list[float]:
    """Median seconds of the local sum kernel over ``sizes`` bytes of ``dtype``, the same operands each time."""
    add = collectives.OPS["sum"].ufunc(np)
    itemsize = collectives.DTYPES[dtype].itemsize
    whole_a, whole_b = (_filled(max(sizes) // itemsize, dtype, v, buffers) for v in (1, 2))
    times = []
    for nbytes in sizes:
        a, b = whole_a[: nbytes // itemsize], whole_b[: nbytes // itemsize]
        samples = []
        for i in range(-2, max(3, min(50, int(0.01 / max(nbytes / 5e9, 1e-6))))):
            start = perf_counter()
            add(a, b, out=a)
            if i >= 0:
                samples.append(perf_counter() - start)
        times.append(float(np.median(samples)))
    return times


def cache_steps(
    comm: Any, model: CostModel, dtype: str, buffers: BufferSpec = PAGE_ALIGNED, partner: int | None = None
) -> tuple[list[CacheStep], dict[str, list[float]]]:
    """β and γ factors per vector size W: half-vector exchanges and reductions on the same buffers again and
    again (hot where W fits in the caches), per byte over the cold model's (α taken off). Factors only grow
    with W (a noisy dip is flattened) and stay within (0, 1]."""
    pieces = [window // 2 for window in CACHE_WINDOWS]
    exchange = hot_exchange_times(comm, pieces, buffers, partner)
    reduce = [comm.allreduce(t, op=_max()) for t in hot_reduce_times(dtype, pieces, buffers)]
    steps, beta_floor, gamma_floor = [], 1.0, 1.0
    for window, piece, hot, kernel in reversed(list(zip(CACHE_WINDOWS, pieces, exchange, reduce, strict=True))):
        segment = model.segment(piece)
        beta = max(hot - segment.alpha, 1e-12) / max(segment.beta * piece, 1e-12)
        gamma = kernel / max(model.reduce(piece, dtype), 1e-12)
        beta_floor, gamma_floor = min(beta_floor, max(beta, 0.01)), min(gamma_floor, max(gamma, 0.01))
        steps.append(CacheStep(window, beta_floor, gamma_floor))
    return steps[::-1], {"windows": CACHE_WINDOWS, "exchange": exchange, "reduce": reduce}


def calibrate(
    comm: Any,
    dtypes: list[str],
    buffers: BufferSpec = PAGE_ALIGNED,
    device: Any = None,
    node_of: list[int] | None = None,
) -> dict[str, Any]:
    """Measure and fit, on buffers placed as ``buffers`` says (on ``device``'s GPU when it has one); the
    record stored in results (model, fit quality and the raw points). When ``node_of`` (each rank's node)
    names more than one node, the model has two levels: ``model`` is the intra-node one, and ``inter``
    holds one flow alone between nodes and a node's link shared by all its flows."""
    gpu = device is not None and device.name == "gpu"
    spans = node_of is not None and len(set(node_of)) > 1
    partners = node_partners(node_of) if spans else None
    rank = comm.Get_rank()
    intra_partner = partners["intra"][rank] if partners else None
    if partners and all(partner == r for r, partner in enumerate(partners["intra"])):
        intra_partner = partners["inter"][rank]  # one rank per node: no node-mates, no intra-node level to measure
    exchange = exchange_times(comm, EXCHANGE_SIZES, buffers, device, intra_partner)
    segments = fit_segments(EXCHANGE_SIZES, exchange)
    gammas, reductions = {}, {}
    for dtype in dtypes:
        if gpu:
            times = reduce_times(dtype, REDUCE_SIZES, xp=device.xp, sync=device.transport.sync)
        else:
            times = reduce_times(dtype, REDUCE_SIZES, buffers)
        times = [comm.allreduce(t, op=_max()) for t in times]
        reductions[dtype] = times
        gammas[dtype] = fit_gamma(REDUCE_SIZES, times)
    cold = CostModel(segments, gammas)
    where: dict[str, Any] = {"device": "cpu", "transport": "direct"}
    if gpu:
        model, probe = cold, {}
        where = {"device": "gpu", "transport": device.transport.kind}
        if device.transport.kind == "staged":
            where["staging"] = staging_rates(device, REDUCE_SIZES)
    else:
        steps, probe = cache_steps(comm, cold, dtypes[0], buffers, intra_partner)
        model = replace(cold, cache=tuple(steps))
    record = {
        **where,
        "model": model.to_dict(),
        "fit": quality(model, EXCHANGE_SIZES, exchange),
        "exchange": {"sizes": EXCHANGE_SIZES, "seconds": exchange},
        "reduce": {"sizes": REDUCE_SIZES, "seconds": reductions},
        "cache_probe": probe,
        "p": comm.Get_size(),
        "align": buffers.name,
        "huge_pages": buffers.huge_pages,
    }
    if partners:
        record["inter"] = _inter_level(comm, partners, node_of, gammas, buffers, device)
        record["node_of"] = list(node_of)
    record["extrapolation"] = extrapolation(load_calibration(record), dtypes[0])
    return record


LINK_SIZES = [1 << 20, 4 << 20, 16 << 20]
STEADY_FROM = 2 << 20  # messages from here on show a network's sustained rate


def steady_segment(sizes: list[int], times: list[float]) -> Segment:
    """α and β of a network for an algorithm's steady traffic: α from the smallest messages (up to 2 KiB), β
    from the largest (2 MiB and up). Not a least-squares line: a lone message after an idle moment rides a
    shaper's or switch's burst and TCP's window from before, so mid-sized ones (here up to about 512 KiB)
    go faster than the link's rate, which the back-to-back chunks of an all-reduce never see."""
    alpha = float(np.median([t for n, t in zip(sizes, times, strict=True) if n <= 2048]))
    large = [(n, t) for n, t in zip(sizes, times, strict=True) if n >= STEADY_FROM]
    beta = float(np.median([max(t - alpha, 0.0) / n for n, t in large]))
    return Segment(math.inf, alpha, beta)


def _inter_level(
    comm: Any,
    partners: dict[str, list[int]],
    node_of: list[int],
    gammas: dict[str, float],
    buffers: BufferSpec,
    device: Any,
) -> dict[str, Any]:
    """One flow alone between two nodes (α and β of the network: a ring's hop), then every rank of a node at
    once sending to a rank of another (β of a node's link, shared by its flows: seconds per byte of all of them
    together). Both one way: a pair exchanging both ways on one connection may run slower than either way alone
    (UCX over TCP here: about half), and each direction of a link is its own."""
    rank = comm.Get_rank()
    exchange = exchange_times(comm, EXCHANGE_SIZES, buffers, device, partners["inter"][rank], one_way=True)
    inter = CostModel((steady_segment(EXCHANGE_SIZES, exchange),), gammas)
    shared = exchange_times(comm, LINK_SIZES, buffers, device, partners["link"][rank], one_way=True)
    flows = min(
        sum(1 for r, partner in enumerate(partners["link"]) if node_of[r] == node and partner != r)
        for node in set(node_of)
        if any(partner != r for r, partner in enumerate(partners["link"]) if node_of[r] == node)
    )
    per_byte = [max(t - inter.segment(n).alpha, 0.0) / (n * flows) for n, t in zip(LINK_SIZES, shared, strict=True)]
    return {
        "model": inter.to_dict(),
        "link_beta": float(np.median(per_byte)),
        "flows": flows,
        "fit": quality(inter, EXCHANGE_SIZES, exchange),
        "exchange": {"sizes": EXCHANGE_SIZES, "seconds": exchange},
        "link": {"sizes": LINK_SIZES, "seconds": shared},
    }


def _max() -> Any:
    from mpi4py import MPI

    return MPI.MAX


def predict(model: Model, row: dict[str, Any]) -> float | None:
    """The model's time for a result row (None for algorithms without a cost function)."""
    try:
        collectives.get(row["algo"])
    except collectives.CollectiveError:
        return None
    params = dict(row.get("params") or {})
    if row.get("mesh"):
        params.setdefault("mesh", row["mesh"])
    return cost_at(row["algo"], model, int(row["p"]), int(row["bytes"]), row["dtype"], params)


def describe_calibration(record: dict[str, Any]) -> str:
    """One line: α, β (as GB/s), the breakpoint, γ per dtype and the fit quality."""
    model = CostModel.from_dict(record["model"])
    parts = []
    for segment in model.segments:
        upto = "" if segment.upto == float("inf") else f" up to {int(segment.upto)} B"
        rate = f"{1 / segment.beta / 1e9:.2f} GB/s" if segment.beta > 0 else "inf GB/s"
        parts.append(f"alpha {segment.alpha * 1e6:.2f} us, beta {rate}{upto}")
    gammas = ", ".join(f"{d} {1 / g / 1e9:.1f} GB/s" for d, g in model.gamma.items() if g > 0)
    if model.cache:
        beta, gamma = model.cache_factors(1 << 20)
        gammas += f"; in cache (1 MiB vectors) beta x{beta:.2f}, gamma x{gamma:.2f}"
    fit = record["fit"]
    inter = record.get("inter")
    if inter:
        segment = CostModel.from_dict(inter["model"]).segments[-1]
        rate = f"{1 / segment.beta / 1e9:.3f} GB/s" if segment.beta > 0 else "inf GB/s"
        link = f"{1 / inter['link_beta'] / 1e9:.3f} GB/s" if inter["link_beta"] > 0 else "not shared"
        gammas += (
            f"; between nodes alpha {segment.alpha * 1e6:.1f} us, beta {rate} (one flow), a node's link {link} "
            f"({inter['flows']} flows), R2 {inter['fit']['r2']:.3f}"
        )
    where = ""
    if record.get("device") == "gpu":
        where = f" on the GPU over {record['transport']}"
        staging = record.get("staging")
        if staging:
            nbytes, down, up = staging["sizes"][-1], staging["to_host_seconds"][-1], staging["to_device_seconds"][-1]
            gammas += f"; staging copies at {nbytes >> 20} MiB: to host {nbytes / down / 1e9:.1f} GB/s, to device {nbytes / up / 1e9:.1f} GB/s"
    return (
        f"calibration p={record['p']}{where}: {'; '.join(parts)}; reduce {gammas}; "
        f"R2 {fit['r2']:.3f}, median residual {fit['median_rel_residual'] * 100:.0f}%"
    )


def extrapolation(machine: Machine, dtype: str, ranks_per_node: int = 8) -> dict[str, Any]:
    """Predicted seconds of every modelled algorithm for p = 2..4096 at a few sizes (p/8 nodes of 8 ranks,
    packed, on a two-level machine), stored with the calibration so reports can draw the curves from the file
    alone."""
    ranks = powers_of_two(2, 4096)
    sizes = [1 << 10, 1 << 20, 64 << 20]
    models = [machine.placed(layout(max(1, p // ranks_per_node), min(p, ranks_per_node))) for p in ranks]
    curves = {
        str(nbytes): {
            algo: [predict_time(m, algo, p, nbytes, dtype, ranks_per_node) for m, p in zip(models, ranks, strict=True)]
            for algo in MODELLED
        }
        for nbytes in sizes
    }
    bounds = {
        str(nbytes): [max(lower_bounds(m, p, nbytes).values()) for m, p in zip(models, ranks, strict=True)]
        for nbytes in sizes
    }
    return {"ranks": ranks, "dtype": dtype, "ranks_per_node": ranks_per_node, "seconds": curves, "bound": bounds}
