"""Which seals count, which sheet is sealed, and whether a vote can still be sealed.

Two sets of rules, chosen by the charter (``CharterFields.rules``):

**Rules 2** (charters with ``f``; field_guides/voting.md "What is guaranteed").
A seal counts if it is signed by a teller's *seat key* (named in the charter)
and that key had been granted ``teller`` at or before the seal's seq. Later
roster cuts (revocation, rotation, role removal) and fork proofs never cancel
a seal. A teller whose seat key has no fork proof counts once, for the sheet
of its first seal in its feed (feeds arrive in order, so every laptop agrees);
a second seal on another sheet is flagged and never counts. A teller whose
seat key has a fork proof (a copied key) counts for every sheet it sealed:
the threshold ``2k - n >= f + 1`` makes two sheets with k counted seals each
share ``f + 1`` tellers, so with at most ``f`` copied teller keys at most one
sheet can ever be sealed, on every laptop together. Counts only grow as
entries arrive, so a sealed sheet stays sealed.

**Rules 1** (charters without ``f``, from older plurictl): exactly as before,
so that no announced result changes on upgrade: the first seal of a teller
member names its sheet, and it counts only if the key held ``teller`` then
by the current roster.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping
from dataclasses import replace

from ledger.entry import Entry
from ledger.roster.view import ACTIVE, Roster
from ledger.votes.bodies import BALLOT, SEAL, SHARE
from ledger.votes.state import (
    ForkedTeller,
    Seal,
    Sheet,
    Stuck,
    TellerEquivocation,
    Vote,
    Votes,
)

Ignore = Callable[[Entry, str], None]
NOT_IN_ROSTER = "not in the roster"


def generation(roster: Roster, key: bytes) -> int:
    """How many rotations lie behind this key (a member's older keys come first)."""
    n, seen = 0, {key}
    info = roster.keys.get(key)
    while info is not None and info.predecessor is not None and info.predecessor not in seen:
        seen.add(info.predecessor)
        n += 1
        info = roster.keys.get(info.predecessor)
    return n


def granted(roster: Roster, key: bytes, seq: int, roles: tuple[str, ...]) -> bool:
    """Had ``key`` been granted one of ``roles`` at or before entry ``seq``, whatever cuts
    came later? (What a sealed sheet's entries are judged by under rules 2.)"""
    info = roster.keys.get(key)
    return (
        info is not None
        and seq >= 1
        and any(s.role in roles and s.from_seq <= seq for s in info.roles)
    )


def held_everywhere(roster: Roster, seal: Seal) -> bool:
    """Does every laptop end up able to hold this entry? Not one made past its key's cut or
    fork point (stores refuse those), except at the fork point itself (the proof carries it)."""
    info = roster.keys.get(seal.author)
    if info is None or roster.valid(seal.author, seal.seq):
        return True
    return info.fork_seq == seal.seq


#: what a teller's laptop that has not heard of its cut writes on votes: the only kinds a
#: seal kept past the cut may have between the cut and itself
KEPT_KINDS = frozenset({BALLOT, SEAL, SHARE})


def kept_past_cut(
    roster: Roster, seal: Seal, feed: Mapping[int, Entry], charters: Container[str]
) -> bool:
    """Rules 2, a vote not sealed yet: is this counting seal, made past its key's cut, one
    that every store keeps and passes on (:mod:`ledger.votes.pins`)? Stores keep a chain
    contiguously, so only if every entry of the key from the cut up to the seal (``feed``:
    the key's vote entries by seq) is a ballot, seal or share on a vote whose charter is
    here (``charters``: ids, hex), at most one of each kind per vote: a thief holding the
    revoked key makes stores keep at most three entries per vote, never a flood. Never
    past a fork point (the other chain holds those seqs)."""
    info = roster.keys.get(seal.author)
    if info is None or info.limit is None or seal.seq <= info.limit:
        return False
    if info.fork_seq is not None and seal.seq >= info.fork_seq:
        return False
    seen: set[tuple[str, str]] = set()
    for seq in range(info.limit + 1, seal.seq + 1):  # ends within 3 per vote here
        e = feed.get(seq)
        vote = e.body.get("vote") if e is not None else None
        if e is None or e.kind not in KEPT_KINDS or not isinstance(vote, str):
            return False
        if vote not in charters or (e.kind, vote) in seen:
            return False
        seen.add((e.kind, vote))
    return True


def count_v2(
    vote: Vote, seals: list[Seal], roster: Roster, by_id: dict[bytes, Entry], ignore: Ignore
) -> dict[tuple[bytes, bytes], list[Seal]]:
    """Attach counting seals to their sheets; returns seals on sheets this laptop lacks."""
    by_member: dict[bytes, list[Seal]] = {}
    for s in seals:
        by_member.setdefault(s.member, []).append(s)
    pending: dict[tuple[bytes, bytes], list[Seal]] = {}
    keys = vote.charter.fields.teller_keys
    for member in sorted(by_member):
        mine = sorted(by_member[member], key=lambda s: (s.seq, s.id))
        info = roster.keys.get(keys.get(member, member))
        forked = info is not None and info.fork_seq is not None
        counting: dict[bytes, Seal] = {}
        named = mine[0].sheet  # a teller's first seal names its only sheet (unless copied)
        for s in mine:
            if s.problem is not None:
                ignore(by_id[s.id], f"seal not counted: {s.problem}")
            elif s.sheet in counting:
                if forked:  # a copied key's twin seal: its share may be the valid one
                    vote.twin_seals.append(s)
                ignore(by_id[s.id], "this teller already sealed that sheet (counted once)")
            elif forked or s.sheet == named:
                counting[s.sheet] = s
        first = mine[0]
        vote.seals[member] = next(iter(counting.values()), first)
        if not forked:
            others = [s for s in mine if s.sheet != named]
            for s in others:
                if s.problem is None:
                    ignore(
                        by_id[s.id],
                        f"teller equivocation: already sealed sheet {named.hex()[:12]}; "
                        "a seal on another sheet never counts",
                    )
            if others:
                vote.equivocations.append(TellerEquivocation(member, vote.seals[member], others))
        for seal in counting.values():
            _attach(vote, seal, pending, by_id, ignore)
    for member in vote.charter.tellers:
        info = roster.keys.get(keys.get(member, member))
        if info is not None and info.fork_seq is not None:
            sheets = sorted(s.sheet for s in by_member.get(member, []) if s.problem is None)
            vote.forked_tellers.append(
                ForkedTeller(member, info.key, info.fork_seq, sorted(set(sheets)))
            )
    return pending


def _attach(
    vote: Vote,
    seal: Seal,
    pending: dict[tuple[bytes, bytes], list[Seal]],
    by_id: dict[bytes, Entry],
    ignore: Ignore,
) -> None:
    sheet = vote.sheets.get(seal.sheet)
    if sheet is None:
        pending.setdefault((seal.sheet, seal.root), []).append(seal)
    elif seal.root != sheet.root:
        ignore(by_id[seal.id], "seal's root does not match the sheet")
    else:
        sheet.sealers.append(seal)


def count_v1(
    vote: Vote, seals: list[Seal], by_id: dict[bytes, Entry], ignore: Ignore
) -> dict[tuple[bytes, bytes], list[Seal]]:
    """The rules of charters without ``f``, unchanged: one sheet per teller member, named
    by its first seal (key generation, seq, id), counted only through a seal made while
    the key held ``teller`` by the current roster."""
    by_member: dict[bytes, list[Seal]] = {}
    for s in seals:
        by_member.setdefault(s.member, []).append(s)
    pending: dict[tuple[bytes, bytes], list[Seal]] = {}
    for member, mine in sorted(by_member.items()):
        mine.sort(key=lambda s: (s.generation, s.seq, s.id))
        first = mine[0]
        same = [s for s in mine if s.sheet == first.sheet]
        others = [s for s in mine if s.sheet != first.sheet]
        counting = next((s for s in same if s.problem is None), None)
        vote.seals[member] = counting or first
        for s in same:
            if s is not counting:
                why = s.problem and f"seal not counted: {s.problem}"
                ignore(by_id[s.id], why or "this teller already sealed that sheet (counted once)")
        for s in others:
            ignore(
                by_id[s.id],
                f"teller equivocation: already sealed sheet {first.sheet.hex()[:12]}; "
                "a seal on another sheet never counts",
            )
        if others:
            vote.equivocations.append(TellerEquivocation(member, first, others))
        if counting is not None:
            _attach(vote, counting, pending, by_id, ignore)
    return pending


def sealed(vote: Vote, pending: dict[tuple[bytes, bytes], list[Seal]]) -> list[tuple[bytes, bytes]]:
    """(sheet id, root) of every sheet with k counted seals (known here or not)."""
    k = vote.charter.k
    out = [
        (s.id, s.root) for s in vote.sheets.values() if s.problem is None and len(s.sealers) >= k
    ]
    out += [key for key, ss in pending.items() if len(ss) >= k]
    return sorted(out)


def seal_counts(vote: Vote, pending: dict[tuple[bytes, bytes], list[Seal]]) -> dict[bytes, int]:
    """Counted seals per sheet that can still be sealed: sheets this laptop holds (without
    a problem) and sheets it has only seen seals of."""
    out = {sid: len(s.sealers) for sid, s in vote.sheets.items() if s.problem is None}
    for (sid, _), ss in pending.items():
        out[sid] = max(out.get(sid, 0), len(ss))
    return out


def stuck(
    vote: Vote, roster: Roster, counts: dict[bytes, int], refused: dict[bytes, str] | None = None
) -> Stuck | None:
    """None while some sheet (or a new one) can still get k seals; else why not, and what
    would unblock the vote. ``counts``: :func:`seal_counts`, before any seal was set aside
    (a sheet this laptop lacks, or one that holds only if sealed, may still get there).
    ``refused``: sheets no teller on a laptop like this one will seal (they list a ballot
    this roster cuts: a revocation below it), and why; they get no more seals."""
    f = vote.charter.fields
    refused = refused or {}
    able, spent, gone = seats(vote, roster)
    best = max((n for sid, n in counts.items() if sid not in refused), default=0)
    if best + len(able) >= f.k or any(counts.get(sid, 0) >= f.k for sid in refused):
        return None
    # rules 2: a cut or a removed role never cancels a seal: signed anyway, it still counts
    # (rules 1, charters without f: the current roster judges every seal, so it cannot)
    unless = [m for m, why in gone if why != NOT_IN_ROSTER and f.f is not None]
    advice = (
        f"no sheet can reach {f.k} seals any more: the best that can still get seals has "
        f"{best}, and only {len(able)} teller(s) can still seal. Open a new vote (same "
        "question and roll) with tellers who can seal, and tell the voters to cast again there"
    )
    for sid, why in sorted(refused.items()):
        advice += f"; sheet {sid.hex()[:12]} ({counts.get(sid, 0)} seal(s)) {why}"
    most = max(counts.values(), default=0)  # a refused sheet too: they may not hold the cut
    short = f.k - most - len(able)  # seals only the gone tellers could still add
    if len(unless) < short:
        unless = []  # even their seals could not finish it
    base = advice
    if unless:
        advice = _unless(roster, unless, "seal", advice)
    elif gone:
        advice += "; a revoked or rotated teller's (or removed teller role's) seat stays empty"
    return Stuck(max(best, most), able, spent, gone, advice, [], unless, base, "seal", short)


def seats(vote: Vote, roster: Roster) -> tuple[list[bytes], list[bytes], list[tuple[bytes, str]]]:
    """The tellers who can still seal, those who sealed (any sheet), and those whose seat
    key cannot write any more, or whose teller role was removed (and why)."""
    able: list[bytes] = []
    spent: list[bytes] = []
    gone: list[tuple[bytes, str]] = []
    for member in vote.charter.fields.tellers:
        why = seat_gone(vote, roster, member)
        if member in vote.seals:
            spent.append(member)
        elif why is not None:
            gone.append((member, why))
        else:
            able.append(member)
    return able, spent, gone


def seat_gone(vote: Vote, roster: Roster, member: bytes) -> str | None:
    """Why this teller's seat can no longer write a seal or a share (None: it can). A
    removed teller role empties the seat for honest software; a seal or share its key
    signs anyway still counts (like a revoked teller's, it is one of the F)."""
    info = roster.keys.get(vote.charter.fields.teller_keys.get(member, member))
    if info is None:
        return NOT_IN_ROSTER
    if info.status != ACTIVE:
        return f"seat key {info.status}"
    if info.open_span("teller") is None:
        return "teller role removed"
    return None


def _unless(roster: Roster, unless: list[bytes], act: str, advice: str) -> str:
    """The one way a Stuck vote may still finish, said first: a gone teller who acts
    anyway (``act``: "seal" or "add a share"); then the advice, as the fallback."""
    names = ", ".join(roster.name_of(m) for m in unless)
    verb = act if len(unless) > 1 else act.replace("seal", "seals").replace("add ", "adds ")
    return (
        f"it can still finish only if {names} {verb} anyway (a revoked, rotated or "
        "role-removed teller's seal or share, signed on a laptop that has not heard of it, "
        f"still counts). Otherwise {advice}. If you open a new vote, say that it replaces "
        "this one"
    )


def shares_stuck(vote: Vote, roster: Roster) -> Stuck | None:
    """A secret vote sealed with fewer than k valid decryption shares: None while tellers
    without a valid share on the sealed sheet can still add enough (``waiting`` names
    them: they run ``plurictl vote seal VOTE``); else why its counts can never be
    decrypted. A teller whose share is bad may write another, so it stays able."""
    sec = vote.secret
    if sec is None or sec.counts is not None:
        return None
    k = vote.charter.k
    good = {s.member for s in sec.shares if s.valid}  # a copied teller's twins: once
    able, spent, gone = [], [], []
    for member in vote.charter.fields.tellers:
        why = seat_gone(vote, roster, member)
        if member in good:
            spent.append(member)
        elif why is not None:
            gone.append((member, why))
        else:
            able.append(member)
    names = ", ".join(roster.name_of(m) for m in able)
    command = f"`plurictl vote seal {vote.id.hex()[:8]}`"
    if len(good) + len(able) >= k:
        sec.waiting = f"{sec.waiting}; waiting for {names} to run {command}"
        return None
    bad = [s for s in sec.shares if not s.valid and s.member not in good]
    can = f"only {names} can" if able else "none can"
    sec.waiting = f"{sec.waiting}; too few tellers can still add a share ({can})"
    advice = (
        f"this sheet can never be decrypted: {len(good)} valid decryption share(s) of the {k} "
        f"needed, and only {len(able)} teller(s) without one can still add one"
    )
    if gone:
        advice += "; " + ", ".join(f"{roster.name_of(m)}: {why}" for m, why in gone)
    if bad:
        who = ", ".join(f"{roster.name_of(s.member)} (teller {s.teller})" for s in bad)
        advice += f"; the shares of {who} do not verify"
    advice += (
        ". Open a new vote (same question and roll) with tellers who can seal, and tell the "
        "voters to cast again there"
    )
    unless = [m for m, why in gone if why != NOT_IN_ROSTER]  # a share signed anyway counts
    short, base = k - len(good) - len(able), advice
    if len(unless) >= short:
        advice = _unless(roster, unless, "add a share", advice)
    else:
        unless = []
    invalid = sorted({s.member for s in bad})
    return Stuck(
        len(sec.shares), able, spent, gone, advice, invalid, unless, base, "add a share", short
    )


def own_seats(votes: Votes, roster: Roster, mine: set[bytes]) -> None:
    """On a laptop of a teller whose seat is gone (``mine``: the members this laptop signed
    as) and that has heard of it, Stuck never says "only if <that teller> seals anyway":
    plurictl does not invite signing around a revocation from an old backup or a copied
    key. Said unconditionally for that seat; other gone tellers stay named (review 21f F2)."""
    for vote in votes.votes.values():
        s = vote.stuck
        own = [m for m in s.unless if m in mine] if s is not None else []
        if s is None or not own:
            continue
        rest = [m for m in s.unless if m not in mine]
        why = dict(s.gone)
        seats = ", ".join(f"{roster.name_of(m)}: {why.get(m, 'seat gone')}" for m in own)
        base = (
            f"{s.base}; the seat of this laptop ({seats}) stays empty: this laptop has heard "
            "of that, and plurictl does not sign around it"
        )
        if len(rest) < s.short:
            rest = []
        advice = _unless(roster, rest, s.act, base) if rest else base
        vote.stuck = replace(s, advice=advice, unless=rest, base=base)


def sheets_in_view(
    vote: Vote,
    sealed_id: bytes | None,
    ignore_sheet: Callable[[Sheet], None],
    kept: Callable[[Seal], bool],
) -> None:
    """Rules 2: drop sheets that hold only if sealed and are not; set aside the seals on
    unsealed sheets that not every laptop can hold (so every laptop shows the same counts).
    While no sheet is sealed, a seal made past its key's cut that every store keeps
    (``kept``: :func:`kept_past_cut`) stays, and is listed in ``vote.kept_seals``."""
    for sid in sorted(vote.sheets):
        sheet = vote.sheets[sid]
        if sid == sealed_id:
            continue
        if sheet.conditional:
            ignore_sheet(sheet)
            del vote.sheets[sid]
            continue
        if sealed_id is None and sheet.problem is None:
            held = [s for s in sheet.sealers if s.surplus and kept(s)]
            vote.kept_seals += held
            for s in held:
                s.surplus = False
        sheet.set_aside = [s for s in sheet.sealers if s.surplus]
        sheet.sealers = [s for s in sheet.sealers if not s.surplus]
