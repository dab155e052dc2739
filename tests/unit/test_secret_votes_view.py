"""Secret votes in the votes view, over real signed entries: the key ceremony's fold, and
soundness (a ballot encrypting 2, a proof made for another vote, a bad decryption share:
each rejected, shown and counted as such, never a crash, never in the counts)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from ledger.entry import Entry
from ledger.errors import InvalidInput
from ledger.testing import MeshFixture
from ledger.votes import secret_audit, secret_writer
from ledger.votes import view as votes_view
from ledger.votes.bodies import BALLOT, CEREMONY, CHECKED, COMPLAIN, DEAL, JUSTIFY, SEAL
from ledger.votes.ceremonies import Ceremony
from ledger.votes.secret import (
    Ballot,
    BallotSpec,
    Complaint,
    Dealing,
    KeySet,
    VoteContext,
    complaint_for,
    deal,
    decryption_share,
    encrypt,
    group,
    justify,
    proofs,
)
from ledger.votes.secret_tally import context
from ledger.votes.state import FINAL, SEALED, Votes
from tests.unit.votes_helpers import council

TELLERS = ["bob", "carol", "dave"]


def fold(m: MeshFixture) -> Votes:
    return votes_view.fold(list(m.entries), m.roster())


def start(m: MeshFixture) -> Entry:
    roster = m.roster()
    members = [roster.member_of(m.key(t)) or m.key(t) for t in TELLERS]
    return m.write("alice", CEREMONY, secret_writer.start_body(roster, members, 2, 0))


def index(c: Ceremony, m: MeshFixture, name: str) -> int:
    i = c.index_of_key(m.key(name))
    assert i is not None
    return i


def write_dealing(m: MeshFixture, cer: Entry, who: str, dealing: Dealing) -> Entry:
    return m.write(who, DEAL, {"ceremony": cer.id.hex(), "dealing": dealing.to_bytes()})


def check_all(m: MeshFixture, cer: Entry, tellers: list[str] = TELLERS) -> Ceremony:
    """Each teller signs that the shares sealed for it are good (those that are)."""
    for t in tellers:
        c = fold(m).ceremonies[cer.id]
        good = secret_writer.checkable(c, index(c, m, t), m.person(t))
        if good:
            m.write(t, CHECKED, {"ceremony": cer.id.hex(), "dealings": [i.hex() for i in good]})
    return fold(m).ceremonies[cer.id]


def deal_all(m: MeshFixture, cer: Entry) -> Ceremony:
    c = fold(m).ceremonies[cer.id]
    for t in TELLERS:
        write_dealing(m, cer, t, deal(c.params, index(c, m, t), m.person(t).signing_key))
    return check_all(m, cer)


def open_secret(
    m: MeshFixture,
    c: Ceremony,
    options: int = 3,
    method: str = "plurality",
    weights: dict[str, int] | None = None,
) -> Entry:
    roster = m.roster()
    voters = weights or dict.fromkeys(["alice", "bob", "carol", "dave", "erin"], 1)
    rows = sorted(((roster.member_of(m.key(v)) or m.key(v)).hex(), w) for v, w in voters.items())
    body: dict[str, Any] = {
        "title": "Who chairs?",
        "text": "",
        "options": [{"id": f"o{i}", "label": f"O{i}"} for i in range(options)],
        "method": method,
        "roll": dict(rows),
        "roll_size": len(rows),
        "roll_weight": sum(w for _, w in rows),
        "roll_source": "test",
        "tellers": [t.hex() for t in c.tellers],
        "teller_keys": {t.hex(): k.hex() for t, k in c.teller_keys.items()},
        "k": c.k,
        "f": c.f,
        "quorum_pct": 0,
        "window_minutes": None,
        "secret": secret_writer.secret_body(c),
    }
    return m.write("alice", "vote.charter", body)


def cast(m: MeshFixture, charter: Entry, who: str, sealed: bytes) -> Entry:
    body = {"vote": charter.id.hex(), "sealed": sealed, "replaces": []}
    return m.write(who, BALLOT, body)


def honest(m: MeshFixture, charter: Entry, who: str, selection: list[int]) -> Entry:
    f = fold(m).votes[charter.id].charter.fields
    ctx = context(charter.id, f)
    return cast(m, charter, who, encrypt(ctx, m.key(who), selection).to_bytes())


def seal(m: MeshFixture, charter: Entry, sheet: Entry, who: str, share: bytes) -> Entry:
    body = {
        "vote": charter.id.hex(),
        "sheet": sheet.id.hex(),
        "root": sheet.body["root"],
        "share": share,
    }
    return m.write(who, SEAL, body)


def honest_share(m: MeshFixture, charter: Entry, sheet: Entry, who: str) -> bytes:
    votes = fold(m)
    vote = votes.votes[charter.id]
    member = m.roster().member_of(m.key(who)) or m.key(who)
    return secret_writer.share_for(votes, vote, vote.sheets[sheet.id], member, m.person(who))


def ready() -> tuple[MeshFixture, Ceremony]:
    m, _ = council()
    return m, deal_all(m, start(m))


# --- the ceremony ------------------------------------------------------------------


def test_a_ceremony_completes_and_names_who_it_waits_for() -> None:
    m, _ = council()
    cer = start(m)
    c = fold(m).ceremonies[cer.id]
    assert sorted(c.awaited()) == [1, 2, 3] and not c.complete
    write_dealing(m, cer, "bob", deal(c.params, index(c, m, "bob"), m.person("bob").signing_key))
    c = fold(m).ceremonies[cer.id]
    text = secret_writer.awaited(c, m.roster())
    assert "carol" in text and "dave" in text and "bob" not in text
    c = deal_all(m, cer)  # carol and dave deal (bob deals again: a second, different dealing)
    text = secret_writer.awaited(c, m.roster())
    assert c.complete and "bob" in text and "published two different dealings" in text
    assert c.state is not None and index(c, m, "bob") not in c.state.qualified


def test_a_complaint_waits_for_its_answer_and_a_true_answer_completes_it() -> None:
    m, _ = council()
    cer = start(m)
    c = deal_all(m, cer)
    bob, carol = index(c, m, "bob"), index(c, m, "carol")
    false_claim = Complaint(carol, bob, 1)  # carol says her box from bob does not open
    m.write("carol", COMPLAIN, {"ceremony": cer.id.hex(), "complaint": false_claim.to_bytes()})
    c = fold(m).ceremonies[cer.id]
    assert not c.complete and c.awaited() == [bob]
    assert "has not answered the complaint of carol" in secret_writer.awaited(c, m.roster())
    mine = next(d for d in c.dealings if d.dealer == bob)
    answer = justify(c.params, bob, false_claim, m.person("bob").signing_key, mine)
    m.write("bob", JUSTIFY, {"ceremony": cer.id.hex(), "justification": answer.to_bytes()})
    c = fold(m).ceremonies[cer.id]
    assert c.complete and c.state is not None and c.state.qualified == (1, 2, 3)


def test_a_wrong_share_answered_in_clear_disqualifies_its_dealer() -> None:
    import nacl.bindings as sodium

    from ledger.votes.secret.ceremony import box_public, box_secret

    m, _ = council()
    cer = start(m)
    c = fold(m).ceremonies[cer.id]
    bob, carol = index(c, m, "bob"), index(c, m, "carol")
    good = deal(c.params, bob, m.person("bob").signing_key)
    boxes = list(good.boxes)
    nonce = os.urandom(24)
    sealed = sodium.crypto_box(
        group.scalar_bytes(12345), nonce, box_public(m.key("carol")),
        box_secret(m.person("bob").signing_key),
    )  # fmt: skip
    boxes[carol - 1] = (carol, nonce, sealed)
    write_dealing(m, cer, "bob", Dealing(good.dealer, good.commitments, good.proof, tuple(boxes)))
    for t in ("carol", "dave"):
        write_dealing(m, cer, t, deal(c.params, index(c, m, t), m.person(t).signing_key))
    c = fold(m).ceremonies[cer.id]
    made = complaint_for(c.params, next(d for d in c.dealings if d.dealer == bob), carol,
                         m.person("carol").signing_key)  # fmt: skip
    assert made is not None and made.reason == 2
    m.write("carol", COMPLAIN, {"ceremony": cer.id.hex(), "complaint": made.to_bytes()})
    mine = next(d for d in fold(m).ceremonies[cer.id].dealings if d.dealer == bob)
    answer = justify(c.params, bob, made, m.person("bob").signing_key, mine)
    m.write("bob", JUSTIFY, {"ceremony": cer.id.hex(), "justification": answer.to_bytes()})
    c = check_all(m, cer)
    assert c.complete and c.state is not None and bob not in c.state.qualified
    assert "wrong share" in secret_writer.awaited(c, m.roster())


def test_a_dealer_whose_key_was_copied_is_out_on_every_laptop_that_knows_it() -> None:
    """Two laptops holding two copies of dave's key may hold two different dealings from
    him (each copy's chain): where a fork proof of his key is known, he deals for no new
    vote, nobody waits for him (his dealing, his check), and the others complete."""
    from ledger.roster import view as roster_view

    m, _ = council()
    cer = start(m)
    deal_all(m, cer)
    dave = m.key("dave")
    forked = roster_view.fold(m.entries, forks={dave: 1})  # a proof at dave's first seq
    votes = votes_view.fold(list(m.entries), forked)
    c = votes.ceremonies[cer.id]
    d = index(c, m, "dave")
    assert c.state is not None and d not in c.state.qualified
    assert "its key was copied" in c.state.disqualified[d]
    assert c.complete and c.awaited() == []
    assert "its key was copied" in secret_writer.awaited(c, forked)


@pytest.mark.parametrize(
    "kind,body",
    [
        (DEAL, {"dealing": b"\x64\x01garbage"}),
        (DEAL, {"dealing": "not bytes"}),
        (COMPLAIN, {"complaint": b"\x63\x01\x01\x02\x09"}),  # unknown reason
        (JUSTIFY, {"justification": b""}),
    ],
)
def test_bad_ceremony_bodies_are_ignored_never_raised(kind: str, body: dict[str, Any]) -> None:
    m, _ = council()
    cer = start(m)
    m.write("bob", kind, {"ceremony": cer.id.hex(), **body})
    votes = fold(m)
    assert votes.ceremonies[cer.id].dealings == []
    assert any(i.kind == kind for i in votes.ignored)


def test_an_entry_in_another_tellers_name_is_ignored() -> None:
    m, _ = council()
    cer = start(m)
    c = fold(m).ceremonies[cer.id]
    bob = index(c, m, "bob")
    other = next(i for i in (1, 2, 3) if i != bob)
    fake = Complaint(other, bob, 1)
    m.write("bob", COMPLAIN, {"ceremony": cer.id.hex(), "complaint": fake.to_bytes()})
    assert fold(m).ceremonies[cer.id].complaints == []


def test_a_charter_with_a_key_its_ceremony_did_not_make_is_invalid() -> None:
    m, c = ready()
    assert c.state is not None and c.state.keys is not None
    body = secret_writer.secret_body(c)
    keys = c.state.keys
    wrong = KeySet(keys.threshold, group.base(12345), keys.public_shares).to_bytes()
    charter = open_secret(m, c)
    m.entries.remove(charter)
    forged = dict(charter.body, secret={**body, "keys": wrong})
    bad = m.write("alice", "vote.charter", forged)
    votes = fold(m)
    assert bad.id not in votes.votes
    assert any("joint key is not the one" in i.reason for i in votes.ignored)


# --- soundness ---------------------------------------------------------------------


def two_encrypted(ctx: VoteContext, voter: bytes) -> bytes:
    """A 3-option plurality ballot whose first option encrypts 2, with made-up proofs."""
    honest_ballot = encrypt(ctx, voter, [1, 0, 0])
    r = group.random_scalar(os.urandom)
    ct = (group.base(r), group.add(group.small(2), group.mul_secret(r, ctx.joint_key)))
    parts = (ctx.digest, voter, group.u32(0))
    forged = proofs.prove_choice("option", parts, ctx.joint_key, ct, r, (0, 1), 1)
    cts = (ct, honest_ballot.ciphertexts[1])
    ops = ((forged[0], forged[1]), honest_ballot.option_proofs[1])
    return Ballot(cts, ops, honest_ballot.sum_proof).to_bytes()  # type: ignore[arg-type]


def test_forged_ballots_and_a_bad_share_are_rejected_shown_and_not_counted() -> None:
    m, c = ready()
    charter = open_secret(m, c)
    ctx = context(charter.id, fold(m).votes[charter.id].charter.fields)
    other = VoteContext(os.urandom(32), ctx.joint_key, BallotSpec.plurality(3))
    good = [
        honest(m, charter, "alice", [1, 0, 0]),
        honest(m, charter, "bob", [0, 1, 0]),
        honest(m, charter, "carol", [1, 0, 0]),
    ]
    two = cast(m, charter, "dave", two_encrypted(ctx, m.key("dave")))
    elsewhere = cast(m, charter, "erin", encrypt(other, m.key("erin"), [0, 0, 1]).to_bytes())
    vote = fold(m).votes[charter.id]
    assert vote.ballots[two.id].spoiled and vote.ballots[elsewhere.id].spoiled
    assert vote.provisional is None
    from ledger.votes.testing import VoteBook

    sheet = VoteBook(m).close("alice", charter, [*good, two, elsewhere])
    bob = index(c, m, "bob")
    # carol's seal carries a share made with a wrong secret: shown invalid, never used
    tally = _tally(m, charter, sheet)
    wrong = decryption_share(ctx, tally, index(c, m, "carol"), 7).to_bytes()
    seal(m, charter, sheet, "carol", wrong)
    seal(m, charter, sheet, "bob", honest_share(m, charter, sheet, "bob"))
    vote = fold(m).votes[charter.id]
    assert vote.state == SEALED and vote.secret is not None and vote.secret.counts is None
    assert "sealed; decrypting: 1 of 2 shares" in (vote.secret.waiting or "")
    # a fold that skips counting (store pins, roster warnings) says the same: not FINAL
    quick = votes_view.fold(list(m.entries), m.roster(), count=False).votes[charter.id]
    assert quick.state == SEALED
    bad = [s for s in vote.secret.shares if not s.valid]
    assert [s.teller for s in bad] == [index(c, m, "carol")] and bob in [
        s.teller for s in vote.secret.shares if s.valid
    ]
    seal(m, charter, sheet, "dave", honest_share(m, charter, sheet, "dave"))
    vote = fold(m).votes[charter.id]
    assert vote.state == FINAL and vote.result is not None
    assert vote.result.tally.counts == {"o0": 2, "o1": 1, "o2": 0}
    reasons = dict(vote.result.uncounted)
    assert reasons[two.id].startswith("spoiled: encrypted ballot")
    assert reasons[elsewhere.id].startswith("spoiled: encrypted ballot")
    check = secret_audit.check(vote)
    assert check is not None
    assert check["ballots_rejected"] == 2 and check["ballots_verified"] == 3
    assert check["valid_shares"] == 2 and check["counts_check"] is True


def test_an_unencrypted_ballot_is_spoiled_alike_in_result_and_verify() -> None:
    """A plain blank ballot in a secret vote (written by another tool) is spoiled: `vote
    result` and `vote verify` agree on it (verify used to say 0 rejected)."""
    from ledger.votes.testing import VoteBook

    m, c = ready()
    charter = open_secret(m, c)
    good = honest(m, charter, "alice", [1, 0, 0])
    blank = m.write("erin", BALLOT, {"vote": charter.id.hex(), "choice": [], "replaces": []})
    sheet = VoteBook(m).close("alice", charter, [good, blank])
    for t in ("bob", "dave"):
        seal(m, charter, sheet, t, honest_share(m, charter, sheet, t))
    vote = fold(m).votes[charter.id]
    assert vote.state == FINAL and vote.result is not None
    spoiled = [why for _, why in vote.result.uncounted if why.startswith("spoiled")]
    check = secret_audit.check(vote)
    assert check is not None and len(spoiled) == 1
    assert check["ballots_rejected"] == 1 and check["ballots_verified"] == 1


def _tally(m: MeshFixture, charter: Entry, sheet: Entry) -> Any:
    from ledger.votes.result import sealed_slots
    from ledger.votes.secret_tally import encrypted_tally

    vote = fold(m).votes[charter.id]
    s = vote.sheets[sheet.id]
    assert s.ballots is not None
    ctx = context(charter.id, vote.charter.fields)
    return encrypted_tally(ctx, sealed_slots(vote, set(s.ballots)), vote.encrypted)[0]


def test_a_weighted_secret_approval_vote_counts_weights() -> None:
    m, c = ready()
    charter = open_secret(m, c, method="approval", weights={"alice": 3, "bob": 1, "carol": 2})
    ballots = [
        honest(m, charter, "alice", [1, 1, 0]),
        honest(m, charter, "bob", [0, 1, 0]),
        honest(m, charter, "carol", [0, 0, 0]),  # approves nobody: turnout only
    ]
    from ledger.votes.testing import VoteBook

    sheet = VoteBook(m).close("alice", charter, ballots)
    for t in ("bob", "dave"):
        seal(m, charter, sheet, t, honest_share(m, charter, sheet, t))
    vote = fold(m).votes[charter.id]
    assert vote.state == FINAL and vote.result is not None
    assert vote.result.tally.counts == {"o0": 3, "o1": 4, "o2": 0}
    assert vote.result.turnout_weight == 6 and vote.result.winner is not None
    check = secret_audit.check(vote)
    assert check is not None and check["counts_check"] is True


def test_a_secret_plurality_ballot_does_not_count_in_another_open_vote() -> None:
    """The same ballot bytes, copied into a second secret vote on the same key: spoiled."""
    m, c = ready()
    first, second = open_secret(m, c), open_secret(m, c)
    ballot = honest(m, first, "bob", [0, 1, 0])
    copy = cast(m, second, "bob", ballot.body["sealed"])
    votes = fold(m)
    assert votes.votes[first.id].ballots[ballot.id].spoiled is None
    assert (votes.votes[second.id].ballots[copy.id].spoiled or "").startswith("encrypted ballot")


def test_a_ceremony_whose_fold_fails_is_a_state_not_a_crash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ledger.votes import ceremonies

    m, c = ready()

    def broken(*args: Any) -> Any:
        raise ValueError("boom")

    monkeypatch.setattr(ceremonies, "fold_ceremony", broken)
    votes = fold(m)
    c = votes.ceremonies[c.id]
    assert not c.complete and "cannot be folded" in secret_writer.awaited(c, m.roster())


def test_a_second_dealing_after_the_vote_opened_never_unmakes_its_key() -> None:
    """A qualified dealer deals again after the vote opened (its new dealing's entry id
    sorting first): the charter keeps the key its dealings made, a teller who seals later
    still derives its share, and the FINAL result stays (it used to vanish with the vote)."""
    for _ in range(64):  # carol's first dealing must leave room below it (ids are hashes):
        m, c = ready()  # its id in the upper half, so each new dealing sorts first 1 in 2
        if c.dealt[index(c, m, "carol")][0] >= 0x80:
            break
    else:
        pytest.fail("no first dealing with an id in the upper half")
    charter = open_secret(m, c)
    ballots = [
        honest(m, charter, "alice", [1, 0, 0]),
        honest(m, charter, "bob", [0, 1, 0]),
        honest(m, charter, "carol", [1, 0, 0]),
    ]
    from ledger.votes.testing import VoteBook

    sheet = VoteBook(m).close("alice", charter, ballots)
    seal(m, charter, sheet, "bob", honest_share(m, charter, sheet, "bob"))
    carol = index(c, m, "carol")
    first, cer = c.dealt[carol], next(e for e in m.entries if e.id == c.id)
    for _ in range(64):  # entry ids are hashes: at least one try in two sorts first
        again = deal(c.params, carol, m.person("carol").signing_key)
        if write_dealing(m, cer, "carol", again).id < first:
            break
    else:
        pytest.fail("no second dealing sorted before the first")
    votes = fold(m)
    assert "two different dealings" in votes.ceremonies[c.id].state.disqualified[carol]
    assert charter.id in votes.votes
    seal(m, charter, sheet, "dave", honest_share(m, charter, sheet, "dave"))
    vote = fold(m).votes[charter.id]
    assert vote.state == FINAL and vote.result is not None
    assert vote.result.tally.counts == {"o0": 2, "o1": 1, "o2": 0}


def test_entries_of_a_charter_waiting_for_dealings_say_so_not_roll_parts() -> None:
    """A laptop holding a secret charter but not all its dealings: the vote's entries wait
    for those dealings (the hint `vote status` gives), not for roll parts it holds."""
    m, c = ready()
    charter = open_secret(m, c)
    ballot = honest(m, charter, "bob", [0, 1, 0])
    dealing = next(e for e in m.entries if e.id == c.dealt[index(c, m, "dave")])
    m.entries.remove(dealing)
    votes = fold(m)
    assert charter.id not in votes.votes
    why = {w.id: w.reason for w in votes.waiting}
    assert why[ballot.id] == "waiting for the key ceremony's dealings"


def test_a_dealer_who_seals_a_bad_share_for_an_unchecked_teller_cannot_complete_it() -> None:
    """Bob seals a damaged share for carol, who has not looked yet, and would never answer
    her complaint. The ceremony is not COMPLETE until every teller signed that its shares
    are good, so no vote can open on a key carol could not decrypt with (it used to be
    COMPLETE as soon as everyone dealt, and such a vote stayed SEALED)."""
    from ledger.votes.secret import ProofRejected

    m, _ = council()
    cer = start(m)
    c = fold(m).ceremonies[cer.id]
    for t in TELLERS:
        raw = bytearray(deal(c.params, index(c, m, t), m.person(t).signing_key).to_bytes())
        if t == "bob":  # the last byte of carol's box (boxes follow in teller order)
            raw[4 + 33 * c.k + 64 + 1 + 73 * index(c, m, "carol") - 1] ^= 1
        write_dealing(m, cer, t, Dealing.from_bytes(bytes(raw)))
    c = fold(m).ceremonies[cer.id]
    assert c.state is not None and c.state.complete and not c.complete
    assert c.awaited() == [1, 2, 3]  # nobody has checked yet
    c = check_all(m, cer)
    assert not c.complete and c.awaited() == [index(c, m, "carol")]
    text = secret_writer.awaited(c, m.roster())
    assert "waiting for carol" in text and "to check the shares" in text
    with pytest.raises(InvalidInput, match="not complete"):
        secret_writer.secret_field(fold(m), m.roster(), cer.id.hex(), "plurality")
    # A charter written anyway (as on a ledger from before this rule): carol's seal cannot
    # carry a share, and the error says what to run.
    charter = open_secret(m, c)
    from ledger.votes.testing import VoteBook

    sheet = VoteBook(m).close("alice", charter, [honest(m, charter, "alice", [1, 0, 0])])
    with pytest.raises(ProofRejected) as err:
        honest_share(m, charter, sheet, "carol")
    assert "does not open" in str(err.value)
    assert err.value.hint is not None and "vote ceremony deal" in err.value.hint


def test_a_secret_vote_keeps_its_ceremony_entry_past_a_cut() -> None:
    """Review 21c N9c: with the coordinator who started the ceremony revoked below that
    entry, laptops that had not received it never showed the vote, even FINAL. The
    ceremony entry is kept past the cut with the dealings its keys come from."""
    from ledger.votes.pins import dealings_of

    m, _ = council()
    cer = start(m)
    c = deal_all(m, cer)
    charter = open_secret(m, c)
    votes = fold(m)
    needed = dealings_of(votes.votes[charter.id], votes)
    assert cer.id in needed
    assert set(c.dealing_ids) & needed  # and the qualified dealings


def test_a_copied_tellers_bogus_twin_seal_never_voids_its_valid_share() -> None:
    """Review 21c C1: a thief with a copy of carol's key signed a second seal at the same
    seq, on the same sheet, with a broken share and an id that sorts first. Once the fork
    proof arrived, the FINAL vote fell back to SEALED: only the twin's (bad) share was
    used. Every share of a copied teller's seals on the sheet now serves, once."""
    from ledger.roster import view as rv
    from ledger.testing import Feed
    from ledger.votes.testing import VoteBook

    m, c = ready()
    charter = open_secret(m, c)
    ctx = context(charter.id, fold(m).votes[charter.id].charter.fields)
    ballots = [
        honest(m, charter, "alice", [1, 0, 0]),
        honest(m, charter, "bob", [0, 1, 0]),
        honest(m, charter, "carol", [1, 0, 0]),
    ]
    sheet = VoteBook(m).close("alice", charter, ballots)
    before = (m.feeds["carol"].seq, m.feeds["carol"].prev or m.mesh_id)
    good = seal(m, charter, sheet, "carol", honest_share(m, charter, sheet, "carol"))
    wrong = decryption_share(ctx, _tally(m, charter, sheet), index(c, m, "carol"), 7).to_bytes()
    body = {"vote": charter.id.hex(), "sheet": sheet.id.hex(), "root": sheet.body["root"]}
    bad = good
    while bad.id >= good.id:  # the thief grinds its entry id until it sorts first
        bad = Feed(m.people["carol"], *before).write(SEAL, {**body, "share": wrong}, m.tick())
    seal(m, charter, sheet, "bob", honest_share(m, charter, sheet, "bob"))
    roster = rv.fold(m.entries, {m.key("carol"): good.seq})
    vote = votes_view.fold(list(m.entries), roster, proofs=[good, bad]).votes[charter.id]
    assert vote.state == FINAL and vote.result is not None, vote.secret
    assert vote.result.tally.counts == {"o0": 2, "o1": 1, "o2": 0}
