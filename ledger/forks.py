"""Fork proofs: two validly signed entries by one key at the same seq.

An honest laptop never signs two different entries at one seq, so such a pair
proves its key was copied or its ledger tampered with (an *equivocation*).
The proof is self-contained (both signed encodings), is replicated like an
entry, and freezes the author's feed at that seq in every view.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger.entry import Entry, decode, signature_valid
from ledger.errors import EncodingError, VerificationFailed


@dataclass(frozen=True)
class ForkProof:
    author: bytes
    seq: int
    a: Entry  # the entry with the smaller id
    b: Entry

    @classmethod
    def of(cls, x: Entry, y: Entry) -> ForkProof:
        """Build a proof from two entries; raises VerificationFailed if they prove nothing."""
        if x.author != y.author or x.seq != y.seq:
            raise VerificationFailed("a fork proof needs two entries with the same author and seq")
        if x.id == y.id:
            raise VerificationFailed("a fork proof needs two different entries")
        if not (signature_valid(x) and signature_valid(y)):
            raise VerificationFailed("a fork proof needs two validly signed entries")
        a, b = sorted((x, y), key=lambda e: e.id)
        return cls(a.author, a.seq, a, b)

    @classmethod
    def stored(cls, a: Entry, b: Entry) -> ForkProof:
        """A proof read back from our own store: verified when it was recorded."""
        a, b = sorted((a, b), key=lambda e: e.id)
        return cls(a.author, a.seq, a, b)

    @classmethod
    def from_raw(cls, raw_a: bytes, raw_b: bytes) -> ForkProof:
        try:
            return cls.of(decode(raw_a), decode(raw_b))
        except EncodingError as e:
            raise VerificationFailed(f"fork proof is not two entries: {e}") from e

    def key(self) -> tuple[int, bytes, bytes]:
        """Ordering among proofs for one author: the lowest seq wins, then smallest ids."""
        return (self.seq, self.a.id, self.b.id)

    def to_json(self, *, typed: bool = False) -> dict[str, Any]:
        return {
            "author": self.author.hex(),
            "seq": self.seq,
            "entries": [self.a.to_json(typed=typed), self.b.to_json(typed=typed)],
        }
