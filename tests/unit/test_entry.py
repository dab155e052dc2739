"""The entry codec: fixed vectors, canonical form, signatures, limits."""

from __future__ import annotations

import math

import msgpack
import nacl.bindings
import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger import entry as codec
from ledger.entry import DOMAIN, create, decode, signature_valid, verify
from ledger.errors import EncodingError, InvalidInput, VerificationFailed
from ledger.identity import Identity

SEED = bytes(range(32))
HLC = (1767225600000 << 16) | 3
BODY = {
    "text": "gen 2 started",
    "litres": 1200,
    "ok": True,
    "ratio": 0.5,
    "tags": ["a", "b"],
    "z": None,
}

# Known seed -> known bytes, signature and id. Changing any of these breaks every
# ledger in the field: they may only change with a new entry version.
VECTOR_PUBLIC = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8"
VECTOR_RAW = (
    "9801c42003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b801c42000"
    "00000000000000000000000000000000000000000000000000000000000000cf019b76daa8000003"
    "a46e6f746586a66c6974726573cd04b0a26f6bc3a5726174696fcb3fe0000000000000a474616773"
    "92a161a162a474657874ad67656e20322073746172746564a17ac0c44053872deb1b6d7230c8869b"
    "c040ff6bef222871c46d043dcba5acb9364ee0548ad9523a9aaa1511bc748cef16566b423b806783"
    "f977f883c9a65f0b52b491e308"
)
VECTOR_SIG = (
    "53872deb1b6d7230c8869bc040ff6bef222871c46d043dcba5acb9364ee0548a"
    "d9523a9aaa1511bc748cef16566b423b806783f977f883c9a65f0b52b491e308"
)
VECTOR_ID = "d016385162ed475aaa610d2f2ca3ccbda4a55b85be4e201d7508f6ae7f4cb1b4"
VECTOR2_RAW = (
    "9801c42003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b802c420d0"
    "16385162ed475aaa610d2f2ca3ccbda4a55b85be4e201d7508f6ae7f4cb1b4cf019b76daa8000004"
    "ab6675656c2e7265706f727482a66c6974726573cd0320a473697465a8686f73706974616cc44075"
    "5e47256e749896be17b4f363ae992c1edfcc9dca8c07c169a2f592aeedfe51cb61c7d27b61e093f8"
    "de60164f424f159fb4b2a5ab4122836ea055be23de7503"
)
VECTOR2_ID = "415264be74a655236f4655c6de597ea67d8cf2a2b1bc3d3631328b81ecf2b6f0"


@pytest.fixture
def signer() -> Identity:
    return Identity("vector", nacl.signing.SigningKey(SEED))


def test_fixed_vector_bytes_signature_and_id(signer: Identity) -> None:
    e = create(signer, seq=1, prev=bytes(32), hlc=HLC, kind="note", body=BODY)
    assert signer.public.hex() == VECTOR_PUBLIC
    assert e.raw.hex() == VECTOR_RAW
    assert e.sig.hex() == VECTOR_SIG
    assert e.id.hex() == VECTOR_ID
    e2 = create(
        signer,
        seq=2,
        prev=e.id,
        hlc=HLC + 1,
        kind="fuel.report",
        body={"site": "hospital", "litres": 800},
    )
    assert e2.raw.hex() == VECTOR2_RAW
    assert e2.id.hex() == VECTOR2_ID


def test_vector_verifies_from_the_documented_format_alone() -> None:
    """What field_guides/ledger-format.md promises: verify raw with any ed25519 + msgpack."""
    import hashlib

    raw = bytes.fromhex(VECTOR_RAW)
    fields = msgpack.unpackb(raw, raw=False)
    assert len(fields) == 8 and fields[0] == 1
    unsigned = msgpack.packb(fields[:7], use_bin_type=True)
    # the signed encoding is the unsigned array plus the signature as the 8th element
    assert raw == b"\x98" + unsigned[1:] + b"\xc4\x40" + fields[7]
    nacl.bindings.crypto_sign_open(fields[7] + b"plurigrid/entry/v1\x00" + unsigned, fields[1])
    assert hashlib.blake2b(raw, digest_size=32).hexdigest() == VECTOR_ID


def test_signed_encoding_equals_packing_eight_fields(signer: Identity) -> None:
    e = create(signer, seq=3, prev=bytes(32), hlc=1, kind="a.b", body={"x": [1, {"b": 2, "a": 1}]})
    packed = msgpack.packb(
        [e.v, e.author, e.seq, e.prev, e.hlc, e.kind, e.body, e.sig], use_bin_type=True
    )
    assert packed == e.raw


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.binary(max_size=20),
)
bodies = st.dictionaries(
    st.text(max_size=10),
    st.recursive(
        json_scalars,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=5), children, max_size=4)
        ),
        max_leaves=12,
    ),
    max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(body=bodies, seq=st.integers(1, 2**40), hlc=st.integers(0, 2**63 - 1))
def test_roundtrip_any_body(body: dict, seq: int, hlc: int) -> None:
    signer = Identity("h", nacl.signing.SigningKey(SEED))
    prev = None if seq == 1 else bytes(32)
    e = create(signer, seq=seq, prev=prev, hlc=hlc, kind="note", body=body)
    back = decode(e.raw)
    assert back == e
    assert signature_valid(back)
    # insertion order of the caller's dict never changes the bytes
    reordered = dict(reversed(list(body.items())))
    assert create(signer, seq=seq, prev=prev, hlc=hlc, kind="note", body=reordered).raw == e.raw


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_single_byte_change_is_refused(data: st.DataObject) -> None:
    signer = Identity("h", nacl.signing.SigningKey(SEED))
    e = create(signer, seq=2, prev=bytes(32), hlc=HLC, kind="note", body={"t": "hello", "n": 5})
    pos = data.draw(st.integers(0, len(e.raw) - 1))
    delta = data.draw(st.integers(1, 255))
    tampered = bytearray(e.raw)
    tampered[pos] ^= delta
    try:
        back = decode(bytes(tampered))
    except EncodingError:
        return
    assert not signature_valid(back) or back.author != e.author


@settings(max_examples=200, deadline=None)
@given(
    body=bodies,
    seq=st.integers(1, 2**40),
    kind=st.from_regex(r"[a-z]{1,12}(\.[a-z]{1,12}){0,2}", fullmatch=True),
    flip=st.none() | st.integers(0, 10_000),
)
def test_checking_a_signature_from_the_bytes_agrees_with_the_decoded_entry(
    body: dict, seq: int, kind: str, flip: int | None
) -> None:
    """vote verify's workers check signatures straight from the stored bytes (author and
    signature cut from fixed places); for any bytes that decode, the answer is the same."""
    signer = Identity("h", nacl.signing.SigningKey(SEED))
    prev = None if seq == 1 else bytes(32)
    raw = create(signer, seq=seq, prev=prev, hlc=HLC, kind=kind, body=body).raw
    if flip is not None:  # one byte changed anywhere: mostly refused by decode
        tampered = bytearray(raw)
        tampered[flip % len(raw)] ^= 1 + flip % 255
        raw = bytes(tampered)
    try:
        back = decode(raw)
    except EncodingError:
        return
    assert codec.signature_valid_raw(raw) == signature_valid(back)


def test_unsorted_map_is_not_canonical(signer: Identity) -> None:
    e = create(signer, seq=1, prev=None, hlc=1, kind="note", body={"a": 1, "b": 2})
    fields = msgpack.unpackb(e.raw, raw=False)
    fields[6] = {"b": 2, "a": 1}
    with pytest.raises(EncodingError, match="canonical"):
        decode(msgpack.packb(fields, use_bin_type=True))


@pytest.mark.parametrize(
    "version",
    [b"\xcb?\xf0\x00\x00\x00\x00\x00\x00", b"\xcc\x01", b"\xd0\x01", b"\xc3"],
    ids=["float 1.0", "uint8 1", "int8 1", "true"],
)
def test_the_version_has_one_encoding(signer: Identity, version: bytes) -> None:
    """The canonical check packs the version as the integer 1, whatever the bytes held."""
    e = create(signer, seq=1, prev=None, hlc=1, kind="note", body={"x": 1})
    assert e.raw[1:2] == b"\x01"
    with pytest.raises(EncodingError):
        decode(e.raw[:1] + version + e.raw[2:])


def test_float32_and_trailing_bytes_are_refused(signer: Identity) -> None:
    e = create(signer, seq=1, prev=None, hlc=1, kind="note", body={"x": 0.5})
    as_f32 = e.raw.replace(b"\xa1x\xcb?\xe0\x00\x00\x00\x00\x00\x00", b"\xa1x\xca?\x00\x00\x00")
    assert as_f32 != e.raw
    with pytest.raises(EncodingError):
        decode(as_f32)
    with pytest.raises(EncodingError):
        decode(e.raw + b"\x00")


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_refused(signer: Identity, value: float) -> None:
    with pytest.raises(InvalidInput, match="finite"):
        create(signer, seq=1, prev=None, hlc=1, kind="note", body={"x": [value]})


@pytest.mark.parametrize("value", [{1, 2}, object(), {1: "int key"}, 2**64])
def test_unsupported_values_are_refused(signer: Identity, value: object) -> None:
    with pytest.raises(InvalidInput):
        create(signer, seq=1, prev=None, hlc=1, kind="note", body={"x": value})


@pytest.mark.parametrize("kind", ["", "Note", "note.", ".note", "note..x", "a b", "x" * 65, "ünï"])
def test_bad_kinds_are_refused(signer: Identity, kind: str) -> None:
    with pytest.raises(InvalidInput, match="kind"):
        create(signer, seq=1, prev=None, hlc=1, kind=kind, body={})


def test_size_cap_has_a_clear_message(signer: Identity) -> None:
    with pytest.raises(InvalidInput, match="limit is 65,536 bytes"):
        create(signer, seq=1, prev=None, hlc=1, kind="note", body={"blob": "x" * 70_000})
    # just under the cap is fine
    e = create(signer, seq=1, prev=None, hlc=1, kind="note", body={"blob": "x" * 65_000})
    assert len(e.raw) <= codec.MAX_ENTRY_BYTES


def test_signature_is_domain_separated(signer: Identity) -> None:
    e = create(signer, seq=1, prev=None, hlc=1, kind="note", body={})
    unsigned = codec.unsigned_part(e)
    bare_sig = signer.signing_key.sign(unsigned).signature  # signed without the domain prefix
    forged = codec.signed_encoding(unsigned, bare_sig)
    assert not signature_valid(decode(forged))
    assert DOMAIN.endswith(b"\x00")


def test_wrong_key_and_structure_errors(signer: Identity) -> None:
    e = create(signer, seq=1, prev=None, hlc=1, kind="note", body={})
    other = Identity("o", nacl.signing.SigningKey(bytes(32)))
    fields = msgpack.unpackb(e.raw, raw=False)
    fields[1] = other.public  # claim someone else wrote it
    claimed = decode(msgpack.packb(fields, use_bin_type=True))
    with pytest.raises(VerificationFailed):
        verify(claimed)
    for bad in (
        [2, *fields[1:]],
        fields[:7],
        [*fields[:2], 0, *fields[3:]],
        [*fields[:2], 2, None, *fields[4:]],
    ):
        with pytest.raises(EncodingError):
            decode(msgpack.packb(bad, use_bin_type=True))
    with pytest.raises(EncodingError, match="unsupported entry version"):
        decode(msgpack.packb([9, *fields[1:]], use_bin_type=True))
    with pytest.raises(EncodingError):
        decode(b"\xc1garbage")


def test_out_of_range_hlc_and_seq_are_refused_at_decode(signer: Identity) -> None:
    """SQLite stores signed 64-bit integers: a bigger value must never reach a store."""
    fields = msgpack.unpackb(
        create(signer, seq=1, prev=None, hlc=1, kind="note", body={}).raw, raw=False
    )
    for index, value in ((4, 2**63), (2, 2**63)):
        bad = list(fields)
        bad[index] = value
        unsigned = msgpack.packb(bad[:7], use_bin_type=True)
        sig = signer.sign(DOMAIN + unsigned)
        with pytest.raises(EncodingError, match="2\\*\\*63"):
            decode(codec.signed_encoding(unsigned, sig))
    with pytest.raises(InvalidInput):
        create(signer, seq=1, prev=None, hlc=2**63, kind="note", body={})


@settings(max_examples=50, deadline=None)
@given(body=st.dictionaries(st.text(max_size=5), st.integers(0, 9) | st.text(max_size=8)))
def test_the_checked_read_builds_the_entry_strict_decode_builds(body: dict) -> None:
    """The store's hash-checked read makes its Entry without the named tuple's __new__:
    equal to the strict decoder's, and as immutable."""
    from ledger.stored import check_row, fast_decode

    signer = Identity("h", nacl.signing.SigningKey(SEED))
    e = create(signer, seq=3, prev=bytes(32), hlc=HLC, kind="fuel.report", body=body)
    fast = fast_decode(e.raw, e.id)
    assert fast == decode(e.raw) == e and type(fast) is codec.Entry
    assert fast.to_json() == e.to_json()
    row = (e.author, e.seq, e.id, e.prev, e.hlc, e.kind, e.raw)
    assert check_row(row) == e
    with pytest.raises(AttributeError):
        fast.body = {}  # type: ignore[misc]
    assert fast_decode(e.raw, bytes(32)) is None  # bytes that do not hash to the id
