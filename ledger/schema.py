"""The ledger's SQLite schema, its migrations, and opening the file (also read-only).

Schema versions (``PRAGMA user_version``):

1. entries (``PRIMARY KEY(author, seq) WITHOUT ROWID``), heads, fork proofs, meta.
2. frontiers other laptops showed us (``bundle export --for``).
3. ``kind_signed``: the kind computed by SQLite from each entry's signed bytes,
   indexed, so that kind-filtered reads never trust an editable column; and
   ``quarantine``: damaged entries found by ``log verify``, waiting for a copy.
4. ``hlc_signed``: the hlc of each entry's signed bytes (its msgpack encoding, which
   sorts like the number), indexed with author and seq: reads in ledger order never
   trust the editable ``hlc`` column, and the newest entries are an index walk.

A home on a write-protected disk is opened read-only: first ``mode=ro`` (it
reads the write-ahead log when one is there), else ``immutable=1`` (no locks, no
log: the ledger as of its last checkpoint, which a cleanly closed ledger is).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from ledger.errors import StoreError
from ledger.stored import HLC_SIGNED_SQL, KIND_SIGNED_SQL, text_or_bytes

SCHEMA_VERSION = 4

#: Page cache per writable connection (KiB); SQLite's default is 2,000 KiB.
CACHE_KIB = 16 * 1024
#: Log pages after which a commit copies the log back into the file (default 1,000).
CHECKPOINT_PAGES = 10_000

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
#: (read and written by ``ledger.courier.frontier``).
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

#: v3: the signed kind as a generated column, and the quarantine of damaged entries.
#: Reads select by either kind: the signed one decides, the copied column only
#: finds rows whose signed kind bytes were damaged (so they are reported, not missed).
_SCHEMA_V3 = [
    f"ALTER TABLE entries ADD COLUMN kind_signed TEXT GENERATED ALWAYS AS {KIND_SIGNED_SQL} VIRTUAL",
    "CREATE INDEX entries_by_signed_kind ON entries(kind_signed, hlc)",
    """CREATE TABLE quarantine(
        author BLOB NOT NULL,
        seq INTEGER NOT NULL,
        id BLOB,
        reason TEXT NOT NULL,
        found INTEGER NOT NULL,
        PRIMARY KEY(author, seq)
    ) WITHOUT ROWID""",
]

#: v4: the signed hlc as a generated column, indexed in ledger order (hlc, author, seq).
_SCHEMA_V4 = [
    f"ALTER TABLE entries ADD COLUMN hlc_signed BLOB GENERATED ALWAYS AS ({HLC_SIGNED_SQL}) VIRTUAL",
    "CREATE INDEX entries_by_signed_hlc ON entries(hlc_signed, author, seq)",
]

#: schema version -> statements that bring the previous version up to it.
MIGRATIONS: dict[int, list[str]] = {1: _SCHEMA_V1, 2: _SCHEMA_V2, 3: _SCHEMA_V3, 4: _SCHEMA_V4}


def writable(path: Path) -> bool:
    """Can this process write the ledger file and create its -wal/-shm files beside it?"""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)


def connect(path: Path, timeout: float) -> tuple[sqlite3.Connection, bool]:
    """Open the ledger; returns (connection, read_only)."""
    db, read_only = _connect(path, timeout)
    db.text_factory = text_or_bytes
    return db, read_only


def _connect(path: Path, timeout: float) -> tuple[sqlite3.Connection, bool]:
    if writable(path):
        db = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        db.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":  # pragma: no cover - odd file systems
            raise StoreError(f"cannot use write-ahead logging on {path} (got {mode})")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        # Ingest speed (a catch-up writes 100k entries in batches): every entry lands on
        # a random page of the id index, so with SQLite's default 2 MiB cache those
        # pages are read back again and again, and each commit's pages are copied back
        # from the log every 1,000 pages. Neither setting changes what a commit makes
        # durable (synchronous=FULL: each commit is synced before it returns).
        db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        db.execute(f"PRAGMA wal_autocheckpoint={CHECKPOINT_PAGES}")
        return db, False
    if not os.access(path, os.R_OK):
        raise StoreError(f"cannot read the ledger {path}: permission denied")
    uri = "file:" + quote(str(path.absolute()))
    for flags in ("?mode=ro", "?mode=ro&immutable=1"):
        db = sqlite3.connect(
            uri + flags, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return db, True
        except sqlite3.Error:
            db.close()
    raise StoreError(f"cannot open the ledger {path} read-only")


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
def sqlite_errors() -> Iterator[None]:
    """SQLite errors as the store's own errors, in words an operator can act on."""
    try:
        yield
    except sqlite3.Error as e:
        text = describe_sqlite_error(e)
        hint = None
        if "damaged" in text:
            hint = (
                "run `plurictl log verify`: it names the damage and what to do "
                "(field_guides/ledger.md, 'When the file itself is damaged')"
            )
        raise StoreError(text, hint=hint) from e
