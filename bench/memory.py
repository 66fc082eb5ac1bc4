"""Will the buffers fit? Checked per node, before anything is allocated.

Per rank a sweep holds the send and receive buffers at the largest size, the expected result,
the int64 temporaries that build the check inputs, and the algorithm's scratch space (at most
about two buffers more: the parameter server's landing buffers, the tree's). The ranks of a
node together must fit in the node's available memory (``MemAvailable``), or for GPU buffers
in the device's free memory.
"""

from __future__ import annotations

from typing import Any

from .errors import UsageError
from .sizes import format_size

BUFFERS_PER_RANK = 5  # send, receive, expected, and two buffers of algorithm scratch


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


def check_fits(comm: Any, need: int, available: int | None, where: str) -> None:
    """UsageError on every rank when the ranks of any node together need more than it has.

    ``need`` is this rank's requirement; ``available`` what this rank sees free on its node
    (or device); the sum over the node's ranks is compared with it.
    """
    from mpi4py import MPI

    node = comm.Split_type(MPI.COMM_TYPE_SHARED, key=comm.Get_rank())
    total = node.allreduce(need, op=MPI.SUM)
    ranks = node.Get_size()
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
