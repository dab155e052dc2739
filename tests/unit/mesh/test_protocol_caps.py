"""Bounded work per message: every list a message carries has a cap, checked while decoding."""

from __future__ import annotations

import os
import time

import msgpack
import pytest

from mesh import discovery, protocol


def test_a_push_of_600000_one_byte_entries_is_refused_at_once() -> None:
    data = msgpack.packb({"v": 1, "t": "push", "b": [b"x"] * 600_000})
    assert len(data) < protocol.MAX_MESSAGE_BYTES * 2
    start = time.perf_counter()
    with pytest.raises(protocol.Malformed):
        protocol.decode(data[: protocol.MAX_MESSAGE_BYTES])
    with pytest.raises(protocol.Malformed):
        protocol.decode(msgpack.packb({"v": 1, "t": "push", "b": [b"x"] * 5000}))
    assert time.perf_counter() - start < 0.1


def test_a_peers_message_carries_at_most_64_suggestions() -> None:
    ok = [
        [os.urandom(32), "tcp://10.0.0.1:7800", "x"] for _ in range(protocol.MAX_PEER_SUGGESTIONS)
    ]
    assert protocol.decode(protocol.encode("peers", p=ok))["p"] == ok
    bomb = [[os.urandom(32), "tcp://10.0.0.1:7800", ""] for _ in range(20_000)]
    data = protocol.encode("peers", p=bomb)
    assert len(data) < 2 * 1024 * 1024  # the attack in issue 23 fit under the old 2 MiB cap
    with pytest.raises(protocol.Malformed, match="too large"):
        protocol.decode(data)
    with pytest.raises(protocol.Malformed, match="malformed peers"):
        protocol.decode(protocol.encode("peers", p=bomb[:10_000]))


@pytest.mark.parametrize(
    "msg",
    [
        {"v": 1, "t": "hello", "name": "x" * 300},
        {"v": 1, "t": "forks", "p": [[b"a", b"b"]] * (protocol.MAX_FORK_PROOFS + 1)},
        {"v": 1, "t": "heads", "h": [], "f": [[b"a" * 32, 1, b"x", b"y"]], "d": b"d" * 32},
        {"v": 1, "t": "peers", "p": [[b"k" * 32, "tcp://h:1", 7]]},
        {"v": 1, "t": "entries", "b": [], "x": b"12345678", "n": -1},
        {"v": 1, "t": "nested", "x": [[[[[[]]]]]]},
    ],
)
def test_malformed_messages_have_a_fixed_category(msg: dict) -> None:
    with pytest.raises(protocol.Malformed) as info:
        protocol.decode(msgpack.packb(msg))
    assert info.value.category in {"malformed hello", "malformed forks", "malformed heads",
                                   "malformed peers", "malformed entries", "unknown type"}  # fmt: skip


def test_unknown_types_do_not_leak_sender_text_into_categories() -> None:
    categories = set()
    for i in range(100):
        try:
            protocol.decode(msgpack.packb({"v": 1, "t": f"evil-{i}-{'x' * 50}"}))
        except protocol.Malformed as e:
            categories.add(e.category)
    assert categories == {"unknown type"}


def test_every_type_has_a_check() -> None:
    for t in protocol.TYPES:
        assert t in protocol._CHECKS


def test_key_queries_are_padded_so_answers_never_amplify() -> None:
    q = discovery.query()
    assert discovery.is_query(q) and not discovery.is_query(b"PLURI?1")
    longest = discovery.encode_announcement(os.urandom(32), os.urandom(32), 65535, "é" * 500)
    assert len(longest) <= discovery.MAX_ANNOUNCEMENT < len(q)
    assert discovery.decode_announcement(longest) is not None
