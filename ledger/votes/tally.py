"""Counting methods: plurality, approval, ranked-choice (instant runoff), quadratic.

Pure functions over ``(weight, choice)`` pairs, one per counted voter slot;
blank and spoiled slots are left out by the caller (they count for turnout
only). All arithmetic is on integers, so every laptop gets the same numbers.

Outcomes: ``winner``, ``tie`` (several options share the top: no lot decides a
council vote; re-run it), ``no votes`` (nobody chose any option).

Ranked choice follows field_guides/voting.md, "Ranked-choice counting",
literally; the rule and its exact tie search are in :mod:`ledger.votes.irv`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.votes.bodies import APPROVAL, PLURALITY, QUADRATIC, RANKED

WINNER, TIE, NO_VOTES = "winner", "tie", "no votes"


@dataclass
class Round:
    """One instant-runoff round: counts of the options still in the race."""

    counts: dict[str, int]
    exhausted: int
    eliminated: list[str] = field(default_factory=list)
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


def count(
    method: str,
    option_ids: Sequence[str],
    ballots: Sequence[tuple[int, Any]],
    charter_id: bytes = b"",
    *,
    rules: int = 2,
) -> Tally:
    """Tally ``ballots`` (weight, normalised choice) with ``method``.

    ``rules=1``: a vote opened before charters carried ``f`` keeps its old
    ranked-choice count (:mod:`ledger.votes.tally_v1`).
    """
    if method == RANKED:
        if rules == 1:
            from ledger.votes import tally_v1 as vote_tally_v1

            return vote_tally_v1.instant_runoff(option_ids, ballots, charter_id)
        return instant_runoff(option_ids, ballots)
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


def first_preferences(option_ids: Sequence[str], ballots: Sequence[tuple[int, Any]]) -> Tally:
    """Round 1 only (what a PROVISIONAL vote shows): no elimination, never a winner."""
    counts = {o: 0 for o in option_ids}
    for weight, ranking in ballots:
        if ranking:
            counts[ranking[0]] += weight
    return Tally(RANKED, counts, NO_VOTES)


def from_counts(method: str, counts: dict[str, int]) -> Tally:
    """A plurality or approval tally from counts alone (a secret vote's decrypted counts)."""
    return _decide(method, dict(counts), any(counts.values()))


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


# --- instant runoff ------------------------------------------------------------------


def instant_runoff(option_ids: Sequence[str], ballots: Sequence[tuple[int, Any]]) -> Tally:
    """Instant runoff as field_guides/voting.md states it (:mod:`ledger.votes.irv`)."""
    from ledger.votes import irv as vote_irv

    return vote_irv.instant_runoff(option_ids, ballots)
