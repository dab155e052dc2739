"""Real stores, the real CLI: a laptop that gets a sealed vote before a roster change that
matters never shows a FINAL result that later changes (found by review, issue 14)."""

from __future__ import annotations

from pathlib import Path

from ledger.store import Store
from ledger.testing import MeshFixture
from ledger.testing_votes import VoteBook
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
