"""Kind-filtered reads: the whole-table scan (taken when most rows match) returns exactly
what the indexed read returns, in the same order, with tampered columns too."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ledger.reads as store_mod  # the checked reads of Store (SCAN_SHARE)
from ledger.home import Home
from ledger.testing import MeshFixture

KINDS = ["vote.ballot", "vote.stop", "note", "fuel.report", "vote.x", "votes.other"]

# (kind, hlc step) per entry, and column edits: (entry index, column, new value)
ENTRY = st.tuples(st.sampled_from(KINDS), st.integers(0, 3))
EDIT = st.tuples(
    st.integers(0, 40),
    st.sampled_from(["kind", "hlc"]),
    st.sampled_from(["vote.ballot", "note", "vote.", 0, 5, "text", None]),
)


def _home(root: Path, entries: list[tuple[str, int]], edits: list[tuple[int, str, object]]) -> Path:
    mesh = MeshFixture.create("alice")
    mesh.add("bob", ["operator"])
    hlc = mesh.tick()
    for i, (kind, step) in enumerate(entries):
        hlc += step  # equal HLCs too: the order falls back on author and seq
        mesh.write("bob" if i % 3 else "alice", kind, {"i": i}, hlc=hlc)
    home = root / "home"
    with Home(home) as h:
        h.init("reader")
        h.store.pin_mesh(mesh.mesh_id)
        assert not h.store.ingest([e.raw for e in mesh.entries]).rejected
    db = sqlite3.connect(home / "ledger.db")
    rows = db.execute("SELECT author, seq FROM entries ORDER BY author, seq").fetchall()
    for index, column, value in edits:
        if value is None:
            continue  # both columns are NOT NULL
        author, seq = rows[index % len(rows)]
        db.execute(f"UPDATE entries SET {column}=? WHERE author=? AND seq=?", (value, author, seq))
    db.commit()
    db.close()
    return home


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(ENTRY, min_size=1, max_size=30), st.lists(EDIT, max_size=4))
def test_scan_and_indexed_reads_agree(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    entries: list[tuple[str, int]],
    edits: list[tuple[int, str, object]],
) -> None:
    home = _home(tmp_path_factory.mktemp("kinds"), entries, edits)
    with Home(home) as h:
        s = h.store
        for args in (
            {"kind_prefix": "vote."},
            {"kinds": ["vote.ballot", "note"]},
            {"kinds": ["vote.ballot"], "kind_prefix": "vote."},
            {"kind_prefix": "vote.", "newest_first": True},
        ):
            indexed = [e.id for e in s.iter_entries(**args)]  # type: ignore[arg-type]
            monkeypatch.setattr(store_mod, "SCAN_SHARE", 10**9)  # scan whenever a row matches
            scanned = [e.id for e in s.entries(**args)]  # type: ignore[arg-type]
            monkeypatch.setattr(store_mod, "SCAN_SHARE", 0)  # never scan
            never = [e.id for e in s.entries(**args)]  # type: ignore[arg-type]
            monkeypatch.undo()
            assert scanned == indexed == never, args
