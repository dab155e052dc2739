"""What the two courier files share: their first bytes, and the heads-vector codec.

A bundle's header and a frontier file both carry a heads vector (author -> (seq, id)); each
file names the other's magic to tell an operator who gave the wrong one. Living here, neither
format module imports the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledger.entry import ID_BYTES, KEY_BYTES
from ledger.store import Head

BUNDLE_MAGIC = b"\x89PGB\r\n\x1a\n"
FRONTIER_MAGIC = b"\x89PGF\r\n\x1a\n"
#: 100,000 authors x ~75 bytes: far beyond any mesh, small enough to hold in memory.
MAX_HEADS_BYTES = 16 * 1024 * 1024


def encode_heads(heads: Mapping[bytes, Head]) -> list[list[Any]]:
    return [[a, heads[a].seq, heads[a].id] for a in sorted(heads)]


def decode_heads(value: Any) -> dict[bytes, Head]:
    """Heads from ``[[author, seq, id], ...]``; raises ValueError on anything malformed."""
    if not isinstance(value, list):
        raise ValueError("heads must be a list")
    out: dict[bytes, Head] = {}
    for item in value:
        if not isinstance(item, list) or len(item) != 3:
            raise ValueError("each head is [author, seq, id]")
        author, seq, eid = item
        if not isinstance(author, bytes) or len(author) != KEY_BYTES:
            raise ValueError("head author must be a 32-byte key")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise ValueError("head seq must be an integer >= 1")
        if not isinstance(eid, bytes) or len(eid) != ID_BYTES:
            raise ValueError("head id must be 32 bytes")
        if author in out:
            raise ValueError("an author appears twice")
        out[author] = Head(seq, eid)
    return out


def heads_json(heads: Mapping[bytes, Head]) -> dict[str, dict[str, Any]]:
    return {a.hex(): {"seq": h.seq, "id": h.id.hex()} for a, h in sorted(heads.items())}
