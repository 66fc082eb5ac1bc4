"""Test-only algorithms, registered when COLLBENCH_PLUGINS names this module.

``wrong`` is MPI's Allreduce with one element in seven corrupted on the last rank, so the
harness's correctness check must report nwrong > 0 and the run must exit 1.
"""

from __future__ import annotations

from typing import Any

import collectives
from collectives.mpi import MPIAllreduce


@collectives.register("wrong")
class WrongAllreduce(MPIAllreduce):
    description = "test only: MPI Allreduce with every 7th element corrupted on the last rank"

    def run(self, sendbuf: Any, recvbuf: Any) -> None:
        super().run(sendbuf, recvbuf)
        if self.rank == self.size - 1:
            recvbuf[::7] += 1


@collectives.register("deadlock")
class DeadlockAllreduce(MPIAllreduce):
    """Test only: from 4 KiB up, every rank but the last waits for a message nobody sends."""

    description = "test only: never returns from 4 KiB up (a receive without a matching send)"

    def run(self, sendbuf: Any, recvbuf: Any) -> None:
        if self.count * self.dtype.itemsize >= 4096 and self.rank != self.size - 1:
            self.comm.Recv(recvbuf, source=self.size - 1, tag=777)
        MPIAllreduce.bound(self, sendbuf, recvbuf)()

    def bound(self, sendbuf: Any, recvbuf: Any):
        return lambda: self.run(sendbuf, recvbuf)


@collectives.register("sumonly")
class SumOnlyAllreduce(MPIAllreduce):
    """Test only: MPI's Allreduce declared for sum alone, to test the unsupported-op verdict."""

    description = "test only: MPI Allreduce declared for sum only"
    ops = frozenset({"sum"})
