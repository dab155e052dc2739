"""Damaged entries: where they are noted, which id each must have, and answering peers.

A damaged entry is *quarantined*: left out of every read (``Store.damaged`` holds
what this process met; the ``quarantine`` table what ``log verify`` recorded) until
an intact copy with the id it is known to have had replaces it (``ledger.ingest``).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ledger.entry import Entry
from ledger.stored import ROW_COLUMNS, Damage, check_row


def _wall_ms() -> int:
    from ledger.clock import wall_ms

    return wall_ms()


class QuarantineMixin:
    """The part of :class:`ledger.store.Store` about damaged entries."""

    damaged: dict[tuple[bytes, int], Damage]
    read_only: bool

    if TYPE_CHECKING:  # provided by Store

        def _read(self) -> contextlib.AbstractContextManager[sqlite3.Connection]: ...
        def _write(self) -> contextlib.AbstractContextManager[sqlite3.Connection]: ...
        def get(self, entry_id: bytes) -> Entry | None: ...
        def iter_rows(self, batch: int = 2000) -> Iterator[tuple[Any, ...]]: ...

    def expected_id(self, author: bytes, seq: int, stored_id: Any = None) -> bytes | None:
        """The id entry ``seq`` of ``author`` must have, from the best evidence this laptop holds.

        The next entry's ``prev`` (signed) first, then the stored id, then the heads table.
        """
        with self._read() as db:
            row = db.execute(
                f"SELECT {ROW_COLUMNS} FROM entries WHERE author=? AND seq=?", (author, seq + 1)
            ).fetchone()
            if row is not None:
                nxt = check_row(row)
                if isinstance(nxt, Entry) and nxt.prev is not None:
                    return nxt.prev
            if isinstance(stored_id, bytes) and len(stored_id) == 32:
                return stored_id
            head = db.execute("SELECT seq, id FROM heads WHERE author=?", (author,)).fetchone()
        if head is not None and head[0] == seq and isinstance(head[1], bytes):
            return bytes(head[1])
        return None

    def quarantine(self, found: Iterable[Damage]) -> None:
        """Record damaged entries (from ``log verify``) so the node asks peers for copies."""
        rows = [d for d in found if d.author is not None and d.seq is not None]
        if self.read_only:
            for d in rows:
                self.damaged.setdefault(d.key(), d)
            return
        with self._write() as db:
            for d in rows:
                expected = d.id if d.columns_only else self.expected_id(d.author, d.seq, d.id)  # type: ignore[arg-type]
                db.execute(
                    "INSERT INTO quarantine(author, seq, id, reason, found) VALUES(?,?,?,?,?) "
                    "ON CONFLICT(author, seq) DO UPDATE SET id=excluded.id, reason=excluded.reason",
                    (d.author, d.seq, expected, d.reason, _wall_ms()),
                )

    def set_quarantine(self, found: Iterable[Damage]) -> None:
        """The quarantine holds exactly ``found`` (a fresh ``log verify``): entries repaired
        in place or filled since are taken out of it."""
        keep = [d for d in found if d.author is not None and d.seq is not None]
        with self._write() as db:
            db.execute("DELETE FROM quarantine")
        for key in [k for k in self.damaged if k not in {d.key() for d in keep}]:
            del self.damaged[key]
        self.quarantine(keep)

    def quarantined(self) -> list[Damage]:
        """Damaged entries this laptop knows of: recorded by ``log verify`` or met by reads.

        Damage met by this process's reads is re-checked: another process (the
        node) may have repaired it since.
        """
        with self._read() as db:
            rows = db.execute("SELECT author, seq, id, reason FROM quarantine").fetchall()
            found = {(a, s): Damage(a, s, i, r) for a, s, i, r in rows}
            for key, d in list(self.damaged.items()):
                if key in found:
                    continue
                row = db.execute(
                    f"SELECT {ROW_COLUMNS} FROM entries WHERE author=? AND seq=?", key
                ).fetchone()
                if row is None or isinstance(check_row(row), Entry):
                    del self.damaged[key]  # repaired, or the row moved back to its place
                else:
                    found[key] = d
        return [found[k] for k in sorted(found)]

    def scan_damage(self) -> list[Damage]:
        """Check every stored row against its signed bytes in one go (see
        :meth:`scan_damage_steps`); returns what the quarantine holds after."""
        for _ in self.scan_damage_steps():
            pass
        return self.quarantined()

    def scan_damage_steps(self, batch: int = 2000) -> Iterator[int]:
        """Check every stored row against its signed bytes (no signatures: fast); note damage.
        Yields the rows checked so far after each batch, so that a node can spread the scan
        over its loop and keep serving peers (a million entries take seconds); each batch is
        its own read, so no transaction is held between steps.

        Entries missing from a feed are quarantined too, by the id signed evidence gives
        them: a hole (the next entry's ``prev``) and a lost tail (the heads table's id, a
        head is never lowered), so that ``sync`` and the node ask peers for them without
        a ``log verify --repair`` first.
        """
        missing: list[Damage] = []
        last: dict[bytes, int] = {}
        done = 0
        for row in self.iter_rows(batch):
            if done and done % batch == 0:
                yield done  # a batch checked: the caller may serve others before the next
            done += 1
            e = check_row(row)
            if isinstance(e, Damage):
                self.damaged.setdefault(e.key(), e)
                if isinstance(row[0], bytes) and isinstance(row[1], int):
                    last[row[0]] = row[1]
                continue
            if e.seq > last.get(e.author, 0) + 1 and e.prev is not None:
                missing.append(_missing(e.author, e.seq - 1, e.prev, "a hole in the feed"))
            last[e.author] = e.seq
        with self._read() as db:
            heads = db.execute("SELECT author, seq, id FROM heads").fetchall()
        for author, seq, head_id in heads:
            if seq > last.get(author, 0) and isinstance(head_id, bytes):
                missing.append(_missing(author, seq, head_id, "the heads table had it"))
        if missing:
            self.quarantine(missing)
        yield done

    def wanted_ids(self, limit: int = 256) -> list[bytes]:
        """Ids of damaged entries to ask peers for (those whose id is known)."""
        out = []
        for d in self.quarantined():
            if d.columns_only:
                continue
            expected = self.expected_id(d.author, d.seq, d.id) if d.author and d.seq else d.id
            if expected is not None and expected not in out:
                out.append(expected)
            if len(out) >= limit:
                break
        return out

    def intact_raw(self, ids: Iterable[bytes]) -> list[bytes]:
        """Signed encodings of those of ``ids`` this laptop holds intact (answers a peer's want)."""
        out = []
        for eid in ids:
            e = self.get(eid)
            if e is not None and e.id == eid:
                out.append(e.raw)
        return out


def _missing(author: bytes, seq: int, eid: bytes, why: str) -> Damage:
    return Damage(author, seq, eid, f"missing from the store (seq {seq}: {why})")
