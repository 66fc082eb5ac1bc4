"""Who still answers: every rank's watchdog beats to rank 0 and to a deputy over TCP, outside MPI, and back.

When a collective hangs, every rank waits, and MPI says nothing about why. The watchdog
(:mod:`bench.watchdog`) needs to say which ranks and hosts stopped answering, so each rank's
watchdog thread sends a short line every ``interval`` seconds, on a TCP connection of its own,
to two listeners: rank 0 and a deputy (the first rank on another host than rank 0's, else rank
1), which also beat to each other, and back to every rank on the same connections. A line says what
the rank is in and how many of its calls completed. A listener then sees three kinds of peer:

- one that beats: alive, whatever MPI is doing;
- one that went silent: a cut link, a dead node or a stopped process (SIGSTOP);
- one whose connection closed without a ``bye``: its process ended (killed, or crashed).

The deputy is there for the run whose rank 0 is the one lost: it can still name the cause and
close the journal. Every other rank hears the two listeners, so a rank that waits outside the
ranks being measured (``--ranks``) knows the sweep goes on while rank 0 beats. Sends never block (a beat that does not fit is dropped) and the thread reads
with ``select`` under a timeout, so a dead peer costs nothing but its silence. The traffic is
about 100 bytes per rank per beat. Addresses come from each host's name as the host resolves it
(or, where that is a loopback address in a job across hosts, from the host's default route);
where that fails or a connection cannot be made in ``CONNECT_WAIT`` seconds, the rank is simply
not heard, it says so at the start, and the cause says "never heard".
"""

from __future__ import annotations

import errno
import socket
import time
from dataclasses import dataclass
from typing import Any

CONNECT_WAIT = 2.0  # seconds a rank tries to reach a listener before going without
SILENT_BEATS = 3  # a peer not heard for this many beats is silent


@dataclass
class Peer:
    """What a listener knows of one rank."""

    rank: int
    host: str
    heard: float | None = None  # monotonic time of its last line
    state: str = ""  # the call it said it was in
    done: int = 0  # how many calls of that loop it had completed
    ended: float | None = None  # when its connection closed without a bye
    said_bye: bool = False


def deputy_of(hosts: list[str]) -> int | None:
    """The rank that listens beside rank 0: the first on another host, else rank 1; None alone."""
    for rank, host in enumerate(hosts):
        if host != hosts[0]:
            return rank
    return 1 if len(hosts) > 1 else None


class Heartbeat:
    """One rank's side: its beats out, and (on rank 0 and the deputy) everyone's beats in."""

    def __init__(self, rank: int, hosts: list[str], interval: float) -> None:
        self.rank = rank
        self.hosts = hosts
        self.interval = interval
        self.deputy = deputy_of(hosts)
        self.listens = rank in (0, self.deputy)
        heard = range(len(hosts)) if self.listens else [r for r in (0, self.deputy) if r is not None]
        self.peers = {r: Peer(r, hosts[r]) for r in heard if r != rank}  # everyone, or the two listeners
        self.unreached: list[str] = []  # the listeners this rank could not connect to, and why, one line each
        self._listener: socket.socket | None = None
        self._links: dict[socket.socket, tuple[int | None, bytes]] = {}  # connection -> (its peer, unread bytes)
        self._next_beat = 0.0
        self.started = time.monotonic()

    @classmethod
    def connect(cls, comm: Any, hosts: list[str], interval: float) -> Heartbeat:
        """Open the listeners and the connections (collective: every rank of ``comm`` calls it)."""
        beat = cls(comm.Get_rank(), hosts, interval)
        address = beat._listen() if beat.listens else None
        addresses = comm.allgather(address)
        for listener in (0, beat.deputy):
            if listener is not None and listener != beat.rank:
                beat._reach(listener, addresses[listener])
        comm.Barrier()  # every connection is queued at its listener before anyone beats
        return beat

    def _listen(self) -> tuple[str, int] | None:
        try:
            own = socket.gethostbyname(socket.gethostname())
            if own.startswith("127.") and len(set(self.hosts)) > 1:  # Debian's "127.0.1.1 <host>", across hosts
                own = _routed_address() or own
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.bind(("", 0))
            listener.listen(4096)
            listener.setblocking(False)
        except OSError:
            return None
        self._listener = listener
        return own, listener.getsockname()[1]

    def _reach(self, rank: int, address: tuple[str, int] | None) -> None:
        if address is None:
            self.unreached.append(f"rank {rank} could not listen")
            return
        try:
            connection = socket.create_connection(address, timeout=CONNECT_WAIT)
            connection.setblocking(False)
            connection.send(f"hello {self.rank}\n".encode())
        except OSError as exc:
            self.unreached.append(f"rank {rank} at {address[0]}:{address[1]}: {exc}")
            return
        self._links[connection] = (rank, b"")

    def beat(self, state: str, done: int) -> None:
        """Say what this rank is in, if a beat is due; never blocks (a beat that does not fit is dropped)."""
        now = time.monotonic()
        if now < self._next_beat:
            return
        self._next_beat = now + self.interval
        self._send(f"{self.rank} {done} {state}\n".encode("utf-8", "replace"))

    def bye(self) -> None:
        """The run ended normally: say so, and close every connection."""
        self._send(f"{self.rank} bye\n".encode())
        for sock in [*self._links, *[s for s in [self._listener] if s is not None]]:
            sock.close()
        self._links, self._listener = {}, None

    def _send(self, line: bytes) -> None:
        for connection in self._links:  # out to the listeners; on a listener, back to every rank too
            try:
                connection.send(line, socket.MSG_DONTWAIT)
            except OSError:
                pass  # full (the peer is not reading), or gone: its listener sees that from its side

    def sockets(self) -> list[socket.socket]:
        """What the watchdog thread waits on: the listener and every connection."""
        return [s for s in [self._listener] if s is not None] + list(self._links)

    def handle(self, readable: list[Any]) -> list[Peer]:
        """Read what ``select`` found ready; the peers whose process ended (closed without a bye) now."""
        ended = []
        for sock in readable:
            if sock is self._listener:
                self._accept()
            elif sock in self._links:
                peer = self._read(sock)
                if peer is not None:
                    ended.append(peer)
        return ended

    def _accept(self) -> None:
        while self._listener is not None:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                return
            connection.setblocking(False)
            self._links[connection] = (None, b"")

    def _read(self, sock: socket.socket) -> Peer | None:
        rank, pending = self._links[sock]
        try:
            data = sock.recv(65536)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK):
                return None
            data = b""
        now = time.monotonic()
        if not data:  # closed: after a bye, the run's end; without one, the process ended
            del self._links[sock]
            sock.close()
            peer = self.peers.get(rank) if rank is not None else None
            if peer is not None and not peer.said_bye and peer.ended is None:
                peer.ended = now
                return peer
            return None
        *lines, rest = (pending + data).split(b"\n")
        for line in lines:
            rank = self._line(line.decode("utf-8", "replace"), rank, now)
        self._links[sock] = (rank, rest[-4096:])
        return None

    def _line(self, line: str, rank: int | None, now: float) -> int | None:
        words = line.split(" ", 2)
        if words[0] == "hello" and len(words) == 2 and words[1].isdigit():  # its first word, sent as it connects
            peer = self.peers.get(int(words[1]))
            if peer is not None:
                peer.heard = now
            return int(words[1])
        if not words[0].isdigit() or int(words[0]) not in self.peers:
            return rank
        peer = self.peers[int(words[0])]
        peer.heard = now
        if words[1:2] == ["bye"]:
            peer.said_bye = True
        elif len(words) == 3 and words[1].isdigit():
            peer.done, peer.state = int(words[1]), words[2]
        return peer.rank

    def heard(self, rank: int) -> float | None:
        """When ``rank`` was last heard (monotonic), if this rank hears it at all."""
        peer = self.peers.get(rank)
        return None if peer is None else peer.heard

    def silent(self, now: float | None = None) -> list[Peer]:
        """Peers not heard for :data:`SILENT_BEATS` beats, and peers whose process ended, by rank."""
        now = time.monotonic() if now is None else now
        quiet = SILENT_BEATS * self.interval
        found = []
        for peer in self.peers.values():
            if peer.said_bye:
                continue
            last = peer.heard if peer.heard is not None else self.started
            if peer.ended is not None or now - last > quiet:
                found.append(peer)
        return sorted(found, key=lambda p: p.rank)


def _routed_address() -> str | None:
    """This host's address on its default route (a UDP socket's connect picks it and sends nothing)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: routed like any outside address, never reached
            return probe.getsockname()[0]
    except OSError:
        return None


def rank_spans(ranks: list[int]) -> str:
    """``0-3,6`` for [0, 1, 2, 3, 6] (in sorted order)."""
    ordered = sorted(ranks)
    spans: list[str] = []
    start = prev = ordered[0]
    for rank in ordered[1:] + [None]:
        if rank is not None and rank == prev + 1:
            prev = rank
            continue
        spans.append(str(start) if start == prev else f"{start}-{prev}")
        if rank is not None:
            start = prev = rank
    return ",".join(spans)
