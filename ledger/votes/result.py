"""The FINAL result of a sealed vote, and the one-slot-per-voter rule it rests on.

Pure functions used by :mod:`ledger.votes.view` (split out to keep that fold short).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from itertools import islice
from operator import attrgetter, lt
from typing import Any

from ledger import merkle
from ledger.errors import InvalidInput
from ledger.votes import tally as vote_tally
from ledger.votes.bodies import QUADRATIC, RANKED, quadratic_swing
from ledger.votes.state import (
    BLANK,
    LATE,
    NO_QUORUM,
    NOT_HEARD,
    SPOILED,
    VOID,
    VOTED,
    Ballot,
    Result,
    Sheet,
    Slot,
    Vote,
)

_by_id = attrgetter("id")


def resolve_slot(member: bytes, weight: int, ballots: list[Ballot]) -> Slot:
    """One voter's slot from their ballots (rule 2): one head counts, several are void."""
    if not ballots:
        return Slot(member, weight, NOT_HEARD)
    if len(ballots) == 1:
        head = ballots[0]
        status = SPOILED if head.spoiled else BLANK if head.blank else VOTED
        return Slot(member, weight, status, ballot=head)
    # Replacement is transitive, but only through ballots that are here, and a ballot
    # that is here already lists what it names: the union of the names is the closure.
    replaced: set[Any] = set()
    try:
        for b in ballots:
            replaced.update(b.replaces)
    except TypeError:  # an unhashable item names nothing (only text names a ballot)
        replaced = {r for b in ballots for r in b.replaces if type(r) is str}
    heads = [b for b in ballots if b.key not in replaced]
    older = [b for b in ballots if b.key in replaced]
    if len(heads) > 1:
        heads.sort(key=_by_id)
    older.sort(key=_by_id)
    if len(heads) > 1:
        return Slot(member, weight, VOID, conflict=heads, replaced=older)
    head = heads[0]
    status = SPOILED if head.spoiled else BLANK if head.blank else VOTED
    return Slot(member, weight, status, ballot=head, replaced=older)


def sealed_slots(vote: Vote, listed: set[bytes]) -> dict[bytes, Slot]:
    """Every roll member's slot over the sealed set only: the slots of members with a
    ballot outside it are resolved again from their listed ballots, the others kept."""
    ballots = vote.ballots
    changed = {ballots[bid].member for bid in ballots.keys() - listed}
    per_member: dict[bytes, list[Ballot]] = {}
    slots = vote.slots
    if changed and all(m in slots for m in changed):
        # a slot holds every ballot of its member (the one, the heads, the replaced)
        for m in changed:
            s = slots[m]
            mine = [*s.conflict, *s.replaced] if s.ballot is None else [s.ballot, *s.replaced]
            per_member[m] = [b for b in mine if b.id in listed]
    elif changed:  # slots not resolved (a vote in conflict): from the ballots
        for bid, b in vote.ballots.items():
            if b.member in changed and bid in listed:
                per_member.setdefault(b.member, []).append(b)
    return {
        m: resolve_slot(m, w, per_member.get(m, [])) if m in changed else vote.slots[m]
        for m, w in vote.charter.roll.items()
    }


#: A secret sheet counting fewer voters than this (but some) shows who chose what.
SMALL_SHEET = 3


def refuse_small(vote: Vote, listed: Iterable[bytes], doing: str, reveal_small: bool) -> None:
    """A secret sheet with 1 or 2 counted ballots, or one whose heaviest voter outweighs
    all the others together, is closed or sealed only on purpose: its decrypted counts
    show those voters' choices (exit 5). No ballot reveals nothing, so an empty sheet
    may be closed and sealed."""
    if vote.charter.fields.secret is None or reveal_small:
        return
    slots = sealed_slots(vote, set(listed)).values()
    weights = [s.weight for s in slots if s.status == VOTED and s.ballot is not None]
    n = len(weights)
    hint = (
        "wait for more ballots (sync first); only if those voters agree that their "
        "choices become known: --reveal-small"
    )
    if 0 < n < SMALL_SHEET:
        raise InvalidInput(
            f"refusing to {doing}: only {n} ballot(s) would count, and with fewer than "
            f"{SMALL_SHEET} the decrypted counts show who chose what",
            hint=hint,
        )
    if n and max(weights) > sum(weights) - max(weights):
        raise InvalidInput(
            f"refusing to {doing}: one voter's weight ({max(weights)}) is more than all the "
            "other counted ballots together, so the decrypted counts show that voter's choice",
            hint=hint,
        )


def refuse_unreachable(
    vote: Vote, doing: str, sheet: Sheet | None, member: bytes | None, roster: Any
) -> None:
    """A sheet (None: a new one) that can never reach k seals gets no seal and is not
    closed (exit 5): only tellers who have not sealed yet can add one. Points at a sheet
    that still can, if any, also one this laptop has only seen seals of (review 21d D2,
    21e E2: "stuck" was said while a sheet could still finish), and never at "tellers"
    when only a gone teller's seal could finish it (review 21f F1)."""
    k = vote.charter.k
    me = 1 if member else 0
    unsealed = [t for t in vote.charter.tellers if t not in vote.seals and t != member]
    here = len(sheet.sealers) + len(sheet.set_aside) if sheet else 0
    if here + me + len(unsealed) >= k:
        return
    what = f"sheet {sheet.id.hex()[:12]}" if sheet else "a new sheet"
    why = (
        f"refusing to {doing}: {what} can never reach {k} seals (only {len(unsealed)} other "
        "teller(s) have not sealed yet)"
    )
    can = sorted(
        (-n, sid)
        for sid, n in vote.seal_counts_seen.items()
        if (sheet is None or sid != sheet.id) and n + me + len(unsealed) >= k
    )
    if not can:
        raise InvalidInput(
            why + "; no sheet can: this vote is stuck",
            hint="the coordinator opens a new vote (same question and roll); "
            "field_guides/voting.md",
        )
    seals, best = -can[0][0], can[0][1].hex()[:12]
    if can[0][1] not in vote.sheets:
        raise InvalidInput(
            f"{why}; tellers sealed sheet {best} ({seals} seal(s)), which this laptop does not "
            "hold yet",
            hint=f"sync with the coordinator's laptop, then: plurictl vote seal "
            f"{vote.id.hex()[:8]} --sheet {best}",
        )
    if vote.stuck is not None:  # only a gone teller's seal could: no "tellers seal it"
        gone = vote.stuck.unless
        names = ", ".join(roster.name_of(m) for m in gone)
        raise InvalidInput(
            f"{why}; sheet {best} has {seals} seal(s) and can still be sealed only if {names} "
            f"{'seal' if len(gone) > 1 else 'seals'} it anyway (a revoked, rotated or "
            "role-removed teller's seal, signed on a laptop that has not heard of it, still "
            "counts): no teller who may seal is left to add one",
            hint="nothing written; if that seal never comes, the coordinator opens a new vote "
            f"that replaces this one (`plurictl vote status {vote.id.hex()[:8]}`)",
        )
    raise InvalidInput(
        f"{why}; sheet {best} has {seals} seal(s) and can still be sealed",
        hint=f"tellers seal it: plurictl vote seal {vote.id.hex()[:8]} --sheet {best} "
        "--accept-late (ballots it leaves out stay uncounted)",
    )


def no_new_sheet(vote: Vote, member: bytes) -> str | None:
    """Why a new sheet (listing the ballots a sheet leaves out) could not be sealed, or None
    when it could: not once the vote is sealed or a secret sheet carries shares, nor when
    the tellers who have not sealed, this one included, are fewer than k."""
    if vote.sealed_sheet is not None:
        return "the vote is sealed"
    if shared_sheets(vote):
        return "a sheet already carries decryption shares"
    unsealed = [t for t in vote.charter.tellers if t not in vote.seals and t != member]
    if 1 + len(unsealed) >= vote.charter.k:
        return None
    return (
        f"only {1 + len(unsealed)} teller(s) who have not sealed are left, you included, "
        f"and a sheet needs {vote.charter.k}"
    )


def refuse_other_sheet(vote: Vote, sheet: bytes) -> None:
    """Once a vote is sealed, a seal goes only to the sealed sheet (exit 5); a laptop that
    lacks that sheet is told to sync (a secret vote still needs shares on it)."""
    done = vote.sealed_sheet
    if done is None or sheet == done:
        return
    hint = None
    if done not in vote.sheets:
        hint = f"this laptop lacks sheet {done.hex()[:12]}: sync, then run `plurictl vote seal "
        hint += f"{vote.id.hex()[:8]}` again" + (
            " to add your decryption share" if vote.charter.fields.secret else ""
        )
    raise InvalidInput(f"this vote is already sealed on sheet {done.hex()[:12]}", hint=hint)


def refuse_stuck(vote: Vote, doing: str) -> None:
    """A vote no sheet can seal any more (``vote.stuck`` while none is sealed: counted seals
    only grow, a gone seat never comes back) gets no new sheet or seal: say Stuck and the way
    out instead of "seal it" or "run it again" (exit 5)."""
    if vote.stuck is None or vote.sealed_sheet is not None or vote.stuck.unless:
        return  # stuck unless a gone teller seals anyway: that seal would still count
    raise InvalidInput(
        f"refusing to {doing}: this vote is Stuck: {vote.stuck.advice}",
        hint=f"`plurictl vote status {vote.id.hex()[:8]}` says why; nothing written",
    )


def shared_sheets(vote: Vote) -> set[bytes]:
    """The sheets of a secret vote that carry a decryption share (a seal's or a
    ``vote.share``'s); empty for an open vote."""
    if vote.charter.fields.secret is None:
        return set()
    shared = {s.sheet for s in vote.share_entries}
    for i, sheet in vote.sheets.items():
        if any(x.share is not None for x in (*sheet.sealers, *sheet.set_aside)):
            shared.add(i)
    return shared


def refuse_second_sheet(vote: Vote, doing: str, sheet: bytes | None = None) -> None:
    """A secret vote decrypts one sheet. Once a sheet carries a decryption share (a seal
    that carries one, or a ``vote.share``: honest software writes them only on a sheet
    with k seals), no other sheet is closed or sealed: with honest shares on two sheets,
    k - 1 tellers could decrypt the one that does not become the result, and the
    difference between the two shows the ballots only one of them lists (exit 5).
    Seals without a share (seal, then share) do not block a split's heal."""
    if vote.charter.fields.secret is None:
        return
    others = sorted(i for i in shared_sheets(vote) if i != sheet and i in vote.sheets)
    if others:
        first = others[0].hex()[:12]
        raise InvalidInput(
            f"refusing to {doing}: sheet {first} of this secret vote already carries "
            "decryption shares; shares on a second sheet would let k - 1 tellers decrypt one "
            "of the two and read the ballots only it lists",
            hint=f"tellers seal sheet {first} (`vote seal VOTE --sheet {first}`; ballots it "
            "leaves out stay uncounted: --accept-late), or the coordinator opens a new vote",
        )


def refuse_unseen(vote: Vote, roster: Any, sheet: bytes, unseen: list[bytes], get: Any) -> None:
    """A sheet listing ballots this laptop does not count is never sealed here (exit 5).
    One this roster cuts (its voter's key revoked below it) never will be: said, with the
    way out (review 21c C2); else the ballots may still arrive: sync."""
    from ledger.votes.bodies import BALLOT, VOTER_ROLES

    for bid in unseen:
        e = get(bid)
        why = roster.authority(e.author, e.seq, *VOTER_ROLES) if e and e.kind == BALLOT else None
        if why is not None and "after seq" in why:
            raise InvalidInput(
                f"sheet {sheet.hex()[:12]} lists {roster.name_of(e.author)}'s ballot (seq "
                f"{e.seq}), which this laptop does not count: {why}, below the ballot (revoked "
                "or rotated); no laptop holding that roster change seals this sheet",
                hint="if no other sheet can reach k seals, `plurictl vote status "
                f"{vote.id.hex()[:8]}` says Stuck: the coordinator opens a new vote (same "
                "question and roll) and the voters cast again there",
            )
    raise InvalidInput(
        f"the sheet lists {len(unseen)} ballot(s) this laptop does not hold as valid ballots",
        hint="sync first; if they still do not show up, do not seal (see `plurictl vote verify`)",
    )


def final_result(
    vote: Vote,
    ordered: list[bytes],
    rejected: dict[bytes, str],
    count: Callable[[Mapping[bytes, Slot]], vote_tally.Tally],
    listed: set[bytes] | None = None,
) -> Result:
    """The FINAL result over the sealed sheet's ballots (``ordered``; ``listed``: the same
    as a set, if the caller has it): slots, tally, quorum, "decided regardless", and why
    each ballot counts or not."""
    charter = vote.charter
    f = charter.fields
    if listed is None:
        listed = set(ordered)
    slots = sealed_slots(vote, listed)
    tally = count(slots)
    turnout = sum(s.weight for s in slots.values() if s.participated)
    missing = f.roll_weight - turnout
    quorum_met = turnout * 100 >= f.quorum_pct * f.roll_weight
    outcome = tally.outcome if quorum_met else NO_QUORUM
    winner = charter.option(tally.winner) if outcome == vote_tally.WINNER else None
    regardless = False
    if winner is not None:
        if missing == 0:  # nobody left who could change it
            regardless = True
        elif f.method == RANKED:
            regardless = 2 * tally.first_preferences > f.roll_weight
        elif f.method == QUADRATIC:
            regardless = tally.margin > missing * quadratic_swing(f.credits or 0)
        else:
            regardless = tally.margin > missing
    counted: list[Ballot] = []
    uncounted: list[tuple[bytes, str]] = []
    late = f"{LATE}: not in the sealed set"
    void = "void: double vote (two ballots that do not name each other)"
    replaced = "replaced by a later ballot in the sealed set"
    add = uncounted.append
    for bid, b in vote.ballots.items():  # in id order: entries are folded sorted by id
        if bid not in listed:
            add((bid, late))
            continue
        slot = slots[b.member]
        if slot.ballot is not b:  # a void slot holds no ballot
            add((bid, void if slot.status == VOID else replaced))
        elif b.spoiled:
            add((bid, f"spoiled: {b.spoiled}"))
        else:
            counted.append(b)
    odd = (listed - vote.ballots.keys()) | (listed & rejected.keys())
    if odd:  # listed ids that are not counted ballots here (rare): in sheet order
        for bid in ordered:
            if bid not in odd:
                continue
            if bid in rejected:
                add((bid, f"listed but not counted: {rejected[bid]}"))
            else:
                add((bid, "listed but not a ballot of this vote"))
    return Result(
        tally,
        outcome,
        winner,
        f.quorum_pct,
        quorum_met,
        turnout,
        f.roll_weight,
        missing,
        regardless,
        slots,
        counted,
        uncounted,
    )


def sheet_problem(listed: list[bytes], count: int, root: bytes) -> str | None:
    if len(listed) != count:
        return f"lists {len(listed)} ballots but says {count}"
    if not all(map(lt, listed, islice(listed, 1, None))):  # pairwise, in C
        return "ballot ids are not in ascending order without repeats"
    if merkle.root(listed) != root:
        return "the Merkle root does not match the listed ballots"
    return None
