"""Counting methods: plurality, approval, ranked-choice (instant runoff), quadratic.

Pure functions over ``(weight, choice)`` pairs, one per counted voter slot;
blank and spoiled slots are left out by the caller (they count for turnout
only). All arithmetic is on integers, so every laptop gets the same numbers.

Outcomes: ``winner``, ``tie`` (several options share the top: no lot decides a
council vote; re-run it), ``no votes`` (nobody chose any option).

Instant runoff, round by round: each ballot counts, with its voter's weight,
for its highest-ranked option still in the race; exhausted ballots drop out.
An option with more than half of the ballots still in play wins. Otherwise the
option with the fewest votes is eliminated. Ties for elimination are broken
*backwards*: the tied option with fewer votes in the previous round goes, then
the round before, and so on. If they tied in every round, no lot decides:
every possible elimination is followed; if all lead to the same winner, that
is the winner, otherwise the result is a tie between the possible winners. If
every option still in the race has the same count, the result is a tie.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.views.vote_bodies import APPROVAL, PLURALITY, QUADRATIC, RANKED

WINNER, TIE, NO_VOTES = "winner", "tie", "no votes"


@dataclass
class Round:
    """One instant-runoff round: counts of the options still in the race."""

    counts: dict[str, int]
    exhausted: int
    eliminated: str | None = None
    tie_break: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "exhausted": self.exhausted,
            "eliminated": self.eliminated,
            "tie_break": self.tie_break,
        }


@dataclass
class Tally:
    method: str
    counts: dict[str, int]
    outcome: str
    winner: str | None = None
    tied: list[str] = field(default_factory=list)
    margin: int = 0
    rounds: list[Round] = field(default_factory=list)
    #: IRV: the winner's first-preference weight (for "decided regardless").
    first_preferences: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "counts": self.counts,
            "outcome": self.outcome,
            "winner": self.winner,
            "tied": self.tied,
            "margin": self.margin,
            "rounds": [r.to_json() for r in self.rounds],
        }


def lot(charter_id: bytes, option_id: str) -> bytes:
    """The fixed lot of an option: smallest is eliminated first in an unbreakable tie."""
    return hashlib.blake2b(charter_id + option_id.encode(), digest_size=16).digest()


def count(
    method: str,
    option_ids: Sequence[str],
    ballots: Sequence[tuple[int, Any]],
    charter_id: bytes,
) -> Tally:
    """Tally ``ballots`` (weight, normalised choice) with ``method``."""
    if method == RANKED:
        return _instant_runoff(option_ids, ballots, charter_id)
    counts = {o: 0 for o in option_ids}
    chose = False
    for weight, choice in ballots:
        if method == QUADRATIC:
            for oid, votes in choice.items():
                counts[oid] += weight * votes
                chose = True
        elif method in (PLURALITY, APPROVAL):
            for oid in choice:
                counts[oid] += weight
                chose = True
        else:  # pragma: no cover - the charter parser refuses other methods
            raise ValueError(f"unknown method {method}")
    return _decide(method, counts, chose)


def _decide(method: str, counts: dict[str, int], chose: bool) -> Tally:
    if not chose:
        return Tally(method, counts, NO_VOTES)
    ranked = sorted(counts.values(), reverse=True)
    top = ranked[0]
    leaders = [o for o, c in counts.items() if c == top]
    margin = top - ranked[1] if len(ranked) > 1 else top
    if len(leaders) > 1:
        return Tally(method, counts, TIE, tied=leaders, margin=0)
    return Tally(method, counts, WINNER, winner=leaders[0], margin=margin)


def _instant_runoff(
    option_ids: Sequence[str], ballots: Sequence[tuple[int, Any]], charter_id: bytes
) -> Tally:
    return _runoff_from(list(option_ids), ballots, [], {}, charter_id, [MAX_BRANCHES])


#: How many alternative elimination orders an unbreakable tie may explore.
MAX_BRANCHES = 256


def _runoff_from(
    continuing: list[str],
    ballots: Sequence[tuple[int, Any]],
    rounds: list[Round],
    first: dict[str, int],
    charter_id: bytes,
    budget: list[int],
) -> Tally:
    rounds = list(rounds)
    while True:
        live = set(continuing)
        counts = {o: 0 for o in continuing}
        exhausted = 0
        for weight, ranking in ballots:
            for oid in ranking:
                if oid in live:
                    counts[oid] += weight
                    break
            else:
                exhausted += weight
        rnd = Round(counts, exhausted)
        rounds.append(rnd)
        if not first:
            first = dict(counts)
        active = sum(counts.values())
        if active == 0:
            outcome = NO_VOTES if len(rounds) == 1 else TIE
            tied = [] if outcome == NO_VOTES else sorted(continuing)
            return Tally(RANKED, first, outcome, tied=tied, rounds=rounds)
        top = max(counts.values())
        leaders = [o for o in continuing if counts[o] == top]
        if 2 * top > active:
            winner = leaders[0]
            others = [c for o, c in counts.items() if o != winner]
            margin = top - max(others) if others else top
            return Tally(
                RANKED,
                first,
                WINNER,
                winner=winner,
                margin=margin,
                rounds=rounds,
                first_preferences=first.get(winner, 0),
            )
        if len(leaders) == len(continuing):
            return Tally(RANKED, first, TIE, tied=sorted(leaders), rounds=rounds)
        low = min(counts.values())
        losers = [o for o in continuing if counts[o] == low]
        out, why, by_lot = _break_elimination_tie(losers, rounds[:-1], charter_id)
        if by_lot:
            return _lot_branches(
                losers, out, continuing, ballots, rounds, first, charter_id, budget
            )
        rnd.eliminated, rnd.tie_break = out, why
        continuing.remove(out)


def _lot_branches(
    losers: list[str],
    drawn: str,
    continuing: list[str],
    ballots: Sequence[tuple[int, Any]],
    rounds: list[Round],
    first: dict[str, int],
    charter_id: bytes,
    budget: list[int],
) -> Tally:
    """No lot decides a council vote: follow every possible elimination of the tied
    options; if they all lead to the same winner, that is the winner; otherwise the
    result is a tie between the winners the lot could have produced."""
    outcomes: dict[str, Tally] = {}
    tied = sorted(set(losers))
    for out in tied:
        if budget[0] <= 0:
            break
        budget[0] -= 1
        branch_rounds = [*rounds[:-1], Round(dict(rounds[-1].counts), rounds[-1].exhausted, out)]
        outcomes[out] = _runoff_from(
            [c for c in continuing if c != out], ballots, branch_rounds, first, charter_id, budget
        )
    winners = {t.winner for t in outcomes.values() if t.outcome == WINNER}
    undecided = any(t.outcome != WINNER for t in outcomes.values()) or len(outcomes) < len(tied)
    chosen = outcomes.get(drawn) or next(iter(outcomes.values()))
    if len(winners) == 1 and not undecided:
        last = chosen.rounds[len(rounds) - 1]
        last.tie_break = (
            f"tie between {', '.join(tied)} in every round; whichever is eliminated, "
            f"{chosen.winner} wins (no lot needed)"
        )
        return chosen
    rnd = rounds[-1]
    rnd.tie_break = (
        f"tie between {', '.join(tied)} in every round, and the winner depends on which goes: "
        "reported as a tie (no lot decides a council vote)"
    )
    possible = sorted(winners | {o for t in outcomes.values() for o in t.tied})
    return Tally(RANKED, first, TIE, tied=possible, rounds=rounds)


def _break_elimination_tie(
    losers: list[str], earlier: list[Round], charter_id: bytes
) -> tuple[str, str | None, bool]:
    """(eliminated option, why, whether only a lot could choose it)."""
    if len(losers) == 1:
        return losers[0], None, False
    tied = list(losers)
    for back, rnd in enumerate(reversed(earlier)):
        low = min(rnd.counts.get(o, 0) for o in tied)
        fewer = [o for o in tied if rnd.counts.get(o, 0) == low]
        if len(fewer) == 1:
            which = len(earlier) - back
            why = (
                f"tie between {', '.join(sorted(losers))}: {fewer[0]} had fewer votes "
                f"in round {which}"
            )
            return fewer[0], why, False
        tied = fewer
    loser = min(tied, key=lambda o: lot(charter_id, o))
    why = (
        f"tie between {', '.join(sorted(losers))} in every round: {loser} eliminated by the "
        "charter's lot"
    )
    return loser, why, True
