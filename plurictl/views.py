"""Every ledger view as plain JSON, for `drill` checks and cross-node comparison.

Views that other features add register here; each takes a store and returns
JSON-able data that is identical on every laptop holding the same entries.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ledger.store import Store

ViewFn = Callable[[Store], Any]


def _roster(store: Store) -> Any:
    return store.roster().to_json()


def _playbooks(store: Store) -> Any:
    from ledger.playbooks import load_state

    return load_state(store).to_json(0)


def all_views() -> dict[str, ViewFn]:
    return {"roster": _roster, "playbooks": _playbooks}


def sealed_sheets(store: Store) -> dict[str, set[str]]:
    """vote id -> ids of close sheets that reached the seal threshold (must be at most one)."""
    return {}
