"""``ps``: parameter server: every rank sends its vector to one server rank, which reduces and
sends the result back to everyone.

1. Each worker sends its whole vector to the server (rank ``root``, default 0).
2. The server receives the p-1 vectors, two landing buffers in flight, reducing each into the
   result as it arrives.
3. The server sends the result to every worker.

The centralised architecture that all-reduce algorithms replaced: the server's link carries
(p-1)·n bytes in each direction, so its time grows linearly with p.
Cost: 2(p-1)·(α + nβ) + (p-1)·nγ at the server; on two levels its node-mates' messages at the
intra-node price and the others' at the inter-node one.

Source: Li et al., "Scaling distributed machine learning with the parameter server", OSDI 2014;
the comparison baseline in Sergeev & Del Balso, "Horovod", arXiv:1802.05799, 2018.
"""

from __future__ import annotations

from typing import Any

from .base import Unsupported, register
from .costmodel import node_split
from .scheduled import Scheduled


@register("ps")
class ParameterServer(Scheduled):
    """Parameter-server all-reduce: gather to one rank, reduce there, send back."""

    description = "parameter server: gather to one rank, reduce, send back"
    options = {"root": 0}

    def __init__(self, comm: Any, count: int, dtype: str, op: str, **options: Any):
        super().__init__(comm, count, dtype, op, **options)
        root = self.settings["root"]
        if not isinstance(root, int) or not 0 <= root < self.size:
            raise Unsupported(f"ps: root must be a rank between 0 and {self.size - 1}, got {root!r}")

    @classmethod
    def cost(cls, model: Any, p: int, nbytes: int, dtype: str, params: dict[str, Any]) -> float:
        """The server receives, reduces and sends back p-1 whole vectors, one after another."""
        root = int(params.get("root", 0))
        inside, _ = node_split(model, p, p)
        mates = set(next(node for node in inside if root in node)) - {root}
        total = 0.0
        # one message in and one out per worker: the server's node-mates at one price, the others at another
        for workers in (sorted(mates), [r for r in range(p) if r != root and r not in mates]):
            if workers:
                r = workers[0]
                each = model.round(("pair", r, root), nbytes) + model.round(("pair", root, r), nbytes)
                total += len(workers) * (each + model.reduce(nbytes, dtype))
        return total

    def plan(self, sendbuf: Any, recvbuf: Any):
        root, p, transport, reduce = self.settings["root"], self.size, self.transport, self.reduce
        if self.rank != root:
            up = self.send_init(sendbuf, root, 0)
            down = self.recv_init(recvbuf, root, 1)

            def worker() -> None:
                up.Start()
                up.Wait()
                down.Start()
                down.Wait()

            return worker

        workers = [r for r in range(p) if r != root]
        landings = [self.scratch(self.count), self.scratch(self.count)]
        recvs = [self.recv_init(landings[i % 2], w, 0) for i, w in enumerate(workers)]
        sends = [self.send_init(recvbuf, w, 1) for w in workers]
        in_place = sendbuf is recvbuf

        def server() -> None:
            transport.startall(recvs[:2])
            own = sendbuf
            for i, request in enumerate(recvs):
                request.Wait()
                reduce(own, landings[i % 2], out=recvbuf)
                own = recvbuf
                if i + 2 < len(recvs):
                    recvs[i + 2].Start()
            if not recvs and not in_place:
                recvbuf[...] = sendbuf
            transport.startall(sends)
            transport.waitall(sends)

        return server
