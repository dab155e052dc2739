"""The radio wire format: varints, records, headers; garbage never crashes the decoder."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesh.radio import wire

varints = st.integers(min_value=0, max_value=2**63 - 1)
digests = st.binary(min_size=6, max_size=6)
summaries = st.builds(
    wire.Summary,
    digests,
    st.none() | st.lists(st.binary(min_size=2, max_size=2), min_size=1, max_size=64).map(tuple),
)
acks = st.builds(wire.Ack, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
segments = st.builds(
    wire.Segment,
    st.integers(0, 0xFFFF),
    st.integers(0, 10_000),
    st.binary(max_size=300),
    st.none(),
)


@given(varints)
def test_varints_round_trip(n: int) -> None:
    data = wire.put_varint(n)
    assert wire.get_varint(data + b"junk", 0) == (n, len(data))
    assert wire.varint_size(n) == len(data)


@given(st.lists(summaries | acks | segments, max_size=6))
def test_records_round_trip(records: list[wire.Record]) -> None:
    data = wire.encode_records(records)
    assert wire.decode_records(data) == records


@given(st.lists(summaries | acks | segments, min_size=1, max_size=6))
def test_record_sizes_are_exact(records: list[wire.Record]) -> None:
    size = 0
    for i, r in enumerate(records):
        last = i == len(records) - 1
        size += r.size(last=last) if isinstance(r, wire.Segment) else r.size()
    assert len(wire.encode_records(records)) == size


def test_first_segment_carries_the_total() -> None:
    seg = wire.Segment(7, 0, b"abc", total=10)
    assert wire.decode_records(wire.encode_records([seg, wire.Ack(1, 0)])) == [seg, wire.Ack(1, 0)]
    with pytest.raises(wire.WireError, match="past its message"):
        wire.decode_records(wire.encode_records([wire.Segment(7, 9, b"abc", total=10)]))


@settings(max_examples=400)
@given(st.binary(max_size=120))
def test_garbage_raises_wire_error_only(data: bytes) -> None:
    with contextlib.suppress(wire.WireError):
        wire.decode_records(data)


def test_ack_covers() -> None:
    ack = wire.Ack(100, 0b101)  # 99 and 97 received, 98 missed
    assert ack.covers(100) is True
    assert ack.covers(99) is True
    assert ack.covers(98) is False
    assert ack.covers(97) is True
    assert ack.covers(101) is None  # sent after: still in flight
    assert ack.covers(100 - 1 - wire.ACK_WINDOW) is False  # too old to be named: lost


def test_header_round_trip_and_version() -> None:
    h = wire.Header(wire.SEALED, b"ab", b"cd", 0xDEADBEEF, ack_requested=True)
    frame = h.pack() + bytes(16)
    assert wire.parse_header(frame) == h
    with pytest.raises(wire.OtherVersion, match=r"version 3, .*update plurictl on this laptop"):
        wire.frame_kind(bytes([0x30]) + frame[1:])
    with pytest.raises(wire.WireError):
        wire.parse_header(h.pack())  # no room for a tag


@pytest.mark.parametrize("kind", [0x10, 0x11, 0x12, 0x14])
def test_a_protocol_1_frame_is_refused_with_the_reason(kind: int) -> None:
    """Version 1 keys had no run epochs (a restored backup could reuse a nonce)."""
    frame = bytes([kind]) + bytes(wire.HELLO_BYTES)
    with pytest.raises(
        wire.OtherVersion,
        match="version 1, this plurictl speaks 2: update plurictl on the laptop that sent it",
    ):
        wire.frame_kind(frame)
