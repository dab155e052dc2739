"""The ranked-choice tie search: exact, and quick on elections shaped like real small councils.

Found by review (issue 14): many options with one or two votes each, tied in every
round, made the exact search follow every order in which they can go: 2^m ways.
Sixteen such options took a minute, forty would never finish, and every command that
reads the votes (vote list, plan list, roster revoke, sync's pin check) hung with it.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.testing import MeshFixture
from ledger.votes import irv as vote_irv
from ledger.votes import tally as vote_tally
from ledger.votes import view as votes_view
from ledger.votes.testing import VoteBook
from tests.unit.irv_reference import possible_winners


def blocs_and_singletons(m: int) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """w 40, x 35 (then r, w), r 30 (then w), and m options with one vote each that rank
    nothing else: tied in every round until all are gone; then r goes and w wins."""
    options = ["w", "r", "x"] + [f"t{i}" for i in range(m)]
    ballots = [(40, ["w"]), (30, ["r", "w"]), (35, ["x", "r", "w"])]
    ballots += [(1, [f"t{i}"]) for i in range(m)]
    return options, ballots


@pytest.mark.timeout(60)  # a hang guard: it takes half a second
def test_forty_options_tied_in_every_round_that_cannot_matter_finish() -> None:
    """On the old search this followed every one of the 2^40 orders (16 took a minute)."""
    options, ballots = blocs_and_singletons(40)
    t = vote_tally.count("ranked-choice", options, ballots)
    assert (t.outcome, t.winner) == ("winner", "w")
    assert "no lot needed" in (t.rounds[0].tie_break or "")


@pytest.mark.timeout(15)  # a hang guard: it takes a tenth of a second
def test_a_small_council_with_many_options_is_counted() -> None:
    """A council of 21 voters and 36 options, most with one first preference, some passing
    it on to another such option: 14 options tied in every round, ~94,000 ways (20 s on
    the old search). Every way ends with o21."""
    rows = [
        (1, "o1"), (3, "o21"), (1, "o4 o23 o31"), (1, "o12"), (1, "o4 o14 o1 o0 o13"),
        (2, "o25"), (1, "o35 o10"), (1, "o6 o26 o9 o28 o23"), (1, "o10"), (1, "o26 o25 o13"),
        (1, "o29 o15 o26 o7 o13"), (1, "o4 o3 o5"), (1, "o2 o1 o29"), (1, "o28"),
        (1, "o4 o23 o7"), (1, "o27 o26 o10"), (1, "o19 o21"), (1, "o13 o29"), (1, "o8"),
        (1, "o25 o12"), (1, "o7 o21"),
    ]  # fmt: skip
    ballots = [(w, r.split()) for w, r in rows]
    t = vote_tally.count("ranked-choice", [f"o{i}" for i in range(36)], ballots)
    assert (t.outcome, t.winner) == ("winner", "o21")


# --- exact: the same answer as the guide read literally --------------------------------


@st.composite
def tie_heavy(draw: st.DrawFn) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """A few strong options and several with one vote, which often pass it on to another
    weak option or to a strong one: the shapes the search's shortcuts are for."""
    strong = draw(st.integers(1, 3))
    weak = draw(st.integers(2, 6))
    options = [f"s{i}" for i in range(strong)] + [f"w{i}" for i in range(weak)]
    ballots: list[tuple[int, list[str]]] = []
    for i in range(strong):
        w = draw(st.integers(1, 6))
        tail = draw(st.lists(st.sampled_from(options), max_size=2, unique=True))
        ballots.append((w, [f"s{i}", *[o for o in tail if o != f"s{i}"]]))
    for i in range(weak):
        tail = draw(st.lists(st.sampled_from(options), max_size=3, unique=True))
        ballots.append((draw(st.integers(1, 2)), [f"w{i}", *[o for o in tail if o != f"w{i}"]]))
    return options, ballots


@settings(max_examples=300, deadline=None)
@given(tie_heavy())
def test_tie_heavy_elections_agree_with_the_literal_reading(
    election: tuple[list[str], list[tuple[int, list[str]]]],
) -> None:
    options, ballots = election
    kind, winners = possible_winners(options, ballots)
    t = vote_tally.count("ranked-choice", options, ballots)
    if kind == "no votes":
        assert t.outcome == "no votes"
    elif len(winners) == 1:
        assert (t.outcome, t.winner) == ("winner", next(iter(winners))), (winners, t.rounds)
    else:
        assert t.outcome == "tie" and set(t.tied) <= winners and len(t.tied) == 2, winners


# --- a search too big to follow is that vote's state, never a hang ----------------------


def test_a_tie_search_too_big_is_that_votes_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past a fixed number of steps (a count, the same on every laptop) the count stops:
    the vote shows FAILED with the reason, other votes are counted, nothing raises."""
    monkeypatch.setattr(vote_irv, "MAX_STEPS", 0)  # any search at all is too big
    m = MeshFixture.create("alice", {n: ["operator", "teller"] for n in ("bob", "carol", "dave")})
    vb = VoteBook(m)
    names = ["alice", "bob", "carol", "dave"]
    hard = vb.open("alice", roll=names, tellers=["bob", "carol", "dave"], f=0,
                   method="ranked-choice", options=["a", "b", "c", "d", "e"])  # fmt: skip
    easy = vb.open("alice", roll=names, tellers=["bob", "carol", "dave"], f=0)
    for vote, choices in (
        (hard, [["a"], ["a"], ["b", "a"], ["c", "a"]]),  # b and c tie in every round
        (easy, [["a"], ["a"], ["b"], ["a"]]),
    ):
        ballots = [vb.cast(n, vote, c) for n, c in zip(names, choices, strict=True)]
        sheet = vb.close("alice", vote, ballots)
        for t in ("bob", "carol"):
            vb.seal(t, vote, sheet)
    votes = votes_view.fold(m.entries, m.roster())
    failed, fine = votes.votes[hard.id], votes.votes[easy.id]
    assert failed.state == "FAILED" and failed.result is None
    assert failed.failure is not None and "TooManyWays" in failed.failure
    assert "re-run" in failed.failure
    assert fine.state == "FINAL" and fine.result is not None and fine.result.winner.id == "a"  # type: ignore[union-attr]
