"""Ledger integrity against a hostile tester with sqlite3: forged fork proofs, a deleted
own head (then ``--repair``), an emptied or deleted ledger file."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.errors import StoreError
from ledger.forks import ForkProof
from ledger.store import Store
from ledger.testing import MeshFixture
from tests.conftest import Invoke, json_out
from tests.integration.test_ledger_integrity import sql


def note(invoke: Invoke, home: Path, i: int) -> int:
    r = invoke(home, "log", "append", "--kind", "note", "--body", f'{{"i": {i}}}', "--json")
    return int(json_out(r)["seq"])


def alice_status(invoke: Invoke, home: Path) -> str:
    members = json_out(invoke(home, "roster", "list", "--json"))["members"]
    return next(m["status"] for m in members if m["name"] == "alice")


def shown_seqs(invoke: Invoke, home: Path) -> list[int]:
    return [e["seq"] for e in json_out(invoke(home, "log", "show", "--json"))["entries"]]


# --- 1. forged fork proofs are not obeyed -----------------------------------------------------------


def test_a_forged_fork_proof_row_is_ignored_by_views(invoke: Invoke, home: Path) -> None:
    seqs = [note(invoke, home, i) for i in range(4)]
    before = alice_status(invoke, home)
    sql(
        home,
        "INSERT INTO forks SELECT author, seq, raw, raw, 1 FROM entries WHERE seq=?",
        seqs[0],
    )
    assert alice_status(invoke, home) == before != "equivocated"
    assert set(seqs) <= set(shown_seqs(invoke, home))
    assert json_out(invoke(home, "log", "show", "--json"))["forks"] == []
    assert note(invoke, home, 9) == seqs[-1] + 1  # the feed is not frozen
    r = invoke(home, "log", "verify")
    assert r.exit_code == 6 and "BAD FORK PROOF" in r.output
    r = invoke(home, "log", "verify", "--repair")
    assert r.exit_code == 0, r.output


def test_a_real_fork_proof_with_an_edited_seq_is_ignored(tmp_path: Path) -> None:
    mesh = MeshFixture.create("alice", {"bob": ["operator"]})
    store = Store(tmp_path / "ledger.db", create=True)
    store.ingest([e.raw for e in mesh.entries])
    for i in range(3):
        store.ingest([mesh.write("bob", "note", {"i": i}).raw])
    last = mesh.write("bob", "note", {"v": 1})
    store.ingest([last.raw])
    mesh.feeds["bob"].seq -= 1
    mesh.feeds["bob"].prev = last.prev
    twin = mesh.write("bob", "note", {"v": 2})
    assert store.ingest([twin.raw]).forks
    bob = mesh.key("bob")
    assert store.forks_by_author() == {bob: last.seq}
    store.db.execute("UPDATE forks SET seq = 2")  # freeze bob earlier
    reopened = Store(tmp_path / "ledger.db")
    assert reopened.forks_by_author() == {}
    assert reopened.fork_proofs() == []
    assert reopened.roster().keys[bob].limit is None
    report = reopened.verify_all()
    assert report.bad_forks and not report.forks
    # a genuine proof arriving later replaces the forged row
    assert reopened.add_fork_proofs([ForkProof.of(last, twin)])
    assert reopened.forks_by_author() == {bob: last.seq}
    reopened.close()
    store.close()


# --- 2. a lost own head is never signed again --------------------------------------------------------


def test_repair_keeps_the_head_of_a_deleted_own_entry_and_append_refuses(
    invoke: Invoke, home: Path
) -> None:
    top = [note(invoke, home, i) for i in range(4)][-1]
    sql(home, "DELETE FROM entries WHERE seq=?", top)
    r = invoke(home, "log", "verify", "--repair")
    assert r.exit_code == 6, r.output  # the entry is missing until a peer sends it
    assert "missing" in r.output
    assert sql(home, "SELECT max(seq) FROM heads") == [(top,)]
    assert any(s == top for (s,) in sql(home, "SELECT seq FROM quarantine"))
    r = invoke(home, "log", "append", "--kind", "note", "--body", "{}")
    assert r.exit_code == 8, r.output
    assert "--repair --peer" in r.output
    assert sql(home, "SELECT max(seq) FROM entries") == [(top - 1,)]


def test_append_refuses_below_the_highest_seq_ever_recorded(invoke: Invoke, home: Path) -> None:
    top = [note(invoke, home, i) for i in range(3)][-1]
    sql(home, "DELETE FROM entries WHERE seq=?", top)
    sql(
        home, "UPDATE heads SET seq = seq - 1, id = (SELECT id FROM entries WHERE seq = ?)", top - 1
    )
    r = invoke(home, "log", "append", "--kind", "note", "--body", "{}")
    assert r.exit_code == 8, r.output
    assert f"seq {top}" in r.output and "sync" in r.output


def test_a_deleted_own_head_comes_back_from_a_peer_then_append_goes_on(tmp_path: Path) -> None:
    from ledger.repair import repair
    from mesh.testing import MemoryNetwork

    mesh = MeshFixture.create("alice", {"bob": ["operator"]})
    a = Store(tmp_path / "a.db", create=True)
    b = Store(tmp_path / "b.db", create=True)
    for s in (a, b):
        assert not s.ingest([e.raw for e in mesh.entries]).rejected
    bob = mesh.person("bob")
    mine = [a.append(bob, "note", {"i": i}) for i in range(3)]
    assert not b.ingest([e.raw for e in mine]).rejected
    a.db.execute("DELETE FROM entries WHERE author=? AND seq=?", (bob.public, mine[-1].seq))
    repair(a, a.verify_all())
    assert a.stored_heads()[bob.public].seq == mine[-1].seq
    try:
        a.append(bob, "note", {"i": 9})
        raise AssertionError("append signed over a missing own entry")
    except StoreError:
        pass
    net = MemoryNetwork()
    net.add("a", a, mesh.key("alice"))
    net.add("b", b, bob.public)
    for _ in range(3):
        net.round()
    assert a.verify_all().ok
    assert a.append(bob, "note", {"i": 9}).seq == mine[-1].seq + 1


# --- 3. a lost ledger file is never silently replaced ------------------------------------------------


@pytest.mark.parametrize("how", ["truncate", "delete"])
def test_a_missing_or_empty_ledger_is_an_error(invoke: Invoke, home: Path, how: str) -> None:
    note(invoke, home, 1)
    db = home / "ledger.db"
    for extra in (home / "ledger.db-wal", home / "ledger.db-shm"):
        extra.unlink(missing_ok=True)
    if how == "truncate":
        db.write_bytes(b"")
    else:
        db.unlink()
    for args in (["log", "verify"], ["log", "show"]):
        r = invoke(home, *args)
        assert r.exit_code == 8, r.output
        assert "missing or empty" in r.output
    assert not db.exists() or db.stat().st_size == 0  # nothing was created


def test_a_new_home_still_inits_and_creates_a_mesh(invoke: Invoke, tmp_path: Path) -> None:
    h = tmp_path / "new"
    assert invoke(h, "init", "--name", "n").exit_code == 0
    (h / "ledger.db").unlink()  # not in a mesh yet: nothing to lose
    assert invoke(h, "log", "verify").exit_code == 0
    assert invoke(h, "mesh", "create", "m").exit_code == 0
    assert (h / "ledger.db.mesh").exists()
    assert note(invoke, h, 1) == 2
