"""What other concepts say about a roster change before it is signed (warnings, never refusals).

The roster sits below the concepts that use it (votes need the roster, not the other way
round), so its writer cannot ask them itself. Each registers an advisor here instead; the
``ledger`` package wires them in ``ledger/__init__.py``, so every process that imports the
ledger has them. This module imports nothing of the ledger at run time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ledger.roster.view import Roster
    from ledger.store import Store

#: (store, roster before the change, the change's body) -> sentences for the operator
Advisor = Callable[["Store", "Roster", dict[str, Any]], list[str]]
_ADVISORS: list[Advisor] = []


def register(advisor: Advisor) -> Advisor:
    """Add ``advisor`` (once); usable as a decorator."""
    if advisor not in _ADVISORS:
        _ADVISORS.append(advisor)
    return advisor


def advise(store: Store, roster: Roster, body: dict[str, Any]) -> list[str]:
    """Every registered advisor's warnings about the change ``body``, in registration order."""
    return [w for advisor in _ADVISORS for w in advisor(store, roster, body)]
