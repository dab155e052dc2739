"""Defects a hostile review of the ledger guides found (real SQLite edits on a real store):
an edited heads row, a blob column turned into TEXT, a file SQLite cannot open, a lost
own tail that ``sync`` alone must bring back."""

from __future__ import annotations

import json
from pathlib import Path

from ledger.store import Store
from ledger.testing import MeshFixture
from tests.conftest import Invoke, json_out
from tests.integration.test_ledger_integrity import sql
from tests.integration.test_ledger_integrity_hostile import note


def own_seqs(home: Path) -> list[int]:
    return [s for (s,) in sql(home, "SELECT seq FROM entries ORDER BY seq")]


def test_an_edited_heads_id_never_becomes_a_new_entrys_prev(invoke: Invoke, home: Path) -> None:
    top = [note(invoke, home, i) for i in range(3)][-1]
    sql(home, "UPDATE heads SET id = randomblob(32)")
    r = invoke(home, "log", "append", "--kind", "note", "--body", "{}")
    assert r.exit_code == 8, r.output
    assert "heads table" in r.output and "log verify --repair" in r.output
    assert max(own_seqs(home)) == top  # nothing was signed
    assert invoke(home, "log", "verify", "--repair").exit_code == 0
    assert note(invoke, home, 9) == top + 1
    r = invoke(home, "log", "verify")
    assert r.exit_code == 0, r.output  # the new entry chains to the real one


def test_a_stale_heads_table_sends_the_operator_to_repair_not_to_peers(
    invoke: Invoke, home: Path
) -> None:
    top = [note(invoke, home, i) for i in range(3)][-1]
    sql(home, "DELETE FROM heads")
    r = invoke(home, "log", "append", "--kind", "note", "--body", "{}")
    assert r.exit_code == 8, r.output
    assert "heads table" in r.output and "missing" not in r.output
    assert invoke(home, "log", "verify", "--repair").exit_code == 0
    assert note(invoke, home, 9) == top + 1


def test_a_heads_row_raised_above_what_this_laptop_signed_is_repaired(
    invoke: Invoke, home: Path
) -> None:
    """heads.seq edited upwards: no peer can ever supply entries this laptop never signed,
    so it is the heads row that is wrong (the laptop's own high-water mark says so)."""
    top = [note(invoke, home, i) for i in range(3)][-1]
    sql(home, "UPDATE heads SET seq = 50 WHERE seq = ?", top)
    r = invoke(home, "log", "append", "--kind", "note", "--body", "{}")
    assert r.exit_code == 8, r.output
    assert "heads table" in r.output and "log verify --repair" in r.output
    assert max(own_seqs(home)) == top  # nothing was signed
    r = invoke(home, "log", "verify", "--repair")
    assert r.exit_code == 0, r.output
    assert note(invoke, home, 9) == top + 1
    r = invoke(home, "log", "verify")
    assert r.exit_code == 0, r.output


def test_a_blob_column_edited_into_text_is_one_damaged_entry(invoke: Invoke, home: Path) -> None:
    seqs = [note(invoke, home, i) for i in range(3)]
    # `||` makes TEXT in SQLite: the row's raw is no longer a blob, and not UTF-8
    sql(
        home,
        "UPDATE entries SET raw = substr(raw, 1, 50) || x'ff' || substr(raw, 52) WHERE seq=?",
        seqs[1],
    )
    assert sql(home, "SELECT typeof(raw) FROM entries WHERE seq=?", seqs[1]) == [("text",)]
    r = invoke(home, "log", "show", "--json")
    assert r.exit_code == 0, r.output
    shown = json_out(r)
    assert seqs[1] not in [e["seq"] for e in shown["entries"]]
    assert seqs[0] in [e["seq"] for e in shown["entries"]]
    assert [d["seq"] for d in shown["damaged"]] == [seqs[1]]
    r = invoke(home, "log", "verify")
    assert r.exit_code == 6 and "BAD" in r.output, r.output
    assert "DATABASE" not in r.output and "What to do" not in r.output
    assert invoke(home, "roster", "list").exit_code == 0


def test_verify_of_a_file_sqlite_cannot_open_says_what_to_do(invoke: Invoke, home: Path) -> None:
    for i in range(3):
        note(invoke, home, i)
    db = home / "ledger.db"
    with db.open("r+b") as f:
        f.truncate(db.stat().st_size // 2)
    for args in (["log", "verify"], ["log", "verify", "--repair"]):
        r = invoke(home, *args)
        assert r.exit_code == 6, r.output
        assert "DATABASE" in r.output and "What to do" in r.output and "mesh join" in r.output
    r = invoke(home, "log", "verify", "--json")
    assert r.exit_code == 6
    data = json.loads(r.output)
    assert data["ok"] is False and data["database"] and data["advice"]
    assert invoke(home, "log", "show").exit_code == 8  # other commands: exit 8, as before


def test_a_lost_own_tail_and_a_hole_come_back_by_sync_alone(tmp_path: Path) -> None:
    from mesh.testing import MemoryNetwork

    mesh = MeshFixture.create("alice", {"bob": ["operator"]})
    a = Store(tmp_path / "a.db", create=True)
    b = Store(tmp_path / "b.db", create=True)
    for s in (a, b):
        assert not s.ingest([e.raw for e in mesh.entries]).rejected
    bob = mesh.person("bob")
    mine = [a.append(bob, "note", {"i": i}) for i in range(4)]
    assert not b.ingest([e.raw for e in mine]).rejected
    for gone in (mine[1], mine[-1]):  # a hole and the tail; no `log verify --repair` first
        a.db.execute("DELETE FROM entries WHERE author=? AND seq=?", (bob.public, gone.seq))
    a.close()
    a = Store(tmp_path / "a.db")
    net = MemoryNetwork()
    net.add("a", a, mesh.key("alice"))
    net.add("b", b, bob.public)
    for _ in range(3):
        net.round()
    assert a.verify_all().ok
    assert a.append(bob, "note", {"i": 9}).seq == mine[-1].seq + 1
    a.close()
    b.close()


def test_repair_left_with_damage_says_where_copies_come_from_and_a_bundle_repairs(
    invoke: Invoke, home: Path, tmp_path: Path
) -> None:
    seqs = [note(invoke, home, i) for i in range(3)]
    bundle = tmp_path / "full.plb"
    assert invoke(home, "bundle", "export", "-o", str(bundle)).exit_code == 0
    sql(
        home,
        "UPDATE entries SET raw = CAST(substr(raw, 1, 60) || x'00' || substr(raw, 62) AS BLOB) "
        "WHERE seq=?",
        seqs[1],
    )
    r = invoke(home, "bundle", "export", "-o", str(tmp_path / "x.plb"))
    assert r.exit_code == 8, r.output  # a store problem, not invalid input
    assert "log verify --repair" in r.output and not (tmp_path / "x.plb").exists()
    r = invoke(home, "log", "verify", "--repair")
    assert r.exit_code == 6, r.output
    assert "--peer" in r.output and "bundle import" in r.output
    r = invoke(home, "bundle", "import", str(bundle))
    assert r.exit_code == 0, r.output
    assert "repaired 1 damaged" in r.output and "nothing new" not in r.output
    assert invoke(home, "log", "verify").exit_code == 0
