"""Ledger integrity against a hostile tester with sqlite3: forged fork proofs, a deleted
own head (then ``--repair``), an emptied or deleted ledger file."""

from __future__ import annotations

from pathlib import Path

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
