"""Counting methods: plurality, approval, ranked-choice (instant runoff), quadratic.

Pure functions over ``(weight, choice)`` pairs, one per counted voter slot;
blank and spoiled slots are left out by the caller (they count for turnout
only). All arithmetic is on integers, so every laptop gets the same numbers.

Outcomes: ``winner``, ``tie`` (several options share the top: no lot decides a
council vote; re-run it), ``no votes`` (nobody chose any option).

Ranked choice follows field_guides/voting.md, "Ranked-choice counting",
literally (the numbers are the guide's):

1. Each ballot counts, with its voter's weight, for its highest-ranked option
   still in the race; a ballot with no option left is exhausted.
2. If nothing counts in the first round: no votes.
3. An option with more than half of what counts this round wins.
4. Otherwise, if options have no votes this round, they are all eliminated
   together.
5. Otherwise the options with the fewest votes are the candidates to go.
   Among them keep those with the fewest votes in the round before, then the
   round before that, back to the first round. If one is left, it goes.
6. If several are left (tied in every round), every one of them is tried in
   turn, and the count goes on separately after each; the options that win at
   the end of some way are the possible winners. One possible winner wins ("no
   lot needed"); several are a tie between them.

Step 6 is a search. It is exact and needs no budget: a branch's future
depends only on which options are still in the race and on how the earlier
rounds order them for step 5 (a ranking, recomputed every round), so a state
met twice is explored once. Cheap ways are tried first (one per option, keeping
it in as long as the rule allows): two different winners settle it as a tie.
Otherwise every way is followed, skipping those where no other option can
still win (:func:`_can_win`). The worst case is exponential (deciding this is
NP-hard in general), but elections met in practice take milliseconds, and
contrived ones with 64 options tied in every round a few seconds.
"""

from __future__ import annotations

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
    ranked-choice count (:mod:`ledger.views.vote_tally_v1`).
    """
    if method == RANKED:
        if rules == 1:
            from ledger.views import vote_tally_v1

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


@dataclass
class _State:
    """The race at the start of one round (on one way through the ties)."""

    live: frozenset[int]  # options still in the race
    pos: list[int]  # per ballot group: index of its current option in its ranking
    members: dict[int, list[int]]  # option -> ballot groups counting for it
    counts: dict[int, int]
    exhausted: int
    #: order of the live options by the earlier rounds, for step 5: lower had fewer
    #: votes in the latest earlier round where they differ (all 0 in round 1)
    rank: dict[int, int]
    rounds: list[Round]

    def key(self) -> tuple[frozenset[int], tuple[int, ...]]:
        return self.live, tuple(self.rank[o] for o in sorted(self.live))


class _Race:
    """The ballots of one count, grouped by identical ranking (weights added)."""

    def __init__(self, option_ids: Sequence[str], ballots: Sequence[tuple[int, Any]]) -> None:
        self.names = list(option_ids)
        index = {o: i for i, o in enumerate(self.names)}
        groups: dict[tuple[str, ...], int] = {}
        for weight, ranking in ballots:
            key = tuple(ranking)
            groups[key] = groups.get(key, 0) + weight
        self.rankings = [tuple(index[o] for o in key) for key in groups]
        self.weights = list(groups.values())

    def start(self) -> _State:
        members: dict[int, list[int]] = {i: [] for i in range(len(self.names))}
        counts = dict.fromkeys(members, 0)
        exhausted = 0
        for g, (ranking, w) in enumerate(zip(self.rankings, self.weights, strict=True)):
            if ranking:
                members[ranking[0]].append(g)
                counts[ranking[0]] += w
            else:
                exhausted += w
        pos = [0] * len(self.rankings)
        live = frozenset(members)
        return _State(live, pos, members, counts, exhausted, dict.fromkeys(live, 0), [])

    def round_of(self, s: _State) -> Round:
        return Round({self.names[o]: s.counts[o] for o in sorted(s.live)}, s.exhausted)

    def without(self, s: _State, out: frozenset[int], rnd: Round) -> _State:
        """The next round's state once ``out`` is eliminated (``s`` is left as it was)."""
        live = s.live - out
        pos = list(s.pos)
        members = {o: g for o, g in s.members.items() if o in live}
        counts = {o: c for o, c in s.counts.items() if o in live}
        exhausted = s.exhausted
        copied: set[int] = set()
        for o in sorted(out):
            for g in s.members[o]:
                ranking = self.rankings[g]
                p = pos[g] + 1
                while p < len(ranking) and ranking[p] not in live:
                    p += 1
                pos[g] = p
                if p == len(ranking):
                    exhausted += self.weights[g]
                    continue
                top = ranking[p]
                if top not in copied:
                    members[top] = list(members[top])
                    copied.add(top)
                members[top].append(g)
                counts[top] += self.weights[g]
        # step 5's order for the next round: this round's count, then the earlier order
        keys = sorted({(s.counts[o], s.rank[o]) for o in live})
        dense = {k: i for i, k in enumerate(keys)}
        rank = {o: dense[(s.counts[o], s.rank[o])] for o in live}
        return _State(live, pos, members, counts, exhausted, rank, [*s.rounds, rnd])


def _step(s: _State) -> tuple[str, Any]:
    """What the rule does this round: ("win", o) | ("out", options) | ("try", options)."""
    active = sum(s.counts.values())
    top = max(s.counts.values())
    if 2 * top > active:
        return "win", min(o for o in s.live if s.counts[o] == top)
    zero = frozenset(o for o in s.live if s.counts[o] == 0)
    if zero:
        return "out", zero
    low = min(s.counts.values())
    losers = [o for o in sorted(s.live) if s.counts[o] == low]
    first = min(s.rank[o] for o in losers)
    left = [o for o in losers if s.rank[o] == first]
    if len(left) == 1:
        return "out", frozenset(left)
    return "try", left


def _can_win(race: _Race, s: _State, candidates: set[int]) -> set[int]:
    """The candidates not yet ruled out in ``s``. Take the leader L: while L is in the race,
    a ballot can count for ``o`` only if ``o`` comes before L on what is left of it; if all
    such ballots weigh less than L has now, L can never become the fewest while ``o`` is in
    (counts only grow), nor can ``o`` pass L: ``o`` cannot win."""
    top = max(s.counts.values())
    leader = min(o for o in s.live if s.counts[o] == top)
    reach = dict.fromkeys(candidates, 0)
    for g, ranking in enumerate(race.rankings):
        for o in ranking[s.pos[g] :]:
            if o == leader:
                break
            if o in reach:
                reach[o] += race.weights[g]
    return {o for o in candidates if o == leader or reach[o] >= top}


def _walk(race: _Race, s: _State, keep: int | None) -> int:
    """One way to the end: at each tie in every round, eliminate the first tied option
    that is not ``keep`` (so ``keep`` stays as long as the rule lets it)."""
    while True:
        what, arg = _step(s)
        if what == "win":
            return int(arg)
        if what == "try":
            arg = frozenset([next(o for o in arg if o != keep)])
        s = race.without(s, arg, race.round_of(s))


def _winners(race: _Race, start: _State) -> list[int]:
    """Step 6: one winner if every way through the ties ends with it, else the first two
    different winners found. Cheap ways first (one that keeps each option as long as it
    can), then every way, depth first in option order, each state once, skipping ways
    where no option but the one found can still win."""
    first = _walk(race, start, None)
    for o in sorted(start.live):
        if o != first:
            other = _walk(race, start, o)
            if other != first:
                return [first, other]
    found = [first]
    seen: set[tuple[frozenset[int], tuple[int, ...]]] = set()
    stack: list[tuple[_State, frozenset[int]]] = []

    def visit(s: _State) -> None:
        if s.key() in seen:
            return
        seen.add(s.key())
        if not _can_win(race, s, set(s.live) - {first}):
            return  # nothing new can come out of this way
        what, arg = _step(s)
        if what == "win":
            if arg != first:
                found.append(arg)
        elif what == "out":
            stack.append((s, arg))
        else:
            stack.extend((s, frozenset([o])) for o in reversed(arg))

    visit(start)
    while stack and len(found) < 2:
        s, out = stack.pop()
        visit(race.without(s, out, race.round_of(s)))
    return found


def _why_out(race: _Race, s: _State, losers: list[int], out: int) -> str:
    """The backward tie-break, in words: which earlier round decided."""
    tied = list(losers)
    for back in range(len(s.rounds) - 1, -1, -1):
        counts = s.rounds[back].counts
        low = min(counts[race.names[o]] for o in tied)
        tied = [o for o in tied if counts[race.names[o]] == low]
        if len(tied) == 1:
            break
    names = ", ".join(race.names[o] for o in losers)
    return f"tie between {names}: {race.names[out]} had fewer votes in round {back + 1}"


def instant_runoff(option_ids: Sequence[str], ballots: Sequence[tuple[int, Any]]) -> Tally:
    """Instant runoff as field_guides/voting.md states it (see the module docstring)."""
    race = _Race(option_ids, ballots)
    s = race.start()
    first = {race.names[o]: c for o, c in sorted(s.counts.items())}
    if sum(s.counts.values()) == 0:
        return Tally(RANKED, first, NO_VOTES, rounds=[race.round_of(s)])
    while True:
        rnd = race.round_of(s)
        what, arg = _step(s)
        if what == "win":
            return _won(race, s, [*s.rounds, rnd], arg, first)
        if what == "out":
            rnd.eliminated = [race.names[o] for o in sorted(arg)]
            if len(arg) > 1:
                rnd.tie_break = "no votes this round: eliminated together"
            else:
                low = s.counts[next(iter(arg))]
                losers = [o for o in sorted(s.live) if s.counts[o] == low]
                if len(losers) > 1:
                    rnd.tie_break = _why_out(race, s, losers, next(iter(arg)))
            s = race.without(s, arg, rnd)
            continue
        tied = ", ".join(race.names[o] for o in arg)
        winners = _winners(race, s)
        if len(winners) > 1:
            a, b = (race.names[o] for o in winners)
            rnd.tie_break = (
                f"tie between {tied} in every round, and the winner depends on which goes "
                f"(e.g. {a} or {b}): reported as a tie (no lot decides a council vote)"
            )
            names = sorted(race.names[o] for o in winners)
            return Tally(RANKED, first, TIE, tied=names, rounds=[*s.rounds, rnd])
        (only,) = winners
        rnd.tie_break = (
            f"tie between {tied} in every round; whichever is eliminated, "
            f"{race.names[only]} wins (no lot needed)"
        )
        rnd.eliminated = [race.names[arg[0]]]  # the rounds shown follow the first way
        s = race.without(s, frozenset(arg[:1]), rnd)


def _won(race: _Race, s: _State, rounds: list[Round], winner: int, first: dict[str, int]) -> Tally:
    others = [c for o, c in s.counts.items() if o != winner]
    top = s.counts[winner]
    name = race.names[winner]
    return Tally(
        RANKED,
        first,
        WINNER,
        winner=name,
        margin=top - max(others) if others else top,
        rounds=rounds,
        first_preferences=first[name],
    )
