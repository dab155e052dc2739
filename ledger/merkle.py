"""A small Merkle tree over entry ids, so a long list can be named by one hash.

A close sheet commits to its ballot set with a Merkle root; a voter's receipt
is an inclusion proof (the sibling hashes from their ballot up to the root),
which anyone can check without the full list.

Definition (so another implementation computes the same root)::

    H(x)     = blake2b-256(x, person=b"plurigrid-merkle")
    leaf(id) = H(0x00 || id)
    node     = H(0x01 || left || right)
    empty    = H(b"")

Leaves are the ids in ascending byte order (a set has one root). Each level
pairs neighbours left to right; an odd last node is carried up unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

PERSON = b"plurigrid-merkle"
LEFT, RIGHT = "L", "R"


def _h(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32, person=PERSON).digest()


def leaf_hash(item: bytes) -> bytes:
    return _h(b"\x00" + item)


def node_hash(left: bytes, right: bytes) -> bytes:
    return _h(b"\x01" + left + right)


EMPTY_ROOT = _h(b"")


def _next_level(level: list[bytes]) -> list[bytes]:
    out = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        out.append(level[-1])
    return out


def root(items: Sequence[bytes]) -> bytes:
    """The Merkle root of ``items`` taken in the given order (callers sort them)."""
    if not items:
        return EMPTY_ROOT
    # inlined, from copies of hashers already holding the prefix byte (a copy costs half
    # a new hasher's keyword parsing): sheets of 100,000 ballots are hashed on every fold
    level: list[bytes] = []
    for item in items:
        h = _LEAF.copy()
        h.update(item)
        level.append(h.digest())
    while len(level) > 1:
        odd = level[-1] if len(level) % 2 else None
        nodes: list[bytes] = []
        for i in range(0, len(level) - 1, 2):
            h = _NODE.copy()
            h.update(level[i])
            h.update(level[i + 1])
            nodes.append(h.digest())
        level = nodes
        if odd is not None:
            level.append(odd)
    return level[0]


_LEAF = hashlib.blake2b(b"\x00", digest_size=32, person=PERSON)
_NODE = hashlib.blake2b(b"\x01", digest_size=32, person=PERSON)


def proof(items: Sequence[bytes], index: int) -> list[tuple[str, bytes]]:
    """Sibling hashes from leaf ``index`` to the root: (side of the sibling, hash)."""
    if not 0 <= index < len(items):
        raise IndexError(f"leaf {index} out of range for {len(items)} items")
    path: list[tuple[str, bytes]] = []
    level = [leaf_hash(i) for i in items]
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            path.append((LEFT if sibling < index else RIGHT, level[sibling]))
        level = _next_level(level)
        index //= 2
    return path


def verify(item: bytes, path: Sequence[tuple[str, bytes]], expected_root: bytes) -> bool:
    """True if ``path`` proves that ``item`` is a leaf under ``expected_root``."""
    h = leaf_hash(item)
    for side, sibling in path:
        if side == LEFT:
            h = node_hash(sibling, h)
        elif side == RIGHT:
            h = node_hash(h, sibling)
        else:
            return False
    return h == expected_root
