"""Sync decisions, as pure functions over heads vectors (no sockets, no store).

The node compares a 32-byte digest every gossip interval; only when digests
differ do the peers exchange heads vectors, and each side computes with
:func:`missing_ranges` what the other lacks and streams it in batches. Fork
proofs go first, then the parts of feeds that carry roster entries (so the
receiver knows every author before their entries arrive), then the rest.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

#: author -> (seq, id)
Heads = Mapping[bytes, tuple[int, bytes]]


@dataclass(frozen=True, order=True)
class Range:
    """Entries ``start..end`` (inclusive) of one author's feed."""

    author: bytes
    start: int
    end: int

    @property
    def count(self) -> int:
        return max(0, self.end - self.start + 1)


def heads_to_wire(heads: Mapping[bytes, tuple[int, bytes]]) -> list[list[object]]:
    return [[a, s, i] for a, (s, i) in sorted(heads.items())]


def heads_from_wire(rows: Iterable[list[object]]) -> dict[bytes, tuple[int, bytes]]:
    return {bytes(r[0]): (int(r[1]), bytes(r[2])) for r in rows}  # type: ignore[arg-type, call-overload]


def missing_ranges(
    local: Heads,
    remote: Heads,
    id_at: Callable[[bytes, int], bytes | None],
    promised: Mapping[bytes, int] | None = None,
) -> list[Range]:
    """What ``remote`` lacks of ``local``, author by author.

    ``promised`` holds, per author, the highest seq already queued to this peer
    (not re-sent). If the remote's entry at its head seq differs from ours, the
    feeds forked: our entry at that seq is included so the remote detects it.
    """
    promised = promised or {}
    out = []
    for author, (seq, head_id) in sorted(local.items()):
        theirs = remote.get(author)
        already = promised.get(author, 0)
        if theirs is None:
            start = 1
        else:
            their_seq, their_id = theirs
            if their_seq > seq:
                continue  # they are ahead; a fork below their head is found on their side
            ours_there = head_id if their_seq == seq else id_at(author, their_seq)
            if ours_there is not None and ours_there != their_id:
                out.append(Range(author, their_seq, their_seq))  # evidence of the fork
                continue
            start = their_seq + 1
        start = max(start, already + 1)
        if start <= seq:
            out.append(Range(author, start, seq))
    return out


def count_missing(local: Heads, remote: Heads) -> int:
    """How many entries ``local`` lacks from ``remote`` (for progress bars)."""
    total = 0
    for author, (seq, _) in remote.items():
        mine = local.get(author)
        total += max(0, seq - (mine[0] if mine else 0))
    return total


def order_for_transfer(
    ranges: Iterable[Range], last_roster_seq: Mapping[bytes, int]
) -> list[Range]:
    """Roster-carrying prefixes of feeds first, then the rest, each in a stable order."""
    first, rest = [], []
    for r in sorted(ranges):
        cut = last_roster_seq.get(r.author, 0)
        if cut >= r.start:
            head = Range(r.author, r.start, min(cut, r.end))
            first.append(head)
            if head.end < r.end:
                rest.append(Range(r.author, head.end + 1, r.end))
        else:
            rest.append(r)
    return first + rest


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
