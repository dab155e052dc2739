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

import gc
from collections.abc import Iterable, Mapping
from typing import Any

from ledger import schemas
from ledger.entry import Entry
from ledger.roster.view import Roster
from ledger.votes import seals as vote_seals
from ledger.votes import tally as vote_tally
from ledger.votes.bodies import (
    BALLOT,
    CHARTER,
    CLOSE,
    PART,
    RANKED,
    SEAL,
    STOP,
    VOTE_KINDS,
    VOTER_ROLES,
    Malformed,
    choice_checker,
    merge_roll,
    parse_charter,
    parse_hex,
)
from ledger.votes.result import final_result, resolve_slot, sheet_problem
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
    store's pins and the roster's warnings need, quickly, and whatever a count would do."""
    # A fold of 100,000 ballots allocates a few hundred thousand objects and no cycles:
    # the cyclic collector would only rescan them, again and again (about 20% slower).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _fold(entries, roster, heard, proofs, count)
    finally:
        if enabled:
            gc.enable()


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
    ordered = sorted(by_id.values(), key=lambda e: e.id)
    parts = {e.id: e for e in ordered if e.kind == PART}
    invalid: set[bytes] = set()
    incomplete: set[bytes] = set()
    conditional: dict[bytes, str] = {}
    for e in ordered:
        if e.kind == CHARTER:
            _charter(e, roster, parts, out, invalid, incomplete, conditional)
    grouped = _group_by_vote(ordered, out, invalid, incomplete)
    heard_map = heard if heard is not None else seen_hlc
    keys_of: dict[bytes, list[bytes]] = {}
    for key, info in roster.keys.items():
        keys_of.setdefault(info.member, []).append(key)
    for vid, vote in sorted(out.votes.items()):
        mine = grouped.get(vid, [])
        if vote.charter.fields.rules == 1:  # older charters never read fork proofs
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
    for e in entries:
        if e.kind in VOTE_KINDS:
            malformed = schemas.problem(e)  # the generic body schema (ledger.schemas)
            if malformed:
                out.ignored.append(Ignored(e.id, e.author, e.seq, e.kind, malformed))
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
    ordered: list[Entry], out: Votes, invalid: set[bytes], incomplete: set[bytes]
) -> dict[bytes, list[Entry]]:
    """Every non-charter entry under the vote it names; those of an invalid charter are
    ignored, those of a charter not (fully) here wait (both recorded in ``out``)."""
    grouped: dict[bytes, list[Entry]] = {}
    vote_of: dict[str, bytes] = {}  # one hex parse per vote, not per ballot
    for e in ordered:
        if e.kind in (PART, CHARTER):
            continue
        text = e.body.get("vote")
        try:
            vid = vote_of[text] if isinstance(text, str) and text in vote_of else None
            if vid is None:
                vid = parse_hex(text, "vote")
                if isinstance(text, str):  # always, once it parsed
                    vote_of[text] = vid
        except Malformed as err:
            out.ignored.append(Ignored(e.id, e.author, e.seq, e.kind, str(err)))
            continue
        if vid in out.votes:
            grouped.setdefault(vid, []).append(e)
        elif vid in invalid:
            out.ignored.append(
                Ignored(e.id, e.author, e.seq, e.kind, "its charter is invalid", vid)
            )
        else:
            why = "charter incomplete (roll parts missing)" if vid in incomplete else "charter"
            out.waiting.append(Ignored(e.id, e.author, e.seq, e.kind, f"waiting for {why}", vid))
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
        _VoteFold(vote, roster, out, by_id, parts, count).run(entries)
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


def _charter(
    e: Entry,
    roster: Roster,
    parts: dict[bytes, Entry],
    out: Votes,
    invalid: set[bytes],
    incomplete: set[bytes],
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
            incomplete.add(e.id)
            out.waiting.append(
                Ignored(
                    e.id, e.author, e.seq, e.kind, f"waiting for {len(missing)} roll part(s)", e.id
                )
            )
            return
        roll = merge_roll(fields, [parts[p].body.get("items") for p in fields.roll_parts])
    except Malformed as err:
        invalid.add(e.id)
        out.ignored.append(Ignored(e.id, e.author, e.seq, e.kind, f"invalid charter: {err}", e.id))
        return
    if why is not None:  # rules 2: a cut made after the charter holds unless it got sealed
        conditional[e.id] = why
    out.votes[e.id] = Vote(Charter(e.id, e.author, e.seq, e.hlc, fields, roll))


class _VoteFold:
    """Folds the entries of one vote (already sorted by id)."""

    def __init__(
        self,
        vote: Vote,
        roster: Roster,
        out: Votes,
        by_id: dict[bytes, Entry],
        parts: dict[bytes, Entry],
        count: bool = True,
    ) -> None:
        self.vote, self.roster, self.out, self.by_id, self.parts = vote, roster, out, by_id, parts
        self.count = count
        self.charter = vote.charter
        self.rules = vote.charter.fields.rules
        self.rejected: dict[bytes, str] = {}  # ballot id -> why it does not count
        #: rules 2: ballots refused by the roster as it is now, kept in case a sealed
        #: sheet lists them (then they count as listed)
        self.held: dict[bytes, Ballot] = {}
        #: rules 2: ballots whose voter this laptop's roster does not show with a voter
        #: role (yet): a sealed sheet listing one is not counted here until it does
        self.unproven: set[bytes] = set()
        self.always: dict[tuple[bytes, tuple[str, ...]], bool] = {}
        self.voters: dict[bytes, bytes] = {}
        f = vote.charter.fields
        self.check = choice_checker(f.method, f.options, f.credits)
        self.seat_of = {key: member for member, key in f.teller_keys.items()}
        self.best_seals = 0

    def authority(self, author: bytes, seq: int, roles: tuple[str, ...]) -> str | None:
        """``roster.authority``, answered once per key when it holds a role for its whole feed."""
        key = (author, roles)
        always = self.always.get(key)
        if always is None:
            info = self.roster.keys.get(author)
            always = (
                info is not None
                and info.last_seq is None
                and info.fork_seq is None
                and any(
                    s.role in roles and s.from_seq <= 1 and s.to_seq is None for s in info.roles
                )
            )
            self.always[key] = always
        return None if always else self.roster.authority(author, seq, *roles)

    @staticmethod
    def ids(value: Any, what: str) -> list[bytes]:
        """A list of hex ids as bytes, parsed in one go (sheets list up to 100,000)."""
        if type(value) is not list or not all(type(v) is str and len(v) == 64 for v in value):
            raise Malformed(f"{what} must be a list of ids (64 lowercase hex characters)")
        joined = "".join(value)
        if joined != joined.lower():
            raise Malformed(f"{what}: ids are lowercase hex")
        try:
            raw = bytes.fromhex(joined)
        except ValueError:
            raise Malformed(f"{what} must be a list of ids (64 lowercase hex characters)") from None
        return [raw[i : i + 32] for i in range(0, len(raw), 32)]

    def ignore(self, e: Entry, reason: str) -> None:
        self.out.ignored.append(Ignored(e.id, e.author, e.seq, e.kind, reason, self.charter.id))
        if e.kind == BALLOT:
            self.rejected[e.id] = reason

    def run(self, entries: list[Entry]) -> None:
        handlers = {BALLOT: self.ballot, STOP: self.stop, CLOSE: self.close}
        seals: list[Seal] = []
        for e in entries:
            if e.kind == SEAL:
                seal = self.seal(e)
                if seal is not None:
                    seals.append(seal)
            else:
                handlers[e.kind](e)
        self.count_seals(seals)
        vote = self.vote
        if vote.state == CONFLICT:
            return
        self.accept_listed()
        per_member: dict[bytes, list[Ballot]] = {}
        for b in vote.ballots.values():
            per_member.setdefault(b.member, []).append(b)
        for member, weight in self.charter.roll.items():
            vote.slots[member] = resolve_slot(member, weight, per_member.get(member, []))
        if self.count:
            vote.provisional = self.first_count(vote.slots)
        self.finish()
        if vote.state == PROVISIONAL:
            vote.stuck = vote_seals.stuck(vote, self.roster, self.best_seals)

    # --- entries -------------------------------------------------------------------

    def ballot(self, e: Entry) -> None:
        member = self.voters.get(e.author)  # keys that may vote at every seq, already checked
        if member is None:
            member = self.roster.member_of(e.author)
            why = self.authority(e.author, e.seq, VOTER_ROLES)
            if why is not None:
                lenient = self.rules == 2 and member in self.charter.roll
                if lenient and granted(self.roster, e.author, e.seq, VOTER_ROLES):
                    self.held[e.id] = self.make_ballot(e, member)  # type: ignore[arg-type]
                elif self.rules == 2 and (member is None or lenient):
                    # Tellers sealed it as a valid ballot: the roster entries that give its
                    # voter a vote have not reached this laptop yet (or were undone)
                    self.unproven.add(e.id)
                self.ignore(e, f"ballot not counted: {why}")
                return
            if member not in self.charter.roll:
                self.ignore(e, "ballot not counted: the voter is not on this vote's roll")
                return
            if self.always[(e.author, VOTER_ROLES)]:
                self.voters[e.author] = member
        if type(e.body.get("replaces", [])) is not list:
            self.ignore(e, "malformed ballot: replaces must be a list of ballot ids")
            return
        self.vote.ballots[e.id] = self.make_ballot(e, member)

    def make_ballot(self, e: Entry, member: bytes) -> Ballot:
        replaces = e.body.get("replaces", [])
        choice, spoiled = self.check(e.body.get("choice"))
        return Ballot(
            e.id,
            e.author,
            member,
            e.seq,
            e.hlc,
            e.sig,
            choice,
            tuple(replaces) if type(replaces) is list else (),
            spoiled,
            e.id.hex(),
        )

    def stop(self, e: Entry) -> None:
        member = self.teller(e)
        if member is None:
            return
        try:
            count = e.body.get("count")
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise Malformed("count must be a whole number")
            root = parse_hex(e.body.get("root"), "root")
        except Malformed as err:
            self.ignore(e, f"malformed stop: {err}")
            return
        self.vote.stops.append(Stop(e.id, e.author, member, e.seq, e.hlc, count, root))

    def close(self, e: Entry) -> None:
        why = self.authority(e.author, e.seq, ("coordinator",))
        conditional = None
        if why is not None:
            if self.rules == 1 or not granted(self.roster, e.author, e.seq, ("coordinator",)):
                self.ignore(e, f"close sheet not applied: {why}")
                return
            conditional = why  # counts only if this very sheet gets sealed
        b = e.body
        try:
            count = b.get("count")
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise Malformed("count must be a whole number")
            root = parse_hex(b.get("root"), "root")
            inline = self.ids(b.get("ballots", []), "ballots")
            part_ids = self.ids(b.get("parts", []), "parts")
        except Malformed as err:
            self.ignore(e, f"malformed close sheet: {err}")
            return
        sheet = Sheet(e.id, e.author, e.seq, e.hlc, count, root, None)
        sheet.parts, sheet.conditional = part_ids, conditional
        self.vote.sheets[e.id] = sheet
        sheet.missing_parts = [p for p in part_ids if p not in self.parts]
        if sheet.missing_parts:
            return
        try:
            listed = list(inline)
            for p in part_ids:
                listed.extend(self.ids(self.parts[p].body.get("items"), "sheet part"))
        except Malformed as err:
            sheet.problem = f"unreadable part: {err}"
        else:
            sheet.ballots = listed
            sheet.problem = sheet_problem(listed, count, root)
        if sheet.problem:
            self.ignore(e, f"close sheet cannot be sealed: {sheet.problem}")

    def teller(self, e: Entry) -> bytes | None:
        why = self.authority(e.author, e.seq, ("teller",))
        if why is not None:
            self.ignore(e, f"{e.kind.split('.')[-1]} not applied: {why}")
            return None
        member = self.roster.member_of(e.author)
        if member not in self.charter.tellers:
            self.ignore(e, f"{e.kind.split('.')[-1]} not applied: not a teller of this vote")
            return None
        return member

    def seal(self, e: Entry) -> Seal | None:
        """A seal by a teller member of this vote; whether it counts is decided in count_seals.

        Authority is checked later on purpose: a teller's *first* seal is chosen among
        all its seals, valid or not, so that a roster change can only cancel a seal,
        never promote a later one.
        """
        member = self.roster.member_of(e.author)
        if self.rules == 2 and e.author in self.seat_of:
            member = self.seat_of[e.author]  # the charter names the seat: no roster needed
        if member is None or member not in self.charter.tellers:
            self.ignore(e, "seal not applied: not a teller of this vote")
            return None
        if self.charter.fields.teller_keys.get(member, member) != e.author:
            # A rotated teller's new key does not inherit the seat: otherwise the old
            # laptop (on one side of a partition) and the new one (on the other) could
            # both seal, and two sides could both reach k.
            self.ignore(
                e,
                "seal not applied: made with a key that did not hold this teller's seat when "
                "the vote opened (after a key rotation the seat stays empty for this vote)",
            )
            return None
        try:
            sheet = parse_hex(e.body.get("sheet"), "sheet")
            root = parse_hex(e.body.get("root"), "root")
        except Malformed as err:
            self.ignore(e, f"malformed seal: {err}")
            return None
        gen = vote_seals.generation(self.roster, e.author)
        seal = Seal(e.id, e.author, member, e.seq, e.hlc, sheet, root, e.sig, gen)
        if self.rules == 1:
            seal.problem = self.authority(e.author, e.seq, ("teller",))
        else:
            if not granted(self.roster, e.author, e.seq, ("teller",)):
                seal.problem = self.roster.authority(e.author, e.seq, "teller") or (
                    f"needs role teller; the key had not been granted it by seq {e.seq}"
                )
            seal.surplus = not vote_seals.held_everywhere(self.roster, seal)
        return seal

    # --- seals ---------------------------------------------------------------------

    def count_seals(self, seals: list[Seal]) -> None:
        """Which seals count, and which sheet (if any) they seal."""
        vote = self.vote
        if self.rules == 1:
            pending = vote_seals.count_v1(vote, seals, self.by_id, self.ignore)
        else:
            pending = vote_seals.count_v2(vote, seals, self.roster, self.by_id, self.ignore)
        done = vote_seals.sealed(vote, pending)
        # the most counted seals on one sheet, before seals only some laptops hold and
        # sheets that hold only if sealed are set aside: any of them may still get to k
        self.best_seals = vote_seals.most_seals(vote, pending)
        if len(done) > 1:
            if self.rules == 1:  # disjoint sealer sets of size >= k > n/2: never both
                raise AssertionError("two sealed sheets: safety violated")
            vote.state, vote.conflict = CONFLICT, [sid for sid, _ in done]
            return
        if done:
            vote.sealed_sheet, vote.sealed_root = done[0]
        if self.rules == 2:
            vote_seals.sheets_in_view(vote, vote.sealed_sheet, self.drop_sheet)

    def drop_sheet(self, sheet: Sheet) -> None:
        e = self.by_id[sheet.id]
        self.ignore(e, f"close sheet not applied: {sheet.conditional}")
        for s in sheet.sealers:
            self.ignore(self.by_id[s.id], "seal on a sheet that is not applied")

    def accept_listed(self) -> None:
        """Rules 2: the ballots a sealed sheet lists count as listed, whatever the roster
        says now (a revocation never reaches back below them)."""
        sheet = self.vote.sheets.get(self.vote.sealed_sheet or b"")
        if self.rules == 1 or sheet is None or sheet.ballots is None:
            return
        for bid in sheet.ballots:
            if bid in self.held and bid not in self.vote.ballots:
                self.vote.ballots[bid] = self.held[bid]
                self.rejected.pop(bid, None)
                self.out.ignored = [
                    i for i in self.out.ignored if not (i.id == bid and i.vote == self.vote.id)
                ]

    # --- state and result ----------------------------------------------------------

    def first_count(self, slots: Mapping[bytes, Slot]) -> vote_tally.Tally:
        """What PROVISIONAL shows (ranked choice: first preferences only, never rounds)."""
        pairs = [
            (s.weight, s.ballot.choice)
            for _, s in sorted(slots.items())
            if s.status == VOTED and s.ballot is not None  # a voted slot holds its ballot
        ]
        f = self.charter.fields
        options = [o.id for o in f.options]
        if f.method == RANKED:
            return vote_tally.first_preferences(options, pairs)
        return vote_tally.count(f.method, options, pairs, self.charter.id)

    def tally(self, slots: Mapping[bytes, Slot]) -> vote_tally.Tally:
        pairs = [
            (s.weight, s.ballot.choice)
            for _, s in sorted(slots.items())
            if s.status == VOTED and s.ballot is not None  # a voted slot holds its ballot
        ]
        f = self.charter.fields
        options = [o.id for o in f.options]
        return vote_tally.count(f.method, options, pairs, self.charter.id, rules=f.rules)

    def finish(self) -> None:
        vote = self.vote
        if vote.sealed_sheet is None:
            vote.state = PROVISIONAL
            return
        vote.state = SEALED
        sheet = vote.sheets.get(vote.sealed_sheet)
        if sheet is None or sheet.ballots is None:
            return
        listed = sheet.ballots
        # Listed ids this laptop has never seen (a listed entry that is not a valid
        # ballot is reported as uncounted instead).
        vote.missing_ballots = [b for b in listed if b not in self.by_id]
        on_sheet = set(listed)
        vote.late = [b for b in vote.ballots if b not in on_sheet]
        if vote.missing_ballots:
            return
        # Counting without them now and with them later would change a FINAL result
        vote.unproven_ballots = [b for b in listed if b in self.unproven]
        if vote.unproven_ballots:
            return
        vote.state = FINAL
        if self.count:
            vote.result = final_result(vote, listed, self.rejected, self.tally)


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
