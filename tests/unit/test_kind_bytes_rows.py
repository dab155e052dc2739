"""Big reads select the kind as bytes (no Python text factory per row): for every row,
damaged or not, the check gives exactly what the ordinary check of that row gives."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from ledger.store import Store
from ledger.stored import (
    KIND_BYTES_COLUMNS,
    ROW_COLUMNS,
    check_kind_bytes_row,
    check_row,
)
from tests.unit.votes_helpers import council

# (what is done to the second stored row, SQL on `entries` with ? = that row's author)
DAMAGE: dict[str, str] = {
    "intact": "SELECT 1 WHERE ? IS NOT NULL",
    "kind column other text": "UPDATE entries SET kind='note.other' WHERE author=? AND seq=2",
    "kind column a blob of the same text": (
        "UPDATE entries SET kind=CAST(kind AS BLOB) WHERE author=? AND seq=2"
    ),
    "kind column not UTF-8": "UPDATE entries SET kind=CAST(x'ff00' AS TEXT) WHERE author=? AND seq=2",
    "kind column an integer": "UPDATE entries SET kind=7 WHERE author=? AND seq=2",
    "raw with a byte more (TEXT)": "UPDATE entries SET raw=raw || x'00' WHERE author=? AND seq=2",
    "raw one byte changed": (
        "UPDATE entries SET raw=substr(raw, 1, 60) || x'00' || substr(raw, 62) "
        "WHERE author=? AND seq=2"
    ),
    "hlc column drifted": "UPDATE entries SET hlc=hlc+1 WHERE author=? AND seq=2",
    "prev column drifted": "UPDATE entries SET prev=NULL WHERE author=? AND seq=2",
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_the_kind_as_bytes_check_says_what_the_row_check_says(tmp_path: Path, damage: str) -> None:
    m, _ = council()
    with Store.open(tmp_path, create=True) as store:
        assert not store.ingest([e.raw for e in m.entries]).rejected
    author = m.entries[0].author
    db = sqlite3.connect(tmp_path / "ledger.db")
    with db:
        db.execute(DAMAGE[damage], (author,))
    with Store.open(tmp_path) as store:
        conn = store.db  # the store's own connection: its text factory
        plain = conn.execute(f"SELECT {ROW_COLUMNS} FROM entries ORDER BY author, seq")
        kinds = conn.execute(f"SELECT {KIND_BYTES_COLUMNS} FROM entries ORDER BY author, seq")
        checks: list[Callable[..., object]] = [check_row, check_kind_bytes_row]
        pairs = list(zip(plain.fetchall(), kinds.fetchall(), strict=True))
    assert len(pairs) == len(m.entries)
    for a, b in pairs:
        assert checks[0](a) == checks[1](b), (damage, a[:2])
