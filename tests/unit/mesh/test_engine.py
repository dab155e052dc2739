"""Sync engines over the in-memory network: convergence, partitions, forks, flow control."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.store import Store
from ledger.testing import Feed, MeshFixture
from mesh.testing import MemoryNetwork

NAMES = ["alice", "bob", "carol", "dave", "erin"]


def build(
    tmp_path: Path, names: list[str] = NAMES, seed: int = 0, **options: object
) -> tuple[MeshFixture, MemoryNetwork]:
    mesh = MeshFixture.create(names[0], {n: ["operator"] for n in names[1:]})
    net = MemoryNetwork(seed)
    for n in names:
        store = Store(tmp_path / f"{n}.db", create=True)
        if n == names[0]:
            store.ingest([e.raw for e in mesh.entries])  # only the founder starts with the roster
        net.add(n, store, mesh.key(n), **options)
    return mesh, net


def write(net: MemoryNetwork, mesh: MeshFixture, who: str, body: dict) -> None:
    net.nodes[who].store.append(mesh.person(who), "note", body)


def test_three_nodes_converge_from_the_founder(tmp_path: Path) -> None:
    mesh, net = build(tmp_path, NAMES[:3])
    rounds = net.run_until_converged()
    assert rounds <= 10
    for n in net.nodes.values():
        assert n.store.roster().mesh_id == mesh.mesh_id


def test_partition_writes_both_sides_then_heal(tmp_path: Path) -> None:
    mesh, net = build(tmp_path)
    net.run_until_converged()
    net.partition(["alice", "bob"], ["carol", "dave", "erin"])
    for i in range(5):
        write(net, mesh, "alice", {"i": i})
        write(net, mesh, "carol", {"i": i})
        net.round()
    assert not net.converged()
    assert net.nodes["bob"].store.heads()[mesh.key("alice")].seq >= 5
    assert mesh.key("carol") not in net.nodes["bob"].store.heads()
    net.heal()
    net.run_until_converged(30)
    heads = {n.store.digest() for n in net.nodes.values()}
    assert len(heads) == 1


def test_in_sync_round_is_small_and_independent_of_size(tmp_path: Path) -> None:
    mesh, net = build(tmp_path, NAMES[:2])
    net.run_until_converged()
    sizes = []
    for extra in (0, 2000):
        for _ in range(extra // 500):
            net.nodes["alice"].store.append_many(mesh.person("alice"), [("note", {"x": 1})] * 500)
        net.run_until_converged()
        before = net.bytes_sent
        node = net.nodes["alice"]
        net.send("alice", node.engine.start_round(mesh.key("bob")))
        net.deliver()
        sizes.append(net.bytes_sent - before)
    assert sizes[0] == sizes[1] and sizes[0] <= 512


def test_flow_control_window_and_lost_batches(tmp_path: Path) -> None:
    mesh, net = build(tmp_path, NAMES[:2], batch_entries=50, window=2, transfer_timeout=3.0)
    net.nodes["alice"].store.append_many(
        mesh.person("alice"), [("note", {"x": i}) for i in range(400)]
    )
    # one round: alice's digest reaches bob, heads go back, alice streams with a window of 2
    net.send("alice", net.nodes["alice"].engine.start_round(mesh.key("bob")))
    net.deliver(limit=3)  # digest, heads (and fork check) only
    t = net.nodes["alice"].engine.peers[mesh.key("bob")].transfer
    assert t is not None and len(t.inflight) <= 2
    # lose everything in flight: the transfer times out and a later round recovers
    net.queue.clear()
    for _ in range(4):
        net.clock.advance(1.0)
        net.send("alice", net.nodes["alice"].engine.pump())
        net.queue.clear()
    assert net.nodes["alice"].engine.stats.transfers_aborted == 1
    net.run_until_converged()


def test_fork_proofs_spread(tmp_path: Path) -> None:
    mesh, net = build(tmp_path, NAMES[:3])
    net.run_until_converged()
    honest = net.nodes["bob"].store.append(mesh.person("bob"), "note", {"v": 1})
    twin = Feed(mesh.person("bob"), seq=0, prev=mesh.mesh_id).write(
        "note", {"v": "copied laptop"}, honest.hlc + 1
    )
    net.nodes["carol"].store.ingest([twin.raw])
    net.run_until_converged(20)
    for n in net.nodes.values():
        proofs = n.store.fork_proofs()
        assert len(proofs) == 1 and proofs[0].author == mesh.key("bob")
        assert n.store.roster().keys[mesh.key("bob")].status == "equivocated"


def test_eager_push_arrives_in_order(tmp_path: Path) -> None:
    mesh, net = build(tmp_path, NAMES[:3])
    net.run_until_converged()
    for i in range(3):
        write(net, mesh, "alice", {"i": i})
        write(net, mesh, "bob", {"i": i})
        for name in ("alice", "bob"):
            net.send(name, net.nodes[name].engine.local_push(net.live_peers(name)))
        net.deliver()
    carol = net.nodes["carol"].store
    for who in ("alice", "bob"):
        bodies = [e.body["i"] for e in carol.entries(author=mesh.key(who), kinds=["note"])]
        assert bodies == [0, 1, 2]
    assert net.nodes["carol"].engine.stats.refused == 0


def test_revoked_member_entries_stop_spreading(tmp_path: Path) -> None:
    mesh, net = build(tmp_path, NAMES[:3])
    net.run_until_converged()
    write(net, mesh, "bob", {"ok": 1})
    net.run_until_converged()
    from ledger.roster.writer import revoke

    # bob's laptop is stolen and cut off; the thief keeps writing on it
    net.partition(["alice", "carol"], ["bob"])
    revoke(net.nodes["alice"].store, mesh.person("alice"), mesh.key("bob"), "stolen")
    write(net, mesh, "bob", {"thief": 1})
    write(net, mesh, "bob", {"thief": 2})
    for _ in range(3):
        net.round()
    net.heal()
    for _ in range(5):
        net.round()
    carol = net.nodes["carol"].store
    assert carol.heads()[mesh.key("bob")].seq == 1
    assert [e.body for e in carol.entries(author=mesh.key("bob"))] == [{"ok": 1}]
    assert net.nodes["carol"].engine.stats.refused >= 1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_partitions_and_loss_converge(tmp_path: Path, seed: int) -> None:
    import random

    mesh, net = build(tmp_path, seed=seed)
    rng = random.Random(seed)
    net.run_until_converged()
    for step in range(12):
        if step % 4 == 0:
            names = NAMES[:]
            rng.shuffle(names)
            cut = rng.randint(1, 4)
            net.partition(names[:cut], names[cut:])
        for n in net.nodes.values():
            n.policy.loss = 0.2
        write(net, mesh, rng.choice(NAMES), {"step": step})
        net.round()
    net.heal()
    net.run_until_converged(40)


def test_big_messages_are_split_under_the_limit() -> None:
    from mesh.engine import _chunks
    from mesh.protocol import BATCH_BYTES

    items = [b"x" * 60_000] * 40  # 2.4 MB in all
    chunks = _chunks(items, len)
    assert sum(len(c) for c in chunks) == 40
    assert all(sum(map(len, c)) <= BATCH_BYTES for c in chunks)
    assert _chunks([], len) == []


def test_a_flooding_peer_gets_its_share_of_the_checker_and_a_bounded_queue(tmp_path: Path) -> None:
    """Pipelined receiving: batches wait for the signature checker in one queue per peer,
    served in turn, so an honest peer's batch is written after at most a few of a flooder's,
    and the flooder's queue is bounded (what is over is dropped and counted)."""
    import time

    from mesh.engine import PEER_QUEUE, SyncEngine

    mesh = MeshFixture.create("alice", {"bob": ["operator"]})
    store = Store(tmp_path / "bob.db", create=True)
    store.ingest([e.raw for e in mesh.entries])
    engine = SyncEngine(store, mesh.key("bob"), background_verify=True)
    written: list[bytes] = []
    engine.on_ingest = lambda key, _report: written.append(key)
    flooder, honest = b"F" * 32, mesh.key("alice")
    try:
        for _ in range(PEER_QUEUE + 40):
            engine.handle(flooder, "push", {"b": [b"\x98\x01" + bytes(60)] * 10})
        assert engine.backlog <= PEER_QUEUE + 2  # the queue, and the batches being checked
        assert engine.stats.overflow >= 40 - 2
        note = mesh.write("alice", "note", {"x": 1})
        engine.handle(honest, "push", {"b": [note.raw]})
        deadline = time.monotonic() + 30
        while honest not in written:
            engine.finish()
            assert time.monotonic() < deadline, "the honest batch was never written"
            time.sleep(0.001)
        assert written.index(honest) <= 3, written[:6]
        assert store.heads()[honest].seq == note.seq
        engine.forget(flooder)  # cut off: its waiting batches are dropped
        assert engine.backlog <= 2
    finally:
        engine.close()


def test_batches_checked_meanwhile_are_written_in_one_commit(tmp_path: Path) -> None:
    """A catch-up writes every batch whose check finished in one transaction: each commit
    rewrites the index pages its batch touched (the id index is random), so fewer, bigger
    commits write far less. Each batch is still refused or accepted on its own, and the
    acknowledgements come after the commit."""
    import time

    from mesh.engine import SyncEngine

    mesh = MeshFixture.create("alice", {"bob": ["operator"]})
    store = Store(tmp_path / "bob.db", create=True)
    store.ingest([e.raw for e in mesh.entries])
    notes = [mesh.write("alice", "note", {"i": i}).raw for i in range(300)]
    engine = SyncEngine(store, mesh.key("bob"), background_verify=True)
    alice = mesh.key("alice")
    writes: list[str] = []  # write transactions (each ends in a synced commit)
    store.db.set_trace_callback(lambda sql: writes.append(sql) if "IMMEDIATE" in sql else None)
    try:
        for n, chunk in enumerate((notes[:150], notes[150:])):
            assert engine.handle(alice, "entries", {"x": b"t" * 8, "n": n, "b": chunk}) == []
        deadline = time.monotonic() + 30
        while not all(job.done() for *_, job in engine._pending):
            assert time.monotonic() < deadline, "the checker never finished"
            time.sleep(0.001)
        out = engine.finish()
        assert len(writes) == 1
        assert [(t, m["n"], m["ok"]) for _, t, m in out] == [("ack", 0, 150), ("ack", 1, 150)]
        assert store.heads()[alice].seq == mesh.feeds["alice"].seq
        assert engine.stats.commits == 1 and engine.stats.batches_written == 2
    finally:
        store.db.set_trace_callback(None)
        engine.close()


def test_the_damage_scan_runs_a_slice_at_a_time_and_still_finds_the_damage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node checks every stored row for damage once; at a million entries that takes
    seconds, so it goes a slice per call (the node calls it between turns) instead of all
    in the first gossip round, where no handshake or peer was served meanwhile. Until the
    scan is done a one-shot sync waits for it (repairs may still be needed)."""
    import sqlite3

    import mesh.engine
    from mesh.engine import SyncEngine

    monkeypatch.setattr(mesh.engine, "SCAN_BATCH", 50)
    monkeypatch.setattr(mesh.engine, "SCAN_ROWS_PER_STEP", 100)
    fixture = MeshFixture.create("alice", {"bob": ["operator"]})
    db_path = tmp_path / "bob.db"
    store = Store(db_path, create=True)
    store.ingest([e.raw for e in fixture.entries])
    notes = [fixture.write("alice", "note", {"i": i}) for i in range(600)]
    store.ingest([e.raw for e in notes])
    last = notes[-1]
    db = sqlite3.connect(db_path)
    flipped = last.raw[:-1] + bytes([last.raw[-1] ^ 1])  # one bit of the signature
    db.execute("UPDATE entries SET raw = ? WHERE id = ?", (flipped, last.id))
    db.commit()
    db.close()
    engine = SyncEngine(store, fixture.key("bob"))
    peer = fixture.key("alice")
    slices = 0
    while not engine.advance_scan():
        slices += 1
        assert last.id not in store.wanted_ids(), "the damage at the end was found too early"
        assert engine.repair_pending(peer) is True  # a one-shot sync waits for the scan
    assert slices >= 2  # about 600 rows / 100 a slice, never all in one call
    assert last.id in engine._wanted()
    assert engine.repair_pending(peer) is True  # our want is not answered yet
