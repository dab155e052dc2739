"""Compact entries: rebuilt byte for byte; a wrong guess can only fail its signature."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.entry import decode, signature_valid
from ledger.testing import MeshFixture
from mesh.radio import compact

MESH = MeshFixture.create("alice", {"bob": ["operator"]})

texts = st.text(max_size=80)
bodies = st.dictionaries(
    st.sampled_from(["site", "litres", "note", "tank", "choice", "x", "y"]),
    st.one_of(
        texts, st.integers(-(2**40), 2**40), st.floats(allow_nan=False, allow_infinity=False)
    ),
    max_size=6,
)


def _entry(body: dict[str, Any], kind: str = "fuel.report") -> Any:
    return MESH.write("bob", kind, body)


@settings(max_examples=60, deadline=None)
@given(bodies, st.booleans(), st.booleans())
def test_round_trip(body: dict[str, Any], prefix: bool, elide: bool) -> None:
    e = _entry(body)
    small = compact.compact(e.raw, author_prefix=prefix, elide_prev=elide)
    parsed = compact.parse(small)
    assert parsed.seq == e.seq
    assert compact.rebuild(parsed, e.author, e.prev) == e.raw


def test_compact_is_much_smaller_than_the_entry() -> None:
    e = _entry(
        {
            "site": "water-plant",
            "tank": "main",
            "fuel": "diesel",
            "litres": 1234.5,
            "supersedes": [],
        }
    )
    small = compact.compact(e.raw, author_prefix=True, elide_prev=True)
    assert len(small) < 0.7 * len(e.raw)


def test_genesis_keeps_its_nil_prev() -> None:
    genesis = MESH.entries[0]
    small = compact.compact(genesis.raw, author_prefix=False, elide_prev=True)
    parsed = compact.parse(small)
    assert parsed.prev_raw == b"\xc0"
    assert compact.rebuild(parsed, genesis.author, None) == genesis.raw


def test_a_wrong_prev_or_author_fails_the_signature() -> None:
    e = _entry({"note": "x"})
    parsed = compact.parse(compact.compact(e.raw, author_prefix=True, elide_prev=True))
    wrong_prev = compact.rebuild(parsed, e.author, b"\x01" * 32)
    assert not signature_valid(decode(wrong_prev))
    wrong_author = compact.rebuild(parsed, MESH.key("alice"), e.prev)
    assert not signature_valid(decode(wrong_author))


def test_candidates_by_prefix() -> None:
    e = _entry({"note": "y"})
    parsed = compact.parse(compact.compact(e.raw, author_prefix=True, elide_prev=True))
    keys = [MESH.key("alice"), MESH.key("bob")]
    assert compact.candidates(parsed, lambda p: [k for k in keys if k.startswith(p)]) == [e.author]


@settings(max_examples=400)
@given(st.binary(max_size=200))
def test_garbage_raises_compact_error_only(data: bytes) -> None:
    with contextlib.suppress(compact.CompactError):
        compact.parse(data)


def test_an_inflation_bomb_is_refused() -> None:
    import zlib

    bomb = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, compact.ZDICT)
    payload = bomb.compress(b"\x00" * 200_000) + bomb.flush()
    data = (
        bytes([compact.F_DEFLATED | compact.F_PREV_ELIDED])
        + b"\x01" * 32
        + b"\x05"
        + payload
        + bytes(64)
    )
    with pytest.raises(compact.CompactError):
        compact.parse(data)
