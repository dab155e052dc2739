"""Frontiers: the pure 'what does the other side lack' decision and the signed file codec."""

from __future__ import annotations

import hashlib

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.courier import framing
from ledger.courier import frontier as fr
from ledger.errors import BundleError, VerificationFailed
from ledger.store import Head
from ledger.testing import identity_from_seed

AUTHORS = [bytes([i]) * 32 for i in range(1, 5)]


def _id(author: bytes, seq: int, branch: int = 0) -> bytes:
    return hashlib.blake2b(author + seq.to_bytes(8, "big") + bytes([branch])).digest()[:32]


def _heads(lengths: dict[bytes, int], branch: dict[bytes, int] | None = None) -> dict[bytes, Head]:
    branch = branch or {}
    return {a: Head(n, _id(a, n, branch.get(a, 0))) for a, n in lengths.items() if n > 0}


def _id_at(lengths: dict[bytes, int]):  # type: ignore[no-untyped-def]
    def id_at(author: bytes, seq: int) -> bytes | None:
        return _id(author, seq) if 1 <= seq <= lengths.get(author, 0) else None

    return id_at


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.sampled_from(AUTHORS), st.integers(0, 50)),
    st.dictionaries(st.sampled_from(AUTHORS), st.integers(0, 50)),
)
def test_plan_sends_exactly_what_the_other_side_lacks(
    local: dict[bytes, int], remote: dict[bytes, int]
) -> None:
    ranges = fr.plan(_heads(local), _heads(remote), _id_at(local))
    sent = {(r.author, s) for r in ranges for s in range(r.start, r.end + 1)}
    lacking = {
        (a, s) for a, n in local.items() for s in range(remote.get(a, 0) + 1, n + 1) if n > 0
    }
    assert sent == lacking
    assert not any(r.fork for r in ranges)
    assert [r.author for r in ranges] == sorted(r.author for r in ranges)


def test_plan_in_sync_sends_nothing() -> None:
    lengths = {AUTHORS[0]: 5, AUTHORS[1]: 2}
    assert fr.plan(_heads(lengths), _heads(lengths), _id_at(lengths)) == []


def test_plan_on_a_fork_sends_only_our_entry_at_their_seq() -> None:
    local = {AUTHORS[0]: 9, AUTHORS[1]: 3}
    remote = _heads({AUTHORS[0]: 6, AUTHORS[1]: 3}, branch={AUTHORS[0]: 1})
    ranges = fr.plan(_heads(local), remote, _id_at(local))
    assert ranges == [fr.Range(AUTHORS[0], 6, 6, fork=True)]


def test_plan_fork_at_our_head_is_seen_without_a_lookup() -> None:
    local = {AUTHORS[0]: 4}
    remote = _heads({AUTHORS[0]: 4}, branch={AUTHORS[0]: 1})
    ranges = fr.plan(_heads(local), remote, lambda a, s: pytest.fail("no lookup needed"))
    assert ranges == [fr.Range(AUTHORS[0], 4, 4, fork=True)]


def test_heads_codec_round_trip_and_refusals() -> None:
    heads = _heads({AUTHORS[0]: 3, AUTHORS[2]: 1})
    assert fr.decode_heads(fr.encode_heads(heads)) == heads
    for bad in (
        "x",
        [[AUTHORS[0], 0, _id(AUTHORS[0], 1)]],
        [[b"short", 1, _id(AUTHORS[0], 1)]],
        [[AUTHORS[0], 1, b"short"]],
        [[AUTHORS[0], True, _id(AUTHORS[0], 1)]],
        [[AUTHORS[0], 1, _id(AUTHORS[0], 1)]] * 2,
    ):
        with pytest.raises(ValueError):
            fr.decode_heads(bad)


def _file(frontier: fr.Frontier, sig: bytes | None = None) -> bytes:
    signer = identity_from_seed("alice")
    body = frontier.body()
    sig = sig if sig is not None else signer.sign(fr.DOMAIN + body)
    payload = msgpack.packb({"body": body, "sig": sig}, use_bin_type=True)
    return fr.PREAMBLE + framing.encode(fr.T_FRONTIER, payload)


def _frontier() -> fr.Frontier:
    key = identity_from_seed("alice").public
    return fr.Frontier(b"\x07" * 32, key, 123 << 16, _heads({AUTHORS[0]: 3, key: 2}))


def test_frontier_file_round_trip() -> None:
    f = _frontier()
    assert fr.parse(_file(f)) == f


def test_frontier_file_with_a_forged_signature_is_refused() -> None:
    with pytest.raises(VerificationFailed, match="signature"):
        fr.parse(_file(_frontier(), sig=b"\x01" * 64))


def test_frontier_file_damage_and_wrong_files_are_refused() -> None:
    data = bytearray(_file(_frontier()))
    data[40] ^= 0x10
    with pytest.raises(BundleError, match="damaged"):
        fr.parse(bytes(data))
    with pytest.raises(BundleError, match="not a frontier file"):
        fr.parse(b"hello world")
    from ledger.courier.bundle import PREAMBLE as BUNDLE_PREAMBLE

    with pytest.raises(BundleError) as info:
        fr.parse(BUNDLE_PREAMBLE + b"...")
    assert "courier bundle" in (info.value.hint or "")
    with pytest.raises(BundleError, match="version"):
        fr.parse(fr.MAGIC + b"\x00\x09" + bytes(data[10:]))
    with pytest.raises(BundleError, match="cut short"):
        fr.parse(_file(_frontier())[:-5])
