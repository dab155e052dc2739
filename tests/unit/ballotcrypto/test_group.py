"""Known answers for the group layer: base point, RFC 8032 vector, small-order refusals."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.ballotcrypto import group
from ledger.ballotcrypto.errors import BallotEncodingError

from . import independent as ref

# The eight points of small order (libsodium's blocklist): identity, order 2, 4, 8.
SMALL_ORDER = [
    "0100000000000000000000000000000000000000000000000000000000000000",
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
]


def test_base_point_and_order() -> None:
    assert group.G.hex() == "58" + "66" * 31
    assert group.mul(group.L - 1, group.G) == group.neg(group.G)
    assert group.base(group.L) == group.IDENTITY
    assert group.add(group.G, group.neg(group.G)) == group.IDENTITY


def test_rfc8032_test1_public_key() -> None:
    # RFC 8032 §7.1 TEST 1: the public key is clamp(SHA-512(seed)[:32])·B.
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    h = bytearray(hashlib.sha512(seed).digest()[:32])
    h[0] &= 248
    h[31] &= 127
    h[31] |= 64
    expected = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    assert group.base(int.from_bytes(h, "little")).hex() == expected


@pytest.mark.parametrize("enc", SMALL_ORDER)
def test_small_order_points_are_refused(enc: str) -> None:
    raw = bytes.fromhex(enc)
    p = ref.decode(raw)
    assert p is not None and ref.pt_eq(ref.pt_mul(8, p), ref.IDENT)  # truly small order
    assert not group.is_group_element(raw)
    with pytest.raises(BallotEncodingError):
        group.decode_point(raw)
    if raw != group.IDENTITY:  # the identity is a legitimate aggregate; the rest never are
        with pytest.raises(BallotEncodingError):
            group.mul(5, raw)
        with pytest.raises(BallotEncodingError):
            group.mul(0, raw)


def test_mixed_torsion_point_is_refused() -> None:
    torsion = bytes.fromhex(SMALL_ORDER[4])
    mixed = group.add(group.base(12345), torsion)
    assert ref.decode(mixed) is not None  # a curve point, but not in the subgroup
    assert not group.is_group_element(mixed)
    with pytest.raises(BallotEncodingError):
        group.mul(7, mixed)


def test_non_canonical_encodings_are_refused() -> None:
    y_is_p_plus_1 = (group.FIELD_P + 1).to_bytes(32, "little")  # same y as the identity
    assert not group.is_canonical_point(y_is_p_plus_1)
    assert not group.is_group_element(y_is_p_plus_1)
    with pytest.raises(BallotEncodingError):
        group.decode_scalar(group.L.to_bytes(32, "little"))
    with pytest.raises(BallotEncodingError):
        group.decode_scalar(bytes(31))
    assert group.decode_scalar((group.L - 1).to_bytes(32, "little")) == group.L - 1


def test_hash_to_scalar_known_answer() -> None:
    data = b"".join(
        len(p).to_bytes(4, "little") + p for p in (b"plurigrid/ballotcrypto/v1/x", b"ab", b"")
    )
    expected = int.from_bytes(hashlib.blake2b(data, digest_size=64).digest(), "little") % group.L
    assert group.hash_to_scalar("x", b"ab", b"") == expected
    assert group.hash_to_scalar("x", b"a", b"b") != expected  # framing separates parts


@given(st.integers(min_value=0, max_value=2**256))
def test_base_mult_matches_plain_integer_reference(k: int) -> None:
    assert group.base(k) == ref.encode(ref.pt_mul(k % group.L, ref.B))


@given(st.integers(min_value=1, max_value=group.L - 1), st.integers(min_value=0, max_value=2**300))
def test_mul_add_match_reference(a: int, k: int) -> None:
    p = group.base(a)
    assert group.mul(k, p) == ref.encode(ref.pt_mul(k % group.L, ref.decode(p)))
    assert group.add(p, group.G) == ref.encode(ref.pt_add(ref.decode(p), ref.B))
