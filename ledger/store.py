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
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack

from ledger import clock as hlc
from ledger.entry import Entry, Signer, create, decode, signature_valid
from ledger.errors import (
    EncodingError,
    NotInitialised,
    StoreError,
    TrustError,
    WrongMesh,
)
from ledger.forks import ForkProof
from ledger.kinds import GENESIS, ROSTER_KINDS
from ledger.views import roster as roster_view

SCHEMA_VERSION = 2
DB_FILE = "ledger.db"

_SCHEMA_V1 = [
    """CREATE TABLE meta(key TEXT PRIMARY KEY, value ANY) WITHOUT ROWID""",
    """CREATE TABLE entries(
        author BLOB NOT NULL,
        seq INTEGER NOT NULL,
        id BLOB NOT NULL,
        prev BLOB,
        hlc INTEGER NOT NULL,
        kind TEXT NOT NULL,
        raw BLOB NOT NULL,
        received INTEGER NOT NULL,
        PRIMARY KEY(author, seq)
    ) WITHOUT ROWID""",
    """CREATE UNIQUE INDEX entries_by_id ON entries(id)""",
    """CREATE INDEX entries_by_kind ON entries(kind, hlc)""",
    """CREATE TABLE heads(
        author BLOB PRIMARY KEY, seq INTEGER NOT NULL, id BLOB NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE forks(
        author BLOB PRIMARY KEY,
        seq INTEGER NOT NULL,
        raw_a BLOB NOT NULL,
        raw_b BLOB NOT NULL,
        found INTEGER NOT NULL
    ) WITHOUT ROWID""",
]

#: v2: frontiers (heads vectors) other laptops showed us, for `bundle export --for`
#: (read and written by ``ledger.frontier``).
_SCHEMA_V2 = [
    """CREATE TABLE known_frontiers(
        key BLOB PRIMARY KEY,
        mesh BLOB NOT NULL,
        hlc INTEGER NOT NULL,
        heads BLOB NOT NULL,
        source TEXT NOT NULL,
        recorded INTEGER NOT NULL
    ) WITHOUT ROWID""",
]

#: schema version -> statements that bring the previous version up to it.
MIGRATIONS: dict[int, list[str]] = {1: _SCHEMA_V1, 2: _SCHEMA_V2}


@dataclass(frozen=True)
class Head:
    seq: int
    id: bytes


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

    def merge(self, other: IngestReport) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.forks += other.forks

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
        }


@dataclass
class VerifyReport:
    checked: int = 0
    bad: list[Rejection] = field(default_factory=list)
    forks: list[ForkProof] = field(default_factory=list)
    #: valid signatures, but after the author's revocation, rotation or fork point
    ignored: list[Rejection] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.bad and not self.forks

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "bad": [b.to_json() for b in self.bad],
            "forks": [f.to_json() for f in self.forks],
            "ignored": [i.to_json() for i in self.ignored],
        }


_ACCEPT, _DUPLICATE, _REJECT, _DEFER = range(4)


def _wall_ms() -> int:
    return hlc.wall_ms()


def describe_sqlite_error(e: sqlite3.Error) -> str:
    text = str(e)
    low = text.lower()
    if "locked" in low or "busy" in low:
        return "the ledger is busy (another plurictl is writing); nothing was changed, try again"
    if "readonly" in low or "read-only" in low:
        return "the ledger is on a read-only file or disk; nothing was changed"
    if "disk is full" in low or "database or disk is full" in low:
        return "the disk is full; nothing was changed"
    if "not a database" in low or "malformed" in low:
        return "the ledger database file is damaged or is not a ledger"
    if "unable to open" in low:
        return "cannot open the ledger database file"
    return f"ledger database error: {text}"


@contextlib.contextmanager
def _sqlite_errors() -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as e:
        raise StoreError(describe_sqlite_error(e)) from e


def decode_trusted(raw: bytes, entry_id: bytes) -> Entry:
    """Decode an entry read back from our own store (verified when it came in).

    Skips the canonical re-encoding check and the signature: views read
    hundreds of thousands of entries. ``plurictl log verify`` re-checks
    everything the slow way.
    """
    v, author, seq, prev, stamp, kind, body, sig = msgpack.unpackb(
        raw, raw=False, strict_map_key=True, use_list=True
    )
    return Entry(v, author, seq, prev, stamp, kind, body, sig, raw, entry_id)


def _verify_one(item: bytes | Entry) -> tuple[Entry | None, Rejection | None]:
    try:
        e = item if isinstance(item, Entry) else decode(item)
    except EncodingError as err:
        return None, Rejection(f"unreadable entry: {err}")
    if not signature_valid(e):
        return None, Rejection("bad signature (forged or damaged)", e.author, e.seq, e.id, e.kind)
    return e, None


def _verify_chunk(chunk: list[bytes | Entry]) -> list[tuple[Entry | None, Rejection | None]]:
    return [_verify_one(item) for item in chunk]


_POOL: ThreadPoolExecutor | None = None
_PARALLEL_MIN = 128


def verify_many(items: list[bytes | Entry]) -> list[tuple[Entry | None, Rejection | None]]:
    """Decode and verify entries, in order; big batches use every core.

    libsodium runs without the GIL, so threads verify in parallel while
    another thread decodes: on a 2-core laptop a catch-up is not bound to one core.
    """
    global _POOL
    workers = min(4, os.cpu_count() or 1)
    if len(items) < _PARALLEL_MIN or workers < 2:
        return _verify_chunk(items)
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="verify")
    size = (len(items) + workers - 1) // workers
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    out: list[tuple[Entry | None, Rejection | None]] = []
    for part in _POOL.map(_verify_chunk, chunks):
        out.extend(part)
    return out


class Store:
    """One laptop's ledger. Open with :meth:`open`; use as a context manager."""

    def __init__(self, path: Path, *, create: bool = False, timeout: float = 10.0) -> None:
        self.path = Path(path)
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
        #: Benchmarks switch this off to measure what the membership gate costs.
        self.membership_checks = True
        self._lock = threading.RLock()
        self._roster_cache: tuple[int, roster_view.Roster] | None = None
        self._heads_cache: tuple[int, dict[bytes, Head]] | None = None
        self._digest_cache: tuple[int, bytes] | None = None
        self._kept_cache: tuple[tuple[int, int, int], dict[bytes, int]] | None = None
        self._writing = False
        with _sqlite_errors():
            self.db = sqlite3.connect(
                self.path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
            self.db.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            mode = self.db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":  # pragma: no cover - read-only media
                raise StoreError(f"cannot use write-ahead logging on {self.path} (got {mode})")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()

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
        with self._lock, _sqlite_errors():
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
        with self._lock, _sqlite_errors():
            if self.db.in_transaction:
                yield self.db
                return
            self.db.execute("BEGIN")
            try:
                yield self.db
            finally:
                self.db.execute("COMMIT")

    # --- meta -------------------------------------------------------------------

    def _meta(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def _set_meta(self, key: str, value: Any) -> None:
        self.db.execute(
            "INSERT INTO meta(key, value) VALUES(?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, value),
        )

    def _bump_generation(self) -> None:
        self._set_meta("generation", int(self._meta("generation", 0)) + 1)

    @property
    def mesh_id(self) -> bytes | None:
        with _sqlite_errors(), self._lock:
            return self._meta("mesh_id")

    @property
    def expected_mesh(self) -> bytes | None:
        with _sqlite_errors(), self._lock:
            return self._meta("expected_mesh")

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
        with _sqlite_errors(), self._lock:
            return int(self.db.execute("PRAGMA data_version").fetchone()[0])

    def generation(self) -> int:
        """Bumped on every roster entry or fork proof: views derived from them are stale."""
        with _sqlite_errors(), self._lock:
            return int(self._meta("generation", 0))

    # --- roster and heads ---------------------------------------------------------

    def forks_by_author(self) -> dict[bytes, int]:
        with self._read() as db:
            return {a: s for a, s in db.execute("SELECT author, seq FROM forks")}

    def roster(self) -> roster_view.Roster:
        """The roster view over this store (cached until a roster entry or fork arrives)."""
        with self._read() as db:
            gen = int(self._meta("generation", 0))
            if self._roster_cache is not None and self._roster_cache[0] == gen:
                return self._roster_cache[1]
            rows = db.execute(
                "SELECT raw, id FROM entries WHERE kind IN (?, ?, ?)", tuple(sorted(ROSTER_KINDS))
            ).fetchall()
            forks = {a: s for a, s in db.execute("SELECT author, seq FROM forks")}
            mesh = self._meta("mesh_id")
            result = roster_view.fold(
                (decode_trusted(raw, eid) for raw, eid in rows), forks, mesh_id=mesh
            )
            self._roster_cache = (gen, result)
            return result

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
        are kept, because a sealed vote depends on them (:mod:`ledger.vote_pins`).
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
        from ledger.vote_pins import kept_limits

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

    # --- reads ------------------------------------------------------------------

    def count(self) -> int:
        with self._read() as db:
            return int(db.execute("SELECT count(*) FROM entries").fetchone()[0])

    def get(self, entry_id: bytes) -> Entry | None:
        with self._read() as db:
            row = db.execute("SELECT raw, id FROM entries WHERE id=?", (entry_id,)).fetchone()
        return decode_trusted(*row) if row else None

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
                "SELECT raw, id FROM entries WHERE id >= ? ORDER BY id LIMIT 2", (low,)
            ).fetchall()
        matches = [r for r in rows if r[1].hex().startswith(prefix)]
        if len(matches) == 1:
            return decode_trusted(*matches[0])
        return None

    def entry_at(self, author: bytes, seq: int) -> Entry | None:
        with self._read() as db:
            row = db.execute(
                "SELECT raw, id FROM entries WHERE author=? AND seq=?", (author, seq)
            ).fetchone()
        return decode_trusted(*row) if row else None

    def id_at(self, author: bytes, seq: int) -> bytes | None:
        with self._read() as db:
            row = db.execute(
                "SELECT id FROM entries WHERE author=? AND seq=?", (author, seq)
            ).fetchone()
        return row[0] if row else None

    def range_raw(
        self, author: bytes, start: int, end: int | None = None, limit: int = 1000
    ) -> list[bytes]:
        """Signed encodings of ``author``'s entries with start <= seq <= end, in seq order."""
        with self._read() as db:
            if end is None:
                rows = db.execute(
                    "SELECT raw FROM entries WHERE author=? AND seq>=? ORDER BY seq LIMIT ?",
                    (author, start, limit),
                )
            else:
                rows = db.execute(
                    "SELECT raw FROM entries WHERE author=? AND seq BETWEEN ? AND ? "
                    "ORDER BY seq LIMIT ?",
                    (author, start, end, limit),
                )
            return [r[0] for r in rows]

    def entries(
        self,
        *,
        author: bytes | None = None,
        kinds: Sequence[str] | None = None,
        kind_prefix: str | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[Entry]:
        """Entries filtered by author and kind, ordered by (hlc, author, seq)."""
        where, args = [], []  # type: ignore[var-annotated]
        if author is not None:
            where.append("author=?")
            args.append(author)
        if kinds:
            where.append(f"kind IN ({','.join('?' * len(kinds))})")
            args.extend(kinds)
        if kind_prefix:
            where.append("kind >= ? AND kind < ?")
            args.extend([kind_prefix, kind_prefix + "\U0010ffff"])
        sql = "SELECT raw, id FROM entries"
        if where:
            sql += " WHERE " + " AND ".join(where)
        direction = "DESC" if newest_first else "ASC"
        sql += f" ORDER BY hlc {direction}, author {direction}, seq {direction}"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        with self._read() as db:
            rows = db.execute(sql, args).fetchall()
        return [decode_trusted(raw, eid) for raw, eid in rows]

    def ids(self, *, kinds: Sequence[str]) -> list[bytes]:
        """Ids of the stored entries of these kinds (by the stored kind; nothing decoded)."""
        with self._read() as db:
            rows = db.execute(
                f"SELECT id FROM entries WHERE kind IN ({','.join('?' * len(kinds))})", list(kinds)
            ).fetchall()
        return [r[0] for r in rows]

    def iter_raw(self, batch: int = 2000) -> Iterator[tuple[bytes, bytes]]:
        """Every (raw, id) in (author, seq) order, read in batches (constant memory)."""
        last: tuple[bytes, int] = (b"", 0)
        while True:
            with self._read() as db:
                rows = db.execute(
                    "SELECT author, seq, raw, id FROM entries WHERE (author, seq) > (?, ?) "
                    "ORDER BY author, seq LIMIT ?",
                    (*last, batch),
                ).fetchall()
            if not rows:
                return
            for _, _, raw, eid in rows:
                yield raw, eid
            last = (rows[-1][0], rows[-1][1])

    def fork_proofs(self) -> list[ForkProof]:
        with self._read() as db:
            rows = db.execute("SELECT raw_a, raw_b FROM forks ORDER BY author").fetchall()
        # Verified when recorded: the digest and every sync round read these, so no
        # signature checks here (`log verify` re-checks everything).
        return [ForkProof.stored(decode(a), decode(b)) for a, b in rows]

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
            clock = hlc.HybridClock(int(self._meta("hlc", 0)))
            roster = self.roster() if mesh is not None else None
            roster_changed = False
            for kind, body in items:
                genesis = kind == GENESIS
                if mesh is None and not genesis:
                    raise NotInitialised(
                        "this laptop is not in a mesh yet",
                        hint="found one with `plurictl mesh create NAME`, or join one "
                        "(`plurictl mesh join MESH_ID`, then sync or import a bundle)",
                    )
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
            if roster_changed:
                self._bump_generation()
        return out

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

    def ingest(self, items: Iterable[bytes | Entry]) -> IngestReport:
        """Verify and store entries from elsewhere (peer, bundle). Never raises for bad entries.

        Signatures are checked before the write lock is taken. Then, in one
        transaction: mesh binding, duplicates and forks, chain (seq contiguity
        and ``prev``), and membership at that seq. Roster entries go first, so
        a batch that adds a member and carries that member's entries lands whole.
        """
        report = IngestReport()
        batch: dict[bytes, Entry] = {}
        for e, problem in verify_many(list(items)):
            if problem is not None:
                report.rejected.append(problem)
            else:
                batch[e.id] = e  # type: ignore[union-attr]
        if not batch:
            return report
        kept = self._kept_past_cut(batch.values())
        queues: dict[bytes, deque[Entry]] = {}
        for e in sorted(batch.values(), key=lambda e: (e.author, e.seq, e.id)):
            queues.setdefault(e.author, deque()).append(e)
        with self._write() as db:
            state = _IngestState(self, db)
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
                        if state.offer(queue[0], report, final=False) == _DEFER:
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

    def add_fork_proofs(self, proofs: Iterable[ForkProof]) -> list[ForkProof]:
        """Store fork proofs received from peers or bundles; returns those that were new.

        Only proofs about keys of this mesh's roster are kept: anyone can make two
        entries with a throwaway key, and such proofs would otherwise pile up and
        replicate everywhere forever.
        """
        added: list[ForkProof] = []
        with self._write() as db:
            roster = self.roster()
            for proof in proofs:
                if proof.author not in roster.keys:
                    continue
                if proof.seq == 1 and self._meta("mesh_id") not in (proof.a.prev, proof.b.prev):
                    continue  # neither entry hangs off this mesh
                if self._record_fork(db, proof):
                    added.append(proof)
            if added:
                self._bump_generation()
        return added

    def _record_fork(self, db: sqlite3.Connection, proof: ForkProof) -> bool:
        row = db.execute(
            "SELECT seq, raw_a, raw_b FROM forks WHERE author=?", (proof.author,)
        ).fetchone()
        if row is not None:
            existing = ForkProof.stored(decode(row[1]), decode(row[2]))
            if existing.key() <= proof.key():
                return False
        db.execute(
            "INSERT INTO forks(author, seq, raw_a, raw_b, found) VALUES(?,?,?,?,?) "
            "ON CONFLICT(author) DO UPDATE SET seq=excluded.seq, raw_a=excluded.raw_a, "
            "raw_b=excluded.raw_b, found=excluded.found",
            (proof.author, proof.seq, proof.a.raw, proof.b.raw, _wall_ms()),
        )
        return True

    # --- verification -------------------------------------------------------------

    def verify_all(self, progress: Callable[[int], None] | None = None) -> VerifyReport:
        """Re-verify every stored entry from its bytes: signature, id, chain, mesh, membership."""
        report = VerifyReport()
        mesh = self.mesh_id
        roster = self.roster()
        prev_author: bytes | None = None
        prev_seq, prev_id = 0, mesh
        for raw, stored_id in self.iter_raw():
            report.checked += 1
            if progress is not None and report.checked % 1000 == 0:
                progress(1000)
            try:
                e = decode(raw)
            except EncodingError as err:
                report.bad.append(Rejection(f"unreadable: {err}", id=stored_id))
                continue
            if e.author != prev_author:
                prev_author, prev_seq, prev_id = e.author, 0, mesh
            problem = None
            if e.id != stored_id:
                problem = "stored id does not match the entry bytes"
            elif not signature_valid(e):
                problem = "bad signature"
            elif e.seq != prev_seq + 1:
                problem = f"seq gap: follows seq {prev_seq}"
            elif e.kind == GENESIS and e.seq == 1:
                if e.id != mesh:
                    problem = "genesis of another mesh"
            elif e.prev != prev_id:
                problem = "broken chain: prev does not match the previous entry"
            if problem:
                report.bad.append(Rejection(problem, e.author, e.seq, e.id, e.kind))
            elif not roster.valid(e.author, e.seq):
                why = roster.authority(e.author, e.seq) or "not valid"
                report.ignored.append(
                    Rejection(f"ignored by views: {why}", e.author, e.seq, e.id, e.kind)
                )
            prev_seq, prev_id = e.seq, e.id
        if progress is not None:
            progress(report.checked % 1000)
        report.forks = self.fork_proofs()
        return report


class _IngestState:
    """Bookkeeping for one ingest transaction."""

    def __init__(self, store: Store, db: sqlite3.Connection) -> None:
        self.store = store
        self.db = db
        self.mesh: bytes | None = store._meta("mesh_id")
        self.expected: bytes | None = store._meta("expected_mesh")
        self.heads: dict[bytes, Head] = {
            a: Head(s, i) for a, s, i in db.execute("SELECT author, seq, id FROM heads")
        }
        self.forks: dict[bytes, int] = {
            a: s for a, s in db.execute("SELECT author, seq FROM forks")
        }
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
        if outcome == _DEFER and self.roster_changed:
            self.refresh_roster()
            outcome, reason = self._check(e, report)
        if outcome == _REJECT or (outcome == _DEFER and final):
            report.rejected.append(Rejection(reason or "refused", e.author, e.seq, e.id, e.kind))
            return _REJECT
        if outcome == _DUPLICATE:
            report.duplicates += 1
        elif outcome == _ACCEPT:
            self.unwritten.append(e)
            self.unwritten_at[(e.author, e.seq)] = e
            self.heads[e.author] = Head(e.seq, e.id)
            self.touched.add(e.author)
            self.max_hlc = max(self.max_hlc, e.hlc)
            if e.kind == GENESIS:
                self.mesh = e.id
                self.store._set_meta("mesh_id", e.id)
            if e.kind in ROSTER_KINDS:
                self.roster_changed = True
            report.accepted.append(e)
        return outcome

    def _check(self, e: Entry, report: IngestReport) -> tuple[int, str | None]:
        genesis_like = e.seq == 1 and e.prev is None
        if self.mesh is None:
            if not (genesis_like and e.kind == GENESIS):
                return (
                    _DEFER,
                    "this laptop is not in a mesh yet (it needs the mesh's genesis first)",
                )
            if self.expected is not None and e.id != self.expected:
                return _REJECT, (
                    f"genesis of mesh {e.id.hex()[:16]}, but this laptop is joining "
                    f"mesh {self.expected.hex()[:16]}"
                )
            return _ACCEPT, None
        if genesis_like:
            if e.id == self.mesh:
                return _DUPLICATE, None
            return (
                _REJECT,
                f"belongs to another mesh ({e.id.hex()[:16]}, this is {self.mesh.hex()[:16]})",
            )
        if e.seq == 1 and e.prev != self.mesh:
            return _REJECT, (
                f"belongs to another mesh (its feed starts from {e.prev.hex()[:16] if e.prev else 'nil'}, "
                f"this mesh is {self.mesh.hex()[:16]})"
            )
        info = self.roster.keys.get(e.author)
        if not self.store.membership_checks:
            info = info or roster_view.KeyInfo(e.author, e.author, "")
        if info is None:
            return _DEFER, f"unknown author {e.author.hex()[:16]}: not in this mesh's roster (yet)"
        head = self.heads.get(e.author)
        if head is not None and e.seq <= head.seq:
            existing = self.unwritten_at.get((e.author, e.seq))
            if existing is None:
                row = self.db.execute(
                    "SELECT raw FROM entries WHERE author=? AND seq=?", (e.author, e.seq)
                ).fetchone()
                if row is None:  # pragma: no cover - chains are contiguous
                    return _REJECT, "store inconsistency"
                existing = decode(row[0])
            if existing.id == e.id:
                return _DUPLICATE, None
            proof = ForkProof.of(existing, e)
            if self.store._record_fork(self.db, proof):
                self.forks[e.author] = min(self.forks.get(e.author, e.seq), e.seq)
                self.forks_changed = True
                report.forks.append(proof)
            return (
                _REJECT,
                f"equivocation: a different entry already holds seq {e.seq} (fork proof kept)",
            )
        fork = self.forks.get(e.author)
        if fork is not None and e.seq >= fork:
            return _REJECT, f"feed frozen at seq {fork} (equivocation)"
        expected = head.seq + 1 if head else 1
        if e.seq != expected:
            return _REJECT, f"gap: this laptop has this author up to seq {expected - 1}"
        if e.seq > 1 and e.prev != head.id:  # type: ignore[union-attr]
            return _REJECT, "broken chain: prev does not match the entry before it"
        if not info.valid_at(e.seq) and e.seq > self.kept.get(e.author, 0):
            return _REJECT, f"author's key is {info.status}: last valid seq {info.limit}"
        return _ACCEPT, None

    def finish(self, report: IngestReport) -> None:
        self.flush()
        for author in self.touched:
            head = self.heads[author]
            self.db.execute(
                "INSERT INTO heads(author, seq, id) VALUES(?,?,?) "
                "ON CONFLICT(author) DO UPDATE SET seq=excluded.seq, id=excluded.id",
                (author, head.seq, head.id),
            )
        if self.roster_changed or self.forks_changed:
            self.store._bump_generation()
        if self.max_hlc:
            clock = hlc.HybridClock(int(self.store._meta("hlc", 0)))
            clock.merge(self.max_hlc)
            self.store._set_meta("hlc", clock.last)
        if self.touched:
            self.store._heads_cache = None


__all__ = [
    "DB_FILE",
    "Head",
    "IngestReport",
    "Rejection",
    "Store",
    "VerifyReport",
    "decode_trusted",
]
