"""`log verify --repair`: getting intact copies of damaged entries from peers.

The store has already quarantined them (``ledger.repair.repair``). A running
node asks its live peers by itself at every gossip round; with ``--peer`` a
temporary node asks those peers now. Either way an entry is replaced only by
a validly signed copy with the id the damaged one is known to have had.
"""

from __future__ import annotations

import time

from ledger.home import Home
from ledger.stored import Damage


def fetch_copies(home: Home, peers: tuple[str, ...], timeout: float) -> list[str]:
    """Ask a running node and ``peers`` for copies; what was replaced, in words."""
    store = home.store
    before = {d.key(): d for d in store.quarantined() if not d.columns_only}
    if not before or store.read_only:
        return []
    notes: list[str] = []
    from plurictl.nudge import nudge_node

    if nudge_node(home.path):
        deadline = time.monotonic() + timeout
        while store.wanted_ids() and time.monotonic() < deadline:
            time.sleep(0.2)  # the node's gossip rounds do the work; we watch the quarantine
    for peer in peers:
        if not store.wanted_ids():
            break
        notes += _from_peer(home, peer, timeout)
    after = {d.key() for d in store.quarantined()}
    fixed = [d for key, d in sorted(before.items()) if key not in after]
    return notes + [f"replaced from a peer's intact copy: {_line(d)}" for d in fixed]


def _from_peer(home: Home, peer: str, timeout: float) -> list[str]:
    from ledger.errors import PluriError
    from mesh.oneshot import sync_once

    try:
        sync_once(home, peer, timeout=timeout)
    except PluriError as e:
        return [f"could not get copies from {peer}: {e.message}"]
    return []


def _line(d: Damage) -> str:
    return d.describe()
