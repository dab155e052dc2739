"""One-shot catch-up with one peer (`plurictl sync --peer ADDR`), without a long-running node.

Runs a temporary node on an ephemeral loopback port, dials the peer, and
stops when both ledgers are equal (or after one exchange with ``once``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ledger.home import Home
from mesh.errors import PeerUnreachable
from mesh.node import Node, NodeConfig
from mesh.peers import parse_peer


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
        key = None
        exchanged = False
        while time.monotonic() - start < timeout:
            node.step()
            if key is None:
                key = next((k for k, d in node.dealers_addr.items() if d == addr), None)
                continue
            rt = node.peers.get(key)
            state = node.engine.peers.get(key)
            if rt is not None and rt.state in ("refused", "another mesh", "not a member"):
                raise PeerUnreachable(f"{peer}: {rt.note or rt.state}")
            if state is None:
                continue
            exchanged = exchanged or state.remote_heads is not None or state.in_sync
            if progress is not None and exchanged:  # the peer has announced what it holds
                progress(state.accepted, max(state.expected, state.accepted))
            # idle: no transfer running, and our request for damaged entries answered
            idle = state.transfer is None and not node.engine.repair_pending(key)
            if state.in_sync and idle:
                break
            if once and exchanged and idle and state.accepted >= state.behind:
                break
        else:
            raise PeerUnreachable(
                f"no complete sync with {peer} within {timeout:.0f} s",
                hint="check the address, the firewall (TCP and UDP on that port), and that you are in its roster",
            )
        state = node.engine.peers[key]
        return SyncSummary(
            peer=addr,
            name=node.peers[key].name,
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
