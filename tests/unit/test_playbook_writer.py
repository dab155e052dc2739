"""Playbook writer: pre-checks against a real store, run lookup, catalogue, arrival orders."""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import InvalidInput, NotInitialised, NotInMesh, TrustError
from ledger.playbooks import view, writer
from ledger.playbooks.format import PlaybookInvalid
from ledger.roster.writer import add_member, create_mesh
from ledger.store import Store
from ledger.testing import MeshFixture, identity_from_seed
from tests.playbook_helpers import SMALL, Runner

ADVISORY = SMALL.replace("litres = 500}", "litres = 500, required = false}")


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "ledger.db", create=True)
    yield s
    s.close()


def test_start_needs_a_mesh_and_a_coordinator(store: Store) -> None:
    alice, bob = identity_from_seed("alice"), identity_from_seed("bob")
    with pytest.raises(NotInMesh, match="not in a mesh"):  # exit 3, like every command
        writer.start(store, alice, ADVISORY)
    create_mesh(store, alice, "relief")
    add_member(store, alice, bob.public, "bob", ["operator"])
    before = store.count()
    with pytest.raises(TrustError, match="coordinator"):
        writer.start(store, bob, ADVISORY)
    with pytest.raises(PlaybookInvalid):
        writer.start(store, alice, ADVISORY.replace('version = "1"', ""))
    with pytest.raises(InvalidInput, match="--site"):
        writer.start(store, alice, SMALL)
    assert store.count() == before
    written = writer.start(store, alice, ADVISORY, note="storm")
    assert (
        written.entry.kind == view.RUN and written.entry.body["hash"] == written.run.playbook.hash
    )
    assert written.run.note == "storm" and written.run.site is None
    # Only bob and alice are operators: the two-person steps can be staffed.
    assert written.warnings == []


def test_start_warns_when_the_roster_cannot_staff_a_step(store: Store) -> None:
    alice = identity_from_seed("alice")
    create_mesh(store, alice, "relief")
    written = writer.start(store, alice, ADVISORY)
    assert len(written.warnings) == 1
    assert "a, c" in written.warnings[0] and "2 different operators" in written.warnings[0]


def test_sign_through_the_store_and_find_by_prefix(store: Store) -> None:
    alice, bob = identity_from_seed("alice"), identity_from_seed("bob")
    create_mesh(store, alice, "relief")
    add_member(store, alice, bob.public, "bob", ["operator"])
    run = writer.start(store, alice, ADVISORY).run
    prefix = run.id.hex()[:5]
    first = writer.sign(store, bob, prefix, "a", note="open")
    assert first.run.steps["a"].signers[0].name == "bob"
    second = writer.sign(store, alice, prefix.upper(), "a")
    assert second.run.steps["a"].state == view.DONE
    assert second.entry.body["seen"] == [first.entry.id.hex()]
    with pytest.raises(InvalidInput, match="at least 4"):
        writer.sign(store, bob, "abc", "b")
    with pytest.raises(InvalidInput, match="no run"):
        writer.sign(store, bob, "0000", "b")


def test_ambiguous_prefix_is_refused() -> None:
    r = Runner()
    run = r.run()
    state = view.PlaybooksState(
        runs={b"\xab\xcd" + b"\x00" * 30: run, b"\xab\xcd" + b"\x01" * 30: run}
    )
    with pytest.raises(InvalidInput, match="several runs"):
        writer.find_run(state, "abcd")
    assert writer.find_run(state, "abcd00") is run


def test_catalogue_and_resolve(tmp_path: Path) -> None:
    (tmp_path / "good.toml").write_text(ADVISORY)
    (tmp_path / "bad.toml").write_text("id = ")
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe\x00")
    items = {i.path.name: i for i in writer.catalogue(tmp_path)}
    assert items["good.toml"].playbook is not None and items["good.toml"].to_json()["id"] == "small"
    assert items["bad.toml"].playbook is None and items["bad.toml"].problems[0].line == 1
    assert "UTF-8" in items["binary.toml"].problems[0].message
    assert writer.resolve_file("small", tmp_path) == tmp_path / "good.toml"
    assert writer.resolve_file("good", tmp_path) == tmp_path / "good.toml"
    assert writer.resolve_file(str(tmp_path / "good.toml"), tmp_path) == tmp_path / "good.toml"
    assert writer.resolve_file("nothing", tmp_path) is None
    assert writer.resolve_file("x/nothing.toml", tmp_path) is None
    assert writer.catalogue(tmp_path / "absent") == []
    with pytest.raises(InvalidInput, match="cannot read"):
        writer.load(tmp_path / "absent.toml")


def test_refusals_name_the_next_command() -> None:
    r = Runner()
    r.act("bob", "fail", "b", "genset 2 will not crank")
    with pytest.raises(writer.PlaybookRefused) as info:
        r.act("carol", "sign", "b")
    assert "resume RUN --step b" in str(info.value.hint)
    with pytest.raises(writer.PlaybookRefused, match="already marked failed"):
        r.act("carol", "fail", "b", "again")
    with pytest.raises(writer.PlaybookRefused, match="not failed"):
        r.act("alice", "resume", "retry", "a")
    r.act("alice", "abort", "stop")
    with pytest.raises(writer.PlaybookRefused, match="already aborted"):
        r.act("bob", "abort", "stop again")
    with pytest.raises(writer.PlaybookRefused, match="aborted"):
        r.act("alice", "skip", "a", "x")
    with pytest.raises(TrustError):
        r.act("olga", "abort", "observers cannot")


def _mesh_with_activity() -> MeshFixture:
    r = Runner()
    left = list(r.mesh.entries)
    r.act("bob", "sign", "a", visible=left)
    r.act("carol", "sign", "a")
    r.act("dave", "sign", "b", visible=left)
    r.act("dave", "abort", "check the smoke")
    r.act("alice", "resume", "steam, not smoke")
    return r.mesh


MESH = _mesh_with_activity()


def _status(store: Store) -> str:
    return json.dumps(writer.load_state(store).to_json(now_ms=0), sort_keys=True)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32), chunks=st.integers(1, 6))
def test_store_status_is_the_same_for_any_delivery(seed: int, chunks: int) -> None:
    raws = [e.raw for e in MESH.entries]
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as d:
        ref = Store(Path(d) / "ref.db", create=True)
        ref.ingest(raws)
        expected = _status(ref)
        ref.close()
        shuffled = list(raws)
        rng.shuffle(shuffled)
        s = Store(Path(d) / "x.db", create=True)
        size = max(1, len(shuffled) // chunks)
        for i in range(0, len(shuffled), size):
            s.ingest(shuffled[i : i + size])  # partial delivery, gaps refused then re-sent
        s.ingest(shuffled)
        assert s.count() == len(raws)
        assert _status(s) == expected
        s.close()


def test_load_state_without_a_mesh_is_empty(store: Store) -> None:
    assert writer.load_state(store).runs == {}
    with pytest.raises(NotInitialised):
        store.append(identity_from_seed("x"), "note", {})
