"""Reading entries back from the store: every row is checked against its signed bytes.

The store keeps each entry's signed encoding (``raw``) next to columns copied
from it (author, seq, id, prev, hlc, kind) for indexing. Those columns are a
cache, never a source of truth: everything a view sees comes from ``raw``.

* :func:`check_row` decodes ``raw`` (strictly: canonical form, UTF-8, no
  trailing bytes), hashes it and compares with the columns. The fast path
  costs a decode and a BLAKE2b hash; only a row that disagrees pays for a
  signature check, which decides whether the bytes (signature valid: the
  columns are wrong, repairable locally) or the entry itself is damaged.
* :data:`KIND_SIGNED_SQL` is a generated column computing the kind from
  ``raw`` inside SQLite, so that kind-filtered reads select rows by their
  signed kind, not by a column anyone could edit.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import msgpack

from ledger.entry import ID_BYTES, VERSION, Entry, decode, signature_valid


@dataclass(frozen=True)
class Damage:
    """A stored entry that failed its check: named by id, author and seq."""

    author: bytes | None
    seq: int | None
    id: bytes | None
    reason: str
    #: True when the signed bytes are intact and only the columns beside them are
    #: wrong: ``log verify --repair`` rewrites the columns, no copy is needed.
    columns_only: bool = False

    def key(self) -> tuple[bytes, int]:
        return (self.author or b"", self.seq or 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id.hex() if self.id else None,
            "author": self.author.hex() if self.author else None,
            "seq": self.seq,
            "reason": self.reason,
            "columns_only": self.columns_only,
        }

    def describe(self, name: str | None = None) -> str:
        """One line for people: 'id 3f2a0c1b9e77, author bob (5c1e…), seq 5: reason'."""
        who = "?"
        if self.author is not None:
            short = self.author.hex()[:12]
            who = f"{name} ({short})" if name and name != short else short
        ident = self.id.hex()[:16] if self.id else "unknown"
        seq = self.seq if self.seq is not None else "?"
        return f"id {ident}, author {who}, seq {seq}: {self.reason}"


def entry_hash(raw: bytes) -> bytes:
    return hashlib.blake2b(raw, digest_size=ID_BYTES).digest()


_blake2b = hashlib.blake2b


#: Columns every checked read selects, in this order.
ROW_COLUMNS = "author, seq, id, prev, hlc, kind, raw"

Row = tuple[Any, Any, Any, Any, Any, Any, Any]


def check_row(row: Row) -> Entry | Damage:
    """The entry in ``row`` if its signed bytes are intact; a :class:`Damage` otherwise.

    An entry whose bytes are intact but whose columns disagree is returned
    too (views follow the signed bytes); :func:`column_drift` names the drift.
    """
    author, seq, stored_id, prev, hlc, kind, raw = row
    stored = stored_id if isinstance(stored_id, bytes) else None
    fast = fast_decode(raw, stored) if isinstance(raw, bytes) else None
    if (  # column_drift(row, fast) is None, spelled out: this runs for every row read
        fast is not None
        and fast.author == author
        and fast.seq == seq
        and fast.prev == prev
        and fast.hlc == hlc
        and fast.kind == kind
    ):
        return fast
    key_author = author if isinstance(author, bytes) else None
    key_seq = seq if isinstance(seq, int) else None
    if not isinstance(raw, bytes):
        return Damage(key_author, key_seq, stored, "signed bytes missing or not a blob")
    try:
        e = decode(raw)
    except Exception as err:  # EncodingError, or anything msgpack raises on damage
        return Damage(key_author, key_seq, stored, f"unreadable signed bytes ({_short(err)})")
    if e.author != author or e.seq != seq:
        return Damage(
            key_author,
            key_seq,
            stored,
            f"row holds the entry of another place (author {e.author.hex()[:12]}, seq {e.seq})",
        )
    drift = column_drift(row, e)
    if drift is None or signature_valid(e):
        return e  # the bytes are authentic; at most the columns are wrong
    return Damage(key_author, key_seq, stored, f"damaged signed bytes ({drift})")


#: ``ROW_COLUMNS`` with the kind as its bytes and whether SQLite holds it as TEXT: a big
#: read then makes no call to the connection's Python text factory for each row.
KIND_BYTES_COLUMNS = "author, seq, id, prev, hlc, CAST(kind AS BLOB), typeof(kind) = 'text', raw"


def check_kind_bytes_row(row: tuple[Any, ...]) -> Entry | Damage:
    """:func:`check_row` for a row of ``KIND_BYTES_COLUMNS``: the same answer."""
    author, seq, stored_id, prev, hlc, kind, is_text, raw = row
    stored = stored_id if isinstance(stored_id, bytes) else None
    fast = fast_decode(raw, stored) if isinstance(raw, bytes) else None
    if (
        fast is not None
        and is_text
        and fast.author == author
        and fast.seq == seq
        and fast.prev == prev
        and fast.hlc == hlc
        and fast.kind.encode() == kind  # a decoded str is always UTF-8 encodable
    ):
        return fast
    if is_text and isinstance(kind, bytes):
        kind = text_or_bytes(kind)  # as the connection would have read it
    return check_row((author, seq, stored_id, prev, hlc, kind, raw))


def text_or_bytes(data: bytes) -> str | bytes:
    """How the ledger reads a TEXT value: a str, or its bytes when they are not UTF-8.

    A blob column edited with sqlite3 can end up holding TEXT (``raw || x'00'`` is TEXT
    in SQLite). Python's default would raise on reading it, and every command would
    stop as if the file were damaged; as bytes, the row is checked like any other and
    quarantined (or repaired) on its own.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def fast_decode(raw: bytes, stored_id: bytes | None) -> Entry | None:
    """Decode without the canonical re-encoding when the bytes hash to the stored id.

    Those bytes are exactly what ingest verified (canonical form, signature); a
    row that fails here takes the slow path in :func:`check_row`.
    """
    eid = _blake2b(raw, digest_size=ID_BYTES).digest()  # entry_hash(raw), without the call
    if eid != stored_id:
        return None
    try:
        obj = msgpack.unpackb(raw, raw=False, strict_map_key=True, use_list=True, timestamp=0)
    except Exception:
        return None
    if type(obj) is not list or len(obj) != 8:
        return None
    v, author, seq, prev, hlc, kind, body, sig = obj
    if (
        v != VERSION
        or type(author) is not bytes
        or type(seq) is not int
        or not (prev is None or type(prev) is bytes)
        or type(hlc) is not int
        or type(kind) is not str
        or type(body) is not dict
        or type(sig) is not bytes
    ):
        return None
    return _new_entry(Entry, (v, author, seq, prev, hlc, kind, body, sig, raw, eid))


#: ``Entry(...)`` without the named tuple's Python-level ``__new__`` (a read makes 100,000)
_new_entry = tuple.__new__


def column_drift(row: Row, e: Entry) -> str | None:
    """Which columns of ``row`` disagree with the decoded entry ``e`` (None: all agree)."""
    _author, _seq, stored_id, prev, hlc, kind, _raw = row
    wrong = []
    if stored_id != e.id:
        wrong.append("id")
    if prev != e.prev:
        wrong.append("prev")
    if hlc != e.hlc:
        wrong.append("hlc")
    if kind != e.kind:
        wrong.append("kind")
    if not wrong:
        return None
    return f"{', '.join(wrong)} column{'s' if len(wrong) > 1 else ''} disagree{'' if len(wrong) > 1 else 's'} with the signed bytes"


def _short(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return text if len(text) <= 120 else text[:117] + "..."


# --- the kind, computed by SQLite from the signed bytes ---------------------------------
#
# raw = 0x98 0x01 | c4 20 author(32) | seq | prev (c0, or c4 20 + 32 bytes) | hlc | kind | ...
# Integers use their shortest msgpack form: a positive fixint byte, or cc/cd/ce/cf
# followed by 1/2/4/8 bytes. The kind is a fixstr (a0-bf, length in the low 5 bits)
# or str8 (d9, one length byte). Byte values are looked up with instr() in a constant
# blob (SQLite before 3.41 has no unhex()); nothing here can raise on damaged bytes.


def _int_size(pos: str) -> str:
    return (
        f"(CASE instr(x'cccdcecf', substr(raw, {pos}, 1)) "
        "WHEN 0 THEN 1 WHEN 1 THEN 2 WHEN 2 THEN 3 WHEN 3 THEN 5 ELSE 9 END)"
    )


def _kind_expr() -> str:
    p_prev = f"(37 + {_int_size('37')})"
    p_hlc = f"({p_prev} + (CASE substr(raw, {p_prev}, 1) WHEN x'c0' THEN 1 ELSE 34 END))"
    p_kind = f"({p_hlc} + {_int_size(p_hlc)})"
    fixstr = "x'" + "".join(f"{b:02x}" for b in range(0xA0, 0xC0)) + "'"
    byte = "x'" + "".join(f"{b:02x}" for b in range(256)) + "'"
    return (
        f"(CASE WHEN instr({fixstr}, substr(raw, {p_kind}, 1)) > 0 "
        f"THEN CAST(substr(raw, {p_kind} + 1, instr({fixstr}, substr(raw, {p_kind}, 1)) - 1) AS TEXT) "
        f"WHEN substr(raw, {p_kind}, 1) = x'd9' "
        f"THEN CAST(substr(raw, {p_kind} + 2, instr({byte}, substr(raw, {p_kind} + 1, 1)) - 1) AS TEXT) "
        "END)"
    )


#: SQL for the kind named in an entry's signed bytes (NULL when they are too damaged).
KIND_SIGNED_SQL = _kind_expr()


def _hlc_expr() -> str:
    p_prev = f"(37 + {_int_size('37')})"
    p_hlc = f"({p_prev} + (CASE substr(raw, {p_prev}, 1) WHEN x'c0' THEN 1 ELSE 34 END))"
    return f"substr(raw, {p_hlc}, {_int_size(p_hlc)})"


#: SQL for the hlc in an entry's signed bytes, as its msgpack encoding: a blob that sorts
#: like the number (the canonical, shortest encoding of an unsigned integer: fixint
#: 00-7f < cc xx < cd xxxx < ce … < cf …, each big-endian). Reads order by it, never by
#: the ``hlc`` column beside the bytes, which anyone with sqlite3 could edit.
HLC_SIGNED_SQL = _hlc_expr()


# --- kind-filtered reads ------------------------------------------------------------------


@dataclass(frozen=True)
class KindFilter:
    """SQL selecting rows whose stored kind *or* signed kind matches (callers then keep
    the rows whose decoded kind matches): ``indexed`` uses the two kind indexes,
    ``scan`` reads the table in order and computes the signed kind only for rows whose
    stored kind does not match. Both select exactly the same rows."""

    indexed: str
    scan: str
    args: tuple[Any, ...]
    scan_args: tuple[Any, ...]
    count: str  # rows by stored kind (a covering index), to choose between the two
    count_args: tuple[Any, ...]


def kind_filter(kinds: tuple[str, ...] | None, prefix: str | None) -> KindFilter | None:
    """The filter for ``kinds`` and/or a kind ``prefix`` (None: no kind filter)."""
    if not kinds and not prefix:
        return None
    parts: list[tuple[str, str, tuple[Any, ...]]] = []  # (on kind, on kind_signed, args)
    if kinds:
        marks = ",".join("?" * len(kinds))
        parts.append((f"kind IN ({marks})", f"kind_signed IN ({marks})", tuple(kinds)))
    if prefix:
        end = prefix + "\U0010ffff"
        parts.append(
            ("(kind >= ? AND kind < ?)", "(kind_signed >= ? AND kind_signed < ?)", (prefix, end))
        )
    on_kind = " AND ".join(p[0] for p in parts)
    on_signed = " AND ".join(p[1] for p in parts)
    plain = tuple(a for p in parts for a in p[2])
    # CASE, not OR: SQLite evaluates both sides of an OR, and the signed kind is
    # computed from the raw bytes (a few microseconds a row).
    return KindFilter(
        indexed=f"({on_signed} OR {on_kind})",
        scan=f"(CASE WHEN {on_kind} THEN 1 ELSE {on_signed} END)",
        args=plain + plain,
        scan_args=plain + plain,
        count=f"SELECT count(*) FROM entries WHERE {on_kind}",
        count_args=plain,
    )


#: A kind-filtered read scans the whole table once its rows are at least 1/SCAN_SHARE of
#: the table: each indexed row costs a lookup of its row by key, several times a scanned one.
SCAN_SHARE = 8


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic collector off while a big read builds entries (they hold no cycles: the
    collector would only rescan them, again and again, about a third of the read's time).

    On the way out, what was built meanwhile joins the oldest generation unscanned (a
    freeze and unfreeze, both list moves): otherwise the first allocation after the pause
    scans all of it as one young generation (a fifth of a 100,000-ballot fold), and again
    as the middle one. Cycles among it are still found, by the next full collection."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if gc.get_freeze_count() == 0:  # nobody froze objects on purpose: none thawed
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def kind_ok(e: Entry, kinds: Sequence[str] | None, prefix: str | None) -> bool:
    """A row found by its copied kind column counts only if its signed kind matches."""
    return (not kinds or e.kind in kinds) and (not prefix or e.kind.startswith(prefix))


def sort_entries(entries: list[Entry], newest_first: bool) -> None:
    """Sort checked entries by their signed (hlc, author, seq): the order of every read."""
    entries.sort(key=lambda e: (e.hlc, e.author, e.seq), reverse=newest_first)
