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


@pytest.mark.parametrize("forge", [False, True], ids=["intact", "forged-signature"])
def test_verify_beside_its_signature_checks_says_what_checking_first_says(
    world, monkeypatch: pytest.MonkeyPatch, forge: bool
) -> None:  # type: ignore[no-untyped-def]
    """verify folds while forked children check the signatures; its report is the same as
    checking every signature before use, also when one is forged (then it reads again)."""
    from ledger import forked
    from ledger.entry import entry_id

    if not forked.possible():
        pytest.skip("needs fork and two cores")
    monkeypatch.setattr(forked, "cores", forked.possible)  # also under pytest-xdist's threads
    m, store, vid = world
    for who, choice in (("bob", "a"), ("carol", "b"), ("dave", "a")):
        votes.cast(store, m.person(who), vid, [choice])
    votes.close(store, m.person("alice"), vid)
    for teller in ("bob", "carol"):
        votes.seal(store, m.person(teller), vid)
    if forge:  # one bit of a ballot's signature, and the id fixed to match
        ballot = store.entries(kinds=[BALLOT])[0]
        forged = ballot.raw[:-1] + bytes([ballot.raw[-1] ^ 1])
        with store._write() as db:
            db.execute(
                "UPDATE entries SET raw=?, id=? WHERE id=?", (forged, entry_id(forged), ballot.id)
            )
    forks = []
    real = forked.Pool.__init__

    def counted(self, work, n):  # type: ignore[no-untyped-def]
        forks.append(n)
        real(self, work, n)

    monkeypatch.setattr(forked.Pool, "__init__", counted)
    ticks: list[int] = []
    from ledger.votes import audit

    at_fallback: list[int] = []
    real_read = audit.read_signed

    def read(store, progress, *, speculative=True):  # type: ignore[no-untyped-def]
        if not speculative:  # the pass again: the bar must not be full yet (review 36b L3)
            at_fallback.append(sum(ticks))
        return real_read(store, progress, speculative=speculative)

    monkeypatch.setattr(audit, "read_signed", read)
    beside = verify(store, vid, progress=ticks.append).to_json()
    assert at_fallback == ([store.count()] if forge else [])
    assert forks, "the signatures were not checked by children"
    assert sum(ticks) == 2 * store.count()  # each row: read, then its signature known
    monkeypatch.setattr(forked, "cores", lambda: 0)
    ticks.clear()
    first = verify(store, vid, progress=ticks.append).to_json()
    assert beside == first and sum(ticks) == 2 * store.count()
    reasons = " ".join(b["reason"] for b in beside["bad_entries"])
    assert ("bad signature" in reasons) is forge


def _worker_dies(raws: list[bytes]) -> bool:
    import os
    import signal

    os.kill(os.getpid(), signal.SIGKILL)
    return True


def test_verify_whose_signature_workers_die_says_what_checking_first_says(
    world, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Review 36 H2: a worker killed during the read made verify exit 1 (BrokenProcessPool)."""
    from ledger import forked
    from ledger.votes import signed

    if not forked.possible():
        pytest.skip("needs fork and two cores")
    m, store, vid = world
    for who, choice in (("bob", "a"), ("carol", "b")):
        votes.cast(store, m.person(who), vid, [choice])
    monkeypatch.setattr(forked, "cores", lambda: 0)
    first = verify(store, vid).to_json()
    monkeypatch.setattr(forked, "cores", forked.possible)
    monkeypatch.setattr(signed, "_signed_raws", _worker_dies)
    assert verify(store, vid).to_json() == first
