"""One vote's fold: its ballots, stops, close sheets and seals, in id order, to its state.

Run by :func:`ledger.votes.view.fold` for each vote (the rules are in that
module's docstring and field_guides/voting.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ledger.entry import Entry
from ledger.roster.view import Roster
from ledger.votes import seals as vote_seals
from ledger.votes import tally as vote_tally
from ledger.votes.bodies import (
    BALLOT,
    CHARTER,
    CLOSE,
    RANKED,
    SEAL,
    SEALED_PREFIX,
    SHARE,
    STOP,
    VOTER_ROLES,
    Malformed,
    choice_checker,
    parse_hex,
)
from ledger.votes.result import final_result, resolve_slot, sheet_problem
from ledger.votes.seals import granted
from ledger.votes.state import (
    CONFLICT,
    FINAL,
    PROVISIONAL,
    SEALED,
    VOTED,
    Ballot,
    Ignored,
    Seal,
    Sheet,
    Slot,
    Stop,
    Vote,
    Votes,
)

if TYPE_CHECKING:
    from ledger.votes.secret import Ballot as SecretBallot
    from ledger.votes.secret import VoteContext


_STR, _LEN_64 = frozenset({str}), frozenset({64})


class VoteFold:
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
        # A secret vote is FINAL only once k decryption shares verify, which only counting
        # checks: a fold that skips counting would call it FINAL while it waits for shares.
        self.count = count or vote.charter.fields.secret is not None
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
        self.seal_counts: dict[bytes, int] = {}
        self._charters: set[str] | None = None  # charter ids (hex), for kept()
        #: a secret vote: its proof context, and each verified ballot by entry id
        self.ctx: VoteContext | None = None
        if f.secret is not None:  # the crypto stack loads only when a secret vote exists
            from ledger.votes import secret_tally

            self.ctx = secret_tally.context(vote.id, f)
        self.encrypted: dict[bytes, SecretBallot] = vote.encrypted
        #: a secret vote's ``vote.share`` entries by tellers (as seals: sheet, root, share)
        self.share_entries: list[Seal] = vote.share_entries
        self.ballots = vote.ballots

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
        if type(value) is not list or not (  # every item text of 64 characters, checked in C
            set(map(type, value)) <= _STR and set(map(len, value)) <= _LEN_64
        ):
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
        ballot, handlers = self.ballot, {STOP: self.stop, CLOSE: self.close, SHARE: self.share}
        seals: list[Seal] = []
        for e in entries:
            kind = e.kind
            if kind == BALLOT:  # nearly every entry
                ballot(e)
            elif kind == SEAL:
                seal = self.seal(e)
                if seal is not None:
                    seals.append(seal)
            else:
                handlers[kind](e)
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
        if self.count and self.ctx is None:  # a secret vote has no provisional counts
            vote.provisional = self.first_count(vote.slots)
        self.finish()
        self.unused_shares()
        if vote.state == PROVISIONAL:
            vote.stuck = vote_seals.stuck(vote, self.roster, self.seal_counts, self.refused())
        elif vote.state == SEALED:  # a secret vote may lack k valid decryption shares
            vote.stuck = vote_seals.shares_stuck(vote, self.roster)

    # --- entries -------------------------------------------------------------------

    def ballot(self, e: Entry) -> None:
        _v, author, seq, _prev, hlc, _kind, body, sig, _raw, eid = e  # one unpack, not 6 reads
        member = self.voters.get(author)  # keys that may vote at every seq, already checked
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
        replaces = body.get("replaces", [])
        if type(replaces) is not list:
            self.ignore(e, "malformed ballot: replaces must be a list of ballot ids")
            return
        if self.ctx is not None:  # a secret vote: the choice is encrypted
            self.vote.ballots[eid] = self.make_ballot(e, member)
            return
        choice, spoiled = self.check(body.get("choice"))  # make_ballot, in line
        self.ballots[eid] = Ballot(
            eid, author, member, seq, hlc, sig, choice, replaces, spoiled, eid.hex()
        )

    def make_ballot(self, e: Entry, member: bytes) -> Ballot:
        replaces = e.body.get("replaces", [])
        if self.ctx is not None:
            choice, spoiled = self.secret_choice(e)
        else:
            choice, spoiled = self.check(e.body.get("choice"))
        return Ballot(
            e.id,
            e.author,
            member,
            e.seq,
            e.hlc,
            e.sig,
            choice,
            replaces if type(replaces) is list else (),
            spoiled,
            e.id.hex(),
        )

    def secret_choice(self, e: Entry) -> tuple[str, str | None]:
        """A secret ballot shows its tracker, never a choice; one whose proofs fail is
        spoiled (counted for turnout only). ``count=False`` folds skip the proofs."""
        if not self.count:
            return SEALED_PREFIX, None
        from ledger.votes import secret_tally as secret

        assert self.ctx is not None
        ballot, info = secret.check_ballot(self.ctx, e.author, e.body.get("sealed"))
        if ballot is None:
            return SEALED_PREFIX, info
        self.encrypted[e.id] = ballot
        return SEALED_PREFIX + info, None

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
        seal.share = e.body.get("share")
        if self.rules == 1:
            seal.problem = self.authority(e.author, e.seq, ("teller",))
        else:
            if not granted(self.roster, e.author, e.seq, ("teller",)):
                seal.problem = self.roster.authority(e.author, e.seq, "teller") or (
                    f"needs role teller; the key had not been granted it by seq {e.seq}"
                )
            seal.surplus = not vote_seals.held_everywhere(self.roster, seal)
        return seal

    def share(self, e: Entry) -> None:
        """A teller's decryption share of a secret vote's sheet, written after its seal (or
        by a teller who sealed none): used only if that sheet is the sealed one."""
        member = self.seat_of.get(e.author) if self.ctx is not None else None
        if member is None or member not in self.charter.tellers:
            why = "this vote is not secret" if self.ctx is None else "not by a teller's seat key"
            self.ignore(e, f"share not applied: {why}")
            return
        if not granted(self.roster, e.author, e.seq, ("teller",)):
            self.ignore(e, f"share not applied: the key had not been granted teller by seq {e.seq}")
            return
        try:
            sheet = parse_hex(e.body.get("sheet"), "sheet")
            root = parse_hex(e.body.get("root"), "root")
        except Malformed as err:
            self.ignore(e, f"malformed share: {err}")
            return
        entry = Seal(e.id, e.author, member, e.seq, e.hlc, sheet, root, e.sig, kind=SHARE)
        entry.share = e.body.get("share")
        self.share_entries.append(entry)

    def unused_shares(self) -> None:
        """Share entries on a sheet that is not the sealed one are never decrypted: said
        why (a share counts only on the sheet with k seals)."""
        vote = self.vote
        for s in self.share_entries:
            if s.sheet != vote.sealed_sheet:
                what = "no sheet is" if vote.sealed_sheet is None else "that sheet is not"
                self.ignore(
                    self.by_id[s.id],
                    f"share not used: {what} sealed here (a decryption share counts only on "
                    "the sheet with k seals)",
                )
            elif s.root != vote.sealed_root:
                self.ignore(self.by_id[s.id], "share not used: its root does not match the sheet")

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
        self.seal_counts = vote_seals.seal_counts(vote, pending)
        vote.seal_counts_seen = self.seal_counts
        if len(done) > 1:
            if self.rules == 1:  # disjoint sealer sets of size >= k > n/2: never both
                raise AssertionError("two sealed sheets: safety violated")
            vote.state, vote.conflict = CONFLICT, [sid for sid, _ in done]
            return
        if done:
            vote.sealed_sheet, vote.sealed_root = done[0]
        if self.rules == 2:
            vote_seals.sheets_in_view(vote, vote.sealed_sheet, self.drop_sheet, self.kept)

    def kept(self, seal: Seal) -> bool:
        """Is this seal past its key's cut one every store keeps (seals.kept_past_cut)?"""
        if self._charters is None:  # rare (a revoked teller's seal): built once, here
            self._charters = {e.id.hex() for e in self.by_id.values() if e.kind == CHARTER}
        feed = {e.seq: e for e in self.by_id.values() if e.author == seal.author}
        return vote_seals.kept_past_cut(self.roster, seal, feed, self._charters)

    def refused(self) -> dict[bytes, str]:
        """Rules 2, unsealed sheets that list a ballot this roster cuts (its voter's key
        revoked below it): a teller's laptop holding the revocation refuses to seal them."""
        out: dict[bytes, str] = {}
        if not self.held:  # the common case: no listed ballot is cut
            return out
        for sid, sheet in sorted(self.vote.sheets.items()):
            cut = [self.held[b] for b in sheet.ballots or () if b in self.held]
            cut = [b for b in cut if b.id not in self.vote.ballots]
            if cut:
                b = cut[0]
                why = self.roster.authority(b.author, b.seq, *VOTER_ROLES) or "cut"
                out[sid] = (
                    f"lists {self.roster.name_of(b.author)}'s ballot (seq {b.seq}; {why}): "
                    "no teller holding that revocation seals it"
                )
        return out

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

    @staticmethod
    def voted(slots: Mapping[bytes, Slot]) -> list[tuple[int, Any]]:
        """(weight, choice) of every voted slot, in member order."""
        return [
            (s.weight, s.ballot.choice)
            for _, s in sorted(slots.items())
            if s.status == VOTED and s.ballot is not None  # a voted slot holds its ballot
        ]

    def first_count(self, slots: Mapping[bytes, Slot]) -> vote_tally.Tally:
        """What PROVISIONAL shows (ranked choice: first preferences only, never rounds)."""
        pairs = self.voted(slots)
        f = self.charter.fields
        options = [o.id for o in f.options]
        if f.method == RANKED:
            return vote_tally.first_preferences(options, pairs)
        return vote_tally.count(f.method, options, pairs, self.charter.id)

    def tally(self, slots: Mapping[bytes, Slot]) -> vote_tally.Tally:
        if self.ctx is not None:
            return self.secret_tally(slots)
        pairs = self.voted(slots)
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
        by_id = self.by_id
        vote.missing_ballots = [b for b in listed if b not in by_id]
        on_sheet = set(listed)
        vote.late = [b for b in vote.ballots if b not in on_sheet]
        if vote.missing_ballots:
            return
        # Counting without them now and with them later would change a FINAL result
        unproven = self.unproven
        vote.unproven_ballots = [b for b in listed if b in unproven] if unproven else []
        if vote.unproven_ballots:
            return
        if self.count:
            try:
                vote.result = final_result(vote, listed, self.rejected, self.tally, on_sheet)
            except _AwaitingShares:  # decided, but fewer than k valid shares are here
                return
        vote.state = FINAL

    def secret_tally(self, slots: Mapping[bytes, Slot]) -> vote_tally.Tally:
        """Decrypt the sealed set's tally with the shares its seals and ``vote.share`` entries
        carry (k valid, one per teller, needed)."""
        from ledger.votes import secret_tally as secret

        assert self.ctx is not None and self.vote.sealed_sheet is not None
        f = self.charter.fields
        sheet = self.vote.sheets[self.vote.sealed_sheet]
        sealers = {s.member: s for s in [*sheet.set_aside, *sheet.sealers]}
        twins = [s for s in self.vote.twin_seals if s.sheet == sheet.id and s.member in sealers]
        added = [s for s in self.share_entries if (s.sheet, s.root) == (sheet.id, sheet.root)]
        enc, n = secret.encrypted_tally(self.ctx, slots, self.encrypted)
        self.vote.secret = secret.decrypt(self.ctx, f, enc, n, [*sealers.values(), *twins, *added])
        if self.vote.secret.counts is None:
            raise _AwaitingShares()
        return secret.tally_of(f, self.vote.secret.counts)


class _AwaitingShares(Exception):
    """A secret vote's sheet is sealed, but fewer than k valid decryption shares are here."""
