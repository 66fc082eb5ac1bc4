"""Heartbeats (bench/heartbeat.py): a listener tells a rank that beats, one gone silent and one that ended."""

from __future__ import annotations

import select
import time

from bench import heartbeat
from bench.heartbeat import Heartbeat, deputy_of, rank_spans


def _pump(listener: Heartbeat, seconds: float) -> list[heartbeat.Peer]:
    """Let ``listener`` read for ``seconds``; the peers it saw end."""
    ended, deadline = [], time.monotonic() + seconds
    while time.monotonic() < deadline:
        readable, _, _ = select.select(listener.sockets(), [], [], 0.02)
        ended += listener.handle(readable)
    return ended


def _job(size: int, interval: float) -> list[Heartbeat]:
    """Rank 0 listening and ranks 1.. beating to it, on this host (the deputy's connections left out)."""
    hosts = ["n1"] + ["n2"] * (size - 1)
    beats = [Heartbeat(r, hosts, interval) for r in range(size)]
    address = beats[0]._listen()
    assert address is not None
    for beat in beats[1:]:
        beat._reach(0, address)
    return beats


def test_the_deputy_is_on_another_host_when_there_is_one():
    assert deputy_of(["a", "a", "b", "b"]) == 2
    assert deputy_of(["a", "a", "a"]) == 1
    assert deputy_of(["a"]) is None
    assert rank_spans([3, 0, 1, 2, 6]) == "0-3,6"


def test_a_listener_tells_beating_silent_and_ended_ranks_apart():
    root, beating, stopped, killed, done = _job(5, 0.05)
    for _ in range(3):
        for beat, state in ((beating, "ring at 8 B"), (stopped, "mpi at 64 B"), (killed, "tree at 8 B")):
            beat._next_beat = 0.0
            beat.beat(state, 2)
        done._next_beat = 0.0
        done.beat("between steps", 0)
        _pump(root, 0.05)
    done.bye()  # a normal end: neither silent nor ended
    for sock in list(killed._links):  # a killed process: the kernel closes its connection, no bye
        sock.close()
    ended = _pump(root, 0.1)
    assert [p.rank for p in ended] == [3]
    deadline = time.monotonic() + heartbeat.SILENT_BEATS * root.interval + 0.2
    while time.monotonic() < deadline:  # rank 1 keeps beating; rank 2 went quiet
        beating._next_beat = 0.0
        beating.beat("ring at 8 B", 3)
        _pump(root, 0.02)
    lost = root.silent()
    assert [(p.rank, p.ended is not None) for p in lost] == [(2, False), (3, True)]
    assert lost[0].state == "mpi at 64 B" and lost[0].host == "n2" and lost[0].done == 2
    assert root.peers[1].done == 3 and root.peers[4].said_bye


def test_every_rank_hears_rank_0_on_its_own_connection():
    """Rank 0 beats back on the connections in: a rank waiting outside the sweep knows it goes on."""
    root, other = _job(2, 0.05)
    assert other.heard(0) is None and other.heard(1) is None
    _pump(root, 0.05)  # rank 0 takes the connection in, and its hello: the rank is heard before its first beat
    assert root.heard(1) is not None and root.peers[1].state == ""
    root._next_beat = 0.0
    root.beat("ring at 8 B, world ranks 0-1", 4)
    _pump(other, 0.1)
    assert other.heard(0) is not None and other.peers[0].state == "ring at 8 B, world ranks 0-1"
    root.bye()
    assert [p.rank for p in _pump(other, 0.1)] == []  # a bye, then the close: the end of the run, not a loss
    assert other.peers[0].said_bye and other.silent() == []


def test_beats_never_block_when_no_one_reads():
    root, talker = _job(2, 0.0)
    started = time.monotonic()
    for _ in range(20000):  # far more than the socket buffers hold: the rest are dropped
        talker._next_beat = 0.0
        talker.beat("x" * 200, 1)
    assert time.monotonic() - started < 5
    assert talker.unreached == []
    root.bye()
    talker.bye()


def test_a_listener_out_of_reach_is_noted_not_waited_for():
    beat = Heartbeat(1, ["n1", "n2"], 1.0)
    started = time.monotonic()
    beat._reach(0, ("127.0.0.1", 1))  # nothing listens there
    beat._reach(0, None)  # the listener could not open
    assert time.monotonic() - started < heartbeat.CONNECT_WAIT + 1
    assert beat.unreached[0].startswith("rank 0 at 127.0.0.1:1: ") and beat.unreached[1] == "rank 0 could not listen"


def test_a_host_name_on_loopback_is_not_what_other_hosts_are_told(monkeypatch):
    """Debian's /etc/hosts names the host 127.0.1.1: across hosts, the listener gives its default route's address."""
    monkeypatch.setattr(heartbeat.socket, "gethostbyname", lambda name: "127.0.1.1")
    monkeypatch.setattr(heartbeat, "_routed_address", lambda: "10.9.9.9")
    across, alone = Heartbeat(0, ["n1", "n2"], 1.0), Heartbeat(0, ["n1", "n1"], 1.0)
    assert across._listen()[0] == "10.9.9.9" and alone._listen()[0] == "127.0.1.1"
    across.bye()
    alone.bye()
