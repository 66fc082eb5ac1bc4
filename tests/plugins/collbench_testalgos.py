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
