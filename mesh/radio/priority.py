"""What goes on the air first (pure, no I/O).

Priority classes, most urgent first:

====  ============  ==========================================================
 0    revocations   roster changes that revoke or rotate a key
 1    roster        every other roster entry (genesis, add, grant, approvals)
 2    fork proofs   proof that a key signed two histories
 3    votes         ballots, close sheets, seals, charters
 4    orders        plan adoptions, dispatch-order acknowledgements, deviations
 5    sign-offs     playbook sign-offs, failures, skips, waivers
 6    fuel          tank readings, transfers, consumption
 7    other         everything else
 8    bulk          plan attachments, entries over 2 KB, entries a day older
                    than the newest this laptop has seen
====  ============  ==========================================================

A store takes each author's entries in seq order only, so an entry is sent
with the urgency of the most urgent entry after it in the same feed
(:func:`inherit`): a ballot written after a note drags the note along.
Bulk is sent only when nothing more urgent waits, and entries larger than
``--max-entry-bytes`` never (with what follows them in their feed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

REVOCATIONS, ROSTER, FORKS, VOTES, ORDERS, SIGNOFFS, FUEL, OTHER, BULK = range(9)
NAMES = (
    "revocations",
    "roster",
    "fork proofs",
    "votes",
    "orders",
    "sign-offs",
    "fuel",
    "other",
    "bulk",
)
#: Control messages (heads) go before any entry.
CONTROL = -1

BULK_BYTES = 2048
#: An entry this much older (hybrid clock, 24 h) than the newest one seen is history.
OLD_AFTER_MS = 24 * 3600 * 1000

_BY_KIND = {
    "mesh.genesis": ROSTER,
    "roster.change": ROSTER,
    "roster.approve": ROSTER,
    "vote.ballot": VOTES,
    "vote.seal": VOTES,
    "vote.close": VOTES,
    "vote.stop": VOTES,
    "vote.charter": VOTES,
    "vote.part": BULK,
    "plan.adopt": ORDERS,
    "plan.supersede": ORDERS,
    "order.ack": ORDERS,
    "order.deviation": ORDERS,
    "plan.propose": BULK,
    "plan.part": BULK,
}
_URGENT_ALWAYS = frozenset({REVOCATIONS, ROSTER, VOTES})


def classify(kind: str, body: Any, size: int, hlc: int, newest_hlc: int) -> int:
    """The class of one entry from its kind, body, signed size and hybrid clock."""
    cls = _BY_KIND.get(kind)
    if cls is None:
        if kind.startswith("playbook."):
            cls = SIGNOFFS
        elif kind.startswith("fuel."):
            cls = FUEL
        else:
            cls = OTHER
    if (
        kind == "roster.change"
        and isinstance(body, dict)
        and body.get("op") in ("revoke", "rotate")
    ):
        cls = REVOCATIONS
    if cls in _URGENT_ALWAYS:
        return cls
    if size > BULK_BYTES:
        return BULK
    if newest_hlc - hlc > OLD_AFTER_MS << 16:
        return BULK
    return cls


def inherit(classes: Sequence[int]) -> list[int]:
    """Each entry's effective class: the most urgent of itself and every later entry."""
    out = list(classes)
    for i in range(len(out) - 2, -1, -1):
        out[i] = min(out[i], out[i + 1])
    return out


def name(cls: int) -> str:
    return "control" if cls == CONTROL else NAMES[cls]
