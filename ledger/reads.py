"""The store's reads: every row is checked against its signed bytes before anyone sees it.

Part of :class:`ledger.store.Store` (a mixin): rows come from SQL, entries from
:func:`ledger.stored.check_row`; damaged rows are noted in ``Store.damaged`` and left out.
Order is always the signed (hlc, author, seq), never the editable ``hlc`` column.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ledger import forked
from ledger.entry import Entry
from ledger.kinds import ROSTER_KINDS
from ledger.roster import view as roster_view
from ledger.stored import (
    KIND_BYTES_COLUMNS,
    ROW_COLUMNS,
    SCAN_SHARE,
    Damage,
    KindFilter,
    check_kind_bytes_row,
    check_row,
    gc_paused,
    kind_filter,
    kind_ok,
    sort_entries,
)

#: A roster of at least this many entries is folded beside the caller's work (a child of
#: this process, where it can fork onto another core): a fold of 10,000 members takes
#: about 0.3 s, the fork and sending the roster back about 0.06 s.
BESIDE_ROWS = 2000


class ReadsMixin:
    """Checked reads of :class:`ledger.store.Store`."""

    damaged: dict[tuple[bytes, int], Damage]
    _roster_cache: tuple[int, roster_view.Roster] | None

    if TYPE_CHECKING:  # provided by Store

        def _read(self) -> contextlib.AbstractContextManager[sqlite3.Connection]: ...

        def _meta(self, key: str, default: Any = None) -> Any: ...

        def forks_by_author(self) -> dict[bytes, int]: ...

    def _checked(
        self, rows: Iterable[Any], check: Callable[[Any], Entry | Damage] = check_row
    ) -> list[Entry]:
        """The intact entries of ``rows``; damaged ones are noted in :attr:`damaged`."""
        out = []
        for row in rows:
            e = check(row)
            if isinstance(e, Damage):
                self.damaged.setdefault(e.key(), e)
            else:
                out.append(e)
        return out

    # --- the roster ----------------------------------------------------------------

    def roster(self) -> roster_view.Roster:
        """The roster view over this store (cached until a roster entry or fork arrives).

        Roster entries are selected by the kind in their signed bytes.
        """
        return self.roster_beside(beside=False)()

    def roster_beside(self, *, beside: bool = True) -> Callable[[], roster_view.Roster]:
        """The roster, given by the function returned. A big roster not cached yet is
        folded by a forked child (:mod:`ledger.forked`) from the rows read here, in this
        read's snapshot, while this process goes on (reading vote entries, say); the
        function waits for it. A child that fails changes nothing: the fold runs here."""
        with self._read() as db:
            gen = int(self._meta("generation", 0))
            if self._roster_cache is not None and self._roster_cache[0] == gen:
                cached = self._roster_cache[1]
                return lambda: cached
            kinds = tuple(sorted(ROSTER_KINDS))
            rows = db.execute(
                f"SELECT {ROW_COLUMNS} FROM entries "
                "WHERE kind_signed IN (?, ?, ?) OR kind IN (?, ?, ?)",
                kinds + kinds,
            ).fetchall()
            forks = self.forks_by_author()
            mesh = self._meta("mesh_id")

        def fold() -> tuple[roster_view.Roster, list[Damage]]:
            checked = [check_row(row) for row in rows]
            damage = [e for e in checked if isinstance(e, Damage)]
            found = [e for e in checked if isinstance(e, Entry) and e.kind in ROSTER_KINDS]
            return roster_view.fold(found, forks, mesh_id=mesh), damage

        children = None
        if beside and len(rows) >= BESIDE_ROWS and forked.cores():
            children = forked.Children(lambda _: fold(), 1)

        def done() -> roster_view.Roster:
            got = children.results() if children is not None else None
            roster, damage = got[0] if got is not None else fold()
            for d in damage:
                self.damaged.setdefault(d.key(), d)
            self._roster_cache = (gen, roster)
            return roster

        return done

    def _one(self, sql: str, args: Sequence[Any]) -> Entry | None:
        with self._read() as db:
            row = db.execute(f"SELECT {ROW_COLUMNS} FROM entries WHERE {sql}", args).fetchone()
        found = self._checked([row]) if row else []
        return found[0] if found else None

    def count(self) -> int:
        with self._read() as db:
            return int(db.execute("SELECT count(*) FROM entries").fetchone()[0])

    def get(self, entry_id: bytes) -> Entry | None:
        return self._one("id=?", (entry_id,))

    def find(self, prefix: str) -> Entry | None:
        """An entry by its id or an unambiguous hex prefix (at least 8 characters)."""
        prefix = prefix.strip().lower()
        try:
            bytes.fromhex(prefix if len(prefix) % 2 == 0 else prefix[:-1])
        except ValueError:
            return None
        if len(prefix) == 64:
            return self.get(bytes.fromhex(prefix))
        if len(prefix) < 8:
            return None
        low = bytes.fromhex(prefix + "0" * (len(prefix) % 2))
        with self._read() as db:
            rows = db.execute(
                f"SELECT {ROW_COLUMNS} FROM entries WHERE id >= ? ORDER BY id LIMIT 2", (low,)
            ).fetchall()
        matches = [r for r in rows if isinstance(r[2], bytes) and r[2].hex().startswith(prefix)]
        found = self._checked(matches) if len(matches) == 1 else []
        return found[0] if found else None

    def entry_at(self, author: bytes, seq: int) -> Entry | None:
        return self._one("author=? AND seq=?", (author, seq))

    def id_at(self, author: bytes, seq: int) -> bytes | None:
        with self._read() as db:
            row = db.execute(
                "SELECT id FROM entries WHERE author=? AND seq=?", (author, seq)
            ).fetchone()
        return row[0] if row else None

    def range_raw(
        self, author: bytes, start: int, end: int | None = None, limit: int = 1000
    ) -> list[bytes]:
        """Signed encodings of ``author``'s entries with start <= seq <= end, in seq order.

        Stops before the first damaged entry: a peer or a bundle never gets
        damaged bytes from us (nor the entries after them, which would not chain).
        """
        with self._read() as db:
            if end is None:
                rows = db.execute(
                    f"SELECT {ROW_COLUMNS} FROM entries WHERE author=? AND seq>=? "
                    "ORDER BY seq LIMIT ?",
                    (author, start, limit),
                ).fetchall()
            else:
                rows = db.execute(
                    f"SELECT {ROW_COLUMNS} FROM entries WHERE author=? AND seq BETWEEN ? AND ? "
                    "ORDER BY seq LIMIT ?",
                    (author, start, end, limit),
                ).fetchall()
        out = []
        for expected, row in enumerate(rows, start=start):
            e = check_row(row)
            if isinstance(e, Damage):
                self.damaged.setdefault(e.key(), e)
                break
            if e.seq != expected:  # a hole (a row lost or moved): what follows would not chain
                break
            out.append(e.raw)
        return out

    def entries(
        self,
        *,
        author: bytes | None = None,
        kinds: Sequence[str] | None = None,
        kind_prefix: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
        ordered: bool = True,
    ) -> list[Entry]:
        """Intact entries filtered by author and signed kind, ordered by (hlc, author, seq).

        ``ordered=False``: in no particular order, for a fold that orders them itself (the
        votes fold sorts by id): a whole-table read then skips a sort by (hlc, author, seq).
        """
        filt = kind_filter(tuple(kinds) if kinds else None, kind_prefix)
        if author is None and limit is None and filt is not None and self._scan(filt):
            # most of the table: one pass over it, sorted here (no index lookup per row)
            with self._read() as db:
                rows = db.execute(
                    f"SELECT {KIND_BYTES_COLUMNS} FROM entries NOT INDEXED WHERE {filt.scan}",
                    filt.scan_args,
                ).fetchall()
            with gc_paused():
                found = self._checked(rows, check_kind_bytes_row)
                if kinds or not kind_prefix:
                    found = [e for e in found if kind_ok(e, kinds, kind_prefix)]
                else:  # kind_ok for a prefix alone, in line
                    found = [e for e in found if e.kind.startswith(kind_prefix)]
            if ordered:
                sort_entries(found, newest_first)  # by the signed hlc, never the column
            return found
        with gc_paused():
            return list(
                self.iter_entries(
                    author=author,
                    kinds=kinds,
                    kind_prefix=kind_prefix,
                    limit=limit,
                    newest_first=newest_first,
                )
            )

    def _scan(self, filt: KindFilter) -> bool:
        """Whether the rows ``filt`` selects are enough of the table to read it whole."""
        with self._read() as db:
            matching = int(db.execute(filt.count, filt.count_args).fetchone()[0])
            if matching == 0:
                return False
            total = int(db.execute("SELECT count(*) FROM entries").fetchone()[0])
        return matching * SCAN_SHARE >= total

    def iter_entries(
        self,
        *,
        author: bytes | None = None,
        kinds: Sequence[str] | None = None,
        kind_prefix: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
        batch: int = 2000,
    ) -> Iterator[Entry]:
        """Like :meth:`entries`, streamed in batches (constant memory for any ledger size)."""
        where: list[str] = []
        args: list[Any] = []
        if author is not None:
            where.append("author=?")
            args.append(author)
        filt = kind_filter(tuple(kinds) if kinds else None, kind_prefix)
        if filt is not None:
            where.append(filt.indexed)
            args.extend(filt.args)
        sql = f"SELECT {ROW_COLUMNS} FROM entries"
        if where:
            sql += " WHERE " + " AND ".join(where)
        direction = "DESC" if newest_first else "ASC"
        # the signed hlc (generated from the bytes, indexed), never the editable hlc column
        sql += f" ORDER BY hlc_signed {direction}, author {direction}, seq {direction}"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        with self._read() as db:
            cursor = db.execute(sql, args)
            rows = cursor.fetchmany(batch)
            while rows:
                for e in self._checked(rows):
                    if kind_ok(e, kinds, kind_prefix):
                        yield e
                rows = cursor.fetchmany(batch)

    def ids(self, *, kinds: Sequence[str]) -> list[bytes]:
        """Ids of the stored entries of these kinds (by the stored kind; nothing decoded)."""
        with self._read() as db:
            rows = db.execute(
                f"SELECT id FROM entries WHERE kind IN ({','.join('?' * len(kinds))})", list(kinds)
            ).fetchall()
        return [r[0] for r in rows]

    def iter_raw(self, batch: int = 2000) -> Iterator[tuple[bytes, bytes]]:
        """Every (raw, id) in (author, seq) order, read in batches (constant memory)."""
        for row in self.iter_rows(batch):
            yield row[6], row[2]

    def iter_rows(self, batch: int = 2000) -> Iterator[tuple[Any, ...]]:
        """Every stored row (``ROW_COLUMNS``), unchecked, in (author, seq) order, in batches."""
        last: tuple[bytes, int] = (b"", 0)
        while True:
            with self._read() as db:
                rows = db.execute(
                    f"SELECT {ROW_COLUMNS} FROM entries WHERE (author, seq) > (?, ?) "
                    "ORDER BY author, seq LIMIT ?",
                    (*last, batch),
                ).fetchall()
            if not rows:
                return
            yield from rows
            last = (rows[-1][0], rows[-1][1])
