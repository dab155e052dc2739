"""Courier bundles against real stores: round trips, frontiers, damage, failures, convergence."""

from __future__ import annotations

import io
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.courier import bundle as bf
from ledger.courier import export as courier
from ledger.courier import framing
from ledger.courier import frontier as fr
from ledger.entry import Entry, decode
from ledger.errors import BundleError, NotInitialised, StoreError, VerificationFailed, WrongMesh
from ledger.schema import MIGRATIONS, SCHEMA_VERSION
from ledger.store import Store
from ledger.testing import Feed, MeshFixture, identity_from_seed


def make_mesh(notes: int = 4) -> MeshFixture:
    mesh = MeshFixture.create("alice", {"bob": ["operator"], "carol": ["operator"]})
    for i in range(notes):
        mesh.write(["bob", "carol", "alice"][i % 3], "note", {"i": i})
    return mesh


def new_store(
    directory: Path, name: str, entries: list[Entry] = (), pin: bytes | None = None
) -> Store:  # type: ignore[assignment]
    store = Store(directory / f"{name}.db", create=True)
    if pin is not None:
        store.pin_mesh(pin)
    if entries:
        report = store.ingest([e.raw for e in entries])
        assert not report.rejected, report.rejected
    return store


def ids(store: Store) -> set[bytes]:
    return {eid for _, eid in store.iter_raw()}


def bundle_raws(source: Path | bytes) -> list[bytes]:
    src = io.BytesIO(source) if isinstance(source, bytes) else source
    with bf.BundleReader(src) as reader:  # type: ignore[arg-type]
        return [i.payload for i in reader.items() if i.type == bf.T_ENTRY]


@pytest.fixture
def mesh() -> MeshFixture:
    return make_mesh()


@pytest.fixture
def alice_store(tmp_path: Path, mesh: MeshFixture) -> Iterator[Store]:
    s = new_store(tmp_path, "alice", mesh.entries)
    yield s
    s.close()


# --- round trip, idempotence -------------------------------------------------------------


def test_round_trip_between_two_homes(
    tmp_path: Path, mesh: MeshFixture, alice_store: Store
) -> None:
    path = tmp_path / "all.plb"
    result = courier.export_bundle(alice_store, mesh.person("alice"), path)
    assert result.entries == len(mesh.entries) and result.forks == 0
    assert not list(tmp_path.glob(".*part*"))
    other = new_store(tmp_path, "bob", pin=mesh.mesh_id)
    report = courier.import_bundle(path, other)
    assert report.read.intact and report.passes == 1
    assert report.new_entries == len(mesh.entries) and report.rejected.total == 0
    for name in ("alice", "bob", "carol"):
        key = mesh.key(name)
        assert report.accepted[key] == sum(1 for e in mesh.entries if e.author == key)
    assert other.digest() == alice_store.digest()
    assert other.heads() == alice_store.heads()
    assert ids(other) == ids(alice_store)
    assert report.signer_status == "member" and report.frontier_recorded


def test_importing_twice_is_a_no_op(tmp_path: Path, mesh: MeshFixture, alice_store: Store) -> None:
    path = tmp_path / "all.plb"
    courier.export_bundle(alice_store, mesh.person("alice"), path)
    other = new_store(tmp_path, "bob", pin=mesh.mesh_id)
    courier.import_bundle(path, other)
    digest, changes = other.digest(), other.db.total_changes
    again = courier.import_bundle(path, other)
    assert again.new_entries == 0 and again.duplicates == len(mesh.entries)
    assert again.rejected.total == 0 and not again.frontier_recorded
    assert other.digest() == digest and other.db.total_changes == changes


def test_bundle_order_lets_a_batch_of_one_import_in_one_pass(
    tmp_path: Path, mesh: MeshFixture
) -> None:
    """Roster entries and their feed prefixes come first, whatever the keys sort as."""
    for name in ("dave", "erin", "frank"):
        for i in range(3):
            mesh.write("alice", "note", {"before": name, "i": i})
        mesh.add(name, ["operator"])
        mesh.write(name, "note", {"hello": name})
    mesh.revoke("erin")
    source = new_store(tmp_path, "alice", mesh.entries)
    path = tmp_path / "all.plb"
    courier.export_bundle(source, mesh.person("alice"), path)
    target = new_store(tmp_path, "t", pin=mesh.mesh_id)
    report = courier.import_bundle(path, target, batch=1)
    assert report.passes == 1 and report.rejected.total == 0
    assert target.digest() == source.digest()


def test_an_odd_order_still_imports_fully_over_several_passes(
    tmp_path: Path, mesh: MeshFixture, alice_store: Store
) -> None:
    """A bundle written by someone else, members' entries before the roster that admits them."""
    alice_key = mesh.key("alice")
    order = sorted(mesh.entries, key=lambda e: (e.author == alice_key, e.author, e.seq))
    path = tmp_path / "odd.plb"
    header = bf.Header(mesh.mesh_id, alice_key, 1, alice_store.heads(), None)
    with bf.BundleWriter(path, mesh.person("alice"), header) as w:
        for e in order:
            w.add_entry(e.raw)
        w.finish()
    target = new_store(tmp_path, "t", pin=mesh.mesh_id)
    report = courier.import_bundle(path, target, batch=2)
    assert report.passes >= 2 and report.rejected.total == 0
    assert target.digest() == alice_store.digest()


# --- frontiers -----------------------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(0, 12), min_size=3, max_size=3), st.integers(0, 9))
def test_since_frontier_bundle_contains_exactly_the_missing_entries(
    prefix: list[int], more: int
) -> None:
    mesh = make_mesh(9)
    for i in range(more):
        mesh.write("bob", "note", {"more": i})
    names = ["alice", "bob", "carol"]
    keep = {mesh.key(n): p for n, p in zip(names, prefix, strict=True)}
    partial = [e for e in mesh.entries if e.seq <= keep[e.author]]
    with tempfile.TemporaryDirectory() as d:
        directory = Path(d)
        full = new_store(directory, "full", mesh.entries)
        behind = Store(directory / "behind.db", create=True)
        behind.ingest([e.raw for e in partial])  # what it cannot chain is refused: fine
        if behind.mesh_id is None:
            behind.pin_mesh(mesh.mesh_id)
            since = None
        else:
            fr.write_file(directory / "f.plf", behind, mesh.person("bob"))
            since = courier.load_since(full, directory / "f.plf")
        path = directory / "since.plb"
        courier.export_bundle(full, mesh.person("alice"), path, since=since)
        sent = [decode(raw).id for raw in bundle_raws(path)]
        assert len(sent) == len(set(sent))
        assert set(sent) == ids(full) - ids(behind)
        courier.import_bundle(path, behind)
        assert behind.digest() == full.digest()
        full.close()
        behind.close()


def test_since_frontier_with_a_fork_sends_our_entry_so_the_other_side_sees_it(
    tmp_path: Path, mesh: MeshFixture
) -> None:
    bob = mesh.person("bob")
    feed = mesh.feeds["bob"]
    twin = Feed(bob, feed.seq, feed.prev)  # a copied key, writing its own history
    mine = mesh.write("bob", "note", {"say": "A"})
    theirs = twin.write("note", {"say": "B"}, mesh.tick())
    mesh.write("bob", "note", {"say": "after"})
    here = new_store(tmp_path, "here", mesh.entries)
    there = new_store(tmp_path, "there", [e for e in mesh.entries if e.id not in (mine.id,)][:-1])
    assert there.ingest([theirs.raw]).accepted
    fr.write_file(tmp_path / "there.plf", there, mesh.person("carol"))
    since = courier.load_since(here, tmp_path / "there.plf")
    result = courier.export_bundle(here, mesh.person("alice"), tmp_path / "b.plb", since=since)
    assert result.forked_authors == [mesh.key("bob")]
    seen = courier.inspect_bundle(tmp_path / "b.plb", there)
    assert seen.authors[mesh.key("bob")].conflicts == 1 and seen.ok
    report = courier.import_bundle(tmp_path / "b.plb", there)
    assert [(p.author, p.seq) for p in report.forks_added] == [(mesh.key("bob"), mine.seq)]
    assert there.heads()[mesh.key("bob")].seq == mine.seq - 1  # frozen at the fork
    # the proof travels back: a bundle from there carries it first
    back = courier.export_bundle(there, mesh.person("carol"), tmp_path / "back.plb")
    assert back.forks == 1
    assert courier.import_bundle(tmp_path / "back.plb", here).forks_added
    assert here.digest() == there.digest()


def test_known_frontiers_come_from_frontier_files_and_bundles(
    tmp_path: Path, mesh: MeshFixture, alice_store: Store
) -> None:
    bob_store = new_store(tmp_path, "bob", mesh.entries[:3])
    with pytest.raises(Exception, match="no frontier"):
        courier.frontier_for(alice_store, mesh.key("bob"))
    fr.write_file(tmp_path / "bob.plf", bob_store, mesh.person("bob"))
    found, changed = courier.note_frontier_file(alice_store, tmp_path / "bob.plf")
    assert changed and courier.frontier_for(alice_store, mesh.key("bob")) == found
    assert not courier.note_frontier_file(alice_store, tmp_path / "bob.plf")[1]
    # a newer bundle made by bob replaces it with bob's heads at that time
    bob_store.ingest([e.raw for e in mesh.entries])
    courier.export_bundle(bob_store, mesh.person("bob"), tmp_path / "fromb.plb")
    assert courier.import_bundle(tmp_path / "fromb.plb", alice_store).frontier_recorded
    latest = courier.frontier_for(alice_store, mesh.key("bob"))
    assert latest.heads == bob_store.heads() and latest.hlc > found.hlc
    assert [k.source for k in fr.known(alice_store)] == ["bundle"]
    # an older frontier file does not roll it back
    assert not fr.record(alice_store, found, "frontier file")


def test_known_frontier_follows_a_key_rotation(tmp_path: Path, mesh: MeshFixture) -> None:
    old = mesh.key("bob")
    mesh.change(
        "alice", {"op": "rotate", "key": old.hex(), "successor": mesh.key("bob2").hex(), "at": 2}
    )
    store = new_store(tmp_path, "a", mesh.entries)
    frontier = fr.Frontier(mesh.mesh_id, old, 5, store.heads())
    assert fr.record(store, frontier, "frontier file")
    assert courier.frontier_for(store, mesh.key("bob2")) == frontier


def test_a_v1_ledger_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    db = sqlite3.connect(path)
    for statement in MIGRATIONS[1]:
        db.execute(statement)
    db.execute("INSERT INTO meta(key, value) VALUES('hlc', 42)")
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()
    with Store(path) as store:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
        assert store.db.execute("SELECT value FROM meta WHERE key='hlc'").fetchone()[0] == 42
        assert fr.known(store) == []


# --- damage ----------------------------------------------------------------------------------


def _small_bundle(tmp_path: Path) -> tuple[MeshFixture, bytes, list[int]]:
    mesh = make_mesh(6)
    with tempfile.TemporaryDirectory() as d:
        store = new_store(Path(d), "src", mesh.entries)
        path = Path(d) / "small.plb"
        courier.export_bundle(store, mesh.person("alice"), path)
        store.close()
        data = path.read_bytes()
    ends = []
    with bf.BundleReader(io.BytesIO(data)) as reader:  # type: ignore[arg-type]
        for item in reader.items():
            ends.append(item.offset + framing.OVERHEAD + len(item.payload))
    return mesh, data, ends


SMALL = _small_bundle(Path("."))


def test_truncation_at_every_byte_offset_reads_exactly_the_complete_entries() -> None:
    _, data, ends = SMALL
    raws = bundle_raws(data)
    pre = len(bf.PREAMBLE)
    header_end = pre + framing.OVERHEAD + int.from_bytes(data[pre + 5 : pre + 9], "big")
    for cut in range(len(data)):
        try:
            reader = bf.BundleReader(io.BytesIO(data[:cut]))  # type: ignore[arg-type]
        except Exception as e:  # pragma: no cover - would be a crash
            pytest.fail(f"cut at {cut}: {e!r}")
        got = [i.payload for i in reader.items()]
        complete = sum(1 for end in ends if end <= cut)
        assert got == raws[:complete], cut
        assert not reader.state.intact and reader.state.truncated, cut
        assert reader.state.signature in (bf.MISSING, bf.UNVERIFIABLE)
        assert not reader.state.damaged_frames, cut
        assert (reader.header is None) == (cut < header_end), cut


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_truncated_copy_imports_every_complete_entry_and_says_so(data: st.DataObject) -> None:
    mesh, blob, ends = SMALL
    cut = data.draw(st.integers(0, len(blob) - 1))
    complete = {e for e in bundle_raws(blob[:cut])}
    with tempfile.TemporaryDirectory() as d:
        store = new_store(Path(d), "t", pin=mesh.mesh_id)
        try:
            report = courier.import_bundle(io.BytesIO(blob[:cut]), store)  # type: ignore[arg-type]
        except VerificationFailed:  # cut inside the header: nothing to check the mesh by
            assert cut < ends[0] and store.count() == 0
            return
        finally:
            stored = {raw for raw, _ in store.iter_raw()}
            store.close()
        assert stored == complete  # every complete entry, nothing else
        assert not report.read.intact and report.read.truncated
        assert not report.read.damaged_frames


@settings(max_examples=80, deadline=None)
@given(st.data())
def test_bit_flip_never_imports_a_bad_entry_and_keeps_the_rest(data: st.DataObject) -> None:
    mesh, blob, _ = SMALL
    pos = data.draw(st.integers(0, len(blob) - 1))
    flipped = bytearray(blob)
    flipped[pos] ^= 1 << data.draw(st.integers(0, 7))
    flipped_bytes = bytes(flipped)
    good = {e.raw for e in mesh.entries}
    readable = [r for r in bundle_raws(flipped_bytes) if r in good]
    with tempfile.TemporaryDirectory() as d:
        store = new_store(Path(d), "t", pin=mesh.mesh_id)
        reference = new_store(Path(d), "ref", pin=mesh.mesh_id)
        reference.ingest(readable)
        try:
            report = courier.import_bundle(io.BytesIO(flipped_bytes), store)  # type: ignore[arg-type]
        except VerificationFailed:  # the flip made the header unreadable: refused whole
            assert store.count() == 0
            return
        finally:
            stored = {raw for raw, _ in store.iter_raw()}
            ref_digest = reference.digest()
            digest = store.digest()
            store.close()
            reference.close()
        assert stored <= good
        assert digest == ref_digest  # exactly what the undamaged frames allow
        assert not report.read.intact


def test_a_damaged_frame_is_reported_and_the_rest_imported(tmp_path: Path) -> None:
    mesh, blob, ends = SMALL
    raws = bundle_raws(blob)
    # damage the last entry of carol's feed (nothing depends on it)
    carol = mesh.key("carol")
    k = max(i for i, r in enumerate(raws) if decode(r).author == carol)
    start = ends[k] - framing.OVERHEAD - len(raws[k])
    damaged = bytearray(blob)
    damaged[start + framing.HEAD_BYTES + 3] ^= 0xFF
    store = new_store(tmp_path, "t", pin=mesh.mesh_id)
    report = courier.import_bundle(io.BytesIO(bytes(damaged)), store)  # type: ignore[arg-type]
    assert report.read.damaged_frames == 1 and report.read.damage[0].offset == start
    assert report.read.signature == bf.INVALID
    assert report.new_entries == len(raws) - 1 and report.rejected.total == 0
    inspected = courier.inspect_bundle(io.BytesIO(bytes(damaged)), store)  # type: ignore[arg-type]
    assert not inspected.ok and inspected.read.damaged_frames == 1


# --- trust and mesh checks ----------------------------------------------------------------


def test_bundle_of_another_mesh_is_refused_before_anything_is_written(
    tmp_path: Path, mesh: MeshFixture, alice_store: Store
) -> None:
    other = MeshFixture.create("zed", {"yan": ["operator"]}, name="elsewhere")
    other_store = new_store(tmp_path, "zed", other.entries)
    courier.export_bundle(other_store, other.person("zed"), tmp_path / "z.plb")
    digest, changes = alice_store.digest(), alice_store.db.total_changes
    with pytest.raises(WrongMesh, match="another mesh"):
        courier.import_bundle(tmp_path / "z.plb", alice_store)
    assert alice_store.digest() == digest and alice_store.db.total_changes == changes
    joining = new_store(tmp_path, "j", pin=mesh.mesh_id)
    with pytest.raises(WrongMesh, match="joining"):
        courier.import_bundle(tmp_path / "z.plb", joining)
    assert joining.count() == 0
    fresh = new_store(tmp_path, "fresh")
    with pytest.raises(NotInitialised) as info:
        courier.import_bundle(tmp_path / "z.plb", fresh)
    assert "mesh join" in (info.value.hint or "") and fresh.count() == 0


def test_non_member_signer_imports_only_entries_that_verify_on_their_own(
    tmp_path: Path, mesh: MeshFixture, alice_store: Store
) -> None:
    mallory = identity_from_seed("mallory")
    forged = Feed(mallory, 0, mesh.mesh_id).write("note", {"evil": True}, mesh.tick())
    tampered = bytearray(mesh.entries[-1].raw)
    tampered[-3] ^= 1
    header = bf.Header(mesh.mesh_id, mallory.public, 1, {}, None)
    path = tmp_path / "m.plb"
    with bf.BundleWriter(path, mallory, header) as w:
        for e in mesh.entries[:-1]:
            w.add_entry(e.raw)
        w.add_entry(bytes(tampered))
        w.add_entry(forged.raw)
        w.finish()
    target = new_store(tmp_path, "t", pin=mesh.mesh_id)
    report = courier.import_bundle(path, target)
    assert report.read.intact and report.signer_status == "not a member"
    assert report.new_entries == len(mesh.entries) - 1
    reasons = " | ".join(report.rejected.by_reason)
    assert "bad signature" in reasons and "unknown author" in reasons
    assert ids(target) == {e.id for e in mesh.entries[:-1]}


def test_pinned_newcomer_joins_offline_from_a_bundle(
    tmp_path: Path, mesh: MeshFixture, alice_store: Store
) -> None:
    courier.export_bundle(alice_store, mesh.person("alice"), tmp_path / "a.plb")
    newcomer = new_store(tmp_path, "new", pin=mesh.mesh_id)
    before = courier.inspect_bundle(tmp_path / "a.plb", newcomer)
    assert before.mesh_status == "the mesh this laptop is joining"
    assert before.new_entries == len(mesh.entries) and newcomer.count() == 0
    courier.import_bundle(tmp_path / "a.plb", newcomer)
    assert newcomer.mesh_id == mesh.mesh_id and newcomer.digest() == alice_store.digest()


def test_damaged_header_is_refused_for_import_but_inspect_still_reads(tmp_path: Path) -> None:
    mesh, blob, _ = SMALL
    damaged = bytearray(blob)
    damaged[len(bf.PREAMBLE) + framing.HEAD_BYTES + 2] ^= 0x40
    store = new_store(tmp_path, "t", pin=mesh.mesh_id)
    with pytest.raises(VerificationFailed, match="header"):
        courier.import_bundle(io.BytesIO(bytes(damaged)), store)  # type: ignore[arg-type]
    assert store.count() == 0
    report = courier.inspect_bundle(io.BytesIO(bytes(damaged)), store)  # type: ignore[arg-type]
    assert report.read.header is None and report.read.signature == bf.UNVERIFIABLE
    assert sum(a.entries for a in report.authors.values()) == len(mesh.entries)


# --- failures of the store ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("pragma", "words"),
    [("query_only=1", "read-only"), ("max_page_count={pages}", "disk is full")],
    ids=["read-only", "full-after-some-batches"],
)
def test_full_or_read_only_store_gives_a_clear_error_and_stays_unchanged(
    tmp_path: Path, mesh: MeshFixture, pragma: str, words: str
) -> None:
    big = make_mesh(300)
    source = new_store(tmp_path, "src", big.entries)
    courier.export_bundle(source, big.person("alice"), tmp_path / "b.plb")
    target = new_store(tmp_path, "t", big.entries[:4])
    pages = target.db.execute("PRAGMA page_count").fetchone()[0]
    digest, count = target.digest(), target.count()
    target.db.execute(f"PRAGMA {pragma.format(pages=pages + 6)}")
    calls = []
    real_ingest = target.ingest
    target.ingest = lambda items: calls.append(1) or real_ingest(items)  # type: ignore[method-assign]
    with pytest.raises(StoreError, match=words):
        courier.import_bundle(tmp_path / "b.plb", target, batch=20)
    target.db.execute("PRAGMA query_only=0")
    if "full" in words:
        assert len(calls) >= 2  # some batches went in before the disk filled up
    assert target.count() == count and target.digest() == digest
    assert fr.known(target) == []


# --- convergence ---------------------------------------------------------------------------


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, 5),
    st.integers(0, 5),
    st.sampled_from(["a-first", "b-first", "relay"]),
    st.booleans(),
)
def test_two_couriers_crossing_converge(
    a_writes: int, b_writes: int, order: str, since: bool
) -> None:
    mesh = make_mesh(3)
    with tempfile.TemporaryDirectory() as d:
        directory = Path(d)
        a = new_store(directory, "a", mesh.entries)
        b = new_store(directory, "b", mesh.entries)
        for i in range(a_writes):
            a.append(mesh.person("alice"), "note", {"a": i})
        for i in range(b_writes):
            b.append(mesh.person("bob"), "note", {"b": i})
        fa = fr.write_file(directory / "a.plf", a, mesh.person("alice")) if since else None
        fb = fr.write_file(directory / "b.plf", b, mesh.person("bob")) if since else None
        to_b, to_a = directory / "to_b.plb", directory / "to_a.plb"
        courier.export_bundle(a, mesh.person("alice"), to_b, since=fb)
        if order == "relay":  # B imports first, then cuts its bundle (it now carries A's too)
            courier.import_bundle(to_b, b)
            courier.export_bundle(b, mesh.person("bob"), to_a, since=fa)
            courier.import_bundle(to_a, a)
        else:
            courier.export_bundle(b, mesh.person("bob"), to_a, since=fa)
            first, second = [(to_b, b), (to_a, a)] if order == "a-first" else [(to_a, a), (to_b, b)]
            courier.import_bundle(*first)
            courier.import_bundle(*second)
        assert a.digest() == b.digest()
        assert ids(a) == ids(b)
        a.close()
        b.close()


def test_after_import_a_heads_exchange_finds_nothing_to_send(
    tmp_path: Path, mesh: MeshFixture, alice_store: Store
) -> None:
    """The precondition the mesh relies on to send nothing twice after a courier run."""
    behind = new_store(tmp_path, "behind", mesh.entries[:3])
    courier.export_bundle(alice_store, mesh.person("alice"), tmp_path / "a.plb")
    courier.import_bundle(tmp_path / "a.plb", behind)
    assert behind.heads() == alice_store.heads() and behind.digest() == alice_store.digest()
    for x, y in ((alice_store, behind), (behind, alice_store)):
        assert fr.plan(x.heads(), y.heads(), lambda a, s: None) == []


def test_fork_proofs_travel_first_in_their_own_frames(tmp_path: Path, mesh: MeshFixture) -> None:
    bob = mesh.person("bob")
    twin = Feed(bob, mesh.feeds["bob"].seq, mesh.feeds["bob"].prev)
    e1 = mesh.write("bob", "note", {"v": 1})
    e2 = twin.write("note", {"v": 2}, mesh.tick())
    store = new_store(tmp_path, "s", mesh.entries)
    store.ingest([e2.raw])
    assert store.fork_proofs()
    courier.export_bundle(store, mesh.person("alice"), tmp_path / "f.plb")
    with bf.BundleReader(tmp_path / "f.plb") as reader:
        items = list(reader.items())
    assert items[0].type == bf.T_FORK and bf.T_FORK not in [i.type for i in items[1:]]
    payload = msgpack.unpackb(items[0].payload, raw=False)
    assert sorted(payload) == sorted([e1.raw, e2.raw])
    fresh = new_store(tmp_path, "fresh", pin=mesh.mesh_id)
    report = courier.import_bundle(tmp_path / "f.plb", fresh)
    assert len(report.forks_added) == 1 and fresh.digest() == store.digest()


def test_a_large_foreign_file_is_refused_without_reading_it_all() -> None:
    class Counting(io.BytesIO):
        read_bytes = 0

        def read(self, n: int | None = -1) -> bytes:  # type: ignore[override]
            data = super().read(n)
            Counting.read_bytes += len(data)
            return data

    blob = Counting(b"\x00" * (8 * 1024 * 1024))
    with pytest.raises(BundleError, match="not a courier bundle"):
        bf.BundleReader(blob)  # type: ignore[arg-type]
    assert Counting.read_bytes < 1024


def test_export_onto_a_full_stick_leaves_nothing(
    tmp_path: Path, mesh: MeshFixture, alice_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    class Full(io.FileIO):
        """The temporary file really exists; the stick fills up after 1,000 bytes."""

        def write(self, data: bytes) -> int:  # type: ignore[override]
            if self.tell() + len(data) > 1000:
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write(data)

    monkeypatch.setattr(
        framing.AtomicFile, "_create", lambda self: io.BufferedWriter(Full(self.tmp, "w"), 64)
    )
    stick = tmp_path / "stick"
    stick.mkdir()
    with pytest.raises(BundleError, match="no space left"):
        courier.export_bundle(alice_store, mesh.person("alice"), stick / "b.plb")
    assert list(stick.iterdir()) == []


def test_store_transaction_spans_batches_all_or_nothing(tmp_path: Path, mesh: MeshFixture) -> None:
    """Store.transaction(): the hook the import uses so a failure leaves the store unchanged."""
    store = new_store(tmp_path, "s", pin=mesh.mesh_id)
    with pytest.raises(RuntimeError), store.transaction():
        assert store.ingest([e.raw for e in mesh.entries[:3]]).accepted
        assert store.ingest([e.raw for e in mesh.entries[3:]]).accepted
        raise RuntimeError("the disk went away")
    assert store.count() == 0 and store.mesh_id is None
    with store.transaction():
        store.ingest([e.raw for e in mesh.entries[:3]])
        store.ingest([e.raw for e in mesh.entries[3:]])
    assert store.count() == len(mesh.entries)
