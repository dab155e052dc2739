"""Ranked choice against an independent reading of voting.md, and against pyrankvote.

``irv_reference`` follows the guide's text literally (every way through the
ties, no memo); ``pyrankvote`` is a well-known IRV library, compared on
elections where no round ever has a tie for fewest (where every IRV agrees).
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.votes import tally as vote_tally
from tests.unit.irv_reference import possible_winners

OPTIONS = [f"o{i}" for i in range(8)]


@st.composite
def elections(draw: st.DrawFn) -> tuple[list[str], list[tuple[int, list[str]]]]:
    n = draw(st.integers(2, 7))
    options = OPTIONS[:n]
    ballot = st.tuples(
        st.integers(1, 3),
        st.permutations(options).flatmap(lambda p: st.integers(1, n).map(lambda k: p[:k])),
    )
    ballots = draw(st.lists(ballot, min_size=0, max_size=10))
    return options, [(w, list(r)) for w, r in ballots]


def check_against_reference(options: list[str], ballots: list[tuple[int, list[str]]]) -> None:
    kind, winners = possible_winners(options, ballots)
    t = vote_tally.count("ranked-choice", options, ballots)
    if kind == "no votes":
        assert t.outcome == "no votes"
    elif len(winners) == 1:
        assert (t.outcome, t.winner) == ("winner", next(iter(winners))), (winners, t.rounds)
    else:
        # a tie: the count names two different options that can each win
        assert t.outcome == "tie" and len(t.tied) == 2, (winners, t)
        assert set(t.tied) <= winners, (winners, t.tied)


@settings(max_examples=600, deadline=None)
@given(elections())
def test_count_agrees_with_the_guide_read_literally(
    election: tuple[list[str], list[tuple[int, list[str]]]],
) -> None:
    check_against_reference(*election)


def test_a_thousand_random_elections_of_2_to_16_options() -> None:
    """The issue's measure: 73 of 1,000 such elections used to crash. None may now, and each
    agrees with the literal reading (kept to 9 options where the literal reading is slow)."""
    rng = random.Random(14)
    for _ in range(1000):
        n = rng.randint(2, 16)
        options = [f"o{i}" for i in range(n)]
        ballots = [
            (rng.randint(1, 2), rng.sample(options, rng.randint(1, n)))
            for _ in range(rng.randint(1, 12))
        ]
        t = vote_tally.count("ranked-choice", options, ballots)
        assert t.outcome in ("winner", "tie", "no votes")
        if n <= 9:
            check_against_reference(options, ballots)


def tie_free(options: list[str], ballots: list[tuple[int, list[str]]]) -> bool:
    """No round has two options sharing the fewest votes (nor an option with none)."""
    race = list(options)
    while True:
        counts = dict.fromkeys(race, 0)
        for w, ranking in ballots:
            top = next((o for o in ranking if o in counts), None)
            if top is not None:
                counts[top] += w
        total = sum(counts.values())
        if total == 0 or any(2 * c > total for c in counts.values()):
            return total > 0
        low = min(counts.values())
        if low == 0 or list(counts.values()).count(low) > 1:
            return False
        race.remove(next(o for o in race if counts[o] == low))


def test_cross_check_with_pyrankvote_on_tie_free_elections() -> None:
    pyrankvote = pytest.importorskip("pyrankvote")
    from pyrankvote import Ballot, Candidate

    rng = random.Random(2026)
    compared = 0
    while compared < 300:
        n = rng.randint(2, 9)
        options = [f"o{i}" for i in range(n)]
        ballots = [
            (rng.randint(1, 3), rng.sample(options, rng.randint(1, n)))
            for _ in range(rng.randint(3, 40))
        ]
        if not tie_free(options, ballots):
            continue
        people = {o: Candidate(o) for o in options}
        theirs = [
            Ballot(ranked_candidates=[people[o] for o in ranking])
            for w, ranking in ballots
            for _ in range(w)  # pyrankvote has no weights: one ballot per unit of weight
        ]
        result = pyrankvote.instant_runoff_voting(list(people.values()), theirs)
        ours = vote_tally.count("ranked-choice", options, ballots)
        assert ours.outcome == "winner"
        assert ours.winner == result.get_winners()[0].name
        compared += 1
