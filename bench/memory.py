"""Will the buffers fit? Checked per node, before anything is allocated.

Per rank a sweep holds the send and receive buffers at the largest size, the expected result,
the int64 temporaries that build the check inputs, and the algorithm's scratch space (at most
about two buffers more: the parameter server's landing buffers, the tree's). The ranks of a
node together must fit in the node's available memory (``MemAvailable``); for GPU buffers, the
ranks that share one GPU must fit in its free memory, less a reserve per rank.
"""

from __future__ import annotations

from typing import Any

from .errors import UsageError
from .sizes import format_size

BUFFERS_PER_RANK = 5  # send, receive, expected, and two buffers of algorithm scratch
# Left free on a GPU per rank: what memGetInfo does not yet show when the buffers are checked
# (NCCL's buffers, a few MiB per channel and peer, made at the first NCCL call; CuPy's pool slack).
GPU_RESERVE_PER_RANK = 512 << 20


def bytes_per_rank(max_bytes: int, itemsizes: list[int]) -> int:
    """Host bytes one rank needs for a sweep up to ``max_bytes`` with dtypes of these item sizes."""
    temporaries = max(8 * (max_bytes // size) for size in itemsizes)  # int64 check inputs
    return BUFFERS_PER_RANK * max_bytes + temporaries


def available_host_memory(meminfo: str = "/proc/meminfo") -> int | None:
    """MemAvailable in bytes, or None where the system does not say."""
    try:
        with open(meminfo, encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_fits(comm: Any, need: int, available: int | None, where: str, share: Any = "") -> None:
    """UsageError on every rank when the ranks sharing a node's memory together need more than it has.

    ``need`` is this rank's requirement; ``available`` what this rank sees free where its buffers
    go. The ranks of a node with the same ``share`` (a GPU's UUID or bus id, never its index, which
    CUDA_VISIBLE_DEVICES renumbers per rank; nothing for host memory) draw on the same memory, and
    the sum of their needs is compared with it.
    """
    from mpi4py import MPI

    node = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.Get_rank())
    shares = sorted(set(node.allgather(share)))
    sharing = node.Split(shares.index(share), node.Get_rank())
    total = sharing.allreduce(need, op=MPI.SUM)
    ranks = sharing.Get_size()
    sharing.Free()
    node.Free()
    verdict = None
    if available is not None and total > available:
        verdict = (
            f"the buffers need about {format_size(total)} on {where} ({ranks} rank(s) x {format_size(need)}) "
            f"but {format_size(available)} is available; lower -e/--maxbytes or run fewer ranks per node"
        )
    verdicts = [v for v in comm.allgather(verdict) if v]
    if verdicts:
        raise UsageError(verdicts[0])
