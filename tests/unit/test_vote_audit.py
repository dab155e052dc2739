"""Receipts ("is my ballot in the sealed set?") and verify's explanations, over a real store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger import merkle
from ledger.store import Store
from ledger.testing import MeshFixture
from ledger.votes import writer as votes
from ledger.votes.audit import receipt, verify
from ledger.votes.bodies import BALLOT
from tests.unit.votes_helpers import council


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[MeshFixture, Store, str]]:
    m, _ = council()
    store = Store.open(tmp_path, create=True)
    assert not store.ingest([e.raw for e in m.entries]).rejected
    spec = votes.VoteSpec(
        title="Tie or not",
        options=[{"id": "a", "label": "A"}, {"id": "b", "label": "B"}],
        method="plurality",
        tellers=[m.key(t) for t in ("bob", "carol", "dave")],
        roll_role="operator",
    )
    vid = votes.open_vote(store, m.person("alice"), spec).id.hex()
    yield m, store, vid
    store.close()


def test_receipt_through_the_life_of_a_vote(world) -> None:  # type: ignore[no-untyped-def]
    m, store, vid = world
    assert receipt(store, m.person("cody"), vid).status == "not on roll"
    assert receipt(store, m.person("bob"), vid).status == "no ballot"
    votes.cast(store, m.person("bob"), vid, ["a"])
    votes.cast(store, m.person("carol"), vid, ["b"])
    r = receipt(store, m.person("bob"), vid)
    assert r.status == "provisional" and "not sealed yet" in r.message
    votes.close(store, m.person("alice"), vid)
    late = votes.cast(store, m.person("dave"), vid, ["a"])
    votes.seal(store, m.person("bob"), vid, accept_late=True)
    votes.seal(store, m.person("carol"), vid, accept_late=True)
    r = receipt(store, m.person("bob"), vid)
    assert r.status == "in sealed set" and r.proof_ok and r.slot_status == "voted"
    assert r.in_set is not None and merkle.verify(r.in_set.id, r.proof or [], r.root or b"")
    r = receipt(store, m.person("dave"), vid)
    assert r.status == "late" and r.in_set is None
    assert late.entry.id in {b.id for b in r.ballots}


def test_receipt_after_a_late_revote_points_at_the_counted_ballot(world) -> None:  # type: ignore[no-untyped-def]
    m, store, vid = world
    first = votes.cast(store, m.person("bob"), vid, ["a"]).entry
    votes.close(store, m.person("alice"), vid)
    votes.cast(store, m.person("bob"), vid, ["b"])  # after the close: late
    votes.seal(store, m.person("carol"), vid, accept_late=True)
    votes.seal(store, m.person("dave"), vid, accept_late=True)
    r = receipt(store, m.person("bob"), vid)
    assert r.status == "in sealed set" and r.in_set is not None and r.in_set.id == first.id
    assert "1 later ballot(s)" in r.message


def test_void_slot_is_reported(world) -> None:  # type: ignore[no-untyped-def]
    m, store, vid = world
    votes.cast(store, m.person("bob"), vid, ["a"])
    store.append(m.person("bob"), BALLOT, {"vote": vid, "choice": ["b"], "replaces": []})
    r = receipt(store, m.person("bob"), vid)
    assert "VOID" in r.message


def test_verify_explains_each_ballot_and_a_final_tie(world) -> None:  # type: ignore[no-untyped-def]
    m, store, vid = world
    votes.cast(store, m.person("bob"), vid, ["a"])
    votes.cast(store, m.person("bob"), vid, ["b"])
    votes.cast(store, m.person("carol"), vid, ["a"])
    votes.close(store, m.person("alice"), vid)
    votes.cast(store, m.person("erin"), vid, ["a"])
    votes.seal(store, m.person("bob"), vid, accept_late=True)
    votes.seal(store, m.person("dave"), vid, accept_late=True)
    audit = verify(store, vid)
    assert audit.ok and audit.same_as_store and audit.sealed_root_ok
    assert audit.vote.result is not None and audit.vote.result.outcome == "tie"
    assert audit.vote.winning_option is None
    why = sorted(
        (row["name"], row["counted"], row["reason"].split(":")[0]) for row in audit.ballots
    )
    assert why == [
        ("bob", False, "replaced by a later ballot in the sealed set"),
        ("bob", True, "counted"),
        ("carol", True, "counted"),
        ("erin", False, "uncounted (late)"),
    ]
