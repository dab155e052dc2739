"""The radio wire format: frame headers and the records inside a frame (pure, no I/O).

A frame is at most one link MTU. Every frame starts with one byte: the
protocol version in the high nibble, then the frame kind and flags::

    sealed / clear   b0 | from(2) | to(2) | counter(4) | records ... | tag(16)
    hello            b0 | key(32) | epoch(8) | echo(8) | mesh(4) | flags(1) | signature(64)

``from`` and ``to`` are the first two bytes of the sender's and recipient's
public keys; ``counter`` is the sender's frame counter (never reused within a
run, it is also the AEAD nonce and the replay check). The key of a sealed or
clear frame is bound to both stations' run epochs, announced in their hellos
(:mod:`mesh.radio.crypto`): version 2 costs no byte per frame over version 1,
whose frames are refused (their keys could repeat a nonce). In a sealed frame the records are
encrypted; in a clear frame (``--cleartext``, amateur bands) they are readable
and only authenticated. Both carry a 16-byte Poly1305 tag: the per-frame check.

Records inside a frame (after decryption)::

    0x01 SUM    digest(6)                          "this is what I have"
    0x02 SUMB   digest(6) nb(1) bucket digests(2 nb)   same, with per-bucket digests
    0x03 ACK    high(4) bitmap(4)                  frames received (selective ack)
    0x_4 SEG    msg(2) offset [total] [length] data    a piece of a message

Messages (entries, heads, fork proofs) are cut into SEG records and put back
together by the receiver (:mod:`mesh.radio.arq`). Integers in SEG are LEB128
varints; the first SEG of a message carries its total length (flag 0x10);
the last record of a frame runs to the end and carries no length (flag 0x20).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

VERSION = 2  # 1: keys without run epochs (refused: a restored backup could reuse a nonce)
SEALED, CLEAR, HELLO = 0, 1, 2
ACK_REQUESTED = 0x04
HEADER_BYTES = 9  # b0 + from + to + counter
TAG_BYTES = 16
OVERHEAD = HEADER_BYTES + TAG_BYTES
HELLO_BYTES = 1 + 32 + 8 + 8 + 4 + 1 + 64
DIGEST_BYTES = 6

R_SUM, R_SUMB, R_ACK, R_SEG = 0x01, 0x02, 0x03, 0x04
SEG_FIRST, SEG_OPEN = 0x10, 0x20
ACK_WINDOW = 32
MAX_SUMMARY_BUCKETS = 64  # the long summary's buckets at most (mesh.radio.summary)


class WireError(ValueError):
    """Bytes that are not a well-formed frame or record (the frame is dropped and counted)."""


class OtherVersion(WireError):
    """A frame of another radio protocol version (dropped, counted and reported once)."""


# --- varints ---------------------------------------------------------------------------


def put_varint(n: int) -> bytes:
    if n < 0:
        raise ValueError("varints are unsigned")
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def get_varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, next position); WireError if cut short or longer than 9 bytes."""
    value = shift = 0
    for i in range(9):
        if pos + i >= len(data):
            raise WireError("varint cut short")
        byte = data[pos + i]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos + i + 1
        shift += 7
    raise WireError("varint too long")


def varint_size(n: int) -> int:
    return len(put_varint(n))


# --- frame header ------------------------------------------------------------------------


@dataclass(frozen=True)
class Header:
    kind: int
    sender: bytes  # 2-byte key prefix
    recipient: bytes  # 2-byte key prefix
    counter: int
    ack_requested: bool = False

    def pack(self) -> bytes:
        b0 = (VERSION << 4) | self.kind | (ACK_REQUESTED if self.ack_requested else 0)
        return bytes([b0]) + self.sender + self.recipient + struct.pack(">I", self.counter)


def frame_kind(frame: bytes) -> int:
    """SEALED, CLEAR or HELLO; WireError for another version or kind."""
    if not frame:
        raise WireError("empty frame")
    version = frame[0] >> 4
    if version != VERSION:
        which = "the laptop that sent it" if version < VERSION else "this laptop"
        raise OtherVersion(
            f"radio protocol version {version}, this plurictl speaks {VERSION}: "
            f"update plurictl on {which}"
        )
    kind = frame[0] & 0x03
    if kind not in (SEALED, CLEAR, HELLO):
        raise WireError("unknown frame kind")
    return kind


def parse_header(frame: bytes) -> Header:
    kind = frame_kind(frame)
    if kind == HELLO or len(frame) < OVERHEAD:
        raise WireError("not a sealed or clear frame")
    (counter,) = struct.unpack(">I", frame[5:9])
    return Header(kind, frame[1:3], frame[3:5], counter, bool(frame[0] & ACK_REQUESTED))


# --- records -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    digest: bytes
    buckets: tuple[bytes, ...] | None = None  # None: the short form (SUM)

    def size(self) -> int:
        return 1 + DIGEST_BYTES + (0 if self.buckets is None else 1 + 2 * len(self.buckets))


@dataclass(frozen=True)
class Ack:
    high: int
    bitmap: int  # bit i: frame high-1-i was received

    def covers(self, counter: int) -> bool | None:
        """True received, False missed, None: not covered by this ack (still in flight)."""
        if counter == self.high:
            return True
        if counter > self.high:
            return None
        distance = self.high - 1 - counter
        if distance >= ACK_WINDOW:
            return False
        return bool(self.bitmap >> distance & 1)

    @staticmethod
    def size() -> int:
        return 9


@dataclass(frozen=True)
class Segment:
    msg: int
    offset: int
    data: bytes
    total: int | None = None  # only in a message's first segment

    def size(self, *, last: bool) -> int:
        n = 1 + 2 + varint_size(self.offset) + len(self.data)
        if self.total is not None:
            n += varint_size(self.total)
        if not last:
            n += varint_size(len(self.data))
        return n


Record = Summary | Ack | Segment


def encode_records(records: list[Record]) -> bytes:
    out = bytearray()
    for i, r in enumerate(records):
        last = i == len(records) - 1
        if isinstance(r, Summary):
            if len(r.digest) != DIGEST_BYTES:
                raise ValueError("summary digest must be 6 bytes")
            if r.buckets is None:
                out += bytes([R_SUM]) + r.digest
            else:
                out += bytes([R_SUMB]) + r.digest + bytes([len(r.buckets)]) + b"".join(r.buckets)
        elif isinstance(r, Ack):
            out += bytes([R_ACK]) + struct.pack(">II", r.high, r.bitmap & 0xFFFFFFFF)
        else:
            flags = (SEG_FIRST if r.total is not None else 0) | (SEG_OPEN if last else 0)
            out += bytes([R_SEG | flags]) + struct.pack(">H", r.msg) + put_varint(r.offset)
            if r.total is not None:
                out += put_varint(r.total)
            if not last:
                out += put_varint(len(r.data))
            out += r.data
    return bytes(out)


def decode_records(data: bytes) -> list[Record]:
    """Records of a frame's plaintext; WireError on anything malformed."""
    out: list[Record] = []
    pos = 0
    while pos < len(data):
        rtype = data[pos]
        base = rtype & 0x0F
        if base == R_SUM and rtype == R_SUM:
            digest = _take(data, pos + 1, DIGEST_BYTES)
            out.append(Summary(digest))
            pos += 1 + DIGEST_BYTES
        elif base == R_SUMB and rtype == R_SUMB:
            digest = _take(data, pos + 1, DIGEST_BYTES)
            nb = _take(data, pos + 7, 1)[0]
            raw = _take(data, pos + 8, 2 * nb)
            out.append(Summary(digest, tuple(raw[i : i + 2] for i in range(0, 2 * nb, 2))))
            pos += 8 + 2 * nb
        elif base == R_ACK and rtype == R_ACK:
            high, bitmap = struct.unpack(">II", _take(data, pos + 1, 8))
            out.append(Ack(high, bitmap))
            pos += 9
        elif base == R_SEG and not rtype & 0xC0:
            seg, pos = _segment(data, pos, rtype)
            out.append(seg)
        else:
            raise WireError(f"unknown record type 0x{rtype:02x}")
    return out


def _segment(data: bytes, pos: int, rtype: int) -> tuple[Segment, int]:
    (msg,) = struct.unpack(">H", _take(data, pos + 1, 2))
    offset, pos = get_varint(data, pos + 3)
    total = None
    if rtype & SEG_FIRST:
        total, pos = get_varint(data, pos)
    if rtype & SEG_OPEN:
        length = len(data) - pos
    else:
        length, pos = get_varint(data, pos)
    chunk = _take(data, pos, length)
    if total is not None and offset + length > total:
        raise WireError("segment runs past its message")
    return Segment(msg, offset, chunk, total), pos + length


def _take(data: bytes, pos: int, n: int) -> bytes:
    if pos + n > len(data):
        raise WireError("record cut short")
    return data[pos : pos + n]


def _min_mtu() -> int:
    """The largest frame that cannot be cut: a hello, or an ACK with the longest summary."""
    control: list[Record] = [
        Ack(0xFFFFFFFF, 0xFFFFFFFF),
        Summary(bytes(DIGEST_BYTES), tuple(bytes(2) for _ in range(MAX_SUMMARY_BUCKETS))),
    ]
    return max(HELLO_BYTES, OVERHEAD + len(encode_records(control)))


#: The smallest MTU that works: below it some frames could never go out (links refuse it).
MIN_MTU = _min_mtu()
#: The largest MTU: what serial and KISS links read as one frame (their decoders stop
#: there, so a runaway stream cannot fill memory) and far above any narrowband radio.
MAX_MTU = 4096
