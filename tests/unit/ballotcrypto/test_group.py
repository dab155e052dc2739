"""Known answers for the group layer: SEC 2 generator, published multiples, encoding refusals."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.votes.secret import group
from ledger.votes.secret.errors import BallotEncodingError

from . import independent as ref

# SEC 2 v2 §2.4.1 (G, n) and the widely published secp256k1 multiples k·G, as (k, x, y).
KNOWN_MULTIPLES = [
    (
        1,
        "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
        "483ada7726a3c4655da4fbfc0e1108a8fd17b448a68554199c47d08ffb10d4b8",
    ),
    (
        2,
        "c6047f9441ed7d6d3045406e95c07cd85c778e4b8cef3ca7abac09b95c709ee5",
        "1ae168fea63dc339a3c58419466ceaeef7f632653266d0e1236431a950cfe52a",
    ),
    (
        3,
        "f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9",
        "388f7b0f632de8140fe337e62a37f3566500a99934c2231b6cb9fd7584b8e672",
    ),
    (
        112233445566778899,
        "a90cc3d3f3e146daadfc74ca1372207cb4b725ae708cef713a98edd73d99ef29",
        "5a79d6b289610c68bc3b47f3d72f9788a26a06868b4d8e433e1e2ad76fb7dc76",
    ),
    (
        group.N - 1,
        "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798",
        "b7c52588d95c3b9aa25b0403f1eef75702e84bb7597aabe663b82f6f04ef2777",
    ),
]


def compressed(x: str, y: str) -> bytes:
    return bytes([2 | (int(y, 16) & 1)]) + bytes.fromhex(x)


@pytest.mark.parametrize(("k", "x", "y"), KNOWN_MULTIPLES)
def test_published_multiples_of_the_generator(k: int, x: str, y: str) -> None:
    expected = compressed(x, y)
    assert group.base(k) == expected
    assert group.mul(k, group.G) == expected
    assert group.mul_secret(k, group.G) == expected
    assert ref.decode(expected) == (int(x, 16), int(y, 16))  # the reference agrees on y
    assert ref.encode(ref.pt_mul(k, ref.B)) == expected


def test_generator_order_and_identity() -> None:
    assert group.base(1) == group.G
    assert group.base(group.N) == group.base(0) == group.IDENTITY
    assert group.mul(group.N, group.G) == group.IDENTITY
    assert group.neg(group.G) == group.base(group.N - 1)
    assert group.add(group.G, group.neg(group.G)) == group.IDENTITY  # cancellation is O, no error
    assert group.total([group.G, group.base(2), group.neg(group.base(3))]) == group.IDENTITY
    assert group.total([]) == group.IDENTITY
    assert group.mul(7, group.IDENTITY) == group.mul_secret(7, group.IDENTITY) == group.IDENTITY
    assert group.add(group.IDENTITY, group.G) == group.G


def off_curve_x() -> int:
    """The smallest x for which x³ + 7 is not a square mod p: no point has it."""
    return next(
        x for x in range(100) if ref.group_element(bytes([2]) + x.to_bytes(32, "big")) is False
    )


def test_off_curve_x_is_refused() -> None:
    x = off_curve_x()
    enc = bytes([2]) + x.to_bytes(32, "big")
    assert group.is_canonical_point(enc)  # syntactically fine...
    assert not group.is_group_element(enc)  # ...but no curve point has this x
    for op in (
        lambda: group.decode_point(enc),
        lambda: group.mul(5, enc),
        lambda: group.mul_secret(5, enc),
        lambda: group.add(enc, group.G),
        lambda: group.neg(enc),
    ):
        with pytest.raises(BallotEncodingError):
            op()


def test_non_canonical_and_foreign_encodings_are_refused() -> None:
    x1 = bytes([2]) + (1).to_bytes(32, "big")  # x = 1 is on the curve
    assert group.is_group_element(x1)
    x1_plus_p = bytes([2]) + (1 + group.FIELD_P).to_bytes(32, "big")  # same x, mod p
    bad = [
        x1_plus_p,
        bytes([4]) + x1[1:],  # wrong prefix for 33 bytes
        bytes([0]) + x1[1:],
        bytes([5]) + x1[1:],
        b"\x00",  # SEC1's one-byte infinity
        group.IDENTITY,  # our 33-zero O is not a point encoding where a point is required
        bytes.fromhex("04" + KNOWN_MULTIPLES[0][1] + KNOWN_MULTIPLES[0][2]),  # uncompressed G
        bytes.fromhex("06" + KNOWN_MULTIPLES[0][1] + KNOWN_MULTIPLES[0][2]),  # hybrid G
        group.G[:-1],
        group.G + b"\x00",
    ]
    for enc in bad:
        assert not group.is_group_element(enc), enc.hex()
        with pytest.raises(BallotEncodingError):
            group.decode_point(enc)
    assert not group.is_canonical_point(x1_plus_p)


def test_scalars_are_canonical_big_endian() -> None:
    with pytest.raises(BallotEncodingError):
        group.decode_scalar(group.N.to_bytes(32, "big"))
    with pytest.raises(BallotEncodingError):
        group.decode_scalar(bytes(31))
    assert group.decode_scalar((group.N - 1).to_bytes(32, "big")) == group.N - 1
    assert group.scalar_bytes(1) == bytes(31) + b"\x01"
    assert group.scalar_bytes(group.N + 5) == group.scalar_bytes(5)


def test_hash_to_scalar_known_answer() -> None:
    data = b"".join(
        len(p).to_bytes(4, "big") + p for p in (b"plurigrid/ballotcrypto/v1/x", b"ab", b"")
    )
    expected = int.from_bytes(hashlib.blake2b(data, digest_size=64).digest(), "big") % group.N
    assert group.hash_to_scalar("x", b"ab", b"") == expected
    assert group.hash_to_scalar("x", b"a", b"b") != expected  # framing separates parts


@given(st.integers(min_value=0, max_value=2**300))
def test_base_mult_matches_plain_integer_reference(k: int) -> None:
    assert group.base(k) == ref.encode(ref.pt_mul(k, ref.B))


@given(st.integers(min_value=1, max_value=group.N - 1), st.integers(min_value=0, max_value=2**300))
def test_mul_add_sub_match_reference(a: int, k: int) -> None:
    p = group.base(a)
    ref_p = ref.decode(p)
    assert group.mul(k, p) == ref.encode(ref.pt_mul(k, ref_p))
    assert group.mul_secret(k, p) == group.mul(k, p)  # constant-time path, same answer
    assert group.add(p, group.G) == ref.encode(ref.pt_add(ref_p, ref.B))
    assert group.sub(p, group.G) == ref.encode(ref.pt_add(ref_p, ref.pt_neg(ref.B)))
    assert group.neg(p) == ref.encode(ref.pt_neg(ref_p))
