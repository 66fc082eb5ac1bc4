"""Executors for the hand-written algorithms: schedules built once, run many times.

A schedule is a list of :class:`Step` s. Each step holds persistent send and receive requests
(built by a transport on views of the caller's buffers) and, for each receive, the reduction
to apply when it lands, as three prebuilt views ``(own, received, out)``. Nothing is allocated
and nothing is planned while a schedule runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

Reduction = tuple[Any, Any, Any] | None


@dataclass
class Step:
    """One communication round: sends, receives and the reduction that follows each receive."""

    sends: list[Any] = field(default_factory=list)
    recvs: list[Any] = field(default_factory=list)
    reduces: list[Reduction] = field(default_factory=list)
    post_early: bool = True  # in a chain: may this step's receives be posted while the previous step runs?
    before: Callable[[], None] | None = None  # local work (a copy) before the step's sends start
    sends_first: bool = False  # wait for the sends before reducing (the reduction overwrites what they send)


def run_steps(steps: list[Step], reduce: Callable[..., Any], transport: Any) -> None:
    """Run ``steps`` one after another; within a step, reduce each chunk as soon as it arrives."""
    for step in steps:
        if step.before is not None:
            step.before()
        transport.startall(step.recvs)
        transport.startall(step.sends)
        if step.sends_first:
            transport.waitall(step.sends)
        for request, red in zip(step.recvs, step.reduces, strict=True):
            request.Wait()
            if red is not None:
                reduce(red[0], red[1], out=red[2])
        transport.waitall(step.sends)


def run_chain(steps: list[Step], reduce: Callable[..., Any], transport: Any) -> None:
    """Run a pipelined chain: chunk k of step i+1 is sent as soon as chunk k of step i is done.

    Requires that step i+1 sends, chunk for chunk, what step i received (as in a ring, where each
    step forwards the block it just reduced or received). The next step's receives are posted
    while the current step runs unless that would write over a buffer still being sent.

    Over a deferred transport (nccl-p2p), whose requests run in groups that complete as a whole,
    the steps run one after another instead: a group holding the next step's receives would wait
    for the sends that only its own completion lets the neighbours start.
    """
    if getattr(transport, "deferred", False):
        run_steps(steps, reduce, transport)
        return
    for waiting in _chain(steps, reduce, transport):
        if isinstance(waiting, list):
            transport.waitall(waiting)
        else:
            waiting.Wait()


def chain_progress(steps: list[Step], reduce: Callable[..., Any], transport: Any) -> Iterator[None]:
    """:func:`run_chain` as a generator that yields wherever it would wait, so that several chains progress
    together under :func:`run_together`. Needs requests that can be tested (MPI's own, not a deferred
    transport's)."""
    for waiting in _chain(steps, reduce, transport):
        for request in waiting if isinstance(waiting, list) else [waiting]:
            while not request.Test():
                yield


def _chain(steps: list[Step], reduce: Callable[..., Any], transport: Any) -> Iterator[Any]:
    """The chain's schedule, yielding what must complete before it goes on: a receive, or a step's sends (a
    list); the caller waits for it, or tests it while doing other work."""
    if not steps:
        return
    transport.startall(steps[0].recvs)
    transport.startall(steps[0].sends)
    last = len(steps) - 1
    for i, step in enumerate(steps):
        following = steps[i + 1] if i < last else None
        if following is not None and following.post_early:
            transport.startall(following.recvs)
        forward = following.sends if following is not None else None
        for k, request in enumerate(step.recvs):
            yield request
            red = step.reduces[k]
            if red is not None:
                reduce(red[0], red[1], out=red[2])
            if forward is not None:
                forward[k].Start()
        yield step.sends
        if following is not None and not following.post_early:
            transport.startall(following.recvs)


def run_together(jobs: list[Iterator[None]]) -> None:
    """Advance every job (a generator that yields while it waits) in turn until all are done."""
    active = list(jobs)
    while active:
        active = [job for job in active if next(job, _DONE) is not _DONE]


_DONE = object()
