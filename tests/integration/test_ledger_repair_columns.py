"""Ledger repair against a hostile tester with sqlite3, second round: edited author/seq
and hlc columns, leftover quarantine rows, index pages, page damage, a read-only home,
a closed stdout."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.repair import repair
from ledger.store import Store
from ledger.testing import MeshFixture
from mesh.testing import MemoryNetwork
from tests.conftest import Invoke, json_out
from tests.integration.test_ledger_integrity import sql

_SIGNER = MeshFixture.create("alice", {}).person("alice")


def notes(invoke: Invoke, home: Path, n: int) -> list[int]:
    seqs = []
    for i in range(n):
        r = invoke(home, "log", "append", "--kind", "note", "--body", f'{{"i": {i}}}', "--json")
        seqs.append(int(json_out(r)["seq"]))
    return seqs


def shown(invoke: Invoke, home: Path) -> list[tuple[int, int]]:
    doc = json_out(invoke(home, "log", "show", "--json"))
    return [(e["hlc"], e["seq"]) for e in doc["entries"]]


# --- 1 and 2. author/seq columns, false "missing", leftover quarantine ------------------------------

EDITS = [
    "UPDATE entries SET seq = 99 WHERE seq = {s}",
    "UPDATE entries SET author = zeroblob(32) WHERE seq = {s}",
    "UPDATE entries SET hlc = 1 WHERE seq = {s}",
    "UPDATE entries SET id = zeroblob(32), prev = NULL, kind = 'x' WHERE seq = {s}",
]


@pytest.mark.parametrize("edit", EDITS)
def test_repair_restores_every_column_and_leaves_no_quarantine(
    invoke: Invoke, home: Path, edit: str
) -> None:
    seqs = notes(invoke, home, 4)
    before = shown(invoke, home)
    sql(home, edit.format(s=seqs[1]))
    r = invoke(home, "log", "verify")
    assert r.exit_code == 6, r.output
    assert "missing" not in r.output, r.output  # the entry is there, under edited columns
    r = invoke(home, "log", "verify", "--repair")
    assert r.exit_code == 0, r.output
    assert "FIXED" in r.output
    r = invoke(home, "log", "verify")
    assert r.exit_code == 0, r.output
    assert sql(home, "SELECT count(*) FROM quarantine") == [(0,)]
    assert shown(invoke, home) == before
    assert sql(home, "SELECT max(seq) FROM heads") == [(seqs[-1],)]
    assert notes(invoke, home, 1) == [seqs[-1] + 1]


@pytest.mark.parametrize("column", ["seq", "author"])
@pytest.mark.parametrize("repaired", [False, True])
def test_sync_after_an_edited_place_converges(tmp_path: Path, column: str, repaired: bool) -> None:
    mesh = MeshFixture.create("alice", {"bob": ["operator"]})
    a = Store(tmp_path / "a.db", create=True)
    b = Store(tmp_path / "b.db", create=True)
    for s in (a, b):
        assert not s.ingest([e.raw for e in mesh.entries]).rejected
    bob = mesh.person("bob")
    mine = [a.append(bob, "note", {"i": i}) for i in range(5)]
    assert not b.ingest([e.raw for e in mine]).rejected
    change = "seq = 99" if column == "seq" else "author = zeroblob(32)"
    a.db.execute(f"UPDATE entries SET {change} WHERE author=? AND seq=3", (bob.public,))
    if repaired:
        repair(a, a.verify_all())
        assert a.stored_heads()[bob.public].seq == mine[-1].seq
    net = MemoryNetwork()
    net.add("a", a, mesh.key("alice"))
    net.add("b", b, bob.public)
    net.run_until_converged(20)  # raised before: the unique id index refused the copy, forever
    assert a.verify_all().ok
    assert a.digest() == b.digest()
    assert a.db.execute("SELECT count(*) FROM entries WHERE seq=99").fetchone() == (0,)


# --- 5. a read-only home ---------------------------------------------------------------------------


def test_repair_on_a_read_only_home_exits_8_and_changes_nothing(
    invoke: Invoke, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seqs = notes(invoke, home, 3)
    sql(home, "UPDATE entries SET kind = 'x' WHERE seq = ?", seqs[0])
    before = (home / "ledger.db").read_bytes()
    from ledger import schema

    monkeypatch.setattr(schema, "writable", lambda path: False)
    r = invoke(home, "log", "verify", "--repair")
    assert r.exit_code == 8, r.output
    assert "read-only" in r.stderr and "nothing was changed" in r.stderr
    r = invoke(home, "log", "verify", "--repair", "--json")
    assert r.exit_code == 8 and json.loads(r.stdout)["exit_code"] == 8  # a refusal, in JSON
    assert (home / "ledger.db").read_bytes() == before


# --- 6. order comes from the signed bytes ----------------------------------------------------------


@pytest.mark.parametrize("new_hlc", ["1", "hlc + 10000000000000", "NULL", "'x'"])
def test_an_edited_hlc_column_never_changes_the_order(
    invoke: Invoke, home: Path, new_hlc: str
) -> None:
    seqs = notes(invoke, home, 5)
    before = shown(invoke, home)
    table_before = invoke(home, "log", "show").output
    if new_hlc == "NULL":  # NOT NULL column: rebuild the row's value another way
        new_hlc = "-1"
    sql(home, f"UPDATE entries SET hlc = {new_hlc} WHERE seq = ?", seqs[1])
    assert shown(invoke, home) == before
    assert (
        json_out(invoke(home, "log", "show", "--kind", "note", "--json"))["entries"][0]["seq"]
        == seqs[0]
    )
    r = invoke(home, "log", "show")
    assert r.exit_code == 0
    assert [ln for ln in r.output.splitlines() if "note" in ln] == [
        ln for ln in table_before.splitlines() if "note" in ln
    ]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=2**63 - 1), min_size=2, max_size=8))
def test_the_signed_hlc_sql_sorts_like_the_number(hlcs: list[int]) -> None:
    """Cross-check against msgpack itself: the SQL picks exactly the hlc's encoding out of
    the signed bytes, and those blobs sort as the numbers do."""
    import msgpack

    from ledger.entry import create
    from ledger.stored import HLC_SIGNED_SQL

    signer = _SIGNER
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE t(raw BLOB, h INTEGER)")
    for i, h in enumerate(hlcs):
        e = create(
            signer, seq=i + 1, prev=None if i % 2 else b"\x01" * 32, hlc=h, kind="a.b", body={}
        )
        db.execute("INSERT INTO t VALUES(?, ?)", (e.raw, h))
    got = db.execute(f"SELECT {HLC_SIGNED_SQL}, h FROM t").fetchall()
    assert all(blob == msgpack.packb(h) for blob, h in got)
    by_blob = [h for (h,) in db.execute(f"SELECT h FROM t ORDER BY {HLC_SIGNED_SQL}, h")]
    assert by_blob == sorted(hlcs)


# --- 3 and 4. page damage: indexes rebuilt, table damage explained, JSON whole or nothing --------


def big_home(invoke: Invoke, home: Path) -> None:
    from ledger.home import Home

    h = Home(home)
    for i in range(120):
        h.append("note", {"i": i, "pad": "x" * 200})
    h.close()
    db = sqlite3.connect(home / "ledger.db")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def flip_page_header(home: Path, btree: str, leaf: bool) -> None:
    """Flip the first byte of a page of ``btree`` (a leaf, or its root): as a bad sector."""
    db = sqlite3.connect(home / "ledger.db")
    pages = [
        r[0]
        for r in db.execute(
            "SELECT pageno FROM dbstat WHERE name=? ORDER BY pageno", (btree,)
        ).fetchall()
    ]
    root = db.execute("SELECT rootpage FROM sqlite_schema WHERE name=?", (btree,)).fetchone()[0]
    size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    page = max(p for p in pages if p != root) if leaf else root
    data = bytearray((home / "ledger.db").read_bytes())
    data[(page - 1) * size] ^= 0xFF
    (home / "ledger.db").write_bytes(bytes(data))


@pytest.mark.parametrize(
    "index", ["entries_by_id", "entries_by_kind", "entries_by_signed_kind", "entries_by_signed_hlc"]
)
@pytest.mark.parametrize("leaf", [True, False])
def test_repair_rebuilds_index_pages_reindex_cannot_clear(
    invoke: Invoke, home: Path, index: str, leaf: bool
) -> None:
    big_home(invoke, home)
    before = shown(invoke, home)
    flip_page_header(home, index, leaf)
    r = invoke(home, "log", "verify")
    assert r.exit_code == 6, r.output
    assert "DATABASE" in r.output
    r = invoke(home, "log", "verify", "--repair")
    assert r.exit_code == 0, r.output
    assert "rebuilt the database indexes" in r.output
    assert invoke(home, "log", "verify").exit_code == 0
    assert shown(invoke, home) == before
    with sqlite3.connect(home / "ledger.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def test_table_page_damage_gives_findings_and_what_to_do(invoke: Invoke, home: Path) -> None:
    big_home(invoke, home)
    flip_page_header(home, "entries", leaf=True)
    for args in (["log", "verify"], ["log", "verify", "--repair"]):
        r = invoke(home, *args)
        assert r.exit_code == 6, (args, r.output)
        assert "DATABASE" in r.output and "What to do" in r.output
        assert "plurictl sync --peer" in r.output and "plurictl bundle import" in r.output
    r = invoke(home, "log", "verify", "--json")
    assert r.exit_code == 6
    doc = json.loads(r.stdout)
    assert doc["database"] and "bundle import" in doc["advice"]
    r = invoke(home, "log", "show", "--json")
    assert r.exit_code == 8, r.output
    said = json.loads(r.stdout)  # one whole document, the refusal, rather than half a log
    assert said["exit_code"] == 8 and "damaged" in said["error"] and "log verify" in said["hint"]


# --- 7. a closed stdout ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args", [["log", "show", "--json"], ["log", "show"], ["roster", "list", "--json"], ["--help"]]
)
def test_a_closed_pipe_exits_quietly(invoke: Invoke, home: Path, args: list[str]) -> None:
    big_home(invoke, home)
    plurictl = Path(sys.executable).parent / "plurictl"
    cmd = [str(plurictl), "--home", str(home), *args]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.read(10)
        proc.stdout.close()  # as `| head -c 10` does
        err = proc.stderr.read().decode()
        code = proc.wait(timeout=120)
    assert "Traceback" not in err and "Error" not in err and "Exception" not in err, err
    assert code in (0, 141), (code, err)
