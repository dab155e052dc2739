"""Real stores, the real CLI: a laptop that gets a sealed vote before a roster change that
matters never shows a FINAL result that later changes (found by review, issue 14)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.store import Store
from ledger.testing import MeshFixture
from ledger.votes.testing import VoteBook
from tests.conftest import Invoke, json_out

TELLERS = ["t1", "t2", "t3", "t4"]


def test_a_laptop_without_a_voters_grant_waits_instead_of_showing_a_wrong_final(
    tmp_path: Path, invoke: Invoke
) -> None:
    m = MeshFixture.create("alice", {"zed": ["admin"], **{t: ["teller"] for t in TELLERS}})
    m.add("bob", ["operator"])
    m.add("carol", ["operator"])
    m.add("vic", ["observer"])
    m.grant("vic", "operator", by="zed")  # zed's feed: it may reach a laptop last
    vb = VoteBook(m)
    v = vb.open("alice", roll=["bob", "carol", "vic"], tellers=TELLERS, f=1)
    ballots = [vb.cast("bob", v, ["a"]), vb.cast("carol", v, ["b"]), vb.cast("vic", v, ["b"])]
    sheet = vb.close("alice", v, ballots)
    for t in TELLERS[:3]:
        vb.seal(t, v, sheet)
    laptop = tmp_path / "laptop"
    zed = m.key("zed")
    with Store.open(laptop, create=True) as store:
        report = store.ingest([e.raw for e in m.entries if e.author != zed])
        assert not report.rejected  # a sync that has not reached zed's feed yet
    vid = v.id.hex()[:12]
    early = json_out(invoke(laptop, "vote", "result", vid, "--json"))
    assert early["state"] == "SEALED" and early["result"] is None  # main said FINAL "tie"
    status = json_out(invoke(laptop, "vote", "status", vid, "--json"))
    assert status["unproven_ballots"] == [ballots[2].id.hex()]
    human = " ".join(invoke(laptop, "vote", "status", vid).output.split())
    assert "does not show a voter role for 1 listed ballot(s) yet" in human
    with Store.open(laptop) as store:
        store.ingest([e.raw for e in m.entries if e.author == zed])
    late = json_out(invoke(laptop, "vote", "result", vid, "--json"))
    assert late["state"] == "FINAL"
    assert late["result"]["winner"]["id"] == "b" and late["result"]["counts"] == {"a": 1, "b": 2}


def test_a_vote_whose_count_fails_still_keeps_the_ballots_it_sealed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store keeps a revoked voter's ballot that a sealed sheet lists. It decided that
    with a full count: a vote whose count failed (FAILED) lost that, and the laptop
    refused the ballot. Which entries a sealed vote needs never depends on its count."""
    from ledger.votes import irv as vote_irv

    monkeypatch.setattr(vote_irv, "MAX_STEPS", 0)  # this election's count fails here
    m = MeshFixture.create("alice", {t: ["operator", "teller"] for t in TELLERS})
    m.add("vic", ["operator"])
    m.write("vic", "note", {"text": "seen by alice"})
    vb = VoteBook(m)
    v = vb.open("alice", roll=[*TELLERS, "vic"], tellers=TELLERS, f=1,
                method="ranked-choice", options=["a", "b", "c"])  # fmt: skip
    ballots = [vb.cast("t1", v, ["a"]), vb.cast("t2", v, ["a"]), vb.cast("t3", v, ["c", "a"])]
    ballots.append(vb.cast("vic", v, ["b", "a"]))  # b and c tie in every round
    m.revoke("vic", at=1)  # alice had not seen vic's ballot
    sheet = vb.close("alice", v, ballots)
    for t in TELLERS[:3]:
        vb.seal(t, v, sheet)
    with Store.open(tmp_path / "laptop", create=True) as store:
        report = store.ingest([e.raw for e in m.entries])
        assert not report.rejected, [r.reason for r in report.rejected]
        assert store.get(ballots[3].id) is not None


def test_a_fresh_laptop_keeps_a_sealed_ballot_past_a_cut_on_its_first_import(
    tmp_path: Path,
) -> None:
    """Everything in one batch (a courier bundle to a new laptop): the revocation and the
    ballot it cuts, listed on a sealed sheet. What is kept past a cut was worked out with
    the roster from before the batch (empty), so the ballot was refused and the vote stayed
    SEALED until the same bundle was imported a second time."""
    m = MeshFixture.create("alice", {t: ["operator", "teller"] for t in TELLERS})
    m.add("vic", ["operator"])
    m.write("vic", "note", {"text": "seen by alice"})
    vb = VoteBook(m)
    v = vb.open("alice", roll=[*TELLERS, "vic"], tellers=TELLERS, f=1)
    ballots = [vb.cast("t1", v, ["a"]), vb.cast("vic", v, ["b"]), vb.cast("t2", v, ["b"])]
    m.revoke("vic", at=1)
    sheet = vb.close("alice", v, ballots)
    for t in TELLERS[:3]:
        vb.seal(t, v, sheet)
    with Store.open(tmp_path / "new", create=True) as store:
        assert not store.ingest([e.raw for e in m.entries]).rejected
        assert store.get(ballots[1].id) is not None


def test_a_teller_may_seal_the_sheet_a_seal_past_a_cut_will_complete(tmp_path: Path) -> None:
    """t1 sealed; an admin who had not seen it revoked t1 below the seal; t2 sealed the same
    sheet, t3 another. t4's seal makes 3 (t1's seal counts once the sheet is sealed), but
    `vote seal` refused: "can no longer reach 3 seals" (it left t1's seal out)."""
    from ledger.votes import writer as votes

    m = MeshFixture.create("alice", {t: ["operator", "teller"] for t in TELLERS})
    vb = VoteBook(m)
    v = vb.open("alice", roll=TELLERS, tellers=TELLERS, f=1)
    ballot = vb.cast("t1", v, ["a"])
    sheet = vb.close("alice", v, [ballot])
    other = vb.close("alice", v, [])
    vb.seal("t1", v, sheet)
    vb.seal("t2", v, sheet)
    vb.seal("t3", v, other)
    with Store.open(tmp_path / "t4", create=True) as store:
        assert not store.ingest([e.raw for e in m.entries]).rejected  # t1's seal is here
        revocation = m.revoke("t1", at=m.feeds["t1"].seq - 1)  # made without seeing it
        assert not store.ingest([revocation.raw]).rejected
        done = votes.seal(store, m.person("t4"), v.id.hex(), sheet_text=sheet.id.hex())
        assert done.state == "FINAL"
