"""Instant runoff (ranked choice), counted as field_guides/voting.md states it.

The rule, with the guide's step numbers:

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

Step 6 is a search over the ways through the ties. It is exact (no budget):
deciding it is NP-hard in general, so its speed comes from facts that prune
whole families of ways without changing the answer:

* **One search, then no more.** Once every way from a round ends with the same
  winner, so does every way from the rounds after it.
* **Memo.** A way's future depends only on which options are still in and on how
  the earlier rounds order them for step 5 (:meth:`_State.key`).
* **Ties that cannot matter go in one step.** Options tied in every round, none
  of whose ballots would move to another of them, go one after the other
  whichever is tried first, and no other option's count falls meanwhile: one
  option may win along the way (the same one in every order), or the race
  goes on without all of them. If the options their ballots move to cannot
  change places with any other option meanwhile, the earlier rounds order the
  rest the same way in every order too, and all those ways are one
  (:func:`_apart`, :func:`_same_order_after`).
* **A bound without history.** Step 5 without its backward rule (any option with
  the fewest votes may go) allows more ways, so it can only have more possible
  winners. That relaxed count depends on the options still in alone: it is
  memoised on them, and a way where, relaxed, no option but the one already
  found can win, is not followed (:class:`_Relaxed`).
* **Reach.** The leader's count only grows while it is in; an option whose
  ballots that could still reach it weigh less than that can never win
  (:func:`_can_win`).

Contrived elections can still need many steps; elections met in practice,
with dozens of options tied with one or two votes each, take milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from ledger.votes.bodies import RANKED
from ledger.votes.tally import NO_VOTES, TIE, WINNER, Round, Tally

#: Most states the tie search may follow: a count, the same on every laptop, never a
#: clock. Beyond it the count stops with :class:`TooManyWays` and the vote shows FAILED
#: ("count failed: ...", only that vote), never a wrong result.
MAX_STEPS = 20_000


class TooManyWays(ValueError):
    """The ways through the ties are too many to follow on a laptop."""


class _Steps:
    """Counts the states the tie search follows, up to ``MAX_STEPS``."""

    def __init__(self, limit: int) -> None:
        self.limit, self.used = limit, 0

    def tick(self) -> None:
        self.used += 1
        if self.used > self.limit:
            raise TooManyWays(
                f"the options tied in every round can go in more than {self.limit:,} "
                "different ways that might end differently: too many to follow here. "
                "No lot decides a council vote: re-run it, with fewer options"
            )


@dataclass
class _State:
    """The race at the start of one round (on one way through the ties)."""

    live: frozenset[int]  # options still in the race
    mask: int  # the same, as bits
    members: dict[int, list[int]]  # option -> ballot groups counting for it
    counts: dict[int, int]
    exhausted: int
    #: order of the live options by the earlier rounds, for step 5: lower had fewer
    #: votes in the latest earlier round where they differ (all 0 in round 1)
    rank: dict[int, int]
    rounds: list[Round]
    _next: tuple[tuple[int, ...], dict[int, int], dict[int, int]] | None = None

    def key(self) -> tuple[int, tuple[int, ...]]:
        return self.mask, tuple(self.rank[o] for o in sorted(self.live))

    def next_rank(self) -> tuple[tuple[int, ...], dict[int, int], dict[int, int]]:
        """Step 5's order for the round after this one, before anything goes: dense ranks
        of the live options (in option order), each option's place in that tuple, and how
        many options share each rank. Computed once per state."""
        if self._next is None:
            pairs = {o: (self.counts[o], self.rank[o]) for o in self.live}
            dense = {k: i for i, k in enumerate(sorted(set(pairs.values())))}
            live = sorted(self.live)
            ranks = tuple(dense[pairs[o]] for o in live)
            sizes: dict[int, int] = {}
            for r in ranks:
                sizes[r] = sizes.get(r, 0) + 1
            self._next = (ranks, {o: i for i, o in enumerate(live)}, sizes)
        return self._next


class _Race:
    """The ballots of one count, grouped by identical ranking (weights added)."""

    def __init__(self, option_ids: Sequence[str], ballots: Sequence[tuple[int, Any]]) -> None:
        self.names = list(option_ids)
        index = {o: i for i, o in enumerate(self.names)}
        groups: dict[tuple[str, ...], int] = {}
        for weight, ranking in ballots:
            key = tuple(ranking)
            groups[key] = groups.get(key, 0) + weight
        at = index.__getitem__
        self.rankings = [tuple(map(at, key)) for key in groups]  # map: C speed, 6.4M items
        self.weights = list(groups.values())
        self.first = dict.fromkeys(range(len(self.names)), 0)  # round 1's counts
        for ranking, w in zip(self.rankings, self.weights, strict=True):
            if ranking:
                self.first[ranking[0]] += w

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
        live = frozenset(members)
        mask = (1 << len(self.names)) - 1
        return _State(live, mask, members, counts, exhausted, dict.fromkeys(live, 0), [])

    def round_of(self, s: _State) -> Round:
        return Round({self.names[o]: s.counts[o] for o in sorted(s.live)}, s.exhausted)

    def after(self, g: int, o: int, live: frozenset[int]) -> int | None:
        """The option ballot group ``g`` moves to when ``o`` (its current one) goes."""
        ranking = self.rankings[g]
        # (filter and islice run in C: this is the count's inner loop)
        return next(filter(live.__contains__, islice(ranking, ranking.index(o) + 1, None)), None)

    def without(
        self, s: _State, out: frozenset[int], rnd: Round | None, *, ranked: bool = True
    ) -> _State:
        """The next round's state once ``out`` is eliminated (``s`` is left as it was).
        ``rnd`` is this round as shown; None in the search, which shows no rounds.
        ``ranked=False``: step 5's order is not needed (the search without history)."""
        live = s.live - out
        members = {o: g for o, g in s.members.items() if o in live}
        counts = {o: c for o, c in s.counts.items() if o in live}
        exhausted = s.exhausted
        copied: set[int] = set()
        for o in sorted(out):
            for g in s.members[o]:
                top = self.after(g, o, live)
                if top is None:
                    exhausted += self.weights[g]
                    continue
                if top not in copied:
                    members[top] = list(members[top])
                    copied.add(top)
                members[top].append(g)
                counts[top] += self.weights[g]
        rank = s.rank
        if ranked:  # step 5's order for the next round: this round's count, then the earlier
            keys = sorted({(s.counts[o], s.rank[o]) for o in live})
            dense = {k: i for i, k in enumerate(keys)}
            rank = {o: dense[(s.counts[o], s.rank[o])] for o in live}
        mask = s.mask
        for o in out:
            mask &= ~(1 << o)
        rounds = s.rounds if rnd is None else [*s.rounds, rnd]
        return _State(live, mask, members, counts, exhausted, rank, rounds)

    def key_without(self, s: _State, out: frozenset[int]) -> tuple[int, tuple[int, ...]]:
        """``without(s, out).key()``, without building that state."""
        ranks, place, sizes = s.next_rank()
        mask = s.mask
        for o in out:
            mask &= ~(1 << o)
        if len(out) == 1:
            (o,) = out
            i = place[o]
            gone = ranks[i]
            rest = ranks[:i] + ranks[i + 1 :]
            if sizes[gone] > 1:  # its rank is still held by another option: nothing shifts
                return mask, rest
            return mask, tuple(r - 1 if r > gone else r for r in rest)
        keep = [r for o, r in zip(sorted(s.live), ranks, strict=True) if o not in out]
        dense = {r: i for i, r in enumerate(sorted(set(keep)))}
        return mask, tuple(dense[r] for r in keep)

    def one_by_one(self, s: _State, tied: Sequence[int]) -> _State:
        """Eliminate ``tied`` one per round, in this order (rounds not shown)."""
        for o in tied:
            s = self.without(s, frozenset([o]), None)
        return s


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


def _moves(race: _Race, s: _State, tied: Sequence[int]) -> dict[int, int] | None:
    """Where the ballots of ``tied`` go once they are all out (option -> weight), or None
    if a ballot of one of them could move to another of them (if that one is still in)."""
    inside = set(tied)
    out: dict[int, int] = {}
    for o in tied:
        for g in s.members[o]:
            top = race.after(g, o, s.live)
            if top in inside:
                return None  # it would move to another of them if that one is still in
            if top is not None:  # an option that stays in while they go: it stops there
                out[top] = out.get(top, 0) + race.weights[g]
    return out


def _apart(race: _Race, s: _State, tied: Sequence[int]) -> bool:
    """Do ``tied`` (all with the fewest votes) go one after the other in any order, no
    ballot of one of them moving to another? Then only the set matters, not the order."""
    return _moves(race, s, tied) is not None


def _free(race: _Race, s: _State, tied: Sequence[int]) -> frozenset[int]:
    """Those of ``tied`` (with the fewest votes, not all the options left) that, with no
    backward rule, may as well go first: no ballot can reach them while options with this
    few votes remain, and theirs move past all of those. They stay with the fewest votes
    until they go, cannot win (an option with more is in), and going earlier only moves
    their ballots earlier to options that stay in meanwhile; if that gives an option
    more than half earlier, the same option had more than half on the other ways too."""
    inside = set(tied)
    free = set()
    for o in tied:
        if all(race.after(g, o, s.live) not in inside for g in s.members[o]):
            free.add(o)
    for o in tied:  # a ballot that may move through options with this few votes
        for g in s.members[o]:
            ranking = race.rankings[g]
            for x in ranking[ranking.index(o) + 1 :]:
                if x not in s.live:
                    continue
                if x not in inside:
                    break  # it stops here: this option stays in while they go
                free.discard(x)
    return frozenset(free)


def _same_order_after(race: _Race, s: _State, tied: Sequence[int]) -> bool:
    """Does step 5 order the options left the same way, whichever order ``tied`` go in?
    Yes if no option their ballots move to can draw level with another option while
    they go: its counts stay apart from every other option's counts all along."""
    moves = _moves(race, s, tied)
    if moves is None:
        return False
    inside = set(tied)
    spans = {o: (s.counts[o], s.counts[o] + moves.get(o, 0)) for o in s.live if o not in inside}
    for o in moves:
        lo, hi = spans[o]
        for x, (xlo, xhi) in spans.items():
            if x != o and not (hi < xlo or xhi < lo):
                return False
    return True


def _can_win(race: _Race, s: _State, candidates: set[int]) -> set[int]:
    """The candidates not yet ruled out in ``s``. Take the leader L: while L is in the race,
    a ballot can count for ``o`` only if ``o`` comes before L on what is left of it; if all
    such ballots weigh less than L has now, L can never become the fewest while ``o`` is in
    (counts only grow), nor can ``o`` pass L: ``o`` cannot win."""
    top = max(s.counts.values())
    leader = min(o for o in s.live if s.counts[o] == top)
    reach = dict.fromkeys(candidates, 0)
    for current, groups in s.members.items():
        for g in groups:
            ranking = race.rankings[g]
            for o in ranking[ranking.index(current) :]:
                if o == leader:
                    break
                if o in reach:
                    reach[o] += race.weights[g]
    return {o for o in candidates if o == leader or reach[o] >= top}


class _Relaxed:
    """Can an option other than ``found`` win, if step 5 let any option with the fewest
    votes go, save one the backward rule surely spares (:meth:`_decide`)? That allows
    every way the rule allows, and more; and its answer depends only on the options still
    in (not on the earlier rounds), so it is memoised on them."""

    def __init__(self, race: _Race, found: int, steps: _Steps) -> None:
        self.race, self.found, self.steps = race, found, steps
        self.memo: dict[int, bool] = {}

    def other_can_win(self, s: _State) -> bool:
        known = self.memo.get(s.mask)
        if known is not None:
            return known
        self.steps.tick()
        answer = self._decide(s)
        self.memo[s.mask] = answer
        return answer

    def _after(self, s: _State, out: frozenset[int]) -> bool:
        """``other_can_win`` once ``out`` is gone, the state built only if not known yet."""
        mask = s.mask
        for o in out:
            mask &= ~(1 << o)
        known = self.memo.get(mask)
        if known is not None:
            return known
        return self.other_can_win(self.race.without(s, out, None, ranked=False))

    def _decide(self, s: _State) -> bool:
        race = self.race
        active = sum(s.counts.values())
        top = max(s.counts.values())
        if 2 * top > active:
            return min(o for o in s.live if s.counts[o] == top) != self.found
        zero = frozenset(o for o in s.live if s.counts[o] == 0)
        if zero:
            return self._after(s, zero)
        if not _can_win(race, s, set(s.live) - {self.found}):
            return False
        low = min(s.counts.values())
        tied = [o for o in sorted(s.live) if s.counts[o] == low]
        # The backward rule never takes an option that has had this count since round 1
        # while another with fewer votes in round 1 is tied with it: that one had fewer
        # votes in every earlier round it differed in. (A count that depends only on the
        # options still in, like the rest of this bound.)
        grew = [o for o in tied if race.first[o] < low]
        may_go = grew or tied
        if len(may_go) == 1:
            return self._after(s, frozenset(may_go))
        if len(tied) == len(s.live):
            if _apart(race, s, tied):  # nothing moves: the last one in wins; those that
                stay = [o for o in tied if o not in grew] or tied  # grew go first
                return any(o != self.found for o in stay)
        else:
            free = _free(race, s, tied) & frozenset(may_go)
            if free:
                return self._after(s, free)
        # the option found so far goes first: the likeliest way to another winner
        may_go.sort(key=lambda o: o != self.found)
        return any(self._after(s, frozenset([o])) for o in may_go)


def _walk(race: _Race, s: _State, keep: int | None, drop: int | None = None) -> int:
    """One way to the end: at each tie in every round, eliminate ``drop`` if it is tied,
    else the first tied option that is not ``keep`` (which stays as long as it can)."""
    while True:
        what, arg = _step(s)
        if what == "win":
            return int(arg)
        if what == "try":
            arg = frozenset([drop if drop in arg else next(o for o in arg if o != keep)])
        s = race.without(s, arg, None)


def _winners(race: _Race, start: _State) -> list[int]:
    """Step 6: one winner if every way through the ties ends with it, else the first two
    different winners found (cheap ways first, then every way that may still differ)."""
    first = _walk(race, start, None)
    for o in sorted(start.live):  # keep each other option, with and without the winner
        if o != first:
            for drop in (None, first):
                other = _walk(race, start, o, drop)
                if other != first:
                    return [first, other]
    steps = _Steps(MAX_STEPS)
    relaxed = _Relaxed(race, first, steps)
    found = [first]
    seen: set[tuple[int, tuple[int, ...]]] = {start.key()}
    stack: list[tuple[_State, frozenset[int]]] = []

    def visit(s: _State) -> None:
        steps.tick()
        if not relaxed.other_can_win(s):
            return  # nothing new can come out of this way
        what, arg = _step(s)
        if what == "win":
            if arg != first:
                found.append(arg)
        elif what == "out":
            stack.append((s, arg))
        elif len(arg) == len(s.live) and _apart(race, s, arg):
            found.append(next(o for o in arg if o != first))  # each can be the last one in
        elif _same_order_after(race, s, arg):
            after = race.one_by_one(s, arg)
            if after.key() not in seen:
                seen.add(after.key())
                visit(after)
        else:  # the winner found so far goes first: the likeliest way to another
            order = sorted(arg, key=lambda o: o != first)
            stack.extend((s, frozenset([o])) for o in reversed(order))

    visit(start)
    while stack and len(found) < 2:
        s, out = stack.pop()
        key = race.key_without(s, out)
        if key in seen:
            continue  # met before: built only when new
        seen.add(key)
        visit(race.without(s, out, None))
    return found


def _why_out(race: _Race, s: _State, losers: list[int], out: int) -> str:
    """The backward tie-break, in words: which earlier round decided."""
    tied = list(losers)
    back = 0
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
    decided: int | None = None  # once every way ends with one winner, every later one does
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
        if decided is None:
            winners = _winners(race, s)
            if len(winners) > 1:
                a, b = (race.names[o] for o in winners)
                rnd.tie_break = (
                    f"tie between {tied} in every round, and the winner depends on which "
                    f"goes (e.g. {a} or {b}): reported as a tie (no lot decides a council vote)"
                )
                names = sorted(race.names[o] for o in winners)
                return Tally(RANKED, first, TIE, tied=names, rounds=[*s.rounds, rnd])
            decided = winners[0]
        rnd.tie_break = (
            f"tie between {tied} in every round; whichever is eliminated, "
            f"{race.names[decided]} wins (no lot needed)"
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
