"""`vote.share` entries in the votes view (seal, then share; issue #21, review 21c C3): a
share counts only on the sealed sheet, one per teller (the first valid serves), from any
mix of seals and share entries, whatever the arrival order; a share on another sheet is
ignored with a reason and never raises."""

from __future__ import annotations

import itertools

from ledger.entry import Entry
from ledger.testing import MeshFixture
from ledger.votes import view as votes_view
from ledger.votes.bodies import SEAL, SHARE
from ledger.votes.secret import decryption_share
from ledger.votes.secret_tally import context
from ledger.votes.state import FINAL, PROVISIONAL, SEALED, Votes
from ledger.votes.testing import VoteBook
from tests.unit.test_secret_votes_view import (
    _tally,
    honest,
    honest_share,
    index,
    open_secret,
    ready,
)


def fold(m: MeshFixture, entries: list[Entry] | None = None) -> Votes:
    return votes_view.fold(list(m.entries) if entries is None else entries, m.roster())


def sheet_body(charter: Entry, sheet: Entry) -> dict[str, str]:
    return {"vote": charter.id.hex(), "sheet": sheet.id.hex(), "root": sheet.body["root"]}


def share_entry(m: MeshFixture, charter: Entry, sheet: Entry, who: str, share: bytes) -> Entry:
    """A ``vote.share`` written with the library (no writer checks)."""
    return m.write(who, SHARE, {**sheet_body(charter, sheet), "share": share})


def closed(n_ballots: int = 4) -> tuple[MeshFixture, Entry, Entry]:
    """k = 2 of bob, carol, dave; a closed sheet of ``n_ballots`` ballots (o0: 2, o1: 1, ...)."""
    m, c = ready()
    charter = open_secret(m, c)
    choices = {"alice": [1, 0, 0], "bob": [1, 0, 0], "carol": [0, 1, 0], "erin": [0, 0, 1]}
    ballots = [honest(m, charter, v, s) for v, s in list(choices.items())[:n_ballots]]
    return m, charter, VoteBook(m).close("alice", charter, ballots)


def wrong_share(m: MeshFixture, charter: Entry, sheet: Entry, who: str) -> bytes:
    """A well-formed share of ``who`` made with a wrong secret: its proof fails."""
    c = next(iter(fold(m).ceremonies.values()))
    ctx = context(charter.id, fold(m).votes[charter.id].charter.fields)
    return decryption_share(ctx, _tally(m, charter, sheet), index(c, m, who), 5).to_bytes()


def ignored(votes: Votes, entry: Entry) -> list[str]:
    return [i.reason for i in votes.ignored if i.id == entry.id]


def test_a_share_on_an_unsealed_sheet_is_ignored_never_decrypted_and_never_raises() -> None:
    m, charter, sheet = closed()
    good = {t: honest_share(m, charter, sheet, t) for t in ("bob", "carol")}
    entries = [share_entry(m, charter, sheet, t, s) for t, s in good.items()]
    junk = share_entry(m, charter, sheet, "dave", b"\x44\x01\x00")  # garbage bytes too
    votes = fold(m)
    vote = votes.votes[charter.id]
    assert vote.state == PROVISIONAL and vote.failure is None
    assert vote.secret is None and vote.result is None  # k valid shares, never decrypted
    for e in [*entries, junk]:
        assert ignored(votes, e) == [
            "share not used: no sheet is sealed here (a decryption share counts only on the "
            "sheet with k seals)"
        ]
    # another sheet gets sealed: the shares on the first stay unused
    ballots = [e for e in m.entries if e.kind == "vote.ballot"]
    other = VoteBook(m).close("alice", charter, ballots[:3])
    for t in ("bob", "carol"):
        m.write(
            t, SEAL, {**sheet_body(charter, other), "share": honest_share(m, charter, other, t)}
        )
    votes = fold(m)
    vote = votes.votes[charter.id]
    assert vote.state == FINAL and vote.sealed_sheet == other.id
    assert vote.secret is not None and {s.kind for s in vote.secret.shares} == {"vote.seal"}
    assert "that sheet is not sealed here" in ignored(votes, entries[0])[0]


def test_a_share_from_a_non_teller_or_on_an_open_vote_is_ignored() -> None:
    m, charter, sheet = closed()
    e = share_entry(m, charter, sheet, "erin", honest_share(m, charter, sheet, "bob"))
    assert ignored(fold(m), e) == ["share not applied: not by a teller's seat key"]
    book = VoteBook(m)
    open_vote = book.open("alice", options=["a", "b"], roll={"alice": 1}, tellers=["bob"], k=1)
    close = book.close("alice", open_vote, [])
    e = m.write("bob", SHARE, {**sheet_body(open_vote, close), "share": b"\x44"})
    assert ignored(fold(m), e) == ["share not applied: this vote is not secret"]


def test_a_bad_share_entry_then_a_good_one_from_the_same_teller_finishes_the_vote() -> None:
    m, charter, sheet = closed()
    m.write("bob", SEAL, sheet_body(charter, sheet))  # 1 of 2: no share (held back)
    carol = honest_share(m, charter, sheet, "carol")
    m.write("carol", SEAL, {**sheet_body(charter, sheet), "share": carol})  # the k-th
    vote = fold(m).votes[charter.id]
    assert vote.state == SEALED and vote.stuck is None
    assert vote.secret is not None and [s.kind for s in vote.secret.shares] == ["vote.seal"]
    share_entry(m, charter, sheet, "bob", wrong_share(m, charter, sheet, "bob"))
    vote = fold(m).votes[charter.id]
    assert vote.state == SEALED and vote.stuck is None  # a bad share does not block
    assert vote.secret is not None and "bob" in (vote.secret.waiting or "")
    assert [s.valid for s in vote.secret.shares if s.kind == "vote.share"] == [False]
    share_entry(m, charter, sheet, "bob", honest_share(m, charter, sheet, "bob"))
    vote = fold(m).votes[charter.id]
    assert vote.state == FINAL and vote.result is not None
    assert vote.result.tally.counts == {"o0": 2, "o1": 1, "o2": 1}


def test_the_final_counts_do_not_depend_on_the_arrival_order_of_seals_and_shares() -> None:
    """Every order in which two seals (one without a share), a bad share entry and two good
    ones arrive: whenever a laptop shows FINAL, it shows the same counts, and with all of
    them every laptop is FINAL."""
    m, charter, sheet = closed()
    base = list(m.entries)
    arriving = [
        m.write("bob", SEAL, sheet_body(charter, sheet)),
        m.write(
            "carol",
            SEAL,
            {**sheet_body(charter, sheet), "share": honest_share(m, charter, sheet, "carol")},
        ),
        share_entry(m, charter, sheet, "dave", wrong_share(m, charter, sheet, "dave")),
        share_entry(m, charter, sheet, "dave", honest_share(m, charter, sheet, "dave")),
        share_entry(m, charter, sheet, "bob", honest_share(m, charter, sheet, "bob")),
    ]
    expected = {"o0": 2, "o1": 1, "o2": 1}
    finals = 0
    for order in itertools.permutations(arriving):
        held = list(base)
        for e in order:
            held.append(e)
            vote = fold(m, held).votes[charter.id]
            assert vote.failure is None
            if vote.state == FINAL:
                assert vote.result is not None and vote.result.tally.counts == expected
                finals += 1
        assert vote.state == FINAL
    assert finals > 120


def test_the_share_entries_a_sealed_vote_decrypts_with_are_kept_past_a_later_cut() -> None:
    """A store keeps what a sealed vote depends on even past a later roster cut: that
    includes its share entries on the sealed sheet (else a FINAL could turn SEALED)."""
    from ledger.votes.pins import depends_on

    m, charter, sheet = closed()
    m.write("bob", SEAL, sheet_body(charter, sheet))
    carol = honest_share(m, charter, sheet, "carol")
    m.write("carol", SEAL, {**sheet_body(charter, sheet), "share": carol})
    bob = share_entry(m, charter, sheet, "bob", honest_share(m, charter, sheet, "bob"))
    vote = fold(m).votes[charter.id]
    assert vote.state == FINAL and bob.id in depends_on(vote)
