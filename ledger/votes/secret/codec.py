"""Strict byte codec shared by every object: one encoding per value, nothing else.

Every object starts with a kind byte and a version byte. Counts are one byte,
weights eight (big-endian), scalars 32 (big-endian), points 33 (compressed
SEC1). Decoding refuses a wrong kind or version, a short or long buffer, a
scalar >= n and a non-canonical point; objects decide which points are also
checked to be on the curve here and which are checked when their verifier
parses them (ballots: parsing costs a square root, done once, in ``verify``).
"""

from __future__ import annotations

from . import group
from .errors import BallotEncodingError

VERSION = 1

KIND_BALLOT = ord("B")
KIND_TALLY = ord("T")
KIND_SHARE = ord("D")
KIND_KEYSET = ord("K")
KIND_DEALING = ord("d")
KIND_COMPLAINT = ord("c")
KIND_JUSTIFICATION = ord("j")


class Reader:
    """Consumes a buffer front to back; ``done`` refuses leftover bytes."""

    def __init__(self, data: bytes, kind: int, what: str) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise BallotEncodingError(f"{what}: expected bytes, got {type(data).__name__}")
        self.data = bytes(data)
        self.pos = 0
        self.what = what
        head = self.take(2)
        if head[0] != kind:
            raise BallotEncodingError(f"{what}: wrong kind byte {head[0]:#04x}")
        if head[1] != VERSION:
            raise BallotEncodingError(f"{what}: unsupported version {head[1]}")

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise BallotEncodingError(f"{self.what}: truncated")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u64(self) -> int:
        return int.from_bytes(self.take(8), "big")

    def scalar(self) -> int:
        try:
            return group.decode_scalar(self.take(32))
        except BallotEncodingError as e:
            raise BallotEncodingError(f"{self.what}: {e}") from None

    def proof(self) -> tuple[int, int]:
        return self.scalar(), self.scalar()

    def point(self) -> bytes:
        """A point that must be on the curve (and so is not O)."""
        raw = self.take(group.POINT_BYTES)
        if not group.is_group_element(raw):
            raise BallotEncodingError(
                f"{self.what}: not a secp256k1 point (non-canonical, off the curve, or O)"
            )
        return raw

    def canonical_point(self) -> bytes:
        """A point whose encoding is canonical (02/03, x < p); on-curve is checked later."""
        raw = self.take(group.POINT_BYTES)
        if not group.is_canonical_point(raw):
            raise BallotEncodingError(f"{self.what}: non-canonical point encoding")
        return raw

    def done(self) -> None:
        if self.pos != len(self.data):
            raise BallotEncodingError(f"{self.what}: {len(self.data) - self.pos} trailing bytes")


def header(kind: int) -> bytes:
    return bytes([kind, VERSION])


def u8(n: int) -> bytes:
    if not 0 <= n <= 255:
        raise BallotEncodingError(f"count {n} does not fit in one byte")
    return bytes([n])


def u64(n: int) -> bytes:
    if not 0 <= n < 2**64:
        raise BallotEncodingError(f"weight {n} does not fit in eight bytes")
    return n.to_bytes(8, "big")


def proof_bytes(proof: tuple[int, int]) -> bytes:
    return group.scalar_bytes(proof[0]) + group.scalar_bytes(proof[1])
