"""Entries made small for the air, and made whole again byte for byte (pure, no I/O).

A signed entry is the msgpack array ``[v, author, seq, prev, hlc, kind, body,
sig]``. Two of its fields are known to the receiver already: the author (a
key in its roster) and ``prev`` (the id of the author's entry before this one,
which the receiver holds once it has that entry; for seq 1 it is the mesh id).
The compact form leaves them out, carries hex strings (ids, keys) as their
bytes, and deflates the rest with a fixed dictionary of the toolkit's kinds
and field names::

    flags(1) | author (4-byte prefix, or 32) | seq | [prev] | hlc kind body | sig(64)

The receiver splices the original bytes back together; the store then checks
signature, chain and membership as for any entry. A wrong guess (two roster
keys with one prefix, a prev the receiver does not hold) can only produce
bytes whose signature fails: nothing unverified is ever stored.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import msgpack

from ledger.entry import MAX_ENTRY_BYTES, SIG_BYTES

F_AUTHOR_PREFIX, F_PREV_ELIDED, F_DEFLATED, F_HEX = 0x01, 0x02, 0x04, 0x08
_HEX_EXT = 1  # transport only: a lowercase hex string carried as its bytes
_HEX_MIN = 16
AUTHOR_PREFIX = 4
_HEAD = b"\x98\x01"  # fixarray(8), version 1
_BIN32, _BIN64, _NIL = b"\xc4\x20", b"\xc4\x40", b"\xc0"

_WORDS = str.split(
    "after approve at change choice close diesel early fuel hlc id key kind "
    "litres main name note op reason replaces revoke rotate roles run seal sheet site "
    "step successor supersedes tank vote waive ballot charter order ack plan adopt "
    "playbook sign fail skip operator coordinator admin teller observer text"
)
_KINDS = str.split(
    "mesh.genesis roster.change roster.approve fuel.report fuel.transfer fuel.consumption "
    "vote.charter vote.ballot vote.close vote.seal vote.stop vote.part plan.propose plan.part "
    "plan.adopt plan.supersede order.ack order.deviation playbook.run playbook.sign "
    "playbook.fail playbook.skip playbook.waive playbook.abort playbook.resume note"
)
#: Preset deflate dictionary (part of protocol version 1: never change it in place).
ZDICT = b"".join(msgpack.packb(w) for w in _WORDS + _KINDS)


class CompactError(ValueError):
    """Bytes that are not a compact entry (dropped and counted)."""


@dataclass(frozen=True)
class Compact:
    """A compact entry taken apart, waiting for its author and prev to be filled in."""

    author_ref: bytes  # 4-byte prefix or the full 32-byte key
    seq: int
    seq_raw: bytes
    prev_raw: bytes | None  # None: elided (the receiver supplies it)
    middle: bytes  # hlc, kind, body (inflated)
    sig: bytes

    @property
    def author_is_prefix(self) -> bool:
        return len(self.author_ref) == AUTHOR_PREFIX


def _fields(raw: bytes) -> list[bytes]:
    """The raw bytes of each of the entry's eight fields."""
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(raw)
    if unpacker.read_array_header() != 8:
        raise CompactError("not an entry")
    marks = [unpacker.tell()]
    for _ in range(8):
        unpacker.skip()
        marks.append(unpacker.tell())
    return [raw[marks[i] : marks[i + 1]] for i in range(8)]


def compact(raw: bytes, *, author_prefix: bool, elide_prev: bool) -> bytes:
    """The compact form of a stored (valid) entry."""
    if not raw.startswith(_HEAD):
        raise CompactError("only version-1 entries can be compacted")
    _v, author, seq, prev, hlc, kind, body, sig = _fields(raw)
    flags = 0
    out = bytearray()
    key = author[2:]
    if author_prefix:
        flags |= F_AUTHOR_PREFIX
        out += key[:AUTHOR_PREFIX]
    else:
        out += key
    out += seq
    if elide_prev and prev != _NIL:
        flags |= F_PREV_ELIDED
    else:
        out += prev
    middle = hlc + kind + body
    packed_hex = _hex_pack(middle)
    if packed_hex is not None and len(packed_hex) < len(middle):
        flags |= F_HEX
        middle = packed_hex
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, ZDICT)
    packed = deflater.compress(middle) + deflater.flush()
    if len(packed) < len(middle):
        flags |= F_DEFLATED
        middle = packed
    out += middle
    out += sig[2:]
    return bytes([flags]) + bytes(out)


def parse(data: bytes) -> Compact:
    """Take a compact entry apart; CompactError if it is malformed."""
    if len(data) < 1 + AUTHOR_PREFIX + 1 + SIG_BYTES:
        raise CompactError("compact entry too short")
    flags = data[0]
    if flags & ~(F_AUTHOR_PREFIX | F_PREV_ELIDED | F_DEFLATED | F_HEX):
        raise CompactError("unknown compact-entry flags")
    pos = 1
    n = AUTHOR_PREFIX if flags & F_AUTHOR_PREFIX else 32
    author_ref = data[pos : pos + n]
    pos += n
    body_end = len(data) - SIG_BYTES
    seq, pos2 = _read_int(data, pos, body_end)
    seq_raw, pos = data[pos:pos2], pos2
    prev_raw = None
    if not flags & F_PREV_ELIDED:
        if data[pos : pos + 1] == _NIL:
            prev_raw, pos = _NIL, pos + 1
        elif data[pos : pos + 2] == _BIN32 and pos + 34 <= body_end:
            prev_raw, pos = data[pos : pos + 34], pos + 34
        else:
            raise CompactError("bad prev field")
    middle = data[pos:body_end]
    if flags & F_DEFLATED:
        middle = _inflate(middle)
    if flags & F_HEX:
        middle = _hex_unpack(middle)
    return Compact(author_ref, seq, seq_raw, prev_raw, middle, data[body_end:])


def _read_int(data: bytes, pos: int, end: int) -> tuple[int, int]:
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(data[pos:end])
    try:
        value = unpacker.unpack()
    except Exception as e:  # msgpack raises several types for short or odd input
        raise CompactError("bad seq field") from e
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise CompactError("bad seq field")
    return value, pos + unpacker.tell()


def _hexify(value: object) -> object:
    """Lowercase hex strings (ids, keys) as ext values holding their bytes: half the size."""
    if isinstance(value, str):
        if len(value) >= _HEX_MIN and len(value) % 2 == 0 and value == value.lower():
            try:
                return msgpack.ExtType(_HEX_EXT, bytes.fromhex(value))
            except ValueError:
                return value
        return value
    if isinstance(value, list):
        return [_hexify(v) for v in value]
    if isinstance(value, dict):
        return {k: _hexify(v) for k, v in value.items()}
    return value


def _unhex(code: int, data: bytes) -> object:
    if code != _HEX_EXT:
        raise CompactError("unknown extension in a compact entry")
    return data.hex()


def _hex_pack(middle: bytes) -> bytes | None:
    """hlc, kind, body re-packed with hex strings as bytes, if that unpacks to the same bytes."""
    try:
        unpacker = msgpack.Unpacker(raw=False, strict_map_key=False)
        unpacker.feed(middle)
        hlc, kind, body = (unpacker.unpack() for _ in range(3))
        packed = b"".join(msgpack.packb(_hexify(x), use_bin_type=True) for x in (hlc, kind, body))
    except Exception:  # anything odd: send the bytes as they are
        return None
    return packed if _hex_unpack(packed) == middle else None


def _hex_unpack(data: bytes) -> bytes:
    unpacker = msgpack.Unpacker(raw=False, ext_hook=_unhex, max_buffer_size=MAX_ENTRY_BYTES * 2)
    try:
        unpacker.feed(data)
        values = [unpacker.unpack() for _ in range(3)]
        if unpacker.tell() != len(data):
            raise CompactError("trailing bytes in a compact entry")
        return b"".join(msgpack.packb(v, use_bin_type=True) for v in values)
    except CompactError:
        raise
    except Exception as e:  # msgpack raises many types for garbage
        raise CompactError("compact entry fields are damaged") from e


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj(-15, zdict=ZDICT)
    try:
        out = inflater.decompress(data, MAX_ENTRY_BYTES)
    except zlib.error as e:
        raise CompactError("compressed part is damaged") from e
    if inflater.unconsumed_tail or not inflater.eof:
        raise CompactError("compressed part is too large or cut short")
    return out


def rebuild(c: Compact, author: bytes, prev: bytes | None) -> bytes:
    """The original signed bytes, given the author's full key and (if elided) prev.

    ``prev`` is the id to splice in when the compact form left it out (None for
    a genesis-like entry); it is ignored when the compact form carries prev.
    """
    if c.prev_raw is not None:
        prev_raw = c.prev_raw
    else:
        prev_raw = _NIL if prev is None else _BIN32 + prev
    return _HEAD + _BIN32 + author + c.seq_raw + prev_raw + c.middle + _BIN64 + c.sig


def candidates(c: Compact, keys: Callable[[bytes], list[bytes]]) -> list[bytes]:
    """Full author keys the compact entry may belong to (one, almost always)."""
    if not c.author_is_prefix:
        return [c.author_ref]
    return keys(c.author_ref)
