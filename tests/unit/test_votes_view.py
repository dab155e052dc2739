"""Votes view: slots, double votes, states, seals, late ballots, quorum, roles, rotation."""

from __future__ import annotations

import pytest

from ledger.votes import as_json as vote_json
from ledger.votes import view as vv
from tests.unit.votes_helpers import TELLERS, VOTERS, council, fold, one


def sealed_vote(**kw):  # type: ignore[no-untyped-def]
    """A vote where bob, carol (a) and dave (b) voted, closed and sealed by bob+carol."""
    m, vb = council()
    v = vb.open("alice", roll=VOTERS, tellers=TELLERS, **kw)
    ballots = [vb.cast("bob", v, ["a"]), vb.cast("carol", v, ["a"]), vb.cast("dave", v, ["b"])]
    sheet = vb.close("alice", v, ballots)
    vb.seal("bob", v, sheet)
    vb.seal("carol", v, sheet)
    return m, vb, v, sheet, ballots


# --- one slot per voter ----------------------------------------------------------------


def test_revote_replaces_the_earlier_ballot() -> None:
    m, vb = council()
    v = vb.open("alice", roll=VOTERS, tellers=TELLERS)
    first = vb.cast("bob", v, ["a"])
    second = vb.cast("bob", v, ["b"])
    slot = one(m, v).slots[m.key("bob")]
    assert slot.status == "voted" and slot.ballot.id == second.id  # type: ignore[union-attr]
    assert [b.id for b in slot.replaced] == [first.id]
    assert one(m, v).provisional.counts == {"a": 0, "b": 1}  # type: ignore[union-attr]


def test_double_vote_voids_the_slot_provably_and_a_ballot_naming_both_restores_it() -> None:
    m, vb = council()
    v = vb.open("alice", roll=VOTERS, tellers=TELLERS)
    x = vb.cast("bob", v, ["a"])
    y = vb.cast("bob", v, ["b"], fresh=True)  # names nothing: a double vote
    vote = one(m, v)
    slot = vote.slots[m.key("bob")]
    assert slot.status == "void" and slot.ballot is None
    assert {b.id for b in slot.conflict} == {x.id, y.id}
    assert vote.provisional.counts == {"a": 0, "b": 0}  # type: ignore[union-attr]
    proof = vote_json.status(vote, fold(m), m.roster())["double_votes"][0]
    assert {b["sig"] for b in proof["ballots"]} == {x.sig.hex(), y.sig.hex()}
    z = vb.cast("bob", v, ["b"], replaces=[x, y])
    slot = one(m, v).slots[m.key("bob")]
    assert slot.status == "voted" and slot.ballot.id == z.id  # type: ignore[union-attr]


def test_naming_one_of_two_heads_leaves_the_slot_void() -> None:
    m, vb = council()
    v = vb.open("alice", roll=VOTERS, tellers=TELLERS)
    x = vb.cast("bob", v, ["a"])
    vb.cast("bob", v, ["b"], fresh=True)
    vb.cast("bob", v, ["a"], replaces=[x])
    assert one(m, v).slots[m.key("bob")].status == "void"


def test_replacement_is_transitive() -> None:
    m, vb = council()
    v = vb.open("alice", roll=VOTERS, tellers=TELLERS)
    a = vb.cast("bob", v, ["a"])
    b = vb.cast("bob", v, ["b"], replaces=[a])
    c = vb.cast("bob", v, ["a"], replaces=[b])  # names only b, which names a
    slot = one(m, v).slots[m.key("bob")]
    assert slot.ballot.id == c.id and len(slot.replaced) == 2  # type: ignore[union-attr]


def test_a_ballot_cannot_replace_someone_elses() -> None:
    m, vb = council()
    v = vb.open("alice", roll=VOTERS, tellers=TELLERS)
    carols = vb.cast("carol", v, ["a"])
    vb.cast("bob", v, ["b"], replaces=[carols])
    vote = one(m, v)
    assert vote.slots[m.key("carol")].status == "voted"
    assert vote.provisional.counts == {"a": 1, "b": 1}  # type: ignore[union-attr]


# --- who may do what ---------------------------------------------------------------


def test_roles_and_roll_are_enforced_by_the_view() -> None:
    m, vb = council()
    v = vb.open("alice", roll=["bob", "carol"], tellers=TELLERS)
    vb.cast("erin", v, ["a"])  # not on the roll
    m.write("olga", "vote.ballot", {"vote": v.id.hex(), "choice": ["a"], "replaces": []})
    bogus = vb.open("erin", roll=VOTERS, tellers=TELLERS)  # erin is no coordinator
    vb.cast("bob", bogus, ["a"])
    sheet = vb.close("erin", v, [])  # not a coordinator
    vb.seal("erin", v, sheet)  # not a teller
    vb.stop("alice", v, [])  # not a teller of this vote
    votes = fold(m)
    assert bogus.id not in votes.votes
    reasons = " | ".join(i.reason for i in votes.ignored)
    assert "not on this vote's roll" in reasons
    assert "needs role coordinator" in reasons
    assert "its charter is invalid" in reasons
    assert "needs role teller" in reasons
    vote = votes.votes[v.id]
    assert not vote.ballots and not vote.sheets and not vote.stops
    assert any(
        "observer" in i.reason or "needs role" in i.reason
        for i in votes.ignored
        if i.author == m.key("olga")
    )


def test_charter_with_k_not_above_half_is_refused_by_the_view() -> None:
    m, vb = council()
    bad = vb.open("alice", roll=VOTERS, tellers=["bob", "carol", "dave", "erin"], k=2)
    votes = fold(m)
    assert bad.id not in votes.votes
    assert any("more than half" in i.reason for i in votes.ignored)


def test_ballots_wait_for_their_charter() -> None:
    m, vb = council()
    v = vb.open("alice", roll=VOTERS, tellers=TELLERS)
    b = vb.cast("bob", v, ["a"])
    votes = fold(m, [e for e in m.entries if e.id != v.id])
    assert not votes.votes
    assert [w.id for w in votes.waiting] == [b.id] and "waiting for charter" in votes.waiting[
        0
    ].reason


def test_rotated_key_keeps_the_voter_slot_but_not_the_teller_seat() -> None:
    m, vb = council()
    v = vb.open("alice", roll=VOTERS, tellers=TELLERS)
    old = vb.cast("bob", v, ["a"])
    m.change(
        "alice",
        {
            "op": "rotate",
            "key": m.key("bob").hex(),
            "successor": m.key("bob2").hex(),
            "at": m.feeds["bob"].seq,
        },
    )
    vb.ballots[(v.id, "bob2")] = [old]  # bob's new laptop knows his earlier ballot
    new = vb.cast("bob2", v, ["b"])
    vote = one(m, v)
    slot = vote.slots[m.key("bob")]
    assert slot.ballot.id == new.id and slot.ballot.author == m.key("bob2")  # type: ignore[union-attr]
    sheet = vb.close("alice", v, [old, new])
    seat = vb.seal("bob2", v, sheet)  # the seat belonged to bob's old key: it stays empty
    vb.seal("carol", v, sheet)
    vote = one(m, v)
    assert vote.state == "PROVISIONAL"
    assert any(i.id == seat.id and "seat" in i.reason for i in fold(m).ignored)
    vb.seal("dave", v, sheet)  # k = 2 of 3 remaining tellers: carol and dave
    vote = one(m, v)
    assert vote.state == "FINAL" and vote.result.winner.id == "b"  # type: ignore[union-attr]


def test_teller_rotated_during_a_partition_cannot_make_two_results() -> None:
    """Side A: bob's old laptop seals S1. Side B: an admin rotates bob (laptop believed lost)
    and bob's new key seals S2. Neither the sides nor the merge may show two FINAL results."""
    from ledger.roster import view as rv

    m, vb = council()
    v = vb.open(
        "alice",
        roll=["alice", "bob", "carol", "dave", "erin", "frank"],
        tellers=["bob", "carol", "dave"],
    )
    base = list(m.entries)
    n0 = len(m.entries)
    s_a = vb.close("cody", v, [vb.cast("erin", v, ["a"])])
    vb.seal("bob", v, s_a)
    vb.seal("carol", v, s_a)
    side_a = base + m.entries[n0:]
    n1 = len(m.entries)
    m.write(
        "alice",
        "roster.change",
        {
            "op": "rotate",
            "key": m.key("bob").hex(),
            "successor": m.key("bob2").hex(),
            "at": 0,
            "after": [h.hex() for h in rv.fold(base).heads],
        },
    )
    s_b = vb.close("alice", v, [vb.cast("frank", v, ["b"])])
    vb.seal("bob2", v, s_b)
    vb.seal("dave", v, s_b)
    side_b = base + m.entries[n1:]
    finals = set()
    for entries in (side_a, side_b, m.entries):
        vote = vv.fold(entries, rv.fold(entries)).votes[v.id]
        if vote.state == "FINAL":
            finals.add(vote.sealed_sheet)
    assert len(finals) <= 1


def test_teller_rotation_cannot_buy_a_second_seal() -> None:
    m, vb = council()
    v = vb.open("alice", roll=VOTERS, tellers=TELLERS)
    s1 = vb.close("alice", v, [vb.cast("erin", v, ["a"])])
    s2 = vb.close("cody", v, [vb.cast("frank", v, ["b"])])
    vb.seal("bob", v, s1)
    m.change(
        "alice",
        {
            "op": "rotate",
            "key": m.key("bob").hex(),
            "successor": m.key("bob2").hex(),
            "at": m.feeds["bob"].seq,
        },
    )
    second = vb.seal("bob2", v, s2)  # the same member, another sheet, with the new key
    vb.seal("carol", v, s2)
    vote = one(m, v)
    assert vote.seals[m.key("bob")].sheet == s1.id  # the seat's only key sealed s1
    assert any(i.id == second.id and "seat" in i.reason for i in fold(m).ignored)
    assert vote.state == "PROVISIONAL"  # s2 has only carol


# --- states, sealing, late ballots -----------------------------------------------------


def test_no_winner_before_sealed() -> None:
    m, vb = council()
    v = vb.open("alice", roll=VOTERS, tellers=TELLERS)
    ballots = [vb.cast(n, v, ["a"]) for n in VOTERS]
    sheet = vb.close("alice", v, ballots)
    vb.seal("bob", v, sheet)  # 1 of 2
    vote = one(m, v)
    assert vote.state == "PROVISIONAL" and vote.result is None and vote.winning_option is None
    data = vote_json.status(vote, fold(m), m.roster())
    assert data["winner"] is None and data["result"] is None and data["outcome"] is None
    assert "winner" not in str(data["provisional_counts"])


def test_sealed_vote_is_final_with_winner_and_late_ballots_listed() -> None:
    m, vb, v, sheet, ballots = sealed_vote()
    late = vb.cast("erin", v, ["b"])
    revote = vb.cast("bob", v, ["b"])  # after the seal: late too
    vote = one(m, v)
    assert vote.state == "FINAL" and vote.sealed_sheet == sheet.id
    r = vote.result
    assert r is not None and r.winner.id == "a" and r.tally.counts == {"a": 2, "b": 1}  # type: ignore[union-attr]
    reasons = dict(r.uncounted)
    assert reasons[late.id].startswith("uncounted (late)")
    assert reasons[revote.id].startswith("uncounted (late)")
    assert {b.id for b in r.counted} == {b.id for b in ballots}
    # provisionally this laptop sees bob's revote, but the sealed set decides
    assert vote.slots[m.key("bob")].ballot.id == revote.id  # type: ignore[union-attr]


def test_sealed_but_incomplete_is_sealed_not_final() -> None:
    m, vb, v, sheet, ballots = sealed_vote()
    late = vb.cast("erin", v, ["b"])
    without_ballot = [e for e in m.entries if e.id != ballots[0].id]
    vote = one(m, v, without_ballot)
    assert vote.state == "SEALED" and vote.missing_ballots == [ballots[0].id]
    assert vote.late == [late.id]  # known to be late even before the result can be counted
    assert vote.result is None and vote.winning_option is None
    without_sheet = [e for e in m.entries if e.id != sheet.id]
    vote = one(m, v, without_sheet)
    assert vote.state == "SEALED" and vote.sealed_sheet == sheet.id and vote.result is None


def test_sheet_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    from ledger.votes import testing as testing_votes

    monkeypatch.setattr(testing_votes, "IDS_PER_PART", 2)
    m, vb = council()
    v = vb.open("alice", roll=VOTERS, tellers=TELLERS)
    ballots = [vb.cast(n, v, ["a" if i % 2 else "b"]) for i, n in enumerate(VOTERS)]
    sheet = vb.close("alice", v, ballots)
    assert len(sheet.body["parts"]) == 3 and "ballots" not in sheet.body
    vb.seal("bob", v, sheet)
    vb.seal("dave", v, sheet)
    assert one(m, v).state == "FINAL"
    part = bytes.fromhex(sheet.body["parts"][1])
    vote = one(m, v, [e for e in m.entries if e.id != part])
    assert vote.state == "SEALED" and vote.sheets[sheet.id].missing_parts == [part]


def test_long_roll_in_parts() -> None:
    m, vb = council()
    fillers = {bytes([i % 256, i // 256]) * 16: 1 for i in range(1500)}  # absent members
    v = vb.open("alice", roll=VOTERS, roll_members=fillers, tellers=TELLERS)
    assert len(v.body["roll_parts"]) == 3
    vb.cast("bob", v, ["a"])
    vote = one(m, v)
    assert len(vote.charter.roll) == 1506 and vote.turnout_weight == 1
    part = bytes.fromhex(v.body["roll_parts"][0])
    votes = fold(m, [e for e in m.entries if e.id != part])
    assert v.id not in votes.votes and any("roll part" in w.reason for w in votes.waiting)


def test_bad_sheet_root_cannot_be_sealed() -> None:
    m, vb = council()
    v = vb.open("alice", roll=VOTERS, tellers=TELLERS)
    b = vb.cast("bob", v, ["a"])
    body = {"vote": v.id.hex(), "count": 1, "root": "00" * 32, "ballots": [b.id.hex()]}
    sheet = m.write("alice", "vote.close", body)
    vb.seal("bob", v, sheet)
    vb.seal("carol", v, sheet)
    vote = one(m, v)
    assert vote.state == "PROVISIONAL" and vote.sheets[sheet.id].problem
    assert any("Merkle root" in i.reason for i in fold(m).ignored)


def test_seal_with_wrong_root_does_not_count() -> None:
    m, vb = council()
    v = vb.open("alice", roll=VOTERS, tellers=TELLERS)
    sheet = vb.close("alice", v, [vb.cast("bob", v, ["a"])])
    m.write("bob", "vote.seal", {"vote": v.id.hex(), "sheet": sheet.id.hex(), "root": "11" * 32})
    vb.seal("carol", v, sheet)
    vote = one(m, v)
    assert len(vote.sheets[sheet.id].sealers) == 1 and vote.state == "PROVISIONAL"


# --- teller equivocation -----------------------------------------------------------


def test_teller_equivocation_is_flagged_and_never_counts() -> None:
    m, vb = council()
    v = vb.open("alice", roll=VOTERS, tellers=TELLERS)
    s1 = vb.close("alice", v, [vb.cast("erin", v, ["a"])])
    s2 = vb.close("cody", v, [vb.cast("frank", v, ["b"])])
    first = vb.seal("carol", v, s1)
    second = vb.seal("carol", v, s2)  # equivocation
    vb.seal("bob", v, s2)
    vote = one(m, v)
    assert vote.state == "PROVISIONAL"  # s2 has bob only: carol's second seal never counts
    assert [s.member for s in vote.sheets[s2.id].sealers] == [m.key("bob")]
    eq = vote.equivocations[0]
    assert (
        eq.member == m.key("carol") and eq.counted.id == first.id and eq.others[0].id == second.id
    )
    vb.seal("dave", v, s1)
    vote = one(m, v)
    assert vote.state == "FINAL" and vote.sealed_sheet == s1.id


def test_a_later_equivocation_cannot_unseal() -> None:
    m, vb, v, sheet, _ = sealed_vote()
    other = vb.close("cody", v, [vb.cast("erin", v, ["b"])])
    vb.seal("carol", v, other)
    vb.seal("dave", v, other)
    vote = one(m, v)
    assert vote.state == "FINAL" and vote.sealed_sheet == sheet.id
    assert len(vote.sheets[other.id].sealers) == 1 and len(vote.equivocations) == 1


# --- quorum, regardless, weights, spoiled, refs ----------------------------------------


def test_quorum_not_met_has_no_winner() -> None:
    m, _vb, v, _, _ = sealed_vote(quorum_pct=60)  # 3 of 6 voted: 50%
    vote = one(m, v)
    r = vote.result
    assert vote.state == "FINAL" and r is not None
    assert not r.quorum_met and r.outcome == "no quorum" and r.winner is None
    assert vote.winning_option is None and r.tally.counts == {"a": 2, "b": 1}


def test_quorum_met_at_exactly_the_threshold() -> None:
    m, _vb, v, _, _ = sealed_vote(quorum_pct=50)
    r = one(m, v).result
    assert r is not None and r.quorum_met and r.outcome == "winner"


def test_decided_regardless() -> None:
    m, vb = council()
    v = vb.open("alice", roll=VOTERS, tellers=TELLERS)
    ballots = [vb.cast(n, v, ["a"]) for n in ("alice", "bob", "carol", "dave")]
    sheet = vb.close("alice", v, ballots)
    vb.seal("bob", v, sheet)
    vb.seal("carol", v, sheet)
    r = one(m, v).result
    assert r is not None and r.winner.id == "a"  # type: ignore[union-attr]
    assert r.tally.margin == 4 and r.missing_weight == 2 and r.decided_regardless  # type: ignore[union-attr]
    m2, _vb2, v2, _, _ = sealed_vote()  # margin 1, missing 3
    assert not one(m2, v2).result.decided_regardless  # type: ignore[union-attr]


def test_weighted_roll() -> None:
    m, vb = council()
    v = vb.open("alice", roll={"bob": 5, "carol": 1, "dave": 1}, tellers=TELLERS)
    ballots = [vb.cast("bob", v, ["b"]), vb.cast("carol", v, ["a"]), vb.cast("dave", v, ["a"])]
    sheet = vb.close("alice", v, ballots)
    vb.seal("carol", v, sheet)
    vb.seal("dave", v, sheet)
    r = one(m, v).result
    assert r is not None and r.tally.counts == {"a": 2, "b": 5} and r.winner.id == "b"  # type: ignore[union-attr]
    assert r.roll_weight == 7 and r.turnout_weight == 7 and r.decided_regardless


def test_spoiled_quadratic_ballot_counts_for_turnout_only() -> None:
    m, vb = council()
    v = vb.open("alice", roll=VOTERS, tellers=TELLERS, method="quadratic", credits=9)
    good = vb.cast("bob", v, {"a": 3})
    over = vb.cast("carol", v, {"a": 3, "b": 1})
    sheet = vb.close("alice", v, [good, over])
    vb.seal("bob", v, sheet)
    vb.seal("carol", v, sheet)
    vote = one(m, v)
    assert vote.slots[m.key("carol")].status == "spoiled"
    r = vote.result
    assert r is not None and r.tally.counts == {"a": 3, "b": 0} and r.turnout_weight == 2
    assert dict(r.uncounted)[over.id].startswith("spoiled: over budget")
    # 4 missing voters, 9 credits each: swing 4 per voter = 16 > margin 3
    assert not r.decided_regardless


def test_winning_option_exposes_its_ref() -> None:
    m, vb = council()
    v = vb.open(
        "alice",
        roll=VOTERS,
        tellers=TELLERS,
        method="ranked-choice",
        options=[("p1", "Plan one", "plan:aa11"), ("p2", "Plan two", "plan:bb22")],
    )
    ballots = [vb.cast(n, v, ["p2", "p1"]) for n in ("bob", "carol")]
    sheet = vb.close("alice", v, ballots)
    vb.seal("bob", v, sheet)
    vb.seal("dave", v, sheet)
    votes = fold(m)
    option = votes.votes[v.id].winning_option
    assert option is not None and (option.id, option.ref) == ("p2", "plan:bb22")
    assert [(x.id, o.ref) for x, o in votes.final_winners()] == [(v.id, "plan:bb22")]
    data = vote_json.result(votes.votes[v.id], m.roster())
    assert data is not None and data["winner"]["ref"] == "plan:bb22"


def test_blank_ballot_counts_for_quorum() -> None:
    m, vb = council()
    v = vb.open("alice", roll=["bob", "carol"], tellers=TELLERS, quorum_pct=100)
    ballots = [vb.cast("bob", v, ["a"]), vb.cast("carol", v, [])]
    sheet = vb.close("alice", v, ballots)
    vb.seal("bob", v, sheet)
    vb.seal("carol", v, sheet)
    r = one(m, v).result
    assert r is not None and r.quorum_met and r.winner.id == "a"  # type: ignore[union-attr]
    assert one(m, v).slots[m.key("carol")].status == "blank"


def test_void_slot_in_the_sealed_set_is_missing_weight() -> None:
    m, vb = council()
    v = vb.open("alice", roll=["bob", "carol", "dave"], tellers=TELLERS, quorum_pct=100)
    ballots = [
        vb.cast("bob", v, ["a"]),
        vb.cast("bob", v, ["b"], fresh=True),
        vb.cast("carol", v, ["a"]),
        vb.cast("dave", v, ["a"]),
    ]
    sheet = vb.close("alice", v, ballots)
    vb.seal("bob", v, sheet)
    vb.seal("carol", v, sheet)
    r = one(m, v).result
    assert r is not None and r.slots[m.key("bob")].status == "void"
    assert r.turnout_weight == 2 and not r.quorum_met and r.outcome == "no quorum"
    assert sum(1 for _, why in r.uncounted if why.startswith("void")) == 2


def test_a_roster_change_can_cancel_a_seal_but_never_move_it() -> None:
    """erin is named a teller but holds no teller role yet: her seal on s1 is spent. Once
    granted the role she can still count for s1, never for s2."""
    m, vb = council()
    v = vb.open("alice", roll=VOTERS, tellers=["bob", "carol", "erin"])
    s1 = vb.close("alice", v, [vb.cast("frank", v, ["a"])])
    s2 = vb.close("cody", v, [vb.cast("dave", v, ["b"])])
    early = vb.seal("erin", v, s1)
    vote = one(m, v)
    assert vote.seals[m.key("erin")].id == early.id and not vote.sheets[s1.id].sealers
    assert any("seal not counted: needs role teller" in i.reason for i in fold(m).ignored)
    m.grant("erin", "teller")
    vb.seal("erin", v, s2)  # another sheet: equivocation, never counts
    vb.seal("bob", v, s2)
    assert one(m, v).state == "PROVISIONAL"
    vb.seal("erin", v, s1)  # the same sheet, now with the role: counts
    vb.seal("carol", v, s1)
    vote = one(m, v)
    assert vote.state == "FINAL" and vote.sealed_sheet == s1.id
    assert {s.member for s in vote.sheets[s1.id].sealers} == {m.key("erin"), m.key("carol")}
    assert len(vote.equivocations) == 1
