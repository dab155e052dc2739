"""Ingest: verifying entries from elsewhere (peers, bundles) and storing them.

Signatures are checked before the write lock is taken (in parallel for big
batches). Then, in one transaction: mesh binding, duplicates and forks, chain
(seq contiguity and ``prev``), and membership at that seq.

An entry arriving for a place where this laptop holds a *damaged* copy (its
signed bytes fail their check) repairs it when its id is the one the damaged
copy is known to have had: that id comes from signed evidence when there is
some (the next entry's ``prev``), else from the stored id.
"""

from __future__ import annotations

import os
import sqlite3
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ledger import clock as hlc
from ledger.entry import Entry, decode, signature_valid
from ledger.errors import EncodingError
from ledger.forks import ForkProof
from ledger.kinds import GENESIS, ROSTER_KINDS
from ledger.roster import view as roster_view
from ledger.stored import ROW_COLUMNS, Damage, check_row, column_drift

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from ledger.store import Head, Store


@dataclass(frozen=True)
class Rejection:
    """An entry the store refused, and the reason in plain words."""

    reason: str
    author: bytes | None = None
    seq: int | None = None
    id: bytes | None = None
    kind: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "author": self.author.hex() if self.author else None,
            "seq": self.seq,
            "id": self.id.hex() if self.id else None,
            "kind": self.kind,
            "reason": self.reason,
        }


@dataclass
class IngestReport:
    accepted: list[Entry] = field(default_factory=list)
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    forks: list[ForkProof] = field(default_factory=list)
    #: damaged copies on this laptop replaced by the intact entry that arrived
    repaired: list[Entry] = field(default_factory=list)

    def merge(self, other: IngestReport) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.forks += other.forks
        self.repaired += other.repaired

    def per_author(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for e in self.accepted:
            counts[e.author.hex()] = counts.get(e.author.hex(), 0) + 1
        return counts

    def to_json(self) -> dict[str, Any]:
        return {
            "accepted": len(self.accepted),
            "accepted_per_author": self.per_author(),
            "duplicates": self.duplicates,
            "rejected": [r.to_json() for r in self.rejected],
            "forks": [f.to_json() for f in self.forks],
            "repaired": [
                {"id": e.id.hex(), "author": e.author.hex(), "seq": e.seq, "kind": e.kind}
                for e in self.repaired
            ],
        }


ACCEPT, DUPLICATE, REJECT, DEFER, REPAIRED = range(5)


# --- signatures, outside the write lock --------------------------------------------------


def decode_one(item: bytes | Entry) -> tuple[Entry | None, Rejection | None]:
    """The entry in ``item`` (structure and canonical form checked, not the signature)."""
    try:
        return (item if isinstance(item, Entry) else decode(item)), None
    except EncodingError as err:
        return None, Rejection(f"unreadable entry: {err}")


def _verify_one(item: bytes | Entry) -> tuple[Entry | None, Rejection | None]:
    e, problem = decode_one(item)
    if e is None:
        return None, problem
    if not signature_valid(e):
        return None, Rejection("bad signature (forged or damaged)", e.author, e.seq, e.id, e.kind)
    return e, None


def _verify_chunk(chunk: list[bytes | Entry]) -> list[tuple[Entry | None, Rejection | None]]:
    return [_verify_one(item) for item in chunk]


# concurrent.futures (and the logging and threading it pulls in) is imported only when a
# big batch first needs the pool: read commands never verify batches (issue 18 item 9).
_POOL: ThreadPoolExecutor | None = None
_PARALLEL_MIN = 128


def verify_many(items: list[bytes | Entry]) -> list[tuple[Entry | None, Rejection | None]]:
    """Decode and verify entries, in order; big batches use every core.

    libsodium runs without the GIL, so threads verify in parallel while
    another thread decodes: on a 2-core laptop a catch-up is not bound to one core.
    """
    workers = _workers()
    if len(items) < _PARALLEL_MIN or workers < 2:
        return _verify_chunk(items)
    size = (len(items) + workers - 1) // workers
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    out: list[tuple[Entry | None, Rejection | None]] = []
    for part in _pool().map(_verify_chunk, chunks):
        out.extend(part)
    return out


def _workers() -> int:
    return min(4, os.cpu_count() or 1)


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(max_workers=_workers(), thread_name_prefix="verify")
    return _POOL


# --- the transaction ---------------------------------------------------------------------


def ingest(
    store: Store,
    items: Iterable[bytes | Entry],
    *,
    checked: list[tuple[Entry | None, Rejection | None]] | None = None,
) -> IngestReport:
    """See :meth:`ledger.store.Store.ingest`."""
    report = IngestReport()
    batch: dict[bytes, Entry] = {}
    for e, problem in checked if checked is not None else verify_many(list(items)):
        if problem is not None:
            report.rejected.append(problem)
        elif e is not None:  # verify_many gives an entry or a problem
            batch[e.id] = e
    if not batch:
        return report
    kept = store._kept_past_cut(batch.values())
    queues: dict[bytes, deque[Entry]] = {}
    for e in sorted(batch.values(), key=lambda e: (e.author, e.seq, e.id)):
        queues.setdefault(e.author, deque()).append(e)
    with store.transaction() as db:
        state = IngestState(store, db)
        state.kept, state.batch = kept, list(batch.values())
        # Feeds in seq order, in passes: an author refused as unknown is retried
        # after another feed's roster entry (or the genesis) admitted it.
        authors = sorted(
            queues, key=lambda a: (not any(x.kind in ROSTER_KINDS for x in queues[a]), a)
        )
        while authors:
            progress = False
            waiting = []
            for author in authors:
                queue = queues[author]
                while queue:
                    if state.offer(queue[0], report, final=False) == DEFER:
                        break
                    queue.popleft()
                    progress = True
                if queue:
                    waiting.append(author)
            if not progress:
                for author in waiting:
                    for e in queues[author]:
                        state.offer(e, report, final=True)
                break
            authors = waiting
        state.finish(report)
    return report


class IngestState:
    """Bookkeeping for one ingest transaction."""

    def __init__(self, store: Store, db: sqlite3.Connection) -> None:
        from ledger.store import Head

        self.store = store
        self.db = db
        self.mesh: bytes | None = store._meta("mesh_id")
        self.expected: bytes | None = store._meta("expected_mesh")
        self.heads: dict[bytes, Head] = {
            a: Head(s, i) for a, s, i in db.execute("SELECT author, seq, id FROM heads")
        }
        self.forks: dict[bytes, int] = store.forks_by_author()  # only proofs that check out
        self.touched: set[bytes] = set()
        self.unwritten: list[Entry] = []  # accepted, inserted in one executemany
        self.unwritten_at: dict[tuple[bytes, int], Entry] = {}
        self.max_hlc = 0
        self.roster_changed = False
        self.forks_changed = False
        self.roster = store.roster() if self.mesh is not None else roster_view.Roster()
        #: author -> seq up to which entries past its cut are kept (a sealed vote lists them)
        self.kept: dict[bytes, int] = {}
        self.batch: list[Entry] = []  # the entries being ingested

    def flush(self) -> None:
        if self.unwritten:
            self.store._insert_many(self.db, self.unwritten)
            self.unwritten = []
            self.unwritten_at = {}

    def refresh_roster(self) -> None:
        self.flush()
        self.store._bump_generation()
        self.roster_changed = False
        self.roster = self.store.roster()
        # the cuts this batch brought may reach entries a sealed vote needs (a fresh laptop
        # importing everything at once): what is kept past them, under the new roster
        self.kept = self.store._kept_past_cut(self.batch)

    def offer(self, e: Entry, report: IngestReport, *, final: bool) -> int:
        outcome, reason = self._check(e, report)
        if outcome == DEFER and self.roster_changed:
            self.refresh_roster()
            outcome, reason = self._check(e, report)
        if outcome == REJECT or (outcome == DEFER and final):
            report.rejected.append(Rejection(reason or "refused", e.author, e.seq, e.id, e.kind))
            return REJECT
        if outcome == DUPLICATE:
            report.duplicates += 1
        elif outcome == ACCEPT:
            self._accept(e, report)
        return outcome

    def _accept(self, e: Entry, report: IngestReport) -> None:
        from ledger.store import Head

        self.unwritten.append(e)
        self.unwritten_at[(e.author, e.seq)] = e
        self.heads[e.author] = Head(e.seq, e.id)
        self.touched.add(e.author)
        self.max_hlc = max(self.max_hlc, e.hlc)
        if e.kind == GENESIS and e.seq == 1 and e.prev is None:
            # Only a feed's first entry can found a mesh; a member's later entry
            # of kind mesh.genesis is just an entry (the roster view ignores it).
            self.mesh = e.id
            self.store._set_meta("mesh_id", e.id)
        if e.kind in ROSTER_KINDS:
            self.roster_changed = True
        report.accepted.append(e)

    def _check(self, e: Entry, report: IngestReport) -> tuple[int, str | None]:
        genesis_like = e.seq == 1 and e.prev is None
        if self.mesh is None:
            if not (genesis_like and e.kind == GENESIS):
                return (
                    DEFER,
                    "this laptop is not in a mesh yet (it needs the mesh's genesis first)",
                )
            if self.expected is not None and e.id != self.expected:
                return REJECT, (
                    f"genesis of mesh {e.id.hex()[:16]}, but this laptop is joining "
                    f"mesh {self.expected.hex()[:16]}"
                )
            return ACCEPT, None
        if genesis_like:
            if e.id == self.mesh:
                return self._repair(e, report) or (DUPLICATE, None)
            return (
                REJECT,
                f"belongs to another mesh ({e.id.hex()[:16]}, this is {self.mesh.hex()[:16]})",
            )
        if e.seq == 1 and e.prev != self.mesh:
            return REJECT, (
                f"belongs to another mesh (its feed starts from {e.prev.hex()[:16] if e.prev else 'nil'}, "
                f"this mesh is {self.mesh.hex()[:16]})"
            )
        head = self.heads.get(e.author)
        if head is not None and e.seq <= head.seq:
            repaired = self._repair(e, report)
            if repaired is not None:
                return repaired
        info = self.roster.keys.get(e.author)
        if not self.store._membership_checks:  # package-internal switch (benchmarks only)
            info = info or roster_view.KeyInfo(e.author, e.author, "")
        if info is None:
            return DEFER, f"unknown author {e.author.hex()[:16]}: not in this mesh's roster (yet)"
        if head is not None and e.seq <= head.seq:
            return self._held(e, report)
        fork = self.forks.get(e.author)
        if fork is not None and e.seq >= fork:
            return REJECT, f"feed frozen at seq {fork} (equivocation)"
        expected = head.seq + 1 if head else 1
        if e.seq != expected:
            return REJECT, f"gap: this laptop has this author up to seq {expected - 1}"
        if e.seq > 1 and e.prev != head.id:  # type: ignore[union-attr]
            return REJECT, "broken chain: prev does not match the entry before it"
        if not info.valid_at(e.seq) and e.seq > self.kept.get(e.author, 0):
            return REJECT, f"author's key is {info.status}: last valid seq {info.limit}"
        return ACCEPT, None

    def _held(self, e: Entry, report: IngestReport) -> tuple[int, str | None]:
        """``e`` is at a place this laptop already holds: a duplicate or a fork."""
        existing = self.unwritten_at.get((e.author, e.seq))
        if existing is None:
            row = self._row(e.author, e.seq)
            checked = check_row(row) if row is not None else None
            if not isinstance(checked, Entry):
                return REJECT, (
                    f"this laptop's copy of seq {e.seq} is missing or damaged and this entry "
                    "does not fit it (run `plurictl log verify --repair`)"
                )
            existing = checked
        if existing.id == e.id:
            return DUPLICATE, None
        proof = ForkProof.of(existing, e)
        if self.store._record_fork(self.db, proof):
            self.forks[e.author] = min(self.forks.get(e.author, e.seq), e.seq)
            self.forks_changed = True
            report.forks.append(proof)
        return (
            REJECT,
            f"equivocation: a different entry already holds seq {e.seq} (fork proof kept)",
        )

    def _row(self, author: bytes, seq: int) -> Any:
        return self.db.execute(
            f"SELECT {ROW_COLUMNS} FROM entries WHERE author=? AND seq=?", (author, seq)
        ).fetchone()

    def _repair(self, e: Entry, report: IngestReport) -> tuple[int, str | None] | None:
        """Replace a damaged stored copy of ``e``'s place; None when the stored copy is intact."""
        if (e.author, e.seq) in self.unwritten_at:
            return None
        row = self._row(e.author, e.seq)
        if row is None:  # a hole in the feed (a row lost to damage): fill it if it fits
            if self.store.expected_id(e.author, e.seq) != e.id:
                return None
            self.store._free_id(self.db, e)  # a stray copy of it elsewhere (an edited column)
            self.store._insert(self.db, e)
            self.db.execute("DELETE FROM quarantine WHERE author=? AND seq=?", (e.author, e.seq))
            self.store.damaged.pop((e.author, e.seq), None)
            report.repaired.append(e)
            self.roster_changed = self.roster_changed or e.kind in ROSTER_KINDS
            return REPAIRED, None
        checked = check_row(row)
        if isinstance(checked, Entry) and column_drift(row, checked) is None:
            return None
        expected = self.store.expected_id(e.author, e.seq, row[2])
        if isinstance(checked, Entry):
            expected = checked.id  # intact bytes, drifted columns: the bytes say which entry
        if expected is not None and e.id != expected:
            if isinstance(checked, Entry):
                return None  # an intact entry: the caller decides duplicate or fork
            return REJECT, (
                f"this laptop's copy of seq {e.seq} is damaged, and this is not the entry "
                f"it held (that was {expected.hex()[:16]})"
            )
        self.store._replace(self.db, e)
        report.repaired.append(e)
        if e.kind in ROSTER_KINDS:
            self.roster_changed = True
        self.max_hlc = max(self.max_hlc, e.hlc)
        return REPAIRED, None

    def finish(self, report: IngestReport) -> None:
        self.flush()
        for author in self.touched:
            head = self.heads[author]
            self.db.execute(
                "INSERT INTO heads(author, seq, id) VALUES(?,?,?) "
                "ON CONFLICT(author) DO UPDATE SET seq=excluded.seq, id=excluded.id",
                (author, head.seq, head.id),
            )
        if self.roster_changed or self.forks_changed or report.repaired:
            self.store._bump_generation()
        if self.max_hlc:
            clock = hlc.HybridClock(int(self.store._meta("hlc", 0)))
            clock.merge(self.max_hlc)
            self.store._set_meta("hlc", clock.last)
        if self.touched or report.repaired:
            self.store._heads_cache = None


__all__ = ["Damage", "IngestReport", "Rejection", "ingest", "verify_many"]
