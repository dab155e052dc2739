"""One-shot catch-up with one peer (`plurictl sync --peer ADDR`), without a long-running node.

Runs a temporary node on an ephemeral loopback port (it dials out; nobody needs
to dial it), asks the peer's key service over UDP from the wildcard address
(so the query reaches another machine), dials the peer, and stops when both
ledgers are equal (or after one exchange with ``once``). Every error on the
way (UDP send failures, a refused handshake) ends up in the message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ledger.home import Home
from mesh.errors import PeerUnreachable
from mesh.links import PeerLink
from mesh.node import Node, NodeConfig
from mesh.peers import parse_peer

#: UDP key queries that failed to leave this laptop before giving up early.
_QUERY_FAILURES = 4
#: Handshakes that failed without the peer's explicit refusal before giving up early.
_HANDSHAKE_FAILURES = 3


@dataclass
class SyncSummary:
    peer: str
    name: str
    received: int
    sent: int
    refused: int
    in_sync: bool
    seconds: float
    repaired: int = 0

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def sync_once(
    home: Home,
    peer: str,
    *,
    once: bool = False,
    timeout: float = 60.0,
    progress: Callable[[int, int], None] | None = None,
    interval: float = 0.5,
) -> SyncSummary:
    """Catch up with ``peer``; ``progress(received, expected)`` is called as entries arrive
    (``expected``: what the peer's announced heads say we will have received in the end)."""
    addr, _ = parse_peer(peer)
    node = Node(
        home,
        NodeConfig(listen="tcp://127.0.0.1:0", peers=[peer], interval=interval, advertise=False),
    )
    node.start()
    start = time.monotonic()
    try:
        key = _run(node, peer, addr, once, timeout, progress, start)
        state = node.engine.peers[key]
        return SyncSummary(
            peer=addr,
            name=node.link(key).name,
            received=state.accepted,
            sent=state.sent_entries,
            refused=state.refused,
            in_sync=state.in_sync,
            seconds=round(time.monotonic() - start, 2),
            repaired=state.repaired,
        )
    finally:
        # Let the last acks and our final in_sync leave before closing.
        end = time.monotonic() + 0.2
        while time.monotonic() < end:
            node.step(0.02)
        node.close()


def _run(
    node: Node,
    peer: str,
    addr: str,
    once: bool,
    timeout: float,
    progress: Callable[[int, int], None] | None,
    start: float,
) -> bytes:
    key = None
    exchanged = False
    while time.monotonic() - start < timeout:
        node.step()
        if key is None:
            key = next((k for k, d in node.dealers_addr.items() if d == addr), None)
            _check_query(node, peer, addr)
            continue
        link = node.links.get(key)
        if link is not None and _gave_up(link):
            why = link.note if link.fixed else link.refused_why
            raise PeerUnreachable(f"{peer}: {why or link.fixed}", hint=_HINTS.get(link.fixed))
        state = node.engine.peers.get(key)
        if state is None:
            continue
        exchanged = exchanged or state.remote_heads is not None or state.in_sync
        if progress is not None and exchanged:  # the peer has announced what it holds
            progress(state.accepted, max(state.expected, state.accepted))
        # idle: no transfer running, and our request for damaged entries answered
        idle = state.transfer is None and not node.engine.repair_pending(key)
        if state.in_sync and idle:
            return key
        if once and exchanged and idle and state.accepted >= state.behind:
            return key
    raise PeerUnreachable(
        f"no complete sync with {peer} within {timeout:.0f} s{_what_happened(node, addr, key)}",
        hint="check the address, the firewall (TCP and UDP on that port), and that you are in "
        "its roster; if UDP is blocked, give the key: KEY@tcp://HOST:PORT "
        "(the other laptop's `plurictl node status` shows it)",
    )


_HINTS = {
    "another mesh": "check `plurictl mesh show` on both laptops: the mesh ids must match",
    "": "ask an admin to `plurictl roster add` you, and let that change reach this peer",
}


def _gave_up(link: PeerLink) -> bool:
    """The peer said no (its roster lacks us, another mesh), or handshakes keep failing
    (a wrong key for that address). One handshake cut short is retried."""
    if link.fixed:
        return True
    if link.out != "refused":
        return False
    return link.refused_by_peer or link.refusals >= _HANDSHAKE_FAILURES


def _check_query(node: Node, peer: str, addr: str) -> None:
    """Fail early, with the system's own words, when the key query cannot even be sent."""
    state = node.keys.unresolved.get(addr)
    if state is not None and state.error and state.attempts >= _QUERY_FAILURES:
        raise PeerUnreachable(
            f"cannot ask {peer} for its key over UDP: {state.error}",
            hint="check the address and this laptop's network; or give the key: KEY@tcp://HOST:PORT",
        )


def _what_happened(node: Node, addr: str, key: bytes | None) -> str:
    state = node.keys.unresolved.get(addr)
    if key is None and state is not None:
        if state.error:
            return f" (UDP key query: {state.error})"
        return f" (no answer to {state.attempts} UDP key queries)"
    link = node.links.get(key) if key else None
    if link is not None and link.out != "up":
        return " (the TCP connection did not complete)"
    return ""
