"""Votes view: charters, ballots, stops, close sheets and seals, folded into per-vote state.

A pure fold (``fold(entries, roster) -> Votes``): the same entries give the
same state on every laptop, in any arrival order, duplicated or not. Entries
are processed sorted by id; nothing depends on clocks (HLC is shown, never
used to decide). Body formats: :mod:`ledger.votes.bodies`.

Rules (DESIGN.md "Votes" 1-6):

* **Who.** A charter or close sheet counts only if its author held
  ``coordinator`` at that seq; a ballot only if its author's *member* is on the
  charter's roll and the key held a non-observer role; a stop or seal only if
  the author held ``teller`` and its member is one of the charter's tellers.
  Voters and tellers are counted by member id, so a rotated key keeps its slot.
* **One slot per voter.** A ballot replaces every ballot it names, and
  whatever those named (transitively). The slot's *heads* are the member's
  ballots that no other ballot of theirs replaces: one head is the vote; two or
  more heads are a double vote, the slot is void, and the heads (with their
  signatures) are the proof; a later ballot naming all of them restores it.
  A ballot that breaks the method's rules (unknown option, over the quadratic
  budget ...) is *spoiled*: it was the voter's word, so it keeps its place in
  the chain, but a spoiled head counts for turnout only.
* **Seals**: one teller counts once per sheet, never cancelled once counted
  (charters with ``f``) or by the old rules (charters without ``f``): see
  :mod:`ledger.votes.seals`, which also says why at most one sheet per
  vote can ever reach k seals.
* **A sealed sheet is final** (rules 2). Once a sheet has k seals, what it
  depends on (charter, sheet, seals, the ballots it lists) is judged by
  :func:`ledger.votes.seals.granted`: roles granted at or before the
  entry, whatever later cuts or fork proofs say. A revocation never reaches
  back below a ballot a sealed sheet lists.
* **States.** PROVISIONAL: no sheet has k seals; counts as this laptop sees
  them, never a winner. SEALED: one sheet has k seals but this laptop lacks the
  sheet, its parts or some ballots it lists. FINAL: the sealed set is complete
  and tallied; ballots outside it are "uncounted (late)". CONFLICT: two sheets
  have k seals (more than f tellers equivocated): no result. FAILED: counting
  this vote raised an error; only this vote shows it ("count failed: ...").
* **Quorum** is measured against the roll weight. "Decided regardless": the
  margin exceeds what the roll's missing weight could have changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from ledger import schemas
from ledger.entry import Entry
from ledger.roster.view import Roster
from ledger.stored import gc_paused
from ledger.votes.bodies import (
    CEREMONY_KINDS,
    CHARTER,
    PART,
    VOTE_KINDS,
    CharterFields,
    Malformed,
    merge_roll,
    parse_charter,
    parse_hex,
)
from ledger.votes.result import resolve_slot
from ledger.votes.seals import granted
from ledger.votes.state import (
    BLANK,
    CONFLICT,
    FAILED,
    FINAL,
    LATE,
    NO_QUORUM,
    NOT_HEARD,
    PROVISIONAL,
    SEALED,
    SPOILED,
    VOID,
    VOTED,
    Ballot,
    Charter,
    ForkedTeller,
    Ignored,
    Result,
    Seal,
    Sheet,
    Slot,
    Stop,
    Stuck,
    TellerEquivocation,
    Vote,
    Votes,
)
from ledger.votes.votefold import VoteFold

if TYPE_CHECKING:
    from ledger.votes.ceremonies import Ceremony

# --- the fold ----------------------------------------------------------------------


def fold(
    entries: Iterable[Entry],
    roster: Roster,
    heard: Mapping[bytes, int] | None = None,
    proofs: Iterable[Entry] = (),
    *,
    count: bool = True,
) -> Votes:
    """Fold vote entries into per-vote state (see :func:`_fold`). ``count=False``: states,
    sheets, seals and ballots only, no tally (a FINAL vote then has no result): what the
    store's pins and the roster's warnings need, quickly, and whatever a count would do.
    Secret votes are always counted: whether one is FINAL depends on its decryption shares."""
    # A fold of 100,000 ballots allocates a few hundred thousand objects and no cycles:
    # the cyclic collector would only rescan them, again and again (about 20% slower).
    with gc_paused():
        return _fold(entries, roster, heard, proofs, count)


def _fold(
    entries: Iterable[Entry],
    roster: Roster,
    heard: Mapping[bytes, int] | None,
    proofs: Iterable[Entry],
    count: bool = True,
) -> Votes:
    """Fold vote entries into per-vote state.

    ``heard`` maps a key to the HLC of the newest entry this laptop has from it
    (for "last heard" only); by default it is taken from ``entries``. ``proofs``
    are the entries of fork proofs (two entries of one key at one seq): the votes
    of charters with ``f`` read them too, so a copied teller key's seals count on
    every laptop that has the proof.
    """
    out = Votes()
    by_id, from_proofs, seen_hlc = _well_formed(entries, list(proofs), heard is None, out)
    ordered = [by_id[i] for i in sorted(by_id)]  # by id (ids are unique: plain bytes order)
    parts: dict[bytes, Entry] = {}
    charters: list[Entry] = []
    ceremony_entries: list[Entry] = []
    by_text: dict[str, list[Entry]] = {}  # the other entries, by the vote id as written
    odd: list[Entry] = []  # ... and those naming it with something else than text
    for e in ordered:
        kind = e.kind
        if kind == PART:
            parts[e.id] = e
        elif kind == CHARTER:
            charters.append(e)
        elif kind in CEREMONY_KINDS:
            ceremony_entries.append(e)
        else:
            text = e.body.get("vote")
            if type(text) is str:
                group = by_text.get(text)
                if group is None:
                    by_text[text] = [e]
                else:
                    group.append(e)
            else:
                odd.append(e)
    if ceremony_entries:  # the crypto stack loads only where key ceremonies exist
        from ledger.votes.ceremonies import fold_ceremonies

        out.ceremonies = fold_ceremonies(ceremony_entries, roster, out.ignored)
    invalid: set[bytes] = set()
    incomplete: dict[bytes, str] = {}  # charter id -> what it waits for (in words)
    conditional: dict[bytes, str] = {}
    for e in charters:  # in id order, once every part is known
        _charter(e, roster, parts, out, invalid, incomplete, conditional)
    grouped = _group_by_vote(by_text, odd, out, invalid, incomplete)
    heard_map = heard if heard is not None else seen_hlc
    keys_of: dict[bytes, list[bytes]] = {}
    for key, info in roster.keys.items():
        keys_of.setdefault(info.member, []).append(key)
    for vid, vote in sorted(out.votes.items()):
        mine = grouped.get(vid, [])
        if from_proofs and vote.charter.fields.rules == 1:  # older charters never read proofs
            mine = [e for e in mine if e.id not in from_proofs]
        _fold_one(vote, roster, out, by_id, parts, mine, count)
        if vid in conditional and vote.sealed_sheet is None and vote.state != CONFLICT:
            _drop(out, vote, mine, conditional[vid])
            continue
        for member in vote.charter.roll:
            stamps = [heard_map[k] for k in keys_of.get(member, ()) if k in heard_map]
            if stamps:
                vote.last_heard[member] = max(stamps)
    order = lambda i: (i.vote or b"", i.id, i.reason)  # noqa: E731
    out.ignored.sort(key=order)
    out.waiting.sort(key=order)
    return out


def _well_formed(
    entries: Iterable[Entry], proofs: list[Entry], track_heard: bool, out: Votes
) -> tuple[dict[bytes, Entry], set[bytes], dict[bytes, int]]:
    """The vote entries whose bodies pass the schema (the rest ignored in ``out``), by id;
    which of them only fork proofs carry; and, when ``track_heard``, each author's newest
    HLC over entries and proofs ("last heard", display only)."""
    by_id: dict[bytes, Entry] = {}
    seen_hlc: dict[bytes, int] = {}
    checks = schemas.checks(VOTE_KINDS)  # the generic body schemas (ledger.schemas)
    for e in entries:
        kind = e.kind
        if kind in checks:
            check = checks[kind]
            if check is not None and check(e.body, "body") is not None:
                malformed = schemas.problem(e) or "malformed body"
                out.ignored.append(Ignored(e.id, e.author, e.seq, kind, malformed))
            else:
                by_id[e.id] = e
        if track_heard and seen_hlc.get(e.author, -1) < e.hlc:
            seen_hlc[e.author] = e.hlc  # "last heard" (display only)
    from_proofs = {
        e.id
        for e in proofs
        if e.kind in VOTE_KINDS and e.id not in by_id and not schemas.problem(e)
    }
    for e in proofs:
        if e.id in from_proofs:
            by_id[e.id] = e
        if track_heard and seen_hlc.get(e.author, -1) < e.hlc:
            seen_hlc[e.author] = e.hlc  # both copies' entries, on every laptop alike
    return by_id, from_proofs, seen_hlc


def _group_by_vote(
    by_text: dict[str, list[Entry]],
    odd: list[Entry],
    out: Votes,
    invalid: set[bytes],
    incomplete: dict[bytes, str],
) -> dict[bytes, list[Entry]]:
    """Every non-charter entry under the vote it names (``by_text``: grouped by the vote
    id as written, each group in id order; ``odd``: those naming it with something else
    than text); those of an invalid charter are ignored, those of a charter not (fully)
    here wait (both recorded in ``out``). One hex parse per vote, not per entry."""
    grouped: dict[bytes, list[Entry]] = {}
    for text, group in [*by_text.items(), *((e.body.get("vote"), [e]) for e in odd)]:
        try:
            vid = parse_hex(text, "vote")
        except Malformed as err:
            out.ignored.extend(Ignored(e.id, e.author, e.seq, e.kind, str(err)) for e in group)
            continue
        if vid in out.votes:
            mine = grouped.get(vid)
            if mine is None:
                grouped[vid] = group
            else:  # two spellings of one id (none parse so today): merged, in id order
                mine.extend(group)
                mine.sort(key=lambda e: e.id)
        elif vid in invalid:
            out.ignored.extend(
                Ignored(e.id, e.author, e.seq, e.kind, "its charter is invalid", vid) for e in group
            )
        else:
            why = f"waiting for {incomplete.get(vid, 'charter')}"
            out.waiting.extend(Ignored(e.id, e.author, e.seq, e.kind, why, vid) for e in group)
    return grouped


def _fold_one(
    vote: Vote,
    roster: Roster,
    out: Votes,
    by_id: dict[bytes, Entry],
    parts: dict[bytes, Entry],
    entries: list[Entry],
    count: bool = True,
) -> None:
    """Fold one vote; an error becomes that vote's state, never the whole fold's."""
    mark = len(out.ignored)
    try:
        VoteFold(vote, roster, out, by_id, parts, count).run(entries)
    except Exception as err:  # a view fold must never raise on signed data
        vote.state, vote.result = FAILED, None
        vote.failure = f"count failed: {type(err).__name__}: {err}"
        del out.ignored[mark:]


def _drop(out: Votes, vote: Vote, entries: list[Entry], why: str) -> None:
    """A charter valid only if its vote got sealed, and it did not: nothing of it counts."""
    del out.votes[vote.id]
    out.ignored = [i for i in out.ignored if i.vote != vote.id]
    c = vote.charter
    out.ignored.append(Ignored(c.id, c.author, c.seq, CHARTER, f"not applied: {why}", c.id))
    for e in entries:
        out.ignored.append(Ignored(e.id, e.author, e.seq, e.kind, "its charter is invalid", c.id))


class _Waiting(Exception):
    """A secret charter whose key ceremony (or its dealings) has not arrived yet."""


def _secret_charter(ceremony: Ceremony | None, fields: CharterFields) -> None:
    from ledger.votes.ceremonies import charter_problem

    problem, waiting = charter_problem(ceremony, fields)
    if problem and waiting:
        raise _Waiting(problem)
    if problem:
        raise Malformed(problem)


def _charter(
    e: Entry,
    roster: Roster,
    parts: dict[bytes, Entry],
    out: Votes,
    invalid: set[bytes],
    incomplete: dict[bytes, str],
    conditional: dict[bytes, str],
) -> None:
    why = roster.authority(e.author, e.seq, "coordinator")
    if why is not None and not (
        "f" in e.body and granted(roster, e.author, e.seq, ("coordinator",))
    ):
        invalid.add(e.id)
        out.ignored.append(Ignored(e.id, e.author, e.seq, e.kind, f"not applied: {why}", e.id))
        return
    try:
        fields = parse_charter(e.body)
        missing = [p for p in fields.roll_parts if p not in parts]
        if missing:
            incomplete[e.id] = "charter incomplete (roll parts missing)"
            out.waiting.append(
                Ignored(
                    e.id, e.author, e.seq, e.kind, f"waiting for {len(missing)} roll part(s)", e.id
                )
            )
            return
        roll = merge_roll(fields, [parts[p].body.get("items") for p in fields.roll_parts])
        if fields.secret is not None:
            _secret_charter(out.ceremonies.get(fields.secret.ceremony), fields)
    except _Waiting as wait:
        incomplete[e.id] = str(wait).removeprefix("waiting for ")  # what the charter needs
        out.waiting.append(Ignored(e.id, e.author, e.seq, e.kind, str(wait), e.id))
        return
    except Malformed as err:
        invalid.add(e.id)
        out.ignored.append(Ignored(e.id, e.author, e.seq, e.kind, f"invalid charter: {err}", e.id))
        return
    if why is not None:  # rules 2: a cut made after the charter holds unless it got sealed
        conditional[e.id] = why
    out.votes[e.id] = Vote(Charter(e.id, e.author, e.seq, e.hlc, fields, roll))


__all__ = [
    "BLANK",
    "CONFLICT",
    "FAILED",
    "FINAL",
    "LATE",
    "NOT_HEARD",
    "NO_QUORUM",
    "PROVISIONAL",
    "SEALED",
    "SPOILED",
    "VOID",
    "VOTED",
    "Ballot",
    "Charter",
    "ForkedTeller",
    "Ignored",
    "Result",
    "Seal",
    "Sheet",
    "Slot",
    "Stop",
    "Stuck",
    "TellerEquivocation",
    "Vote",
    "Votes",
    "fold",
    "resolve_slot",
]
