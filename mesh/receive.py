"""Receiving: read peer messages fairly, attribute them, charge invalid data, dispatch.

:meth:`Receiver.serve` reads one message per connection per pass (the ROUTER
fair-queues its inbound connections itself; each DEALER is its own source)
until the turn's time budget is spent, answering ZAP and control between
messages. Every message a peer can make the node do work for is bounded: by
the protocol's caps (:mod:`mesh.protocol`), by a per-peer request rate
(:class:`mesh.conduct.TokenBucket`), and by the penalty that cuts off a peer
sending invalid data (:class:`mesh.conduct.Conduct`).
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import zmq

from mesh import faults, protocol
from mesh.conduct import rejection_category
from mesh.errors import Malformed, VersionMismatch
from mesh.links import MAX_INBOUND, PeerLink

if TYPE_CHECKING:
    from mesh.node import Node

#: Messages that make this node work or answer: rate-limited per peer.
_REQUESTS = frozenset({"hello", "digest", "heads", "ping", "peers", "want"})
#: What a node still joining (no genesis yet) accepts: only what brings it the ledger.
_JOINING = frozenset({"digest", "heads", "entries", "forks", "in_sync", "ack"})


class Receiver:
    def __init__(self, node: Node) -> None:
        self.node = node

    # --- reading --------------------------------------------------------------------

    def serve(self, ready: list[Any], budget: float) -> None:
        """Handle what ``poll`` found ready: monitors and UDP at once, then peer messages
        round-robin for at most ``budget`` seconds."""
        n = self.node
        udp = {s.fileno(): s for s in n.keys.sockets()}
        data_ready = False
        for sock in ready:
            if isinstance(sock, int):
                if sock in udp:
                    n.exchange.heard_udp(udp[sock])
            elif sock in n.dialer.monitors:
                n.exchange.link_event(sock)
            elif sock is n.router or sock in n.dialer.dealers.values():
                data_ready = True
        if data_ready:
            self._round_robin(time.monotonic() + budget)

    def _round_robin(self, deadline: float) -> None:
        n = self.node
        while time.monotonic() < deadline:
            sources: list[tuple[bytes | None, zmq.Socket[bytes]]] = [(None, n.router)]
            sources += list(n.dialer.dealers.items())
            start = n._rr % len(sources)
            n._rr += 1
            progress = False
            for key, sock in sources[start:] + sources[:start]:
                if key is not None and n.dialer.dealers.get(key) is not sock:
                    continue  # closed while we were serving another peer
                if key is None and sock is not n.router:
                    continue  # the router was re-bound meanwhile
                progress = self._read_one(key, sock) or progress
                n._serve_priority()
                if time.monotonic() >= deadline:
                    return
            if not progress:
                return

    def _read_one(self, key: bytes | None, sock: zmq.Socket[bytes]) -> bool:
        try:
            frames = sock.recv_multipart(zmq.NOBLOCK, copy=False)
        except zmq.Again:
            return False
        if key is not None:  # a DEALER: the peer is the key we dialled
            if len(frames) == 1:
                self.deliver(key, frames[0].bytes)
            else:
                self._unattributed_garbage(key)
            return True
        if len(frames) != 2:
            self.node.counters.bad("wrong frame count")
            return True
        try:
            peer = bytes.fromhex(str(frames[1].get("User-Id")))  # a text property
        except (zmq.ZMQError, ValueError, TypeError):
            self.node.counters.unauthorised += 1
            return True
        try:
            address: str | None = str(frames[1].get("Peer-Address"))  # a text property
        except zmq.ZMQError:
            address = None
        self.deliver(peer, frames[1].bytes, routing_id=frames[0].bytes, peer_address=address)
        return True

    def _unattributed_garbage(self, key: bytes) -> None:
        self.node.counters.bad("wrong frame count")
        self.charge(self.node.link(key), "malformed message")

    # --- one message --------------------------------------------------------------------

    def deliver(
        self,
        key: bytes,
        data: bytes,
        routing_id: bytes | None = None,
        peer_address: str | None = None,
    ) -> None:
        n = self.node
        now = time.monotonic()
        if n.mesh_id is not None and key not in n.active:
            n.counters.unauthorised += 1
            return
        link = n.link(key)
        if link.conduct.banned(now):
            n.counters.dropped_penalised += 1
            return
        if not link.name:
            link.name = n.store.roster().name_of(key)
        if not faults.incoming(n.policy, n.name, link.name):
            n.counters.dropped_by_faults += 1
            return
        link.bytes_in += len(data)
        link.msgs_in += 1
        n.counters.bytes_in += len(data)
        if routing_id is not None and link.note_inbound(routing_id, now) > MAX_INBOUND:
            self.charge(link, "too many connections")
        msg = self._decode(link, data)
        if msg is None:
            return
        link.heard(now)
        msg_type = msg["t"]
        if msg_type in _REQUESTS and not link.requests.take(now):
            n.counters.dropped_over_limit += 1
            self.charge(link, "over rate limit")
            return
        self._dispatch(link, msg_type, msg, peer_address)

    def _decode(self, link: PeerLink, data: bytes) -> dict[str, Any] | None:
        try:
            return protocol.decode(data)
        except VersionMismatch as e:
            self.node.counters.bad(e.category)
            link.bad += 1
            if not link.version_refused:  # one clear refusal, not one per message
                link.version_refused = True
                self.node.send(link.key, "refuse", {"reason": str(e).split(": ", 1)[-1]})
            self.charge(link, "protocol version")
        except Malformed as e:
            self.node.counters.bad(e.category)
            link.bad += 1
            self.charge(link, "malformed message")
        return None

    def _dispatch(
        self, link: PeerLink, msg_type: str, msg: dict[str, Any], peer_address: str | None
    ) -> None:
        n = self.node
        key = link.key
        if msg_type == "hello":
            n.exchange.on_hello(link, msg, peer_address)
        elif msg_type == "refuse":
            link.note = f"refused by peer: {msg['reason'][:200]}"
        elif msg_type == "ping":
            n.send(key, "pong", {})
        elif msg_type == "peers":
            n.exchange.on_peers(link, msg)
        elif msg_type != "pong":
            if n.mesh_id is None and msg_type not in _JOINING:
                return
            if n._dropped and msg_type in ("entries", "push"):
                # raw = 0x98 0x01 0xc4 0x20 author...: drop by author without decoding
                msg["b"] = [raw for raw in msg["b"] if raw[4:36] not in n._dropped]
            n.send_all(n.engine.handle(key, msg_type, msg))
            if msg_type == "in_sync":
                n.round_answered(key, msg["d"])
            elif msg_type == "heads":
                n.round_answered(key, None)
                n.busy()

    # --- what the engine reports ------------------------------------------------------------

    def on_ingest(self, key: bytes, report: Any) -> None:
        n = self.node
        link = n.link(key)
        if report.accepted:
            n.events(f"received {len(report.accepted)} entries from {link.name}")
            n.busy()
        if report.forks:
            n.events(f"FORK detected: {len(report.forks)} proof(s) (see `plurictl forks list`)")
        if any(e.kind.startswith(("roster.", "mesh.")) for e in report.accepted):
            n._refresh_roster()
        costs: Counter[str] = Counter()
        for rejection in report.rejected:
            category = rejection_category(rejection.reason)
            if category is not None:
                costs[category] += 1
        for category, count in costs.items():
            self.charge(link, category, count)

    def on_invalid(self, key: bytes, category: str, count: int) -> None:
        self.charge(self.node.link(key), category, count)

    def charge(self, link: PeerLink, category: str, count: int = 1) -> None:
        now = time.monotonic()
        if link.conduct.charge(category, now, count):
            self.node.cut_off(link, f"{category} ({link.conduct.summary()})")
