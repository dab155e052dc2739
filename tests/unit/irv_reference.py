"""Ranked choice as field_guides/voting.md states it, written from the guide's text alone.

Deliberately naive (recursion over every way through the ties, no shared code
with ledger.votes.tally): the property tests compare the two.
"""

from __future__ import annotations

from collections.abc import Sequence


def possible_winners(
    options: Sequence[str], ballots: Sequence[tuple[int, list[str]]], *, narrow: bool = True
) -> tuple[str, set[str]]:
    """("no votes", set()) or ("count", every option that wins at the end of some way)."""
    first = _counts(list(options), ballots)
    if sum(first.values()) == 0:
        return "no votes", set()
    return "count", _go(list(options), ballots, [], narrow)


def _counts(race: list[str], ballots: Sequence[tuple[int, list[str]]]) -> dict[str, int]:
    """Each ballot counts, with its weight, for its highest-ranked option still in the race."""
    counts = dict.fromkeys(race, 0)
    for weight, ranking in ballots:
        for option in ranking:
            if option in counts:
                counts[option] += weight
                break
    return counts


def _go(
    race: list[str],
    ballots: Sequence[tuple[int, list[str]]],
    earlier: list[dict[str, int]],
    narrow: bool,
) -> set[str]:
    counts = _counts(race, ballots)
    rounds = [*earlier, counts]
    total = sum(counts.values())
    for option in race:
        if 2 * counts[option] > total:  # more than half of what counts this round
            return {option}
    nobody = [o for o in race if counts[o] == 0]
    if nobody:  # no votes this round: eliminated together
        return _go([o for o in race if o not in nobody], ballots, rounds, narrow)
    fewest = min(counts.values())
    candidates = [o for o in race if counts[o] == fewest]
    if narrow:
        for before in reversed(earlier):  # the round before, then the one before that...
            if len(candidates) == 1:
                break
            low = min(before[o] for o in candidates)
            candidates = [o for o in candidates if before[o] == low]
    out: set[str] = set()
    for option in candidates:  # one left: it goes; several: each in turn
        out |= _go([o for o in race if o != option], ballots, rounds, narrow)
    return out
