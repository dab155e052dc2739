"""Votes, "decided regardless": no way the missing voters could vote changes the winner.

A FINAL result is "decided regardless" when the winner's lead is more than the
voters with no ballot on the sealed list could overturn (field_guides/voting.md).
The exact boundary matters: a lead *equal* to what the missing weight can move
is not decided, because the missing voters could force a tie.

The reference here is brute force, independent of ``ledger.votes.tally``:
every way the missing voters could have voted (each a valid ballot, or none) is
tallied with a naive count (ranked choice: ``tests/unit/irv_reference``), and the
winner compared. Everything goes through the public fold and the JSON that
``plurictl vote result --json`` prints.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.votes import as_json as vote_json
from tests.unit.irv_reference import possible_winners
from tests.unit.votes_helpers import TELLERS, VOTERS, council, one

PLURALITY, APPROVAL, RANKED, QUADRATIC = "plurality", "approval", "ranked-choice", "quadratic"


def final(
    method: str,
    choices: dict[str, Any],
    *,
    roll: dict[str, int] | None = None,
    options: Sequence[str] = ("a", "b"),
    credits: int | None = None,
) -> dict[str, Any]:
    """A sealed, FINAL vote over ``VOTERS`` where ``choices`` voted (the rest did not)."""
    m, vb = council()
    v = vb.open(
        "alice",
        roll=roll or VOTERS,
        tellers=TELLERS,
        method=method,
        options=tuple(options),
        credits=credits,
        f=0,
    )
    ballots = [vb.cast(name, v, choice) for name, choice in choices.items()]
    sheet = vb.close("alice", v, ballots)
    vb.seal("bob", v, sheet)
    vb.seal("carol", v, sheet)
    vote = one(m, v)
    assert vote.state == "FINAL" and vote.result is not None
    data = vote_json.result(vote, m.roster())
    assert data is not None and data["decided_regardless"] is vote.result.decided_regardless
    return data


# --- the independent reference: every completion, naively tallied ----------------------


def valid_choices(method: str, options: Sequence[str], credits: int | None) -> list[Any]:
    """Every valid ballot of ``method`` (the empty one, blank, included)."""
    if method == PLURALITY:
        return [[]] + [[o] for o in options]
    subsets = [list(c) for r in range(len(options) + 1) for c in itertools.combinations(options, r)]
    if method == APPROVAL:
        return subsets
    if method == RANKED:
        return [list(p) for s in subsets for p in itertools.permutations(s)]
    top = math.isqrt(credits or 0)
    return [
        {o: n for o, n in zip(options, votes, strict=True) if n}
        for votes in itertools.product(range(-top, top + 1), repeat=len(options))
        if sum(n * n for n in votes) <= (credits or 0)
    ]


def naive_winner(
    method: str, options: Sequence[str], ballots: Iterable[tuple[int, Any]]
) -> str | None:
    """The single winner, or None (tie, no votes)."""
    ballots = list(ballots)
    if method == RANKED:
        kind, winners = possible_winners(options, ballots)
        return next(iter(winners)) if kind == "count" and len(winners) == 1 else None
    counts = dict.fromkeys(options, 0)
    chose = False
    for weight, choice in ballots:
        items = choice.items() if method == QUADRATIC else ((o, 1) for o in choice)
        for o, n in items:
            counts[o] += weight * n
            chose = True
    top = max(counts.values())
    leaders = [o for o, c in counts.items() if c == top]
    return leaders[0] if chose and len(leaders) == 1 else None


def winner_can_change(
    method: str,
    options: Sequence[str],
    credits: int | None,
    cast: list[tuple[int, Any]],
    missing: list[int],
) -> bool:
    """Could the missing voters (their weights), voting any valid way, change the winner?"""
    before = naive_winner(method, options, cast)
    menu = valid_choices(method, options, credits)
    for completion in itertools.product(menu, repeat=len(missing)):
        extra = list(zip(missing, completion, strict=True))
        if naive_winner(method, options, cast + extra) != before:
            return True
    return False


# --- the boundary, method by method -----------------------------------------------------

# Six voters of weight 1 unless a roll says otherwise; (choices, roll, credits, expected).
# Each "False" case is a lead exactly equal to what the missing voters can move: with
# ">=" instead of ">" it would wrongly read as decided.
BOUNDARY = {
    "plurality-equal": (
        PLURALITY,
        {"alice": ["a"], "bob": ["a"], "carol": ["a"], "dave": ["b"]},  # lead 2, 2 missing
        None,
        None,
        False,
    ),
    "plurality-over": (
        PLURALITY,
        {"alice": ["a"], "bob": ["a"], "carol": ["a"], "dave": ["b"], "erin": []},  # 2 > 1
        None,
        None,
        True,
    ),
    "approval-equal": (
        APPROVAL,
        {"alice": ["a", "b"], "bob": ["a"], "carol": ["a"], "dave": ["b"], "erin": ["a", "b"]},
        None,
        None,
        False,  # a 4, b 3: lead 1, frank missing
    ),
    "approval-over": (
        APPROVAL,
        {"alice": ["a", "b"], "bob": ["a"], "carol": ["a"], "dave": [], "erin": ["a", "b"]},
        None,
        None,
        True,  # a 4, b 2: lead 2, frank missing
    ),
    "ranked-half": (
        RANKED,
        {n: ["a", "b"] for n in ("alice", "bob", "carol")} | {"dave": ["b"], "erin": ["b", "a"]},
        None,
        None,
        False,  # a has 3 of the roll's 6 first choices: exactly half
    ),
    "ranked-over-half": (
        RANKED,
        {n: ["a", "b"] for n in ("alice", "bob", "carol")} | {"dave": ["b"], "erin": ["b", "a"]},
        {"alice": 2, "bob": 1, "carol": 1, "dave": 1, "erin": 1, "frank": 1},
        None,
        True,  # a has 4 of 7
    ),
    "quadratic-equal": (
        QUADRATIC,
        {"alice": {"a": 3}, "bob": {"a": 2}, "carol": {"b": 1}, "dave": {}, "erin": {}},
        None,
        9,
        False,  # lead 4; frank can move 4 (+2 for b, -2 for a: 8 credits)
    ),
    "quadratic-over": (
        QUADRATIC,
        {"alice": {"a": 3}, "bob": {"a": 2}, "carol": {}, "dave": {}, "erin": {}},
        None,
        9,
        True,  # lead 5
    ),
}


@pytest.mark.parametrize("case", BOUNDARY.values(), ids=BOUNDARY.keys())
def test_decided_regardless_at_the_boundary(case: tuple[Any, ...]) -> None:
    method, choices, roll, credits, expected = case
    data = final(method, choices, roll=roll, credits=credits)
    assert data["outcome"] == "winner" and data["winner"]["id"] == "a"
    assert data["decided_regardless"] is expected
    weights = roll or dict.fromkeys(VOTERS, 1)
    cast = [(weights[n], c) for n, c in choices.items() if c]
    missing = [w for n, w in weights.items() if n not in choices]
    assert data["missing_weight"] == sum(missing)
    # The independent reference agrees: an undecided boundary case has a completion
    # that ties (or flips) the vote, a decided one has none.
    assert winner_can_change(method, ("a", "b"), credits, cast, missing) is not expected


# --- the property ----------------------------------------------------------------------

OPTIONS = ("a", "b", "c")


@st.composite
def elections(draw: st.DrawFn) -> tuple[str, int | None, int, dict[str, int], dict[str, Any]]:
    method = draw(st.sampled_from([PLURALITY, APPROVAL, RANKED, QUADRATIC]))
    credits = draw(st.sampled_from([1, 2, 4, 5, 9])) if method == QUADRATIC else None
    n_opts = draw(st.integers(2, 3))
    roll = {n: draw(st.integers(1, 3)) for n in VOTERS}
    menu = valid_choices(method, OPTIONS[:n_opts], credits)
    # Brute force over the missing voters' ballots: keep ranked choice (16 ballots
    # each with 3 options) and quadratic (up to 123) to a few missing voters.
    most_missing = {PLURALITY: 3, APPROVAL: 3, RANKED: 2, QUADRATIC: 1}[method]
    voted = draw(
        st.lists(st.sampled_from(VOTERS), min_size=len(VOTERS) - most_missing, unique=True)
    )
    choices = {n: draw(st.sampled_from(menu)) for n in VOTERS if n in voted}
    return method, credits, n_opts, roll, choices


@settings(max_examples=300, deadline=None)
@given(elections())
def test_decided_regardless_iff_no_completion_changes_the_winner(
    election: tuple[str, int | None, int, dict[str, int], dict[str, Any]],
) -> None:
    method, credits, n_opts, roll, choices = election
    options = OPTIONS[:n_opts]
    data = final(method, choices, roll=roll, options=options, credits=credits)
    cast = [(roll[n], c) for n, c in choices.items() if c]
    missing = [w for n, w in roll.items() if n not in choices]
    assert data["missing_weight"] == sum(missing)
    winner = naive_winner(method, options, cast)
    assert (data["winner"] or {}).get("id") == winner
    if winner is None:
        assert data["decided_regardless"] is False
        return
    can_change = winner_can_change(method, options, credits, cast, missing)
    if data["decided_regardless"]:
        assert not can_change  # sound: "regardless" is never claimed wrongly
    if method != RANKED:
        # Plurality, approval and quadratic: the rule is exact (the missing weight all
        # going to the runner-up is the worst case). Ranked choice is only sufficient
        # (more than half of the whole roll's first choices), so it may say "not
        # decided" where nothing could change.
        assert data["decided_regardless"] is not can_change


def test_ranked_choice_with_nobody_missing_is_decided_regardless() -> None:
    choices = {
        "alice": ["a"],
        "bob": ["a"],
        "carol": ["a"],
        "dave": ["b", "a"],
        "erin": ["b"],
        "frank": ["c", "a"],
    }
    data = final(RANKED, choices, options=("a", "b", "c"))
    assert data["winner"]["id"] == "a" and data["missing_weight"] == 0
    assert data["decided_regardless"] is True
