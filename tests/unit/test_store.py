"""Store contract: verified ingest, chains, duplicates, forks, membership, heads, errors."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ledger.errors import NotInitialised, StoreError, TrustError, WrongMesh
from ledger.forks import ForkProof
from ledger.store import Store
from ledger.testing import Feed, MeshFixture, identity_from_seed


@pytest.fixture
def mesh() -> MeshFixture:
    return MeshFixture.create("alice", {"bob": ["operator"], "carol": ["operator", "teller"]})


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "ledger.db", create=True)
    yield s
    s.close()


def test_missing_store_is_not_initialised(tmp_path: Path) -> None:
    with pytest.raises(NotInitialised):
        Store(tmp_path / "nope.db")


def test_ingest_a_whole_mesh_in_any_batch_order(store: Store, mesh: MeshFixture) -> None:
    for i in range(3):
        mesh.write("bob", "note", {"i": i})
        mesh.write("carol", "note", {"i": i})
    report = store.ingest([e.raw for e in reversed(mesh.entries)])
    assert len(report.accepted) == len(mesh.entries)
    assert not report.rejected
    assert store.mesh_id == mesh.mesh_id
    heads = store.heads()
    assert heads[mesh.key("bob")].seq == 3
    assert heads[mesh.key("alice")].seq == 3  # genesis + two roster adds
    again = store.ingest([e.raw for e in mesh.entries])
    assert again.duplicates == len(mesh.entries) and not again.accepted and not again.rejected


def test_bad_signature_and_garbage_are_reported_not_stored(store: Store, mesh: MeshFixture) -> None:
    store.ingest([e.raw for e in mesh.entries])
    e = mesh.write("bob", "note", {"x": 1})
    tampered = bytearray(e.raw)
    tampered[-1] ^= 1
    report = store.ingest([bytes(tampered), b"\x00\x01garbage"])
    reasons = sorted(r.reason for r in report.rejected)
    assert any("bad signature" in r for r in reasons)
    assert any("unreadable" in r for r in reasons)
    assert store.count() == len(mesh.entries) - 1


def test_gap_and_broken_chain(store: Store, mesh: MeshFixture) -> None:
    store.ingest([e.raw for e in mesh.entries])
    first = mesh.write("bob", "note", {"n": 1})
    second = mesh.write("bob", "note", {"n": 2})
    report = store.ingest([second.raw])
    assert "gap" in report.rejected[0].reason
    # an entry at the right seq that points to the wrong predecessor
    liar = Feed(mesh.person("bob"), seq=0, prev=mesh.mesh_id)
    liar.write("note", {"n": 0}, 1)  # seq 1 with a different body: chain diverges
    store.ingest([first.raw])
    forged_next = Feed(mesh.person("bob"), seq=1, prev=b"\x11" * 32).write("note", {}, 2)
    report = store.ingest([forged_next.raw])
    assert "broken chain" in report.rejected[0].reason


def test_equivocation_keeps_both_and_freezes_the_feed(store: Store, mesh: MeshFixture) -> None:
    store.ingest([e.raw for e in mesh.entries])
    honest = mesh.write("bob", "note", {"n": 1})
    store.ingest([honest.raw])
    # the same key signs a different entry at the same seq (a copied laptop)
    twin = Feed(mesh.person("bob"), seq=0, prev=mesh.mesh_id).write("note", {"n": "other"}, 5)
    assert twin.seq == honest.seq and twin.id != honest.id
    report = store.ingest([twin.raw])
    assert len(report.forks) == 1 and "equivocation" in report.rejected[0].reason
    proofs = store.fork_proofs()
    assert len(proofs) == 1 and {proofs[0].a.id, proofs[0].b.id} == {honest.id, twin.id}
    assert store.get(honest.id) is not None  # never overwritten
    later = mesh.write("bob", "note", {"n": 2})
    assert "frozen" in store.ingest([later.raw]).rejected[0].reason
    roster = store.roster()
    assert roster.keys[mesh.key("bob")].status == "equivocated"
    assert not roster.valid(mesh.key("bob"), 1)
    assert mesh.key("bob") not in store.heads()  # frozen at seq 1: nothing before it


def test_fork_proofs_replicate_and_keep_the_lowest(tmp_path: Path, mesh: MeshFixture) -> None:
    a = Store(tmp_path / "a.db", create=True)
    b = Store(tmp_path / "b.db", create=True)
    for s in (a, b):
        s.ingest([e.raw for e in mesh.entries])
    e1 = mesh.write("bob", "note", {"n": 1})
    e2 = mesh.write("bob", "note", {"n": 2})
    a.ingest([e1.raw, e2.raw])
    fork2 = Feed(mesh.person("bob"), seq=1, prev=e1.id).write("note", {"n": "x"}, 9)
    fork1 = Feed(mesh.person("bob"), seq=0, prev=mesh.mesh_id).write("note", {"n": "y"}, 9)
    p2 = ForkProof.of(e2, fork2)
    p1 = ForkProof.of(e1, fork1)
    assert b.add_fork_proofs([p2]) == [p2]
    assert b.add_fork_proofs([p2]) == []  # idempotent
    assert b.add_fork_proofs([p1]) == [p1]  # lower seq replaces
    assert a.add_fork_proofs([p2, p1])
    assert a.digest() == b.digest()  # bob frozen before seq 1 on both: same vector
    assert [p.seq for p in b.fork_proofs()] == [1]
    with pytest.raises(Exception, match="two different"):
        ForkProof.of(e1, e1)
    a.close()
    b.close()


def test_unknown_author_and_other_mesh_are_refused(store: Store, mesh: MeshFixture) -> None:
    store.ingest([e.raw for e in mesh.entries])
    stranger = mesh.write("mallory", "note", {"hi": 1})  # never added to the roster
    report = store.ingest([stranger.raw])
    assert "unknown author" in report.rejected[0].reason
    other = MeshFixture.create("zed", {"bob": ["operator"]}, name="other")
    report = store.ingest([e.raw for e in other.entries])
    assert not report.accepted
    assert all("another mesh" in r.reason or "unknown author" in r.reason for r in report.rejected)
    assert any("another mesh" in r.reason for r in report.rejected)
    bob_other = other.write(
        "bob", "note", {"x": 1}
    )  # bob is a member here, but this feed is rooted elsewhere
    assert "another mesh" in store.ingest([bob_other.raw]).rejected[0].reason


def test_batch_that_adds_a_member_lands_whole(store: Store) -> None:
    mesh = MeshFixture.create("alice")
    store.ingest([e.raw for e in mesh.entries])
    mesh.write("alice", "note", {"before": True})
    mesh.add("dave", ["operator"])
    notes = [mesh.write("dave", "note", {"i": i}) for i in range(3)]
    report = store.ingest([e.raw for e in reversed(mesh.entries)])
    assert not report.rejected
    assert {e.id for e in notes} <= {e.id for e in report.accepted}


def test_revocation_cuts_entries_that_arrived_earlier(store: Store, mesh: MeshFixture) -> None:
    store.ingest([e.raw for e in mesh.entries])
    kept = [mesh.write("bob", "note", {"i": i}) for i in range(2)]
    late = [mesh.write("bob", "note", {"i": i}) for i in range(2, 4)]
    store.ingest([e.raw for e in kept + late])
    mesh.revoke("bob", at=2)
    store.ingest([e.raw for e in mesh.entries])
    roster = store.roster()
    assert roster.valid(mesh.key("bob"), 2) and not roster.valid(mesh.key("bob"), 3)
    assert store.heads()[mesh.key("bob")].seq == 2  # effective head
    assert store.stored_heads()[mesh.key("bob")].seq == 4  # kept as evidence
    report = store.verify_all()
    assert report.ok and {i.seq for i in report.ignored} == {3, 4}
    newer = mesh.write("bob", "note", {"i": 9})
    assert "revoked" in store.ingest([newer.raw]).rejected[0].reason


def test_append_signs_the_next_entry_and_checks_membership(store: Store, mesh: MeshFixture) -> None:
    store.ingest([e.raw for e in mesh.entries])
    bob = mesh.person("bob")
    e1 = store.append(bob, "note", {"t": 1})
    e2, e3 = store.append_many(bob, [("note", {"t": 2}), ("note", {"t": 3})])
    assert (e1.seq, e2.seq, e3.seq) == (1, 2, 3)
    assert e1.prev == mesh.mesh_id and e2.prev == e1.id
    assert e1.hlc < e2.hlc < e3.hlc
    with pytest.raises(TrustError, match="not in the mesh roster"):
        store.append(identity_from_seed("mallory"), "note", {})
    with pytest.raises(WrongMesh):
        store.append(bob, "mesh.genesis", {"name": "x"})


def test_append_is_all_or_nothing(store: Store, mesh: MeshFixture) -> None:
    store.ingest([e.raw for e in mesh.entries])
    before = store.count()
    with pytest.raises(Exception, match="finite"):
        store.append_many(
            mesh.person("bob"), [("note", {"ok": 1}), ("note", {"bad": float("nan")})]
        )
    assert store.count() == before
    assert mesh.key("bob") not in store.stored_heads()


def test_unbound_store_accepts_only_the_pinned_genesis(tmp_path: Path, mesh: MeshFixture) -> None:
    s = Store(tmp_path / "x.db", create=True)
    other = MeshFixture.create("zed", name="other")
    s.pin_mesh(mesh.mesh_id)
    report = s.ingest([e.raw for e in other.entries])
    assert s.mesh_id is None and "joining" in report.rejected[0].reason
    report = s.ingest([e.raw for e in mesh.entries])
    assert s.mesh_id == mesh.mesh_id and not report.rejected
    with pytest.raises(WrongMesh):
        s.pin_mesh(other.mesh_id)
    s.close()


def test_range_get_find_and_entries(store: Store, mesh: MeshFixture) -> None:
    notes = [mesh.write("bob", "note", {"i": i}) for i in range(5)]
    mesh.write("carol", "fuel.report", {"litres": 1})
    store.ingest([e.raw for e in mesh.entries])
    assert store.range_raw(mesh.key("bob"), 2, 4) == [e.raw for e in notes[1:4]]
    assert store.range_raw(mesh.key("bob"), 4) == [e.raw for e in notes[3:]]
    assert store.get(notes[0].id) == notes[0]
    assert store.find(notes[0].id.hex()[:10]) == notes[0]
    assert store.find("zz") is None
    assert [e.kind for e in store.entries(kinds=["fuel.report"])] == ["fuel.report"]
    assert len(store.entries(kind_prefix="fuel.")) == 1
    assert [
        e.body["i"] for e in store.entries(author=mesh.key("bob"), limit=2, newest_first=True)
    ] == [4, 3]


def test_second_connection_sees_commits_and_writes_safely(
    tmp_path: Path, mesh: MeshFixture
) -> None:
    a = Store(tmp_path / "l.db", create=True)
    b = Store(tmp_path / "l.db")
    a.ingest([e.raw for e in mesh.entries])
    assert b.mesh_id == mesh.mesh_id
    b.append(mesh.person("bob"), "note", {})
    a.append(mesh.person("bob"), "note", {})
    assert a.heads()[mesh.key("bob")].seq == 2 == b.heads()[mesh.key("bob")].seq
    a.close()
    b.close()


def test_newer_schema_and_damaged_file_are_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "l.db"
    Store(path, create=True).close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version=99")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="newer plurictl"):
        Store(path)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="damaged"):
        Store(junk)


def test_digest_equal_iff_heads_equal(tmp_path: Path, mesh: MeshFixture) -> None:
    a = Store(tmp_path / "a.db", create=True)
    b = Store(tmp_path / "b.db", create=True)
    a.ingest([e.raw for e in mesh.entries])
    b.ingest([e.raw for e in mesh.entries])
    assert a.digest() == b.digest()
    extra = mesh.write("bob", "note", {})
    a.ingest([extra.raw])
    assert a.digest() != b.digest()
    b.ingest([extra.raw])
    assert a.digest() == b.digest()
    a.close()
    b.close()


def test_fork_proofs_are_kept_only_for_roster_keys(store: Store, mesh: MeshFixture) -> None:
    store.ingest([e.raw for e in mesh.entries])
    stranger = identity_from_seed("throwaway")
    a = Feed(stranger, seq=0, prev=mesh.mesh_id).write("note", {"n": 1}, 1)
    b = Feed(stranger, seq=0, prev=mesh.mesh_id).write("note", {"n": 2}, 1)
    assert store.add_fork_proofs([ForkProof.of(a, b)]) == []
    assert store.fork_proofs() == []


def test_a_writable_ledger_gets_a_page_cache_for_ingest_and_stays_fully_synced(
    tmp_path: Path,
) -> None:
    """Ingest lands entries on random pages of the id index: with SQLite's 2 MiB default
    those pages are read back again and again during a catch-up. The bigger cache and log
    change no durability: every commit is still synced (synchronous=FULL, WAL)."""
    from ledger.schema import CACHE_KIB, CHECKPOINT_PAGES

    store = Store(tmp_path / "l.db", create=True)
    try:
        assert store.db.execute("PRAGMA cache_size").fetchone()[0] == -CACHE_KIB
        assert CACHE_KIB >= 16 * 1024
        assert store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == CHECKPOINT_PAGES
        assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    finally:
        store.close()
