"""Tell a running node (if any) that this process wrote to the ledger.

Writes never wait for the network: commands store first, then nudge. Without a
running node this does nothing; the node also notices writes on its own at the
next gossip round.
"""

from __future__ import annotations

from pathlib import Path


def nudge_node(home: Path) -> bool:
    """Best effort: True if a node acknowledged the nudge."""
    try:
        from mesh.control import ControlClient, NodeNotRunning
    except ImportError:  # pragma: no cover - mesh always ships with plurictl
        return False
    try:
        with ControlClient(home, timeout=0.5) as client:
            client.call("nudge")
            return True
    except NodeNotRunning:
        return False
    except Exception:  # a nudge must never fail a write that already landed
        return False
