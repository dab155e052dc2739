"""The node's UDP side: the key service, resolving static addresses, LAN beacons.

Three sockets, each with one job:

- the **service** socket, on the listen address and port, answers key queries
  (rate-limited per source address and overall) and sends beacons;
- the **client** socket, on the wildcard address and an ephemeral port, sends
  our own key queries, so a node listening on 127.0.0.1 (a one-shot sync) can
  still ask a laptop across the network;
- the **beacon** socket (``--discover``) hears LAN beacons.

Nothing heard over UDP is trusted: announcements only name a key to try, and
beacon addresses stay in :class:`HintCache` (bounded, in memory) until a CURVE
handshake proves them. Errors sending a query are kept per address and shown,
never swallowed.
"""

from __future__ import annotations

import contextlib
import errno
import socket
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from mesh import discovery
from mesh.conduct import TokenBucket
from mesh.peers import host_port

#: Datagrams read per socket per loop turn.
READ_BATCH = 64
#: Answers per second to one source address (burst 4), and overall (burst 100).
PER_SOURCE_RATE, PER_SOURCE_BURST = 2.0, 4.0
TOTAL_RATE, TOTAL_BURST = 50.0, 100.0
#: Source addresses remembered by the rate limiter.
MAX_SOURCES = 1024
#: Beacon addresses kept before a handshake confirms them.
MAX_HINTS = 64


@dataclass
class Heard:
    """An announcement and where it came from."""

    ann: discovery.Announcement
    addr: str  # tcp://HOST:PORT the announcement points at
    via_query: bool  # an answer to one of our own key queries


@dataclass
class Resolving:
    """A static address whose key we are asking for."""

    next_try: float = 0.0
    backoff: float = 0.5
    attempts: int = 0
    error: str = ""  # the last error sending the query, in plain words
    target: tuple[str, int] | None = None  # the resolved (host, port) we ask


class SourceLimiter:
    """Token buckets per source address (the least recently seen are forgotten) and overall."""

    def __init__(self) -> None:
        self.sources: OrderedDict[str, TokenBucket] = OrderedDict()
        self.total = TokenBucket(TOTAL_RATE, TOTAL_BURST)
        self.dropped = 0

    def allow(self, source: str, now: float) -> bool:
        bucket = self.sources.pop(source, None) or TokenBucket(PER_SOURCE_RATE, PER_SOURCE_BURST)
        self.sources[source] = bucket
        while len(self.sources) > MAX_SOURCES:
            self.sources.popitem(last=False)
        if bucket.take(now) and self.total.take(now):
            return True
        self.dropped += 1
        return False


class HintCache:
    """Addresses heard in beacons, by key: bounded, in memory, least recent first out."""

    def __init__(self, limit: int = MAX_HINTS) -> None:
        self.limit = limit
        self.items: OrderedDict[bytes, tuple[str, str]] = OrderedDict()

    def put(self, key: bytes, addr: str, name: str) -> None:
        self.items.pop(key, None)
        self.items[key] = (addr, name)
        while len(self.items) > self.limit:
            self.items.popitem(last=False)

    def get(self, key: bytes) -> tuple[str, str] | None:
        return self.items.get(key)

    def __len__(self) -> int:
        return len(self.items)


def describe(e: OSError) -> str:
    return e.strerror or errno.errorcode.get(e.errno or 0, str(e))


class KeyService:
    def __init__(self, events: Callable[[str], None]) -> None:
        self.events = events
        self.service: socket.socket | None = None
        self.beacon: socket.socket | None = None
        self.clients: dict[int, socket.socket] = {}  # address family -> client socket
        self.limiter = SourceLimiter()
        self.hints = HintCache()
        self.unresolved: dict[str, Resolving] = {}
        self.beacon_errors: dict[str, str] = {}
        self.answered = 0

    # --- sockets -----------------------------------------------------------------

    def open(self, host: str, port: int, *, discover_port: int | None) -> None:
        try:
            # broadcast allowed: beacons leave from this socket (to 255.255.255.255 by default)
            self.service = discovery.udp_socket(host, port, broadcast=True)
        except OSError as e:
            self.events(f"key service not available on UDP {port}: {describe(e)}")
        if discover_port is not None:
            try:
                self.beacon = discovery.udp_socket("", discover_port, broadcast=True, reuse=True)
            except OSError as e:
                self.events(
                    f"LAN discovery off: cannot listen on UDP {discover_port}: {describe(e)}"
                )

    def sockets(self) -> list[socket.socket]:
        return [s for s in (self.service, self.beacon, *self.clients.values()) if s is not None]

    def close(self) -> None:
        for s in self.sockets():
            s.close()
        self.service = self.beacon = None
        self.clients.clear()

    def _client(self, family: int) -> socket.socket:
        sock = self.clients.get(family)
        if sock is None:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
            self.clients[family] = sock
        return sock

    # --- resolving static addresses -----------------------------------------------------

    def resolve(self, addr: str) -> None:
        self.unresolved.setdefault(addr, Resolving())

    def tick(self, now: float) -> list[socket.socket]:
        """Send the key queries that are due; returns client sockets opened meanwhile."""
        opened: list[socket.socket] = []
        for addr, state in list(self.unresolved.items()):
            if now < state.next_try:
                continue
            state.attempts += 1
            state.next_try = now + state.backoff
            state.backoff = min(state.backoff * 2, 8.0)
            host, port = host_port(addr)
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
                family, *_, target = infos[0]
                known = family in self.clients
                sock = self._client(family)
                if not known:
                    opened.append(sock)
                state.target = (str(target[0]), int(target[1]))
                sock.sendto(discovery.query(), state.target)
                state.error = ""
            except (OSError, IndexError) as e:
                text = describe(e) if isinstance(e, OSError) else "no address"
                if text != state.error:
                    self.events(f"cannot ask {addr} for its key over UDP: {text}")
                state.error = text
        return opened

    # --- reading ------------------------------------------------------------------------

    def read(
        self, sock: socket.socket, now: float, answer: Callable[[], bytes | None]
    ) -> list[Heard]:
        """Read up to READ_BATCH datagrams: answer queries, return announcements heard."""
        heard: list[Heard] = []
        for _ in range(READ_BATCH):
            try:
                data, source = sock.recvfrom(2048)
            except OSError:
                break
            host, port = source[0], source[1]
            if discovery.is_query(data):
                if sock is self.service:
                    self._answer(sock, host, port, now, answer)
                continue
            ann = discovery.decode_announcement(data)
            if ann is None:
                continue
            if sock in self.clients.values():
                # only answers from an address we asked (the name the operator typed)
                asked = self._asked(host, port)
                if asked is not None:
                    heard.append(Heard(ann, asked, True))
                continue
            addr = f"tcp://[{host}]:{ann.port}" if ":" in host else f"tcp://{host}:{ann.port}"
            heard.append(Heard(ann, addr, False))
        return heard

    def _asked(self, host: str, port: int) -> str | None:
        for addr, state in self.unresolved.items():
            if state.target == (host, port):
                return addr
        return None

    def _answer(
        self,
        sock: socket.socket,
        host: str,
        port: int,
        now: float,
        answer: Callable[[], bytes | None],
    ) -> None:
        if not self.limiter.allow(host, now):
            return
        data = answer()
        if data is None:
            return
        with contextlib.suppress(OSError):
            sock.sendto(data, (host, port))
            self.answered += 1

    def send_beacon(self, data: bytes, targets: list[str], default_port: int) -> None:
        if self.service is None:
            return
        for target in targets:
            host, _, beacon_port = target.partition(":")
            try:
                self.service.sendto(data, (host, int(beacon_port or default_port)))
            except (OSError, ValueError) as e:
                text = describe(e) if isinstance(e, OSError) else str(e)
                if self.beacon_errors.get(target) != text:
                    self.events(f"cannot send a LAN beacon to {target}: {text}")
                self.beacon_errors[target] = text
