"""Pair keys, sealed and clear frames, hellos, replay windows."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.testing import identity_from_seed
from mesh.radio import wire
from mesh.radio.crypto import AuthFailed, Keyring, ReplayWindow, new_epoch, read_hello

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
    frame = a.seal(B.public, b.epoch, 7, text, cleartext=clear)
    assert len(frame) == wire.OVERHEAD + len(text)  # run epochs cost no byte per frame
    assert b.open(A.public, a.epoch, frame) == text
    assert (text in frame) == clear  # clear frames are readable on the air, sealed ones are not
    with pytest.raises(AuthFailed):
        c.open(A.public, a.epoch, frame)  # a third member cannot read or forge it
    with pytest.raises(AuthFailed):
        b.open(A.public, new_epoch(), frame)  # nor can another run of alice have sent it
    with pytest.raises(AuthFailed):
        Keyring(B.signing_key, MESH_ID).open(A.public, a.epoch, frame)  # nor bob's next run
    tampered = bytearray(frame)
    tampered[wire.HEADER_BYTES] ^= 1
    with pytest.raises(AuthFailed):
        b.open(A.public, a.epoch, bytes(tampered))
    moved = bytearray(frame)
    moved[8] ^= 1  # another counter: the nonce and the header no longer match
    with pytest.raises(AuthFailed):
        b.open(A.public, a.epoch, bytes(moved))


def test_every_run_seals_under_its_own_key() -> None:
    """Two runs of alice (a restored backup: the same counter again) never share a key."""
    b = ring(B)
    text = wire.encode_records([wire.Summary(b"digest")])
    first, second = ring(A), ring(A)
    assert first.epoch != second.epoch
    f1 = first.seal(B.public, b.epoch, 7, text)
    f2 = second.seal(B.public, b.epoch, 7, text)
    assert f1[: wire.HEADER_BYTES] == f2[: wire.HEADER_BYTES]  # the same nonce on the air ...
    assert f1[wire.HEADER_BYTES :] != f2[wire.HEADER_BYTES :]  # ... under different keys
    assert first.run_keys(B.public, b.epoch)[0] == b.run_keys(A.public, first.epoch)[1]


def test_hello_is_signed() -> None:
    a, echo = ring(A), new_epoch()
    frame = a.hello(cleartext=True, boot=True, echo=echo)
    assert len(frame) == wire.HELLO_BYTES
    hello = read_hello(frame)
    assert (hello.key, hello.epoch, hello.echo) == (A.public, a.epoch, echo)
    assert (hello.cleartext, hello.boot, hello.ask) == (True, True, False)
    assert read_hello(a.hello(cleartext=False, ask=True)).ask
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
