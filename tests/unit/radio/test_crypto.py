"""Pair keys, sealed and clear frames, hellos, replay windows."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.testing import identity_from_seed
from mesh.radio import wire
from mesh.radio.crypto import AuthFailed, Keyring, ReplayWindow, read_hello

MESH_ID = b"\x42" * 32
A, B, C = (identity_from_seed(n) for n in ("alice", "bob", "carol"))


def ring(ident, mesh: bytes = MESH_ID) -> Keyring:  # type: ignore[no-untyped-def]
    return Keyring(ident.signing_key, mesh)


def test_both_sides_derive_the_same_pair_keys() -> None:
    a, b = ring(A), ring(B)
    assert a.pair(B.public) == tuple(reversed(b.pair(A.public)))
    assert a.pair(B.public)[0] != a.pair(B.public)[1]  # one key per direction
    assert ring(A, b"\x43" * 32).pair(B.public) != a.pair(B.public)  # bound to the mesh


@pytest.mark.parametrize("clear", [False, True])
def test_seal_and_open(clear: bool) -> None:
    a, b, c = ring(A), ring(B), ring(C)
    text = wire.encode_records([wire.Summary(b"digest")])
    frame = a.seal(B.public, 7, text, cleartext=clear)
    assert len(frame) == wire.OVERHEAD + len(text)
    assert b.open(A.public, frame) == text
    assert (text in frame) == clear  # clear frames are readable on the air, sealed ones are not
    with pytest.raises(AuthFailed):
        c.open(A.public, frame)  # a third member cannot read or forge it
    tampered = bytearray(frame)
    tampered[wire.HEADER_BYTES] ^= 1
    with pytest.raises(AuthFailed):
        b.open(A.public, bytes(tampered))
    moved = bytearray(frame)
    moved[8] ^= 1  # another counter: the nonce and the header no longer match
    with pytest.raises(AuthFailed):
        b.open(A.public, bytes(moved))


def test_hello_is_signed() -> None:
    frame = ring(A).hello(5, cleartext=True, boot=True)
    assert len(frame) == wire.HELLO_BYTES
    hello = read_hello(frame)
    assert (hello.key, hello.counter, hello.cleartext, hello.boot) == (A.public, 5, True, True)
    assert hello.mesh_prefix == MESH_ID[:4]
    forged = bytearray(frame)
    forged[34] ^= 1
    with pytest.raises(AuthFailed):
        read_hello(bytes(forged))


@given(st.lists(st.integers(0, 300), max_size=80), st.integers(0, 50))
def test_replay_window_matches_a_reference(counters: list[int], floor: int) -> None:
    window = ReplayWindow(floor)
    seen: set[int] = set(range(floor + 1)) if floor else set()
    high = floor if floor else None
    for c in counters:
        expected = c not in seen and (high is None or c > high - ReplayWindow.SIZE - 1)
        assert window.accept(c) == expected, (c, high)
        if expected:
            seen.add(c)
            high = c if high is None else max(high, c)
