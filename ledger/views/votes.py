"""Votes view: charters, ballots, stops, close sheets and seals, folded into per-vote state.

A pure fold (``fold(entries, roster) -> Votes``): the same entries give the
same state on every laptop, in any arrival order, duplicated or not. Entries
are processed sorted by id; nothing depends on clocks (HLC is shown, never
used to decide). Body formats: :mod:`ledger.views.vote_bodies`.

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
* **Seals: one per teller, the first one.** A teller member's seals on a
  vote are ordered by (key generation along rotations, seq, id); the first
  one names the only sheet that teller can ever count for (whether or not the
  key held ``teller`` then: a roster change can cancel a seal, never move it to
  another sheet). The teller counts once for that sheet, through its first seal
  on it made while holding ``teller``. A seal naming a different sheet is
  *teller equivocation*: flagged with both signed seals, never counted.
  Because an author's feed arrives in order (seq n is never stored without
  1..n-1), every laptop that has any seal of a teller counts that teller for the
  same sheet, so sealer sets of different sheets are disjoint everywhere and,
  with k > n/2, at most one sheet per vote can ever reach k seals. (Even on
  any arbitrary subset of entries, one teller counts for at most one sheet, so
  one laptop never sees two sealed sheets.) A later equivocation cannot unseal.
* **States.** PROVISIONAL: no sheet has k seals; counts as this laptop sees
  them, never a winner. SEALED: one sheet has k seals but this laptop lacks the
  sheet, its parts or some ballots it lists. FINAL: the sealed set is complete
  and tallied; ballots outside it are "uncounted (late)".
* **Quorum** is measured against the roll weight. "Decided regardless": the
  margin exceeds what the roll's missing weight could have changed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ledger import merkle, schemas
from ledger.entry import Entry
from ledger.views import vote_tally
from ledger.views.roster import Roster
from ledger.views.vote_bodies import (
    BALLOT,
    CHARTER,
    CLOSE,
    PART,
    QUADRATIC,
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
    quadratic_swing,
)
from ledger.views.vote_state import (
    BLANK,
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
    Ignored,
    Result,
    Seal,
    Sheet,
    Slot,
    Stop,
    TellerEquivocation,
    Vote,
    Votes,
)

# --- the fold ----------------------------------------------------------------------


def fold(
    entries: Iterable[Entry], roster: Roster, heard: Mapping[bytes, int] | None = None
) -> Votes:
    """Fold vote entries into per-vote state.

    ``heard`` maps a key to the HLC of the newest entry this laptop has from it
    (for "last heard" only); by default it is taken from ``entries``.
    """
    by_id: dict[bytes, Entry] = {}
    seen_hlc: dict[bytes, int] = {}
    out = Votes()
    for e in entries:
        if e.kind in VOTE_KINDS:
            malformed = schemas.problem(e)  # the generic body schema (ledger.schemas)
            if malformed:
                out.ignored.append(Ignored(e.id, e.author, e.seq, e.kind, malformed))
            else:
                by_id[e.id] = e
        if heard is None and seen_hlc.get(e.author, -1) < e.hlc:
            seen_hlc[e.author] = e.hlc  # "last heard" (display only)
    ordered = sorted(by_id.values(), key=lambda e: e.id)
    parts = {e.id: e for e in ordered if e.kind == PART}
    invalid: set[bytes] = set()
    incomplete: set[bytes] = set()
    for e in ordered:
        if e.kind == CHARTER:
            _charter(e, roster, parts, out, invalid, incomplete)
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
    heard_map = heard if heard is not None else seen_hlc
    keys_of: dict[bytes, list[bytes]] = {}
    for key, info in roster.keys.items():
        keys_of.setdefault(info.member, []).append(key)
    for vid, vote in sorted(out.votes.items()):
        _VoteFold(vote, roster, out, by_id, parts).run(grouped.get(vid, []))
        for member in vote.charter.roll:
            stamps = [heard_map[k] for k in keys_of.get(member, ()) if k in heard_map]
            if stamps:
                vote.last_heard[member] = max(stamps)
    order = lambda i: (i.vote or b"", i.id, i.reason)  # noqa: E731
    out.ignored.sort(key=order)
    out.waiting.sort(key=order)
    return out


def _charter(
    e: Entry,
    roster: Roster,
    parts: dict[bytes, Entry],
    out: Votes,
    invalid: set[bytes],
    incomplete: set[bytes],
) -> None:
    why = roster.authority(e.author, e.seq, "coordinator")
    if why is not None:
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
    out.votes[e.id] = Vote(Charter(e.id, e.author, e.seq, e.hlc, fields, roll))


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
    for b in ballots:
        replaced.update(r for r in b.replaces if type(r) is str)
    heads = sorted((b for b in ballots if b.key not in replaced), key=lambda b: b.id)
    older = sorted((b for b in ballots if b.key in replaced), key=lambda b: b.id)
    if len(heads) > 1:
        return Slot(member, weight, VOID, conflict=heads, replaced=older)
    head = heads[0]
    status = SPOILED if head.spoiled else BLANK if head.blank else VOTED
    return Slot(member, weight, status, ballot=head, replaced=older)


def _generation(roster: Roster, key: bytes) -> int:
    """How many rotations lie behind this key (a member's older keys come first)."""
    n, seen = 0, {key}
    info = roster.keys.get(key)
    while info is not None and info.predecessor is not None and info.predecessor not in seen:
        seen.add(info.predecessor)
        n += 1
        info = roster.keys.get(info.predecessor)
    return n


class _VoteFold:
    """Folds the entries of one vote (already sorted by id)."""

    def __init__(
        self,
        vote: Vote,
        roster: Roster,
        out: Votes,
        by_id: dict[bytes, Entry],
        parts: dict[bytes, Entry],
    ) -> None:
        self.vote, self.roster, self.out, self.by_id, self.parts = vote, roster, out, by_id, parts
        self.charter = vote.charter
        self.rejected: dict[bytes, str] = {}  # ballot id -> why it does not count
        self.always: dict[tuple[bytes, tuple[str, ...]], bool] = {}
        self.voters: dict[bytes, bytes] = {}
        f = vote.charter.fields
        self.check = choice_checker(f.method, f.options, f.credits)

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
        per_member: dict[bytes, list[Ballot]] = {}
        for b in vote.ballots.values():
            per_member.setdefault(b.member, []).append(b)
        for member, weight in self.charter.roll.items():
            vote.slots[member] = resolve_slot(member, weight, per_member.get(member, []))
        vote.provisional = self.tally(vote.slots)
        self.finish()

    # --- entries -------------------------------------------------------------------

    def ballot(self, e: Entry) -> None:
        member = self.voters.get(e.author)  # keys that may vote at every seq, already checked
        if member is None:
            why = self.authority(e.author, e.seq, VOTER_ROLES)
            if why is not None:
                self.ignore(e, f"ballot not counted: {why}")
                return
            member = self.roster.member_of(e.author)
            if member not in self.charter.roll:
                self.ignore(e, "ballot not counted: the voter is not on this vote's roll")
                return
            if self.always[(e.author, VOTER_ROLES)]:
                self.voters[e.author] = member  # type: ignore[assignment]
        replaces = e.body.get("replaces", [])
        if type(replaces) is not list:  # items that are not ids of this voter's ballots do nothing
            self.ignore(e, "malformed ballot: replaces must be a list of ballot ids")
            return
        choice, spoiled = self.check(e.body.get("choice"))
        self.vote.ballots[e.id] = Ballot(
            e.id,
            e.author,
            member,
            e.seq,
            e.hlc,
            e.sig,
            choice,
            tuple(replaces),
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
        if why is not None:
            self.ignore(e, f"close sheet not applied: {why}")
            return
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
            sheet.problem = _sheet_problem(listed, count, root)
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
        gen = _generation(self.roster, e.author)
        seal = Seal(e.id, e.author, member, e.seq, e.hlc, sheet, root, e.sig, gen)
        seal.problem = self.authority(e.author, e.seq, ("teller",))
        return seal

    # --- seals ---------------------------------------------------------------------

    def count_seals(self, seals: list[Seal]) -> None:
        """Each teller member counts once, for the sheet named by their first seal."""
        vote = self.vote
        by_member: dict[bytes, list[Seal]] = {}
        for s in seals:
            by_member.setdefault(s.member, []).append(s)
        pending: dict[tuple[bytes, bytes], list[Seal]] = {}
        for member, mine in sorted(by_member.items()):
            mine.sort(key=lambda s: (s.generation, s.seq, s.id))
            first = mine[0]  # names the one sheet this teller can ever count for
            same = [s for s in mine if s.sheet == first.sheet]
            others = [s for s in mine if s.sheet != first.sheet]
            counting = next((s for s in same if s.problem is None), None)
            vote.seals[member] = counting or first
            for s in same:
                if s is not counting:
                    why = s.problem and f"seal not counted: {s.problem}"
                    self.ignore(
                        self.by_id[s.id],
                        why or "this teller already sealed that sheet (counted once)",
                    )
            for s in others:
                self.ignore(
                    self.by_id[s.id],
                    f"teller equivocation: already sealed sheet {first.sheet.hex()[:12]}; "
                    "a seal on another sheet never counts",
                )
            if others:
                vote.equivocations.append(TellerEquivocation(member, first, others))
            if counting is None:
                continue
            sheet = vote.sheets.get(first.sheet)
            if sheet is None:
                pending.setdefault((first.sheet, counting.root), []).append(counting)
            elif counting.root != sheet.root:
                self.ignore(self.by_id[counting.id], "seal's root does not match the sheet")
            else:
                sheet.sealers.append(counting)
        k = self.charter.k
        sealed = [s for s in vote.sheets.values() if s.problem is None and len(s.sealers) >= k]
        sealed_unknown = [key for key, ss in pending.items() if len(ss) >= k]
        # Disjoint sealer sets of size >= k > n/2: at most one can exist.
        assert len(sealed) + len(sealed_unknown) <= 1, "two sealed sheets: safety violated"
        if sealed:
            vote.sealed_sheet, vote.sealed_root = sealed[0].id, sealed[0].root
        elif sealed_unknown:
            vote.sealed_sheet, vote.sealed_root = sealed_unknown[0]

    # --- state and result ----------------------------------------------------------

    def tally(self, slots: Mapping[bytes, Slot]) -> vote_tally.Tally:
        pairs = [(s.weight, s.ballot.choice) for _, s in sorted(slots.items()) if s.status == VOTED]
        f = self.charter.fields
        return vote_tally.count(f.method, [o.id for o in f.options], pairs, self.charter.id)  # type: ignore[union-attr]

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
        vote.state = FINAL
        vote.result = self.result(listed)

    def result(self, ordered: list[bytes]) -> Result:
        vote, charter = self.vote, self.charter
        f = charter.fields
        listed = set(ordered)
        per_member: dict[bytes, list[Ballot]] = {}
        changed: set[bytes] = set()  # members with a ballot outside the sealed set
        for bid, b in vote.ballots.items():
            if bid in listed:
                per_member.setdefault(b.member, []).append(b)
            else:
                changed.add(b.member)
        slots = {
            m: resolve_slot(m, w, per_member.get(m, [])) if m in changed else vote.slots[m]
            for m, w in charter.roll.items()
        }
        tally = self.tally(slots)
        turnout = sum(s.weight for s in slots.values() if s.participated)
        missing = f.roll_weight - turnout
        quorum_met = turnout * 100 >= f.quorum_pct * f.roll_weight
        outcome = tally.outcome if quorum_met else NO_QUORUM
        winner = charter.option(tally.winner) if outcome == vote_tally.WINNER else None
        regardless = False
        if winner is not None:
            if f.method == RANKED:
                regardless = 2 * tally.first_preferences > f.roll_weight
            elif f.method == QUADRATIC:
                regardless = tally.margin > missing * quadratic_swing(f.credits or 0)
            else:
                regardless = tally.margin > missing
        counted: list[Ballot] = []
        uncounted: list[tuple[bytes, str]] = []
        for bid, b in vote.ballots.items():  # in id order: entries are folded sorted by id
            slot = slots[b.member]
            if bid not in listed:
                uncounted.append((bid, f"{LATE}: not in the sealed set"))
            elif slot.status == VOID:
                uncounted.append(
                    (bid, "void: double vote (two ballots that do not name each other)")
                )
            elif slot.ballot is not b:
                uncounted.append((bid, "replaced by a later ballot in the sealed set"))
            elif b.spoiled:
                uncounted.append((bid, f"spoiled: {b.spoiled}"))
            else:
                counted.append(b)
        for bid in ordered:
            if bid in self.rejected:
                uncounted.append((bid, f"listed but not counted: {self.rejected[bid]}"))
            elif bid not in vote.ballots:
                uncounted.append((bid, "listed but not a ballot of this vote"))
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


def _sheet_problem(listed: list[bytes], count: int, root: bytes) -> str | None:
    if len(listed) != count:
        return f"lists {len(listed)} ballots but says {count}"
    if any(listed[i] >= listed[i + 1] for i in range(len(listed) - 1)):
        return "ballot ids are not in ascending order without repeats"
    if merkle.root(listed) != root:
        return "the Merkle root does not match the listed ballots"
    return None


__all__ = [
    "BLANK",
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
    "Ignored",
    "Result",
    "Seal",
    "Sheet",
    "Slot",
    "Stop",
    "TellerEquivocation",
    "Vote",
    "Votes",
    "fold",
    "resolve_slot",
]
