"""Ranked-choice counting as it was before charters carried ``f`` (kept for those votes).

Votes whose charter has no ``f`` field were opened by an older plurictl; they
keep being counted exactly as they were then, so a result a council already
announced never changes on upgrade (field_guides/voting.md, "Votes opened
before f"). The one difference: where this old count could not finish (its
branch budget ran out), the vote now shows "count failed" instead of taking
every command down.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.votes.bodies import RANKED
from ledger.votes.tally import NO_VOTES, TIE, WINNER, Round, Tally


@dataclass
class _OldRound:
    counts: dict[str, int]
    exhausted: int
    eliminated: str | None = None
    tie_break: str | None = None


@dataclass
class _OldTally:
    """The old count's result, its rounds still in the old shape (one elimination each)."""

    counts: dict[str, int]
    outcome: str
    winner: str | None = None
    tied: list[str] = field(default_factory=list)
    margin: int = 0
    rounds: list[_OldRound] = field(default_factory=list)
    first_preferences: int = 0


def lot(charter_id: bytes, option_id: str) -> bytes:
    """The fixed lot of an option: smallest is eliminated first in an unbreakable tie."""
    return hashlib.blake2b(charter_id + option_id.encode(), digest_size=16).digest()


def instant_runoff(
    option_ids: Sequence[str], ballots: Sequence[tuple[int, Any]], charter_id: bytes
) -> Tally:
    """The old count; may raise where it could not finish (the fold reports that)."""
    t = _runoff_from(list(option_ids), ballots, [], {}, charter_id, [MAX_BRANCHES])
    rounds = [
        Round(r.counts, r.exhausted, [r.eliminated] if r.eliminated else [], r.tie_break)
        for r in t.rounds
    ]
    return Tally(
        RANKED,
        t.counts,
        t.outcome,
        winner=t.winner,
        tied=t.tied,
        margin=t.margin,
        rounds=rounds,
        first_preferences=t.first_preferences,
    )


#: How many alternative elimination orders an unbreakable tie may explore.
MAX_BRANCHES = 256


def _runoff_from(
    continuing: list[str],
    ballots: Sequence[tuple[int, Any]],
    rounds: list[_OldRound],
    first: dict[str, int],
    charter_id: bytes,
    budget: list[int],
) -> _OldTally:
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
        rnd = _OldRound(counts, exhausted)
        rounds.append(rnd)
        if not first:
            first = dict(counts)
        active = sum(counts.values())
        if active == 0:
            outcome = NO_VOTES if len(rounds) == 1 else TIE
            tied = [] if outcome == NO_VOTES else sorted(continuing)
            return _OldTally(first, outcome, tied=tied, rounds=rounds)
        top = max(counts.values())
        leaders = [o for o in continuing if counts[o] == top]
        if 2 * top > active:
            winner = leaders[0]
            others = [c for o, c in counts.items() if o != winner]
            margin = top - max(others) if others else top
            return _OldTally(
                first,
                WINNER,
                winner=winner,
                margin=margin,
                rounds=rounds,
                first_preferences=first.get(winner, 0),
            )
        if len(leaders) == len(continuing):
            return _OldTally(first, TIE, tied=sorted(leaders), rounds=rounds)
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
    rounds: list[_OldRound],
    first: dict[str, int],
    charter_id: bytes,
    budget: list[int],
) -> _OldTally:
    """No lot decides a council vote: follow every possible elimination of the tied
    options; if they all lead to the same winner, that is the winner; otherwise the
    result is a tie between the winners the lot could have produced."""
    outcomes: dict[str, _OldTally] = {}
    tied = sorted(set(losers))
    for out in tied:
        if budget[0] <= 0:
            break
        budget[0] -= 1
        branch_rounds = [
            *rounds[:-1],
            _OldRound(dict(rounds[-1].counts), rounds[-1].exhausted, out),
        ]
        outcomes[out] = _runoff_from(
            [c for c in continuing if c != out], ballots, branch_rounds, first, charter_id, budget
        )
    winners = {t.winner for t in outcomes.values() if t.outcome == WINNER and t.winner is not None}
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
    return _OldTally(first, TIE, tied=possible, rounds=rounds)


def _break_elimination_tie(
    losers: list[str], earlier: list[_OldRound], charter_id: bytes
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
