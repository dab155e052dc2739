"""The public result of a key ceremony: threshold, joint key, each teller's public share."""

from __future__ import annotations

from dataclasses import dataclass

from . import codec
from .errors import BallotEncodingError


@dataclass(frozen=True)
class KeySet:
    """k, H = x·G, and X_t = x_t·G for tellers t = 1..n (x_t the teller's share of x)."""

    threshold: int
    joint_key: bytes
    public_shares: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not 1 <= self.threshold <= len(self.public_shares):
            raise BallotEncodingError(
                f"threshold {self.threshold} is not within 1..{len(self.public_shares)}"
            )

    def to_bytes(self) -> bytes:
        out = [codec.header(codec.KIND_KEYSET), codec.u8(self.threshold)]
        out += [codec.u8(len(self.public_shares)), self.joint_key, *self.public_shares]
        return b"".join(out)

    @classmethod
    def from_bytes(cls, data: bytes) -> KeySet:
        r = codec.Reader(data, codec.KIND_KEYSET, "key set")
        k, n = r.u8(), r.u8()
        joint = r.point()
        shares = tuple(r.point() for _ in range(n))
        r.done()
        return cls(k, joint, shares)
