"""Links to peers: what the node knows about each one, and the outbound sockets that dial them.

:class:`PeerLink` holds the facts of one peer during this run (the peer book
keeps what lasts): the outbound link as ZeroMQ's monitor reports it, the
inbound connection, when we last heard anything, what we sent that is still
unanswered, and the peer's conduct. :func:`describe` turns those facts into
the state `plurictl peers` shows, so the state always follows what the link
really does (a dial refused before a newcomer had the roster does not stick
once the newcomer connects).

:class:`Dialer` owns the DEALER sockets and their monitors.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import zmq
import zmq.utils.monitor

from mesh.conduct import Conduct, TokenBucket
from mesh.transport import CurveKeys, close_dealer, open_dealer

#: Peer requests (digest, heads, ping, peers) per second, burst 40: beyond, dropped and charged.
REQUESTS_PER_S, REQUEST_BURST = 20.0, 40.0
#: A refused dial is retried after 1 s, doubling up to this.
MAX_RETRY_S = 60.0
#: Inbound connections of one key in use at the same time (within INBOUND_WINDOW_S).
MAX_INBOUND = 3
INBOUND_WINDOW_S = 5.0


@dataclass
class PeerLink:
    """Live facts about one peer during this run."""

    key: bytes
    name: str = ""
    addr: str | None = None  # the address our outbound link dials
    fixed: str = ""  # revoked | not a member | another mesh: no link, whatever happens
    note: str = ""
    out: str = "none"  # none | connecting | up | refused
    dialled_at: float | None = None
    up_since: float | None = None
    refusals: int = 0
    retry_at: float | None = None
    refused_why: str = ""
    #: the last refusal was the peer's explicit "no" (ZAP), not a handshake cut short
    refused_by_peer: bool = False
    routing_id: bytes | None = None  # the inbound connection we answer on
    inbound_seen: dict[bytes, float] = field(default_factory=dict)  # routing id -> last message
    last_heard: float | None = None  # monotonic
    unanswered_since: float | None = None  # first send still waiting for any reply
    probed: bool = False
    hello_sent: bool = False
    version_refused: bool = False
    bytes_in: int = 0
    bytes_out: int = 0
    msgs_in: int = 0
    msgs_out: int = 0
    bad: int = 0
    conduct: Conduct = field(default_factory=Conduct)
    requests: TokenBucket = field(
        default_factory=lambda: TokenBucket(REQUESTS_PER_S, REQUEST_BURST)
    )

    @property
    def links(self) -> str:
        """Which connections carry this peer right now: 'out+in', 'out', 'in' or '-'."""
        parts = [p for p, up in (("out", self.out == "up"), ("in", self.routing_id)) if up]
        return "+".join(parts) or "-"

    def heard(self, now: float) -> None:
        self.last_heard = now
        self.unanswered_since = None
        self.probed = False

    def refused(self, now: float, why: str, *, by_peer: bool) -> None:
        self.out = "refused"
        self.up_since = None
        self.refusals += 1
        self.refused_why = why
        self.refused_by_peer = by_peer
        self.retry_at = now + min(MAX_RETRY_S, 2.0 ** (self.refusals - 2))

    def note_inbound(self, routing_id: bytes, now: float) -> int:
        """Record a message on inbound connection ``routing_id``; returns connections in use."""
        self.routing_id = routing_id
        self.inbound_seen[routing_id] = now
        if len(self.inbound_seen) > MAX_INBOUND:
            horizon = now - INBOUND_WINDOW_S
            self.inbound_seen = {r: t for r, t in self.inbound_seen.items() if t >= horizon}
        return len(self.inbound_seen)

    def lost_inbound(self) -> None:
        if self.routing_id is not None:
            self.inbound_seen.pop(self.routing_id, None)
        self.routing_id = None


def describe(p: PeerLink, now: float, fresh: float, fresh_inbound: float) -> tuple[str, str]:
    """(state, note) for `plurictl peers`, from the link's facts.

    ``fresh``: how recently a peer must have been heard to count as live without an
    outbound link we know is up; ``fresh_inbound``: the same for a peer that reaches us
    only on its own connection (it may stay quiet while in sync).
    """
    if p.fixed:
        return p.fixed, p.note
    if p.conduct.banned(now):
        return "penalised", (
            f"sent invalid data ({p.conduct.summary()}); cut off, "
            f"admitted again in {p.conduct.ban_left(now):.0f} s"
        )
    since = None if p.last_heard is None else now - p.last_heard
    heard = since is not None and (
        since <= fresh or (p.routing_id is not None and since <= fresh_inbound)
    )
    if p.out == "up" or heard:
        note = ""
        if p.out == "refused":
            note = f"our dial was refused ({p.refused_why}); retrying"
        return "live", note
    if p.out == "refused":
        left = max(0.0, (p.retry_at or now) - now)
        return "refused", f"{p.refused_why}; trying again in {left:.0f} s"
    if p.last_heard is not None:
        return "silent", p.note
    if p.out == "connecting":
        return "connecting", p.note
    return "not connected", p.note


class Dialer:
    """The DEALER sockets dialling peers (one per key), with their monitor sockets."""

    def __init__(
        self,
        ctx: zmq.Context[zmq.Socket[bytes]] | None,
        keys: CurveKeys,
        heartbeat_s: float,
        heartbeat_timeout_s: float,
    ) -> None:
        self.ctx = ctx
        self.keys = keys
        self.heartbeat_s = heartbeat_s
        self.heartbeat_timeout_s = heartbeat_timeout_s
        self.dealers: dict[bytes, zmq.Socket[bytes]] = {}
        self.addr: dict[bytes, str] = {}
        self.monitors: dict[zmq.Socket[bytes], bytes] = {}
        self._monitor_of: dict[bytes, zmq.Socket[bytes]] = {}
        self.poller: zmq.Poller | None = None

    def dial(self, key: bytes, addr: str) -> None:
        assert self.ctx is not None, "the node is not started"
        self.close(key)
        dealer, monitor = open_dealer(
            self.ctx,
            key,
            self.keys,
            addr,
            heartbeat_s=self.heartbeat_s,
            heartbeat_timeout_s=self.heartbeat_timeout_s,
        )
        self.dealers[key] = dealer
        self.addr[key] = addr
        self.monitors[monitor] = key
        self._monitor_of[key] = monitor
        if self.poller is not None:
            self.poller.register(dealer, zmq.POLLIN)
            self.poller.register(monitor, zmq.POLLIN)

    def close(self, key: bytes) -> None:
        dealer = self.dealers.pop(key, None)
        self.addr.pop(key, None)
        monitor = self._monitor_of.pop(key, None)
        if monitor is not None:
            self.monitors.pop(monitor, None)
            if self.poller is not None:
                self.poller.unregister(monitor)
        if dealer is not None:
            if self.poller is not None:
                self.poller.unregister(dealer)
            close_dealer(dealer, monitor)

    def close_all(self) -> None:
        for key in list(self.dealers):
            self.close(key)

    def event(self, monitor: zmq.Socket[bytes]) -> tuple[bytes, int] | None:
        """(key, event) from a monitor socket, or None."""
        key = self.monitors.get(monitor)
        if key is None:
            return None
        try:
            event = zmq.utils.monitor.recv_monitor_message(monitor, zmq.NOBLOCK)
        except zmq.ZMQError:
            return None
        return key, int(event["event"])
