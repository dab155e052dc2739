"""A secret vote whose sealed sheet can no longer get k valid decryption shares is Stuck
(review 21, F5). A teller without a valid share on the sealed sheet can still add one
(seal, then share: a ``vote.share`` entry, also after a bad share), so the vote is stuck
only once too few such tellers' seats can still write."""

from __future__ import annotations

import pytest

from ledger.errors import InvalidInput
from ledger.roster import view as roster_view
from ledger.testing import MeshFixture
from ledger.votes import as_json as vote_json
from ledger.votes import secret_writer
from ledger.votes import view as votes_view
from ledger.votes.secret import deal, decryption_share
from ledger.votes.secret_tally import context
from ledger.votes.state import SEALED, Vote
from ledger.votes.testing import VoteBook
from tests.unit.test_secret_votes_view import (
    _tally,
    fold,
    honest,
    honest_share,
    index,
    open_secret,
    ready,
    seal,
    start,
    write_dealing,
)


def sealed_with_one_bad_share() -> tuple[MeshFixture, bytes, bytes, bytes]:
    """k = 2 of bob, carol, dave: bob seals honestly, carol's share is made with a wrong
    secret. Returns the mesh, the vote id, the sheet id, and dave's would-be bad share."""
    m, c = ready()
    charter = open_secret(m, c)
    ballots = [honest(m, charter, v, [1, 0, 0]) for v in ("alice", "bob")]
    sheet = VoteBook(m).close("alice", charter, ballots)
    ctx = context(charter.id, fold(m).votes[charter.id].charter.fields)
    tally = _tally(m, charter, sheet)
    seal(m, charter, sheet, "bob", honest_share(m, charter, sheet, "bob"))
    wrong = decryption_share(ctx, tally, index(c, m, "carol"), 7).to_bytes()
    seal(m, charter, sheet, "carol", wrong)
    dave_wrong = decryption_share(ctx, tally, index(c, m, "dave"), 11).to_bytes()
    return m, charter.id, sheet.id, dave_wrong


def status(m: MeshFixture, vote_id: bytes) -> tuple[Vote, dict]:
    votes = votes_view.fold(list(m.entries), m.roster())
    vote = votes.votes[vote_id]
    return vote, vote_json.status(vote, votes, m.roster())


def test_a_secret_vote_waits_while_an_unsealed_teller_can_still_add_its_share() -> None:
    m, vote_id, _, _ = sealed_with_one_bad_share()
    vote, data = status(m, vote_id)
    assert vote.state == SEALED and vote.stuck is None and not data["stuck"]
    assert vote.secret is not None
    waiting = vote.secret.waiting or ""
    assert waiting.startswith("sealed; decrypting: 1 of 2 shares; waiting for ")
    assert waiting.endswith(f" to run `plurictl vote seal {vote_id.hex()[:8]}`")
    names = waiting.split("waiting for ")[1].split(" to run")[0]
    assert sorted(names.split(", ")) == ["carol", "dave"]  # carol's share is bad: she may redo


def test_bad_shares_from_every_teller_make_a_secret_vote_stuck_naming_them() -> None:
    m, vote_id, sheet_id, dave_wrong = sealed_with_one_bad_share()
    charter = next(e for e in m.entries if e.id == vote_id)
    sheet = next(e for e in m.entries if e.id == sheet_id)
    seal(m, charter, sheet, "dave", dave_wrong)
    vote, data = status(m, vote_id)
    assert vote.stuck is None  # carol and dave may each still write a good share
    for name in ("carol", "dave"):
        m.revoke(name)
    vote, data = status(m, vote_id)
    assert vote.state == SEALED and vote.secret is not None and vote.secret.counts is None
    assert data["stuck"] is True
    detail = data["stuck_detail"]
    assert sorted(detail["invalid_shares"]) == ["carol", "dave"] and detail["can_still_seal"] == []
    assert "carol (teller" in detail["advice"] and "dave (teller" in detail["advice"]
    assert "Open a new vote" in detail["advice"]
    assert "too few tellers can still add a share (none can)" in (vote.secret.waiting or "")


def test_a_revoked_last_teller_makes_a_secret_vote_with_a_bad_share_stuck() -> None:
    m, vote_id, _, _ = sealed_with_one_bad_share()
    m.revoke("dave")
    vote, data = status(m, vote_id)
    assert data["stuck"] is False and "waiting for carol to run" in (vote.secret.waiting or "")
    m.revoke("carol")  # the last teller who could replace her bad share
    vote, data = status(m, vote_id)
    assert data["stuck"] is True
    detail = data["stuck_detail"]
    assert detail["invalid_shares"] == ["carol"]
    assert {"name": "dave", "why": "seat key revoked"} in detail["cannot_seal"]
    assert vote.secret is not None and "(none can)" in (vote.secret.waiting or "")


def test_a_ceremony_with_too_few_dealers_left_to_qualify_says_it_cannot_complete() -> None:
    """Review 21b N7: k = 2 of bob, carol, dave; bob and carol each publish a second, valid
    dealing (both disqualified): one dealer is left, so the ceremony never completes, and
    status and `vote open` say so instead of "run deal again"."""
    m, _ = ready()
    cer = start(m)
    for _ in range(2):
        c = fold(m).ceremonies[cer.id]
        for t in ("bob", "carol"):
            write_dealing(m, cer, t, deal(c.params, index(c, m, t), m.person(t).signing_key))
    c = fold(m).ceremonies[cer.id]
    assert not c.complete
    text = secret_writer.awaited(c, m.roster())
    assert "only 1 dealer(s) can still qualify, 2 needed: this ceremony cannot complete" in text
    with pytest.raises(InvalidInput) as e:
        secret_writer.secret_field(fold(m), m.roster(), cer.id.hex(), "plurality")
    assert "cannot complete" in str(e.value) and "ceremony start" in (e.value.hint or "")


def test_a_complete_ceremony_with_a_copied_teller_key_says_it_opens_no_vote() -> None:
    """Review 21b N10: dave's key was copied (a fork proof): the ceremony completes without
    him, but no vote can open on it (his seat key can no longer write): status and
    `vote open` say so, and advise a new ceremony, instead of "roster grant NAME teller"."""
    m, c = ready()
    forked = roster_view.fold(m.entries, forks={m.key("dave"): 1})
    c = votes_view.fold(list(m.entries), forked).ceremonies[c.id]
    assert c.complete
    d = index(c, m, "dave")
    text = secret_writer.awaited(c, forked)
    assert f"(seat key equivocated: dave, teller {d}), so it can no longer open a vote" in text
    with pytest.raises(InvalidInput) as e:
        secret_writer.secret_field(
            votes_view.fold(list(m.entries), forked), forked, c.id.hex(), "plurality"
        )
    assert "can no longer open a vote; start a new ceremony" in str(e.value)
