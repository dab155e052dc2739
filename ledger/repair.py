"""`log verify --repair`: fix locally what :func:`ledger.integrity.verify` found.

In order:

1. **indexes**: when SQLite's integrity check reports anything, ``REINDEX``; if the
   check still fails and every table reads whole (the damage is in index pages
   only), the indexes are dropped, the file is rewritten (``VACUUM``) and the
   indexes are created again; then the check runs again;
2. **columns**: every row whose signed bytes are intact and validly signed gets
   every column derived from them back (author, seq, id, prev, hlc, kind): a row
   under edited author/seq columns is moved back to its place (or dropped, if its
   place already holds the same entry);
3. fork proofs that fail their check are dropped, the mesh id is set back to the
   genesis entry's, a fork-proof table changed outside plurictl is accepted;
4. the whole store is verified again, then the heads table is rebuilt from the
   entries (never lowered: see :func:`_rebuild_heads`) and the quarantine is set to
   exactly the entries still damaged or missing, which the node asks peers for by id.

A store it cannot write (a read-only home) is refused before anything is changed.
Nothing is ever replaced by an entry whose id differs from the one the damaged copy
is known to have had.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from ledger.entry import Entry, decode, signature_valid
from ledger.errors import StoreError
from ledger.forks import ForkProof
from ledger.integrity import VerifyReport, _genesis_id, _sqlite_check, verify
from ledger.store import Store
from ledger.stored import ROW_COLUMNS, Damage, check_row, column_drift, fast_decode

READ_ONLY = (
    "the ledger is on a read-only disk or folder: --repair needs to write it; nothing was changed"
)


@dataclass
class RepairReport:
    """What ``log verify --repair`` changed, in words, and what is left for peers or bundles."""

    fixed: list[str] = field(default_factory=list)
    quarantined: list[Damage] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"fixed": self.fixed, "quarantined": [d.to_json() for d in self.quarantined]}


def refuse_read_only(store: Store) -> None:
    """Raise (exit 8) before anything is checked or changed when the store cannot be written."""
    if store.read_only:
        raise StoreError(
            READ_ONLY,
            hint="run `plurictl log verify` (no --repair) to check it here, or copy the home "
            "folder to a writable disk and repair the copy",
        )


def repair(store: Store, report: VerifyReport) -> RepairReport:
    """Fix locally what ``report`` found; quarantine damaged entries for a copy from peers."""
    refuse_read_only(store)
    out = RepairReport()
    out.fixed += rebuild_indexes(store, report.database)
    if out.fixed:
        report = verify(store)  # with the indexes back, a true picture of the rest
    elif report.advice:
        return out  # pages SQLite cannot read: nothing below could; verify says what to do
    drifted = [d for d in report.bad if d.columns_only]
    if drifted:
        out.fixed += _restore_rows(store, drifted)
    out.fixed += _fix_forks_and_mesh(store, report)
    if out.fixed:  # a fresh picture: what is still damaged or missing after the fixes above
        report = verify(store)
    broken = [d for d in report.bad if not d.columns_only]
    if report.heads or broken:
        _rebuild_heads(store)
        if report.heads:
            out.fixed.append("rebuilt the heads table from the entries")
    store.set_quarantine(broken)
    out.quarantined = store.quarantined()
    return out


# --- 1. indexes ---------------------------------------------------------------------------


def rebuild_indexes(store: Store, problems: list[str]) -> list[str]:
    """REINDEX (or drop, VACUUM and create the indexes) until SQLite's check is clean."""
    if not problems or not any(_sqlite_finding(p) for p in problems):
        return []
    try:
        with store.transaction() as db:
            db.execute("REINDEX")
    except StoreError:
        pass  # index pages too damaged to clear: rebuilt below
    if not _sqlite_check(store, False):
        return ["rebuilt the database indexes (REINDEX); SQLite's integrity check is clean again"]
    if not _tables_readable(store):
        return []  # table pages are damaged: verify reports it, with what to do
    _recreate_indexes(store)
    if not _sqlite_check(store, False):
        return [
            "rebuilt the database indexes from scratch (their pages were damaged: dropped, "
            "file rewritten, created again); SQLite's integrity check is clean again"
        ]
    return []


def _sqlite_finding(problem: str) -> bool:
    """A finding of SQLite's own check (not plurictl's, nor a read that stopped: REINDEX
    cannot help those, and must not report fixing them)."""
    return not problem.startswith(
        ("the mesh id recorded", "the fork proofs table", "reading the ledger stopped")
    )


def _tables_readable(store: Store) -> bool:
    """Whether every row of every table reads back (without any index)."""
    try:
        with store._read() as db:
            tables = [r[0] for r in db.execute("SELECT name FROM sqlite_schema WHERE type='table'")]
            for name in tables:
                for _ in db.execute(f'SELECT * FROM "{name}" NOT INDEXED'):
                    pass
    except (StoreError, sqlite3.Error):
        return False
    return True


def _recreate_indexes(store: Store) -> None:
    """Drop every index by editing the schema (their pages cannot be read to drop them),
    rewrite the file from the tables (VACUUM frees the orphaned pages), create them again.

    If VACUUM fails the indexes are created all the same: the ledger keeps working.
    """
    db = store.db
    with store._lock:
        indexes = db.execute(
            "SELECT name, sql FROM sqlite_schema WHERE type='index' AND sql IS NOT NULL"
        ).fetchall()
        version = int(db.execute("PRAGMA schema_version").fetchone()[0])
        with store.transaction():
            db.execute("PRAGMA writable_schema=ON")
            try:
                db.execute("DELETE FROM sqlite_schema WHERE type='index' AND sql IS NOT NULL")
                db.execute(f"PRAGMA schema_version={version + 1}")
            finally:
                db.execute("PRAGMA writable_schema=OFF")
        with contextlib.suppress(sqlite3.Error):
            db.execute("VACUUM")
        with store.transaction():
            for _name, sql in indexes:
                db.execute(sql)


# --- 2. columns from the signed bytes -------------------------------------------------------


def _restore_rows(store: Store, drifted: list[Damage]) -> list[str]:
    notes: list[str] = []
    with store.transaction() as db:
        for d in drifted:
            row = db.execute(
                f"SELECT {ROW_COLUMNS} FROM entries WHERE author=? AND seq=?", (d.author, d.seq)
            ).fetchone()
            e = _signed(row)
            if e is not None:
                notes.append(f"{_restore_row(store, db, row, e)}: {d.describe()}")
        store._bump_generation()
    return notes


def _signed(row: Any) -> Entry | None:
    """The validly signed entry in ``row``'s signed bytes, or None."""
    if row is None or not isinstance(row[6], bytes):
        return None
    try:
        e = decode(row[6])
    except Exception:
        return None
    return e if signature_valid(e) else None


def _restore_row(store: Store, db: sqlite3.Connection, row: Any, e: Entry) -> str:
    """Give ``row`` every column its signed entry ``e`` derives; returns what was done."""
    place = (row[0], row[1])
    if place == (e.author, e.seq):
        store._free_id(db, e)
        db.execute(
            "UPDATE entries SET id=?, prev=?, hlc=?, kind=? WHERE author=? AND seq=?",
            (e.id, e.prev, e.hlc, e.kind, e.author, e.seq),
        )
        return "rewrote columns from the signed bytes"
    there = db.execute(
        f"SELECT {ROW_COLUMNS} FROM entries WHERE author=? AND seq=?", (e.author, e.seq)
    ).fetchone()
    if there is None:
        db.execute("DELETE FROM entries WHERE author=? AND seq=?", place)
        store._free_id(db, e)
        db.execute(
            "INSERT INTO entries(author, seq, id, prev, hlc, kind, raw, received) "
            "VALUES(?,?,?,?,?,?,?,?)",
            (e.author, e.seq, e.id, e.prev, e.hlc, e.kind, e.raw, store.received_now()),
        )
        return f"moved the entry back to its place (seq {e.seq})"
    held = check_row(there)
    db.execute("DELETE FROM entries WHERE author=? AND seq=?", place)
    if isinstance(held, Entry) and held.id == e.id:
        if column_drift(there, held) is not None:
            _restore_row(store, db, there, held)
        return "dropped a second copy of an entry already in its place"
    if isinstance(held, Entry) and signature_valid(held):
        store._record_fork(db, ForkProof.of(held, e))  # two signed entries at one place
        return "kept a second signed entry at one place as a fork proof"
    store._free_id(db, e)
    store._replace(db, e)
    return f"put the entry back in its place (seq {e.seq}) over a damaged copy"


# --- 3. fork proofs and the mesh id -----------------------------------------------------------


def _fix_forks_and_mesh(store: Store, report: VerifyReport) -> list[str]:
    fixed: list[str] = []
    if report.bad_forks:
        with store.transaction() as db:
            for d in report.bad_forks:
                db.execute("DELETE FROM forks WHERE author=?", (d.author,))
            store.seal_forks(db)
            store._bump_generation()
        fixed += [f"dropped a damaged fork proof: {d.describe()}" for d in report.bad_forks]
    genesis = _genesis_id(store)
    if any("is not the genesis entry's" in p for p in report.database) and genesis:
        with store.transaction():
            store._set_meta("mesh_id", genesis)
            store._bump_generation()
        fixed.append(f"set the store's mesh id back to its genesis entry's ({genesis.hex()[:16]})")
    if any("fork proofs table changed" in p for p in report.database):
        with store.transaction() as db:
            store.seal_forks(db)
        fixed.append(
            "accepted the fork proofs table as it is now; a deleted proof comes back "
            "from peers at the next sync"
        )
    return fixed


# --- 4. heads ----------------------------------------------------------------------------------


def _rebuild_heads(store: Store) -> None:
    """Heads from the entries, but never below what the heads table recorded.

    A head above the last stored entry means entries this laptop held are missing
    (they are quarantined and fetched by id); lowering the head would let this laptop
    sign a second entry at a seq it has signed before (a fork of its own key). The one
    exception: this laptop's own feed, when the head is above everything it recorded
    signing (its high-water mark) — then the heads row itself was edited.
    """
    with store.transaction() as db:
        rows = db.execute("SELECT author, max(seq) FROM entries GROUP BY author").fetchall()
        recorded = {a: s for a, s in db.execute("SELECT author, seq FROM heads")}
        for author, seq in rows:  # a head with no entries at all is kept too
            high = recorded.get(author)
            signed = store.own_high_water(author)
            edited = signed is not None and isinstance(high, int) and high > max(signed, seq)
            if isinstance(high, int) and high > seq and not edited:
                continue  # entries are missing above the last stored one: keep the head
            db.execute("DELETE FROM heads WHERE author=?", (author,))
            eid = _id_of(store, db, author, seq)
            if eid is not None:
                db.execute("INSERT INTO heads(author, seq, id) VALUES(?,?,?)", (author, seq, eid))


def _id_of(store: Store, db: sqlite3.Connection, author: bytes, seq: int) -> bytes | None:
    row = db.execute(
        "SELECT raw, id FROM entries WHERE author=? AND seq=?", (author, seq)
    ).fetchone()
    if row is None:
        return None
    e = fast_decode(row[0], row[1]) if isinstance(row[0], bytes) else None
    return e.id if e is not None else store.expected_id(author, seq, row[1])


__all__ = ["READ_ONLY", "RepairReport", "rebuild_indexes", "refuse_read_only", "repair"]
