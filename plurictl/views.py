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
    from ledger.playbooks.writer import load_state

    return load_state(store).to_json(0)


def _votes(store: Store) -> Any:
    from ledger.votes.as_json import everything
    from ledger.votes.writer import load

    votes, roster = load(store)
    return everything(votes, roster)


def _fuel(store: Store) -> Any:
    from ledger.fuel import writer as fuel

    return fuel.load(store).to_json()


def _plans(store: Store) -> Any:
    from ledger.plans import writer as plans

    return plans.load(store).to_json()


def all_views() -> dict[str, ViewFn]:
    return {
        "roster": _roster,
        "fuel": _fuel,
        "plans": _plans,
        "votes": _votes,
        "playbooks": _playbooks,
    }


def sealed_sheets(store: Store) -> dict[str, set[str]]:
    """vote id -> ids of close sheets with at least k counting teller seals.

    Counted here from the seals themselves (not from the view's verdict), so the
    drill checker is an independent check of the "never two sealed sheets" rule.
    """
    from ledger.votes.writer import load

    votes, _ = load(store)
    out: dict[str, set[str]] = {}
    for vote_id, vote in votes.votes.items():
        counts: dict[bytes, int] = {}
        for seal in vote.seals.values():
            if seal.problem is None:
                counts[seal.sheet] = counts.get(seal.sheet, 0) + 1
        sealed = {sheet.hex() for sheet, n in counts.items() if n >= vote.charter.k}
        if sealed or vote.sealed_sheet is not None:
            if vote.sealed_sheet is not None:
                sealed.add(vote.sealed_sheet.hex())
            out[vote_id.hex()] = sealed
    return out
