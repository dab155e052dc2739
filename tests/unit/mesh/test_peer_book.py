"""The peer book: O(1) lookups, a cap on addresses nobody verified, and suggestions that
never replace an address where a handshake succeeded."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from mesh.peers import MAX_UNVERIFIED, PeerBook


def key(i: int) -> bytes:
    return i.to_bytes(32, "big")


def test_suggestions_never_replace_a_verified_address(tmp_path: Path) -> None:
    book = PeerBook(tmp_path)
    book.learn(addr="tcp://10.0.0.2:7800", key=key(1), name="bob", source="static")
    book.confirm(key(1), "tcp://10.0.0.2:7800")
    rec = book.suggest(addr="tcp://127.0.0.1:9", key=key(1), name="evil", source="exchange")
    assert rec.addr == rec.good_addr == "tcp://10.0.0.2:7800"
    assert rec.hint == "tcp://127.0.0.1:9" and rec.name == "bob"
    book.save()
    again = PeerBook(tmp_path).by_key(key(1))
    assert again is not None and again.addr == "tcp://10.0.0.2:7800"
    # a handshake at a new address (the laptop moved) is believed, and clears the hint
    book.confirm(key(1), "tcp://127.0.0.1:9")
    assert book.by_key(key(1)).good_addr == "tcp://127.0.0.1:9"  # type: ignore[union-attr]
    assert book.by_addr("tcp://127.0.0.1:9") is book.by_key(key(1))
    assert book.by_addr("tcp://10.0.0.2:7800") is None


def test_unverified_suggestions_are_capped_oldest_first(tmp_path: Path) -> None:
    book = PeerBook(tmp_path)
    book.learn(addr="tcp://10.0.0.1:7800", key=key(0), source="static")
    for i in range(1, 5001):
        book.suggest(addr=f"tcp://10.1.{i // 250}.{i % 250}:7800", key=key(i), source="exchange")
    assert len(book) == MAX_UNVERIFIED + 1
    assert book.by_key(key(0)) is not None  # the static peer stays
    assert book.by_key(key(1)) is None and book.by_key(key(5000)) is not None
    assert book.by_addr("tcp://10.1.0.1:7800") is None  # the index follows evictions
    # a verified suggestion is no longer counted against the cap
    book.confirm(key(4999), "tcp://10.9.9.9:7800")
    for i in range(5001, 5001 + MAX_UNVERIFIED):
        book.suggest(addr=f"tcp://10.2.{i // 250}.{i % 250}:7800", key=key(i), source="exchange")
    assert book.by_key(key(4999)) is not None


def test_lookups_are_indexed(tmp_path: Path) -> None:
    """20,000 records: a lookup must not scan them (the old book took minutes here)."""
    records = [
        {
            "addr": f"tcp://10.{i // 60000}.{i // 250 % 240}.{i % 250}:7800",
            "key": key(i).hex(),
            "source": "static",
        }
        for i in range(4000)
    ]
    (tmp_path / "peers.json").write_text(json.dumps({"peers": records}))
    book = PeerBook(tmp_path)
    start = time.perf_counter()
    for i in range(20_000):
        book.by_key(key(i % 4000))
        book.learn(addr=f"tcp://10.0.0.{i % 250}:7800", key=key(i % 4000), source="exchange")
    assert time.perf_counter() - start < 2.0
    assert len(book) == 4000


def test_a_damaged_or_huge_peers_file_is_bounded(tmp_path: Path) -> None:
    (tmp_path / "peers.json").write_text('{"peers": [{"addr": 5, "key": "zz"}]')
    assert len(PeerBook(tmp_path)) == 0
    many = [
        {"addr": f"tcp://h{i}:1", "key": key(i).hex(), "source": "exchange"} for i in range(20_000)
    ]
    (tmp_path / "peers.json").write_text(json.dumps({"peers": many}))
    assert len(PeerBook(tmp_path)) <= MAX_UNVERIFIED
    os.chmod(tmp_path, 0o500)
    try:
        PeerBook(tmp_path).save()  # never raises: the book is a cache
    finally:
        os.chmod(tmp_path, 0o700)
