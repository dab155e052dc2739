"""The local ledger: a SQLite file of signed entries, fork proofs and heads.

* WAL and ``synchronous=FULL``: a commit that returned survives a crash or a
  pulled plug; a second process (the CLI while a node runs) reads and writes
  safely, writers queue on ``BEGIN IMMEDIATE``.
* ``PRIMARY KEY(author, seq) WITHOUT ROWID``: the schema itself refuses two
  entries at one place of a feed; a different second entry becomes a fork proof.
* :meth:`Store.ingest` verifies signatures outside the write lock, then checks
  mesh, chain and membership and stores the batch in one transaction.

Heads come in two flavours: *stored* heads (the highest seq kept per author)
and *effective* heads (cut at a revocation, rotation or fork), which are what
the mesh advertises so that every laptop converges on the same vector.

Reads are in :mod:`ledger.reads`, fork proofs in :mod:`ledger.forkstore`, damaged
entries in :mod:`ledger.quarantine` (mixins of :class:`Store`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger import clock as hlc
from ledger import ingest as ingest_mod
from ledger import lostguard
from ledger.entry import Entry, Signer, create
from ledger.errors import NotInitialised, NotInMesh, StoreError, TrustError, WrongMesh
from ledger.forks import ForkProof
from ledger.forkstore import ForkStoreMixin
from ledger.ingest import IngestReport, Rejection, verify_many
from ledger.kinds import GENESIS, ROSTER_KINDS
from ledger.quarantine import QuarantineMixin
from ledger.reads import ReadsMixin
from ledger.roster import view as roster_view
from ledger.schema import MIGRATIONS, SCHEMA_VERSION, connect, sqlite_errors
from ledger.stored import ROW_COLUMNS, Damage, check_row, entry_hash, fast_decode

DB_FILE = "ledger.db"
#: beside the ledger file (``ledger.db.mesh``): this home belongs to a mesh


@dataclass(frozen=True)
class Head:
    seq: int
    id: bytes


def _wall_ms() -> int:
    return hlc.wall_ms()


def decode_trusted(raw: bytes, entry_id: bytes) -> Entry:
    """Decode an entry read back from a store, without the signature check.

    Kept for benchmarks and tools; the store itself reads through
    :func:`ledger.stored.check_row`, which also checks the bytes against their id.
    """
    e = fast_decode(raw, entry_id)
    if e is None:
        raise StoreError(f"damaged entry {entry_id.hex()[:16]}: its bytes do not match its id")
    return e


def _own_high_key(author: bytes) -> str:
    """The meta key of the highest seq this laptop appended for ``author`` (its own key)."""
    return "own_high:" + author.hex()


class Store(ReadsMixin, ForkStoreMixin, QuarantineMixin):
    """One laptop's ledger. Open with :meth:`open`; use as a context manager."""

    def _wall_ms(self) -> int:
        return hlc.wall_ms() + self.clock_offset_ms

    def __init__(self, path: Path, *, create: bool = False, timeout: float = 10.0) -> None:
        self.path = Path(path)
        lostguard.check_not_lost(self.path)
        if not self.path.exists():
            if not create:
                raise NotInitialised(
                    f"no ledger at {self.path}", hint="run `plurictl init --name NAME` first"
                )
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                os.close(fd)
            except FileExistsError:
                pass
            except OSError as e:
                raise StoreError(f"cannot create ledger {self.path}: {e.strerror}") from e
        #: Private: only a benchmark switches it off, to measure what the membership gate costs.
        self._membership_checks = True
        #: how far this laptop's clock is off (ms): drills simulate a wrong clock with it
        self.clock_offset_ms = 0
        self._lock = threading.RLock()
        self._roster_cache: tuple[int, roster_view.Roster] | None = None
        self._heads_cache: tuple[int, dict[bytes, Head]] | None = None
        self._digest_cache: tuple[int, bytes] | None = None
        self._kept_cache: tuple[tuple[int, int, int], dict[bytes, int]] | None = None
        self._writing = False
        #: damaged entries met while reading, by (author, seq): left out of every result
        self.damaged: dict[tuple[bytes, int], Damage] = {}
        self.damaged_forks: dict[bytes, str] = {}
        self._fork_memo: dict[tuple[Any, ...], ForkProof | str] = {}
        with sqlite_errors():
            self.db, self.read_only = connect(self.path, timeout)
            self._migrate()
            if not self.read_only and not self.marker.exists():
                mesh = self._meta("mesh_id")
                if mesh is not None:  # a ledger from before markers: mark it now
                    lostguard.mark(self.path, mesh)

    @property
    def marker(self) -> Path:
        """The marker of a ledger that belongs to a mesh (:mod:`ledger.lostguard`)."""
        return lostguard.marker_of(self.path)

    @classmethod
    def open(cls, home: Path, *, create: bool = False) -> Store:
        return cls(Path(home) / DB_FILE, create=create)

    def close(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- schema -----------------------------------------------------------------

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"this ledger was written by a newer plurictl (schema {version}, "
                f"this one knows {SCHEMA_VERSION})",
                hint="upgrade plurictl on this laptop",
            )
        if version == SCHEMA_VERSION:
            return
        if self.read_only:
            raise StoreError(
                f"this ledger (schema {version}) must be upgraded to schema {SCHEMA_VERSION}, "
                "which needs write access, but it is on a read-only disk or folder",
                hint="copy the home folder to a writable disk and open that copy",
            )
        with self._write():
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            for target in range(version + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[target]:
                    self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version={target}")

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE): all of it lands, or none of it.

        Inside :meth:`transaction` it joins the outer transaction instead.
        """
        with self._lock, sqlite_errors():
            if self._writing:
                yield self.db
                return
            self.db.execute("BEGIN IMMEDIATE")
            self._writing = True
            try:
                yield self.db
            except BaseException:
                self._writing = False
                if self.db.in_transaction:  # SQLite may already have rolled back (disk full)
                    self.db.execute("ROLLBACK")
                self._roster_cache = None
                self._heads_cache = None
                self._digest_cache = None
                raise
            self._writing = False
            try:
                self.db.execute("COMMIT")
            except sqlite3.Error:
                if self.db.in_transaction:  # a failed COMMIT leaves the transaction open
                    self.db.execute("ROLLBACK")
                self._roster_cache = None
                raise
            finally:
                self._heads_cache = None  # data_version only sees other connections' commits
                self._digest_cache = None

    def transaction(self) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """One write transaction around several calls (a bundle's batches): all or nothing."""
        return self._write()

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several reads."""
        with self._lock, sqlite_errors():
            if self.db.in_transaction:
                yield self.db
                return
            self.db.execute("BEGIN")
            try:
                yield self.db
            finally:
                # a generator abandoned half-way may end only after the store was closed
                with contextlib.suppress(sqlite3.ProgrammingError):
                    self.db.execute("COMMIT")

    # --- meta -------------------------------------------------------------------

    def _meta(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def _set_meta(self, key: str, value: Any) -> None:
        if key == "mesh_id" and isinstance(value, bytes):
            lostguard.mark(self.path, value)
        self.db.execute(
            "INSERT INTO meta(key, value) VALUES(?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, value),
        )

    def _bump_generation(self) -> None:
        self._set_meta("generation", int(self._meta("generation", 0)) + 1)

    @property
    def mesh_id(self) -> bytes | None:
        with sqlite_errors(), self._lock:
            value = self._meta("mesh_id")
        return value if isinstance(value, bytes) else None

    @property
    def expected_mesh(self) -> bytes | None:
        with sqlite_errors(), self._lock:
            value = self._meta("expected_mesh")
        return value if isinstance(value, bytes) else None

    def pin_mesh(self, mesh_id: bytes) -> None:
        """Remember which mesh this laptop is joining: only that genesis is accepted."""
        with self._write():
            current = self._meta("mesh_id")
            if current is not None and current != mesh_id:
                raise WrongMesh(
                    f"this laptop already belongs to mesh {current.hex()[:16]}",
                    hint="a laptop belongs to one mesh; use another --home for another mesh",
                )
            self._set_meta("expected_mesh", mesh_id)

    def data_version(self) -> int:
        """Changes whenever another connection commits (cheap change detection)."""
        with sqlite_errors(), self._lock:
            return int(self.db.execute("PRAGMA data_version").fetchone()[0])

    def generation(self) -> int:
        """Bumped on every roster entry or fork proof: views derived from them are stale."""
        with sqlite_errors(), self._lock:
            return int(self._meta("generation", 0))

    # --- roster and heads ---------------------------------------------------------

    def stored_heads(self) -> dict[bytes, Head]:
        with self._read() as db:
            return {a: Head(s, i) for a, s, i in db.execute("SELECT author, seq, id FROM heads")}

    def heads(self) -> dict[bytes, Head]:
        """Effective heads: cut at revocation, rotation or fork, identical on every laptop."""
        with self._read() as db:
            version = self.data_version()
            if self._heads_cache is not None and self._heads_cache[0] == version:
                return dict(self._heads_cache[1])
            stored = self.stored_heads()
            roster = self.roster()
            kept: dict[bytes, int] | None = None
            for author, head in list(stored.items()):
                info = roster.keys.get(author)
                limit = info.limit if info else None
                if limit is not None and head.seq > limit:
                    if kept is None:
                        kept = self._kept_past_cut(())
                    limit = max(limit, min(kept.get(author, 0), head.seq))
                if limit is not None and head.seq > limit:
                    if limit <= 0:
                        del stored[author]
                        continue
                    row = db.execute(
                        "SELECT id FROM entries WHERE author=? AND seq=?", (author, limit)
                    ).fetchone()
                    if row is None:  # pragma: no cover - chains are contiguous
                        del stored[author]
                    else:
                        stored[author] = Head(limit, row[0])
            self._heads_cache = (version, stored)
            return dict(stored)

    def digest(self) -> bytes:
        """32-byte digest of the effective heads and fork proofs: equal digests, equal ledgers."""
        version = self.data_version()
        if self._digest_cache is not None and self._digest_cache[0] == version:
            return self._digest_cache[1]
        h = hashlib.blake2b(digest_size=32, person=b"plurigrid-heads")
        for author, head in sorted(self.heads().items()):
            h.update(author + head.seq.to_bytes(8, "big") + head.id)
        h.update(b"forks")
        for proof in self.fork_proofs():
            h.update(proof.author + proof.seq.to_bytes(8, "big") + proof.a.id + proof.b.id)
        digest = h.digest()
        self._digest_cache = (version, digest)
        return digest

    def _kept_past_cut(self, incoming: Iterable[Entry]) -> dict[bytes, int]:
        """author -> seq up to which entries past the author's revocation or rotation cut
        are kept, because a vote depends on them (a sealed vote's entries, a teller's
        seal on a vote not sealed yet: :mod:`ledger.votes.pins`).
        Computed only when such an entry is stored or arriving."""
        roster = self.roster()
        incoming = list(incoming)
        past = [e for e in incoming if (i := roster.keys.get(e.author)) and not i.valid_at(e.seq)]
        if any(e.kind.startswith("vote.") for e in past):
            incoming = [e for e in incoming if e.kind.startswith("vote.")]
        else:  # no new pin can come from this batch: only what the store holds counts
            incoming = []
            stored = self.stored_heads()
            if not past and not any(
                (i := roster.keys.get(a)) and i.limit is not None and h.seq > i.limit
                for a, h in stored.items()
            ):
                return {}
        from ledger.votes.pins import kept_limits

        with self._read() as db:  # pins change only with vote entries, roster or forks
            votes_held = db.execute(
                "SELECT count(*) FROM entries WHERE kind >= 'vote.' AND kind < 'vote/'"
            ).fetchone()[0]
        key = (votes_held, self.generation(), hash(tuple(e.id for e in incoming)))
        if self._kept_cache is not None and self._kept_cache[0] == key:
            return self._kept_cache[1]
        try:
            limits = kept_limits(self, incoming)
        except Exception:  # pragma: no cover - the votes fold never raises; sync must not
            limits = {}
        self._kept_cache = (key, limits)
        return limits

    # --- writes -----------------------------------------------------------------

    def append(self, signer: Signer, kind: str, body: dict[str, Any]) -> Entry:
        """Sign and store one entry at the end of ``signer``'s feed."""
        return self.append_many(signer, [(kind, body)])[0]

    def append_many(
        self, signer: Signer, items: Sequence[tuple[str, dict[str, Any]]]
    ) -> list[Entry]:
        """Sign and store entries in one transaction (all or nothing)."""
        author = signer.public
        out: list[Entry] = []
        with self._write() as db:
            mesh = self._meta("mesh_id")
            row = db.execute("SELECT seq, id FROM heads WHERE author=?", (author,)).fetchone()
            seq, prev = (row[0], row[1]) if row else (0, mesh)
            self._check_own_feed(db, author, seq, prev)
            clock = hlc.HybridClock(int(self._meta("hlc", 0)), self._wall_ms)
            roster = self.roster() if mesh is not None else None
            roster_changed = False
            for kind, body in items:
                genesis = kind == GENESIS
                if mesh is None and not genesis:
                    raise NotInMesh()
                if genesis and (mesh is not None or seq != 0):
                    raise WrongMesh(
                        "this laptop already belongs to a mesh"
                        if mesh is not None
                        else "a genesis must be the first entry of a feed"
                    )
                entry = create(
                    signer,
                    seq=seq + 1,
                    prev=None if genesis else prev,
                    hlc=clock.now(),
                    kind=kind,
                    body=body,
                )
                if roster is not None:
                    info = roster.keys.get(author)
                    if info is None:
                        raise TrustError(
                            "this laptop's key is not in the mesh roster yet",
                            hint="read your fingerprint (`plurictl key show`) to an admin, who "
                            "runs `plurictl roster add`; then sync or import their bundle",
                        )
                    if not info.valid_at(entry.seq):
                        raise TrustError(
                            f"this laptop's key is {info.status}; it can no longer write",
                            hint="ask an admin to rotate your membership to a new key",
                        )
                self._insert(db, entry)
                if genesis:
                    mesh = entry.id
                    self._set_meta("mesh_id", mesh)
                if kind in ROSTER_KINDS:
                    roster_changed = True
                seq, prev = entry.seq, entry.id
                out.append(entry)
            db.execute(
                "INSERT INTO heads(author, seq, id) VALUES(?,?,?) "
                "ON CONFLICT(author) DO UPDATE SET seq=excluded.seq, id=excluded.id",
                (author, seq, prev),
            )
            self._set_meta("hlc", clock.last)
            self._set_meta(_own_high_key(author), seq)
            if roster_changed:
                self._bump_generation()
        return out

    def _check_own_feed(
        self, db: sqlite3.Connection, author: bytes, seq: int, prev: bytes | None
    ) -> None:
        """Refuse to sign at ``seq + 1`` unless ``prev`` is surely the id of entry ``seq``.

        The highest seq this laptop ever recorded for its key (kept in ``meta`` at each
        append), the heads table and the stored entries must all agree that ``seq`` is
        the end of the feed, and entry ``seq`` must be here, intact, with the id the heads
        table names: otherwise entries were lost (a new entry would fork this laptop's own
        key) or the heads table was edited (a new entry would chain to a wrong ``prev``,
        signed for good: every peer would refuse it and everything after it).
        """
        stored = db.execute("SELECT max(seq) FROM entries WHERE author=?", (author,)).fetchone()
        top = int(stored[0] or 0)
        signed = self._meta(_own_high_key(author), None)
        high = max(int(signed or 0), top)
        if signed is not None and seq > high:
            raise self._heads_disagree(seq, top)  # a head above anything this laptop signed
        held: Entry | Damage | None = None
        if seq > 0:
            row = db.execute(
                f"SELECT {ROW_COLUMNS} FROM entries WHERE author=? AND seq=?", (author, seq)
            ).fetchone()
            held = check_row(row) if row is not None else None
        if high > top or (seq > 0 and held is None) or isinstance(held, Damage):
            raise StoreError(
                f"this laptop has signed its own feed up to seq {max(high, seq)}, but entries "
                "of it are missing or damaged here; writing now would sign a second entry at a "
                "seq it already used (a fork of its own key: every peer would freeze its feed)",
                hint="run `plurictl log verify --repair --peer tcp://HOST:PORT` or "
                "`plurictl sync --peer ADDR` first, so the missing entries come back from a peer",
            )
        if top > seq or (isinstance(held, Entry) and held.id != prev):
            raise self._heads_disagree(seq, top)

    def own_high_water(self, author: bytes) -> int | None:
        """The highest seq this laptop recorded signing with ``author`` (None: not its key,
        or a ledger from before the record was kept)."""
        value = self._meta(_own_high_key(author), None)
        return int(value) if value is not None else None

    def own_keys(self) -> list[bytes]:
        """The keys this laptop signed entries with (each has an ``own_high`` record)."""
        with self._read() as db:
            rows = db.execute("SELECT key FROM meta WHERE key LIKE 'own_high:%'").fetchall()
        return [bytes.fromhex(k.split(":", 1)[1]) for (k,) in rows]

    @staticmethod
    def _heads_disagree(seq: int, top: int) -> StoreError:
        return StoreError(
            "the heads table disagrees with the stored entries of this laptop's own feed "
            f"(it says seq {seq}, the entries end at seq {top}); writing now could sign an "
            "entry chained to the wrong place; nothing was written",
            hint="run `plurictl log verify --repair`: it rebuilds the heads table from the "
            "entries (and says if any entry must come back from a peer)",
        )

    _INSERT = (
        "INSERT INTO entries(author, seq, id, prev, hlc, kind, raw, received) "
        "VALUES(?,?,?,?,?,?,?,?)"
    )

    def _insert(self, db: sqlite3.Connection, e: Entry) -> None:
        db.execute(self._INSERT, (e.author, e.seq, e.id, e.prev, e.hlc, e.kind, e.raw, _wall_ms()))

    def _insert_many(self, db: sqlite3.Connection, entries: list[Entry]) -> None:
        now = _wall_ms()
        db.executemany(
            self._INSERT,
            [(e.author, e.seq, e.id, e.prev, e.hlc, e.kind, e.raw, now) for e in entries],
        )

    def received_now(self) -> int:
        return _wall_ms()

    def _free_id(self, db: sqlite3.Connection, e: Entry) -> None:
        """Before ``e`` is put at its place: rows elsewhere whose id column holds ``e.id``.

        A stray copy of ``e`` (its author or seq column edited) is dropped; any other row
        gets the id of its own bytes back (its id column was edited), so that the unique
        id index never refuses the intact entry.
        """
        rows = db.execute(
            "SELECT author, seq, raw FROM entries WHERE id=? AND NOT (author=? AND seq=?)",
            (e.id, e.author, e.seq),
        ).fetchall()
        for author, seq, raw in rows:
            own = entry_hash(raw) if isinstance(raw, bytes) else None
            if own == e.id:
                db.execute("DELETE FROM entries WHERE author=? AND seq=?", (author, seq))
                continue
            if own is None:  # no bytes at all: an id no entry can have, unique to the place
                own = entry_hash(b"no signed bytes" + bytes(author) + str(seq).encode())
            db.execute("UPDATE entries SET id=? WHERE author=? AND seq=?", (own, author, seq))

    def _replace(self, db: sqlite3.Connection, e: Entry) -> None:
        """Put the intact ``e`` where a damaged copy of it was (every column from ``e``)."""
        self._free_id(db, e)
        db.execute(
            "UPDATE entries SET id=?, prev=?, hlc=?, kind=?, raw=? WHERE author=? AND seq=?",
            (e.id, e.prev, e.hlc, e.kind, e.raw, e.author, e.seq),
        )
        db.execute("DELETE FROM quarantine WHERE author=? AND seq=?", (e.author, e.seq))
        self.damaged.pop((e.author, e.seq), None)
        self._roster_cache = None

    def ingest(
        self,
        items: Iterable[bytes | Entry],
        *,
        checked: list[tuple[Entry | None, Rejection | None]] | None = None,
    ) -> IngestReport:
        """Verify and store entries from elsewhere (peer, bundle). Never raises for bad entries.

        Signatures are checked before the write lock is taken. Then, in one
        transaction: mesh binding, duplicates and forks, chain (seq contiguity
        and ``prev``), and membership at that seq. Roster entries go first, so
        a batch that adds a member and carries that member's entries lands whole.
        An entry whose stored copy here is damaged replaces it (see ``ledger.ingest``).

        ``checked``: what :func:`verify_many` returned for these items, computed
        earlier (the mesh verifies the next batch on another thread while this
        one is written); ``items`` is then ignored.
        """
        return ingest_mod.ingest(self, items, checked=checked)

    def verify_all(self, progress: Any = None, *, quick: bool = False) -> Any:
        """Check every stored byte and column (see :func:`ledger.integrity.verify`)."""
        from ledger.integrity import verify

        return verify(self, quick=quick, progress=progress)


__all__ = [
    "DB_FILE",
    "Head",
    "IngestReport",
    "Rejection",
    "Store",
    "decode_trusted",
    "verify_many",
]
