"""Finding peers: hello, peer exchange, UDP answers and beacons, outbound link events.

Where an address comes from decides how far it is believed:

- what a peer says about itself in ``hello`` (over its authenticated link) and
  the answer to our own key query are learned into the peer book;
- addresses another member suggests (``peers``) are hints: never stored over
  an address where a handshake succeeded, capped in number, and used only for
  keys in the roster;
- addresses from LAN beacons stay in a small in-memory cache until a handshake
  proves them (:class:`mesh.keyservice.HintCache`).

The peer list is sent to a peer when it connects, when the list of verified
addresses changes, and otherwise rarely (:data:`EXCHANGE_EVERY_S`): an idle
mesh must stay quiet on the wire.
"""

from __future__ import annotations

import contextlib
import socket
import time
from typing import TYPE_CHECKING, Any

import zmq

from mesh import discovery
from mesh.errors import MeshError
from mesh.links import PeerLink
from mesh.peers import check_address, host_port
from mesh.protocol import MAX_PEER_SUGGESTIONS

if TYPE_CHECKING:
    from mesh.node import Node

EXCHANGE_EVERY_S = 600.0
#: A laptop still joining (no roster yet) cannot tell members from strangers: it dials
#: at most this many keys it learned from beacons or suggestions.
MAX_JOINING_DIALS = 16


class PeerExchange:
    def __init__(self, node: Node) -> None:
        self.node = node
        self._sent_at = 0.0
        self._sent_list: list[list[Any]] = []

    # --- hello and peer lists --------------------------------------------------------

    def on_hello(self, link: PeerLink, msg: dict[str, Any], peer_address: str | None) -> None:
        n = self.node
        key = link.key
        theirs = msg.get("mesh")
        expected = n.mesh_id or n.store.expected_mesh
        if theirs is not None and expected is not None and theirs != expected:
            link.fixed = "another mesh"
            link.note = f"belongs to mesh {theirs.hex()[:16]}"
            n.send(key, "refuse", {"reason": "this node belongs to another mesh"})
            n.dialer.close(key)
            return
        roster = n.store.roster()
        # The roster's name is the truth; a name a peer announces is only a fallback
        # (partition groups and the peer list must not be spoofable).
        link.name = roster.name_of(key) if key in roster.keys else (msg.get("name") or link.name)
        listen = msg.get("listen")
        if listen and listen.startswith("tcp://*:"):
            listen = f"tcp://{peer_address}:{listen.rsplit(':', 1)[1]}" if peer_address else None
        if listen:
            with contextlib.suppress(MeshError):
                check_address(listen)
                n.book.learn(addr=listen, key=key, name=link.name, source="exchange")
        if key not in n.dialer.dealers or link.out == "refused":
            # It reached us: dial it back now (a refusal from before it had the roster is stale).
            rec = n.book.by_key(key)
            addr = listen or (rec.good_addr or rec.addr if rec else None)
            if addr:
                n.dial(key, addr, urgent=True)
        if not link.hello_sent:
            link.hello_sent = True
            n.send(key, "hello", self.hello())
        n.events(f"connected to {link.name or key.hex()[:12]}")
        n.busy()
        n.send_all(n.engine.start_round(key))  # first sync right away
        self.send_list([key])

    def on_peers(self, link: PeerLink, msg: dict[str, Any]) -> None:
        n = self.node
        for key, addr, name in msg["p"]:
            if key == n.me or (n.mesh_id is not None and key not in n.active):
                continue
            try:
                check_address(addr)
            except MeshError:
                continue
            n.book.suggest(addr=addr, key=key, name=str(name or ""), source="exchange")
            if key not in n.dialer.dealers and self.may_dial(key):
                n.dial(key, addr)

    def may_dial(self, key: bytes) -> bool:
        n = self.node
        return n.mesh_id is not None or len(n.dialer.dealers) < MAX_JOINING_DIALS

    def known(self) -> list[list[Any]]:
        """What we tell peers: members and the address that worked (or they gave themselves)."""
        n = self.node
        return [
            [r.key, r.good_addr or r.addr, r.name]
            for r in n.book.records
            if r.key and (r.good_addr or r.addr) and (n.mesh_id is None or r.key in n.active)
        ]

    def send_list(self, keys: list[bytes]) -> None:
        known = self.known()
        for i in range(0, len(known), MAX_PEER_SUGGESTIONS):
            chunk = known[i : i + MAX_PEER_SUGGESTIONS]
            for key in keys:
                self.node.send(key, "peers", {"p": chunk})

    def tick(self, now: float) -> None:
        known = self.known()
        if known != self._sent_list or now - self._sent_at > EXCHANGE_EVERY_S:
            self._sent_list, self._sent_at = known, now
            self.send_list(self.node.live_peers())

    def reach_me(self) -> str:
        """How another laptop names this node: ``KEY@tcp://HOST:PORT`` (skips the UDP key query)."""
        n = self.node
        host, port = host_port(n.listen_endpoint)
        if host in ("0.0.0.0", "::", "*"):
            host = "<this laptop's address>"
        return f"{n.me.hex()}@tcp://{host}:{port}"

    def hello(self) -> dict[str, Any]:
        n = self.node
        return {"mesh": n.mesh_id, "name": n.name, "listen": self._advertised_listen()}

    def _advertised_listen(self) -> str | None:
        n = self.node
        if not n.config.advertise:
            return None
        host, port = host_port(n.listen_endpoint)
        if host in ("0.0.0.0", "::", "*"):
            return f"tcp://*:{port}"  # the peer fills in the address it reached us from
        return n.listen_endpoint

    # --- outbound link events --------------------------------------------------------------

    def link_event(self, monitor: zmq.Socket[bytes]) -> None:
        n = self.node
        got = n.dialer.event(monitor)
        if got is None:
            return
        key, kind = got
        link = n.link(key)
        now = time.monotonic()
        if kind == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            link.out, link.up_since, link.refusals, link.retry_at = "up", now, 0, None
            link.note = ""
            if key in n.dialer.addr:
                n.book.confirm(key, n.dialer.addr[key], link.name)
            link.hello_sent = True
            n.send(key, "hello", self.hello())
        elif kind == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            why = "the peer refused us (is this laptop in its roster yet?)"
            self._refused(link, now, why, by_peer=True)
        elif kind in (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL):
            # a wrong key for that address, or a handshake cut short (the peer re-bound)
            why = "handshake failed (wrong key for that address?)"
            self._refused(link, now, why, by_peer=False)
        elif kind == zmq.EVENT_DISCONNECTED and link.out == "up":
            link.out = "connecting"  # ZeroMQ re-dials by itself
            link.up_since = None

    def _refused(self, link: PeerLink, now: float, why: str, *, by_peer: bool) -> None:
        # ZeroMQ gives up on a link after a failed handshake: we retry, backing off.
        self.node.dialer.close(link.key)
        link.refused(now, why, by_peer=by_peer)

    # --- UDP ---------------------------------------------------------------------------------

    def heard_udp(self, sock: socket.socket) -> None:
        n = self.node
        for heard in n.keys.read(sock, time.monotonic(), self._announcement):
            ann = heard.ann
            if ann.key == n.me:
                continue
            expected = n.mesh_id or n.store.expected_mesh
            if expected is None or ann.mesh != discovery.mesh_tag(expected):
                continue  # another mesh on the same LAN (or an announcement without one)
            if n.mesh_id is not None and ann.key not in n.active:
                continue  # not a member: nothing to dial
            if heard.via_query:
                n.keys.unresolved.pop(heard.addr, None)
                n.book.learn(addr=heard.addr, key=ann.key, name=ann.name, source="static")
                n.dial(ann.key, heard.addr, urgent=True)
            else:
                n.keys.hints.put(ann.key, heard.addr, ann.name)
                if ann.key not in n.dialer.dealers and self.may_dial(ann.key):
                    n.dial(ann.key, heard.addr)

    def _announcement(self) -> bytes | None:
        n = self.node
        _, port = n.listen_endpoint.rsplit(":", 1)
        return discovery.encode_announcement(n.me, n.mesh_id, int(port), n.name)

    def send_beacon(self) -> None:
        data = self._announcement()
        if data is not None:
            n = self.node
            n.keys.send_beacon(data, n.config.discover_targets, n.config.discover_port)
