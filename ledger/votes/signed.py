"""``vote verify``'s pass over every stored row: decoded from the signed bytes, ids and
feeds checked, every signature checked.

The signatures (most of the work) are checked by forked workers (:mod:`ledger.forked`),
batch by batch as the rows are read, and on while the caller folds what was decoded.
Nothing the fold made is used before every signature is known good; if one is not (or a
worker failed), the caller reads again with each signature checked before its entry is used
(:func:`read_signed` with ``speculative=False``), so a damaged ledger gets exactly the same
report as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ledger import forked
from ledger.entry import Entry, signature_valid_raw
from ledger.ingest import Rejection, decode_one
from ledger.kinds import ROSTER_KINDS
from ledger.store import Store, verify_many
from ledger.votes.bodies import VOTE_KINDS

Progress = Callable[[int], None] | None


@dataclass
class BadEntry:
    id: bytes
    author: bytes | None
    seq: int | None
    kind: str | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id.hex(),
            "author": self.author.hex() if self.author else None,
            "seq": self.seq,
            "kind": self.kind,
            "reason": self.reason,
        }


@dataclass
class Signed:
    """What one pass over every stored row gives ``verify``."""

    checked: int = 0
    bad: list[BadEntry] = field(default_factory=list)
    roster_entries: list[Entry] = field(default_factory=list)
    vote_entries: list[Entry] = field(default_factory=list)
    #: ids of the rows the store lists (by its kind column) as roster / vote entries
    listed_roster: set[bytes] = field(default_factory=set)
    listed_votes: set[bytes] = field(default_factory=set)
    #: a speculative read: the workers checking the signatures of what it decoded
    pool: forked.Pool[list[bytes], bool] | None = None

    def all_signed(self, progress: Progress = None) -> bool:
        """Whether every decoded entry's signature is valid (waits for the workers of a
        speculative read: its entries may be used only then). False also when a worker
        failed: the caller then checks each signature itself."""
        if self.pool is None:
            return True
        answers = self.pool.results()
        self.pool = None
        good = answers is not None and all(answers)
        if good and progress is not None:
            progress(self.checked)  # the second half of what read_signed counts
        return good

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None


def read_signed(store: Store, progress: Progress, *, speculative: bool = True) -> Signed:
    """Every stored entry decoded from its bytes, and what the store's columns list as
    roster and vote entries. ``progress`` counts each row twice (read, then its signature
    known): a whole pass gives it twice the rows in all. ``speculative`` (where this laptop
    can fork onto other cores): the signatures are checked by workers meanwhile (see
    :meth:`Signed.all_signed`); otherwise each one before its entry is used."""
    shares = forked.cores() if speculative else 0
    speculative = shares > 0
    out = Signed()
    batch: list[tuple[bytes, bytes]] = []
    place = _Chain(store.mesh_id)

    def flush() -> None:
        raws: list[bytes | Entry] = [r for r, _ in batch]
        if speculative:
            results = [decode_one(r) for r in raws]
            if out.pool is None:  # forked now, while this process is small
                out.pool = forked.Pool(_signed_raws, shares)
            out.pool.submit([e.raw for e, _ in results if e is not None])
        else:
            results = verify_many(raws)
        for (_raw, stored_id), (e, problem) in zip(batch, results, strict=True):
            _sort(out, place, stored_id, e, problem)
        if progress is not None:  # a row counts twice: read, then its signature known
            progress(len(batch) if speculative else 2 * len(batch))
        batch.clear()

    tails: dict[bytes, int] = {}  # author -> last seq read (rows come in feed order)
    try:
        for row in store.iter_rows():
            out.checked += 1
            tails[row[0]] = row[1]
            stored_id, kind, raw = row[2], row[5], row[6]
            if kind in VOTE_KINDS:
                out.listed_votes.add(stored_id)
            elif kind in ROSTER_KINDS:
                out.listed_roster.add(stored_id)
            batch.append((raw, stored_id))
            if len(batch) >= 4000:
                flush()
        flush()
        out.bad.extend(_missing_tails(store, tails))
    except BaseException:
        out.close()  # no worker outlives a read that failed or was interrupted
        raise
    return out


def _signed_raws(raws: list[bytes]) -> bool:
    """A worker's answer: whether every one of ``raws`` (bytes that decoded) is signed by
    its author."""
    return all(signature_valid_raw(raw) for raw in raws)


class _Chain:
    """Whether each entry follows the one read before it in its author's feed. Feeds are
    whole on every laptop; which seal of a teller came first rests on it."""

    def __init__(self, mesh: bytes | None) -> None:
        self.mesh = mesh
        self.last: list[Any] = [None, 0, mesh]  # author, seq and id of the entry read before

    def problem(self, e: Entry) -> str | None:
        last = self.last
        if e.author != last[0]:
            last[:] = [e.author, 0, self.mesh]
        expected = last[1] + 1
        follows = e.prev == last[2] or (e.seq == 1 and e.prev is None and e.id == self.mesh)
        last[1:] = [e.seq, e.id]
        if e.seq != expected:
            return f"feed has a gap: seq {e.seq} follows seq {expected - 1} on this laptop"
        return None if follows else "broken chain: prev does not name the entry before it"


def _sort(
    out: Signed, place: _Chain, stored_id: bytes, e: Entry | None, problem: Rejection | None
) -> None:
    """One decoded row into ``out``: a problem, a roster or vote entry, or nothing."""
    if e is None:
        why = problem.reason if problem is not None else "unreadable"
        out.bad.append(BadEntry(stored_id, None, None, None, why))
        return
    gap = place.problem(e)
    if gap is not None:
        out.bad.append(BadEntry(e.id, e.author, e.seq, e.kind, gap))
    if e.kind not in ROSTER_KINDS and e.kind not in VOTE_KINDS:
        return
    if e.id != stored_id:
        out.bad.append(BadEntry(stored_id, e.author, e.seq, e.kind, "id does not match bytes"))
    else:
        (out.roster_entries if e.kind in ROSTER_KINDS else out.vote_entries).append(e)


def _missing_tails(store: Store, tails: dict[bytes, int]) -> list[BadEntry]:
    """Entries the heads table says this laptop stored past the last row it holds (a
    deleted last seal or ballot leaves no gap to see): like ``log verify``, a problem."""
    out = []
    for author, head in sorted(store.stored_heads().items()):
        last = tails.get(author, 0)
        if head.seq > last:
            span = f"seq {head.seq}" if head.seq == last + 1 else f"seqs {last + 1}-{head.seq}"
            why = f"missing from the store ({span}; the heads table had them)"
            out.append(BadEntry(head.id, author, head.seq, None, why))
    return out
