"""``rhd``: recursive halving-doubling (Rabenseifner's all-reduce).

With p' = 2^floor(lg p) and q = p - p':

1. Fold (only when p is not a power of two): among the first 2q ranks, each even rank sends its
   whole vector to the odd rank above it, which reduces; the even ranks then wait. The other
   p' ranks take new ranks 0..p'-1.
2. Reduce-scatter by recursive halving, lg p' steps: at distance d = p'/2, p'/4, ..., 1 each
   rank exchanges with the partner whose new rank differs in bit d: it sends the half of its
   current range the partner keeps and reduces the half it keeps. Each rank ends owning
   1/p' of the vector, fully reduced.
3. All-gather by recursive doubling, the same exchanges in reverse order, without reduction.
4. Unfold: each odd rank of the first 2q sends the result to its even partner.

Small messages use recursive doubling instead of 2-3 (``variant=doubling``; the default
``auto`` does so below ``doubling_below`` bytes): lg p' exchanges of the whole vector, each
followed by a reduction, half the latency of halving-doubling.

Cost, halving-doubling: 2·lg p'·α + 2(p'-1)/p'·nβ + (p'-1)/p'·nγ, plus 2(α + nβ) + nγ for the
fold when p is not a power of two. Doubling: lg p'·(α + nβ + nγ) plus the same fold.

Source: Thakur, Rabenseifner & Gropp, "Optimization of collective communication operations in
MPICH", IJHPCA 19(1), 2005; Rabenseifner, "Optimization of collective reduction operations",
ICCS 2004.
"""

from __future__ import annotations

from typing import Any

from .base import Unsupported, register
from .engine import Step, run_steps
from .scheduled import KiB, Scheduled

VARIANTS = ("auto", "halving", "doubling")


@register("rhd")
class RecursiveHalvingDoubling(Scheduled):
    """Rabenseifner's reduce-scatter by halving + all-gather by doubling, with the non-power-of-two fold."""

    description = "recursive halving-doubling (Rabenseifner), doubling for small messages"
    options = {"variant": "auto", "doubling_below": 4 * KiB}

    def __init__(self, comm: Any, count: int, dtype: str, op: str, **options: Any):
        super().__init__(comm, count, dtype, op, **options)
        if self.settings["variant"] not in VARIANTS:
            raise Unsupported(
                f"rhd: unknown variant {self.settings['variant']!r}; expected one of {', '.join(VARIANTS)}"
            )
        variant = self.settings["variant"]
        if variant == "auto":
            small = self.count * self.dtype.itemsize < int(self.settings["doubling_below"])
            variant = "doubling" if small else "halving"
        self.variant = variant

    def params(self) -> dict[str, Any]:
        return {"variant": self.variant}

    @classmethod
    def cost(cls, model: Any, p: int, nbytes: int, dtype: str, params: dict[str, Any]) -> float:
        if p <= 1:
            return 0.0
        pow2 = 1 << (p.bit_length() - 1)
        steps = pow2.bit_length() - 1
        fold = 0.0
        if p != pow2:  # send whole vector in, reduce it, send the result back out
            fold = 2 * model.round(("fold", p), nbytes) + model.reduce(nbytes, dtype)
        if params.get("variant") == "doubling":
            return fold + sum(
                model.round(("xor", p, 1 << k), nbytes) + model.reduce(nbytes, dtype) for k in range(steps)
            )
        total = fold
        for k in range(1, steps + 1):  # halving: n/2 at distance p'/2, n/4 at p'/4, ...; doubling back the same
            piece = nbytes / 2**k
            total += 2 * model.round(("xor", p, pow2 >> k), piece) + model.reduce(piece, dtype)
        return total

    def plan(self, sendbuf: Any, recvbuf: Any):
        p, r, n = self.size, self.rank, self.count
        pow2 = 1 << (p.bit_length() - 1)
        q = p - pow2
        steps: list[Step] = []
        scratch = self.scratch(n)
        own = sendbuf  # where this rank's not-yet-reduced data lives
        tag = 0

        if r < 2 * q:
            partner = r + 1 if r % 2 == 0 else r - 1
            if r % 2 == 0:  # fold: hand everything to the odd partner, then wait for the result
                steps.append(Step(sends=[self.send_init(sendbuf, partner, tag)]))
                steps.append(Step(recvs=[self.recv_init(recvbuf, partner, tag + 1)], reduces=[None]))
                return self._executor(steps)
            steps.append(Step(recvs=[self.recv_init(scratch, partner, tag)], reduces=[(sendbuf, scratch, recvbuf)]))
            own = recvbuf
            new = r // 2
        else:
            new = r - q

        def real(v: int) -> int:  # new rank -> rank in the communicator
            return 2 * v + 1 if v < q else v + q

        if self.variant == "doubling":
            distance = 1
            while distance < pow2:
                peer = real(new ^ distance)
                # the whole vector goes out and comes back reduced: the send must finish first
                step = Step(sends=[self.send_init(own, peer, 10 + distance)], sends_first=True)
                step.recvs.append(self.recv_init(scratch, peer, 10 + distance))
                step.reduces.append((own, scratch, recvbuf))
                steps.append(step)
                own = recvbuf
                distance <<= 1
        else:
            lo, hi = 0, n
            ranges = []
            distance = pow2 >> 1
            while distance:
                peer = real(new ^ distance)
                mid = lo + (hi - lo) // 2
                keep, give = ((lo, mid), (mid, hi)) if new & distance == 0 else ((mid, hi), (lo, mid))
                step = Step(sends=[self.send_init(own[give[0] : give[1]], peer, 100 + distance)])
                landing = scratch[: keep[1] - keep[0]]
                step.recvs.append(self.recv_init(landing, peer, 100 + distance))
                step.reduces.append((own[keep[0] : keep[1]], landing, recvbuf[keep[0] : keep[1]]))
                steps.append(step)
                ranges.append((peer, distance, keep, give))
                own = recvbuf
                lo, hi = keep
                distance >>= 1
            for peer, distance, keep, give in reversed(ranges):
                step = Step(sends=[self.send_init(recvbuf[keep[0] : keep[1]], peer, 200 + distance)])
                step.recvs.append(self.recv_init(recvbuf[give[0] : give[1]], peer, 200 + distance))
                step.reduces.append(None)
                steps.append(step)
        if r < 2 * q:  # unfold: the odd rank returns the result to its even partner
            steps.append(Step(sends=[self.send_init(recvbuf, r - 1, 1)]))
        return self._executor(steps)

    def _executor(self, steps: list[Step]):
        reduce, transport = self.reduce, self.transport

        def execute() -> None:
            run_steps(steps, reduce, transport)

        return execute
