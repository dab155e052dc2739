"""Sync decisions, as pure functions over heads vectors (no sockets, no store).

The node compares a 32-byte digest every gossip interval; only when digests
differ do the peers exchange heads vectors, and each side computes with
:func:`missing_ranges` what the other lacks and streams it in batches. The
decision itself is the same one a courier bundle makes
(:func:`ledger.courier.frontier.plan`); this module adds what only a live link needs:
not re-sending what is already queued, and progress counts.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ledger.courier.frontier import Range
from ledger.courier.frontier import plan as frontier_plan
from ledger.store import Head

__all__ = [
    "Range",
    "choose_peer",
    "count_missing",
    "forks_to_send",
    "heads_from_wire",
    "heads_to_wire",
    "missing_ranges",
]


def heads_to_wire(heads: Mapping[bytes, Head]) -> list[list[object]]:
    return [[a, h.seq, h.id] for a, h in sorted(heads.items())]


def heads_from_wire(rows: Iterable[Sequence[Any]]) -> dict[bytes, Head]:
    """The heads a peer sent (decoded msgpack: the protocol checked the row shapes)."""
    return {bytes(r[0]): Head(int(r[1]), bytes(r[2])) for r in rows}


def missing_ranges(
    local: Mapping[bytes, Head],
    remote: Mapping[bytes, Head],
    id_at: Callable[[bytes, int], bytes | None],
    promised: Mapping[bytes, int] | None = None,
) -> list[Range]:
    """What ``remote`` lacks of ``local``, minus what is already queued to it."""
    return not_yet_queued(frontier_plan(local, remote, id_at), promised or {})


def not_yet_queued(ranges: list[Range], promised: Mapping[bytes, int]) -> list[Range]:
    """``ranges`` without what ``promised`` (author -> highest seq queued) already covers.

    Fork evidence (our entry where the remote holds a different one) is always sent.
    """
    out = []
    for r in ranges:
        if r.fork:
            out.append(r)
            continue
        start = max(r.start, promised.get(r.author, 0) + 1)
        if start <= r.end:
            out.append(Range(r.author, start, r.end))
    return out


def count_missing(local: Mapping[bytes, Head], remote: Mapping[bytes, Head]) -> int:
    """How many entries ``local`` lacks from ``remote`` (for progress bars)."""
    total = 0
    for author, head in remote.items():
        mine = local.get(author)
        total += max(0, head.seq - (mine.seq if mine else 0))
    return total


def forks_to_send(
    local: Mapping[bytes, tuple[int, bytes, bytes]],
    remote: Mapping[bytes, tuple[int, bytes, bytes]],
) -> list[bytes]:
    """Authors whose fork proof we should send: the remote has none, or a higher one."""
    out = []
    for author, mine in sorted(local.items()):
        theirs = remote.get(author)
        if theirs is None or mine < theirs:
            out.append(author)
    return out


def choose_peer(live: list[bytes], rng: random.Random) -> bytes | None:
    """The peer for this anti-entropy round: uniformly at random among live ones."""
    return rng.choice(sorted(live)) if live else None
