"""Merkle tree: roots commit to the set, proofs verify, tampering fails."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import merkle


def ids(n: int) -> list[bytes]:
    return sorted(hashlib.blake2b(str(i).encode(), digest_size=32).digest() for i in range(n))


def test_known_small_trees() -> None:
    a, b, c = ids(3)
    assert merkle.root([]) == merkle.EMPTY_ROOT
    assert merkle.root([a]) == merkle.leaf_hash(a)
    ab = merkle.node_hash(merkle.leaf_hash(a), merkle.leaf_hash(b))
    assert merkle.root([a, b]) == ab
    # odd last node is carried up unchanged
    assert merkle.root([a, b, c]) == merkle.node_hash(ab, merkle.leaf_hash(c))


def test_leaf_and_node_are_domain_separated() -> None:
    a, b = ids(2)
    # a one-leaf tree whose "id" is the concatenation of two child hashes
    fake = merkle.leaf_hash(a) + merkle.leaf_hash(b)
    assert merkle.root([fake]) != merkle.root([a, b])


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 70), pick=st.integers(0, 10_000))
def test_every_leaf_has_a_proof(n: int, pick: int) -> None:
    items = ids(n)
    index = pick % n
    root = merkle.root(items)
    path = merkle.proof(items, index)
    assert merkle.verify(items[index], path, root)
    assert len(path) <= n.bit_length()
    other = hashlib.blake2b(b"not in the set", digest_size=32).digest()
    assert not merkle.verify(other, path, root)
    if path:
        side, _h = path[0]
        tampered = [(side, bytes(32)), *path[1:]]
        assert not merkle.verify(items[index], tampered, root)


def test_root_changes_when_set_changes() -> None:
    items = ids(10)
    assert merkle.root(items) != merkle.root(items[:-1])
    assert merkle.root(items) != merkle.root(list(reversed(items)))
