"""Checking a vote from the signed bytes: ``vote verify`` and ``vote receipt``.

``verify`` trusts nothing the store computed: it re-reads every roster and
vote entry as raw bytes, checks each signature and id, rebuilds the roster and
the votes view from what verified, and explains each ballot (counted, or why
not). ``receipt`` answers a voter's question "is my ballot in the sealed set?"
with a Merkle inclusion proof anyone can check against the sealed root.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ledger import merkle
from ledger.entry import Entry, signature_valid
from ledger.errors import InvalidInput, TrustError
from ledger.identity import Identity
from ledger.roster import view as roster_view
from ledger.store import Store
from ledger.stored import gc_paused
from ledger.votes import as_json as vote_json
from ledger.votes.bodies import BALLOT, SEALED_PREFIX, VOTE_KINDS
from ledger.votes.signed import BadEntry, Signed, read_signed
from ledger.votes.view import (
    CONFLICT,
    FAILED,
    FINAL,
    PROVISIONAL,
    VOID,
    Ballot,
    Vote,
    Votes,
    fold,
    resolve_slot,
)
from ledger.votes.writer import find_vote, load

# --- receipt -----------------------------------------------------------------------


@dataclass
class Receipt:
    vote: Vote
    status: str  # not on roll | no ballot | provisional | in sealed set | late | waiting
    message: str
    ballots: list[Ballot] = field(default_factory=list)
    current: Ballot | None = None  # the ballot this laptop sees as yours now
    in_set: Ballot | None = None  # your ballot that is in the sealed set (and counts, if FINAL)
    proof: list[tuple[str, bytes]] | None = None
    root: bytes | None = None
    proof_ok: bool | None = None
    slot_status: str | None = None  # FINAL: voted / blank / spoiled / void

    def to_json(self) -> dict[str, Any]:
        return {
            "vote": self.vote.id.hex(),
            "state": self.vote.state,
            "status": self.status,
            "message": self.message,
            "ballots": [b.to_json() for b in self.ballots],
            "current": self.current.id.hex() if self.current else None,
            "in_sealed_set": self.in_set.id.hex() if self.in_set else None,
            "sealed_root": self.root.hex() if self.root else None,
            "proof": [{"side": s, "hash": h.hex()} for s, h in self.proof or []],
            "proof_ok": self.proof_ok,
            "final_slot": self.slot_status,
            "tracker": self.tracker,
        }

    @property
    def tracker(self) -> str | None:
        """A secret vote: the tracker (hash of the encrypted ballot) of the ballot shown."""
        b = self.in_set or self.current
        choice = b.choice if b is not None else None
        if isinstance(choice, str) and choice.startswith(SEALED_PREFIX) and choice != SEALED_PREFIX:
            return choice[len(SEALED_PREFIX) :]
        return None


def receipt(store: Store, identity: Identity, vote_text: str) -> Receipt:
    """Where this laptop's member stands in a vote, with an inclusion proof once sealed."""
    votes, roster = load(store)
    vote = find_vote(votes, vote_text)
    member = roster.member_of(identity.public)
    if member is None or member not in vote.charter.roll:
        return Receipt(vote, "not on roll", "you are not on this vote's roll")
    mine = sorted(
        (b for b in vote.ballots.values() if b.member == member), key=lambda b: (b.hlc, b.id)
    )
    slot = vote.slots[member]
    current = slot.ballot
    if not mine:
        return Receipt(vote, "no ballot", "this laptop holds no ballot of yours for this vote")
    r = Receipt(vote, "provisional", "", ballots=mine, current=current)
    if slot.status == VOID:
        r.message = (
            "your slot is VOID: two of your ballots do not name each other (double vote). "
            "Cast again: a new ballot names both and restores your slot."
        )
    if vote.state == PROVISIONAL:
        counted = (
            "is here (a secret vote has no provisional count)"
            if vote.charter.fields.secret is not None
            else "is in this laptop's provisional count"
        )
        r.message = r.message or (
            f"not sealed yet: your ballot {current.id.hex()[:12]} {counted}. "  # type: ignore[union-attr]
            f"Ask again once {vote.charter.k} tellers have sealed."
        )
        return r
    sheet = vote.sheets.get(vote.sealed_sheet)  # type: ignore[arg-type]
    r.root = vote.sealed_root
    if sheet is None or sheet.ballots is None:
        r.status = "waiting"
        r.message = "sealed, but this laptop does not have the whole sealed sheet yet: sync"
        return r
    listed = sheet.ballots
    index = {bid: i for i, bid in enumerate(listed)}
    if vote.state == FINAL and vote.result is not None:
        fslot = vote.result.slots[member]
        r.slot_status = fslot.status
    else:  # sealed, some listed ballots still missing here: the slot over what is listed
        fslot = resolve_slot(member, 0, [b for b in mine if b.id in index])
    chosen = fslot.ballot or (fslot.conflict[0] if fslot.conflict else None)
    if chosen is None:
        r.status = "late"
        r.message = "none of your ballots is in the sealed set: uncounted (late)"
        return r
    r.in_set = chosen
    r.proof = merkle.proof(listed, index[chosen.id])
    r.proof_ok = merkle.verify(chosen.id, r.proof, sheet.root)
    r.status = "in sealed set"
    late = [b for b in mine if b.id not in index]
    text = f"your ballot {chosen.id.hex()[:12]} is in the sealed set (Merkle proof checked)"
    if r.slot_status == VOID:
        text += " but your slot is void: a double vote was sealed"
    elif r.slot_status and r.slot_status != "voted":
        text += f"; it counts as {r.slot_status}"
    if late:
        text += f"; {len(late)} later ballot(s) of yours arrived too late and are uncounted"
    r.message = text
    return r


# --- verify ------------------------------------------------------------------------


@dataclass
class Audit:
    vote: Vote
    checked: int
    bad: list[BadEntry]
    same_as_store: bool
    ballots: list[dict[str, Any]]
    sealed_root_ok: bool | None
    votes: Votes
    roster: roster_view.Roster
    _status: dict[str, Any] | None = None
    #: a secret vote: ballots verified, product, shares and counts re-checked
    secret: dict[str, Any] | None = None
    #: this vote's entries other than ballots (sheets, seals, shares, stops) that have no
    #: effect, and why: a close by a non-coordinator, a seal by a non-teller ...
    ignored: list[Any] = field(default_factory=list)

    @property
    def status(self) -> dict[str, Any]:
        """The vote's whole status, as recomputed (computed when asked: it is big)."""
        if self._status is None:
            self._status = vote_json.status(self.vote, self.votes, self.roster)
        return self._status

    @property
    def problems(self) -> list[str]:
        """Why no result may be announced from this laptop (empty: none)."""
        out = []
        if self.bad:
            out.append(f"{len(self.bad)} entr(y/ies) do not verify")
        if not self.same_as_store:
            out.append("this laptop's view is not what the signed entries give")
        if self.sealed_root_ok is False:
            out.append("the sealed sheet's Merkle root does not match its ballots")
        if self.vote.state == FAILED:
            out.append(self.vote.failure or "the count failed")
        if self.secret is not None and self.secret.get("shares_check") is False:
            out.append("a decryption share the count uses does not verify")
        if self.secret is not None and self.secret["counts_check"] is False:
            out.append("the secret vote's counts do not follow from its ballots and shares")
        if self.vote.state == CONFLICT:
            out.append("two sheets are sealed: more tellers equivocated than the vote tolerates")
        f = self.vote.charter.fields.f
        if f is not None and len(self.vote.forked_tellers) > f:
            out.append(
                f"{len(self.vote.forked_tellers)} tellers equivocated (copied keys); the vote "
                f"tolerates {f}: its result is not guaranteed"
            )
        return out

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self, *, every_ballot: bool = True) -> dict[str, Any]:
        """``every_ballot=False``: ballots counted per reason, and the vote's summary
        instead of its whole status (a vote of 100,000 ballots: kilobytes, not 40 MB)."""
        out: dict[str, Any] = {
            "ok": self.ok,
            "problems": self.problems,
            "vote": self.vote.id.hex(),
            "state": self.vote.state,
            "entries_checked": self.checked,
            "bad_entries": [b.to_json() for b in self.bad],
            "same_as_store": self.same_as_store,
            "sealed_root_ok": self.sealed_root_ok,
            "secret": self.secret,
            "ignored_entries": [i.to_json() for i in self.ignored],
        }
        if every_ballot:
            return {**out, "ballots": self.ballots, "status": self.status}
        reasons: dict[str, int] = {}
        for row in self.ballots:
            head = row["reason"].split(":")[0]
            reasons[head] = reasons.get(head, 0) + 1
        v = self.vote
        summary = {
            **vote_json.summary(v, self.roster),
            "equivocated_tellers": vote_json.equivocated(v, self.roster),
            "stuck_detail": vote_json.stuck(v, self.roster),
            "sealed_sheet": v.sealed_sheet.hex() if v.sealed_sheet else None,
            "sealed_root": v.sealed_root.hex() if v.sealed_root else None,
            "result": vote_json.result(v, self.roster, ballots=False),
        }
        return {
            **out,
            "ballots": {
                "explained": len(self.ballots),
                "counted": sum(1 for row in self.ballots if row["counted"]),
                "by_reason": dict(sorted(reasons.items())),
                "listed": "use --all for every ballot and the vote's whole status",
            },
            "status": summary,
        }


def _explain(vote: Vote, roster: roster_view.Roster, ignored: list[Any]) -> list[dict[str, Any]]:
    rows = []
    final = vote.result if vote.state == FINAL else None
    reasons = dict(final.uncounted) if final else {}
    counted = {b.id for b in final.counted} if final else set()
    for bid, b in sorted(vote.ballots.items()):
        if final:
            ok = bid in counted
            why = "counted" if ok else reasons.get(bid, "not counted")
        else:
            slot = vote.slots[b.member]
            ok = slot.ballot is b and slot.status == "voted"
            voted = (
                "counts once sealed (a secret ballot has no provisional count)"
                if vote.charter.fields.secret is not None
                else "counts provisionally (not sealed yet)"
            )
            why = {
                "voted": voted,
                "blank": "blank ballot (turnout only)",
                "spoiled": f"spoiled: {b.spoiled}",
                "void": "void: double vote",
            }.get(slot.status, "")
            if slot.ballot is not None and slot.ballot is not b:
                ok, why = False, "replaced by a later ballot"
        rows.append(
            {
                "ballot": bid.hex(),
                "name": roster.name_of(b.member),
                "author": b.author.hex(),
                "seq": b.seq,
                "choice": b.choice,
                "counted": ok,
                "reason": why,
            }
        )
    for i in ignored:
        if i.kind == BALLOT:
            rows.append(
                {
                    "ballot": i.id.hex(),
                    "name": roster.name_of(i.author),
                    "author": i.author.hex(),
                    "seq": i.seq,
                    "choice": None,
                    "counted": False,
                    "reason": i.reason,
                }
            )
    return rows


def verify(store: Store, vote_text: str, progress: Callable[[int], None] | None = None) -> Audit:
    """Recompute one vote from raw signed entries and explain every ballot.

    "Same as this laptop's view": the view this laptop shows is the same fold over
    the entries its store lists as vote entries, its cached roster and its fork
    proofs; so the two agree exactly when those inputs equal what verified.
    """
    with gc_paused():  # some hundred thousand entries and rows, and no cycles
        return _verify(store, vote_text, progress)


def _verify(store: Store, vote_text: str, progress: Callable[[int], None] | None) -> Audit:
    # The folds run while the signatures are still being checked (on the other cores);
    # what they made counts only once every signature is known good.
    signed = read_signed(store, progress)
    refusal: InvalidInput | TrustError | None = None
    try:
        audit: Audit | None = _audit(store, vote_text, signed)
    except (InvalidInput, TrustError) as err:
        audit, refusal = None, err
    except BaseException:
        signed.close()  # no child outlives the command
        raise
    if signed.all_signed(progress):
        if refusal is not None:
            raise refusal
        assert audit is not None
        return audit
    # A forged or damaged entry: the pass again, each signature checked before use (it
    # counts each row twice: half of that is the half of the bar still to fill)
    half = None if progress is None else (lambda n: progress(n // 2))
    return _audit(store, vote_text, read_signed(store, half, speculative=False))


def _audit(store: Store, vote_text: str, signed: Signed) -> Audit:
    """The vote recomputed from ``signed`` (see :func:`verify`)."""
    bad, roster_entries, vote_entries = signed.bad, signed.roster_entries, signed.vote_entries
    forks: dict[bytes, int] = {}
    proofs: list[Entry] = []
    for p in store.fork_proofs():
        if all(signature_valid(x) for x in (p.a, p.b)) and p.a.seq == p.b.seq == p.seq:
            forks[p.author] = p.seq
            proofs += [x for x in (p.a, p.b) if x.kind in VOTE_KINDS]
        else:
            bad.append(BadEntry(p.a.id, p.author, p.seq, p.a.kind, "fork proof does not verify"))
    roster = roster_view.fold(roster_entries, forks, mesh_id=store.mesh_id)
    votes = fold(vote_entries, roster, None, proofs)
    try:
        vote = find_vote(votes, vote_text)
    except InvalidInput:
        find_vote(load(store)[0], vote_text)  # unknown here too: that error
        raise TrustError("the vote's charter does not verify from the signed entries") from None
    # The view this laptop shows is the same folds over what its store lists as roster and
    # vote entries and over its fork table: the same inputs give the same view. (Other
    # "vote.*" kinds, from another tool, are no vote entries: the view skips them.)
    same = (
        signed.listed_votes == {e.id for e in vote_entries}
        and signed.listed_roster == {e.id for e in roster_entries}
        and store.forks_by_author() == forks
    )
    from ledger.votes import secret_audit  # the crypto stack loads only for verify

    root_ok = None
    sheet = vote.sheets.get(vote.sealed_sheet) if vote.sealed_sheet else None
    if sheet is not None and sheet.ballots is not None:
        # the fold's sheet check compared the root first (problem None: it matched)
        root_ok = sheet.problem is None or merkle.root(sheet.ballots) == sheet.root
    return Audit(
        vote,
        signed.checked,
        bad,
        same,
        _explain(vote, roster, votes.ignored_for(vote.id)),
        root_ok,
        votes,
        roster,
        secret=secret_audit.check(vote),
        ignored=[i for i in votes.ignored_for(vote.id) if i.kind != BALLOT],
    )
