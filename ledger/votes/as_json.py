"""Votes view as plain JSON data: what ``--json``, drills and the coordination loop read.

Names come from the roster; ids and keys are lowercase hex. No winner appears
anywhere before a vote is FINAL (``winner`` is null, the provisional counts
carry no ranking).
"""

from __future__ import annotations

from typing import Any

from ledger.roster.view import Roster
from ledger.votes.seals import seat_gone, seats
from ledger.votes.view import FINAL, Ballot, Result, Seal, Sheet, Slot, Stop, Vote, Votes


def equivocated(vote: Vote, roster: Roster) -> list[dict[str, Any]]:
    """Tellers with a fork proof against their seat key: "teller X equivocated"."""
    f = vote.charter.fields
    out = []
    for t in vote.forked_tellers:
        sealed = [s.hex() for s in t.sealed]
        note = f"teller {roster.name_of(t.member)} equivocated (copied key: fork proof at seq {t.fork_seq})"
        if sealed:
            note += f"; it sealed {len(sealed)} sheet(s)"
        if f.f is not None:
            note += (
                f"; this vote tolerates {f.f} equivocating teller(s)"
                if len(vote.forked_tellers) <= f.f
                else f"; MORE than the {f.f} this vote tolerates: treat any result with care"
            )
        out.append(
            {
                "member": t.member.hex(),
                "name": roster.name_of(t.member),
                "key": t.key.hex(),
                "fork_seq": t.fork_seq,
                "sealed_sheets": sealed,
                "message": note,
            }
        )
    return out


def stuck(vote: Vote, roster: Roster) -> dict[str, Any] | None:
    s = vote.stuck
    if s is None:
        return None
    return {
        "best_seals": s.best,
        "k": vote.charter.k,
        "can_still_seal": [roster.name_of(m) for m in s.able],
        # tellers whose seal (stuck on seals: on any sheet, the best one too) or, stuck on
        # decryption, whose valid share is already in: they have nothing more to add
        "already_in": [roster.name_of(m) for m in s.spent],
        "cannot_seal": [{"name": roster.name_of(m), "why": why} for m, why in s.gone],
        "invalid_shares": [roster.name_of(m) for m in s.invalid],
        "unless_they_seal": [roster.name_of(m) for m in s.unless],
        "advice": s.advice,
    }


def _ballot(b: Ballot, roster: Roster) -> dict[str, Any]:
    return {**b.to_json(), "name": roster.name_of(b.member)}


def _seal(s: Seal, roster: Roster) -> dict[str, Any]:
    return {**s.to_json(), "name": roster.name_of(s.member)}


def summary(vote: Vote, roster: Roster) -> dict[str, Any]:
    """One line of ``vote list``."""
    c = vote.charter
    winner = vote.winning_option
    return {
        "id": c.id.hex(),
        "title": c.title,
        "method": c.method,
        "state": vote.state,
        "opened_by": roster.name_of(c.author),
        "opened_hlc": c.hlc,
        "voted": sum(1 for s in vote.slots.values() if s.participated),
        "roll_size": len(c.roll),
        "turnout_weight": vote.turnout_weight,
        "roll_weight": c.roll_weight,
        "seals": max((len(s.sealers) for s in vote.sheets.values()), default=0),
        "k": c.k,
        "tellers": len(c.tellers),
        "outcome": vote.result.outcome if vote.state == FINAL and vote.result else None,
        "winner": winner.to_json() if winner else None,
        "failure": vote.failure,
        "stuck": vote.stuck is not None,
        # stuck unless these revoked, rotated or role-removed tellers seal anyway (review 21f)
        "stuck_unless": [roster.name_of(m) for m in vote.stuck.unless] if vote.stuck else [],
        "tellers_equivocated": [roster.name_of(t.member) for t in vote.forked_tellers],
    }


def _voter(slot: Slot, vote: Vote, roster: Roster) -> dict[str, Any]:
    b = slot.ballot
    return {
        "member": slot.member.hex(),
        "name": roster.name_of(slot.member),
        "weight": slot.weight,
        "status": slot.status,
        "ballot": b.id.hex() if b else None,
        "ballot_hlc": b.hlc if b else None,
        "conflict": [x.id.hex() for x in slot.conflict],
        "last_heard": vote.last_heard.get(slot.member),
    }


def _tellers(vote: Vote, roster: Roster) -> list[dict[str, Any]]:
    """Each teller: stopped, which sheet it sealed, whether it equivocated or its seat
    key can no longer seal (revoked, rotated: the seat stays empty on this vote)."""
    stopped = {s.member for s in vote.stops}
    gone = dict(seats(vote, roster)[2])
    out = []
    for t in vote.charter.tellers:
        seal = vote.seals.get(t)
        out.append(
            {
                "member": t.hex(),
                "name": roster.name_of(t),
                "stopped": t in stopped,
                "sealed_sheet": seal.sheet.hex() if seal else None,
                "seat_gone": gone.get(t),  # why its seat key can no longer seal
                #: sealed, and its seat key was revoked/rotated (or its role removed) since
                #: the vote opened: the seal still counts (why, else None)
                "seat_changed": seat_gone(vote, roster, t) if seal else None,
                "equivocated": any(e.member == t for e in vote.equivocations)
                or any(x.member == t for x in vote.forked_tellers),
            }
        )
    return out


def _stop(s: Stop, roster: Roster) -> dict[str, Any]:
    return {
        "id": s.id.hex(),
        "teller": s.member.hex(),
        "name": roster.name_of(s.member),
        "count": s.count,
        "root": s.root.hex(),
        "hlc": s.hlc,
    }


def _sheet(sid: bytes, sh: Sheet, vote: Vote, roster: Roster) -> dict[str, Any]:
    return {
        "id": sid.hex(),
        "by": sh.author.hex(),
        "by_name": roster.name_of(sh.author),
        "hlc": sh.hlc,
        "count": sh.count,
        "root": sh.root.hex(),
        "seals": len(sh.sealers),
        "sealers": [roster.name_of(s.member) for s in sh.sealers],
        "complete": sh.complete,
        "missing_parts": [p.hex() for p in sh.missing_parts],
        "problem": sh.problem,
        "sealed": sid == vote.sealed_sheet,
    }


def status(vote: Vote, votes: Votes, roster: Roster) -> dict[str, Any]:
    """Everything this laptop knows about one vote."""
    c = vote.charter
    participated = [s for s in vote.slots.values() if s.participated]
    prov = vote.provisional
    return {
        **summary(vote, roster),
        "charter": c.to_json(roster),
        "turnout": {
            "voters": len(participated),
            "roll_size": len(c.roll),
            "weight": vote.turnout_weight,
            "roll_weight": c.roll_weight,
            "quorum_pct": c.fields.quorum_pct,
        },
        "provisional_counts": None if c.fields.secret else prov.counts if prov else {},
        "secret": secret(vote),
        "voters": [_voter(s, vote, roster) for _, s in sorted(vote.slots.items())],
        "double_votes": [
            {
                "member": s.member.hex(),
                "name": roster.name_of(s.member),
                "ballots": [_ballot(b, roster) for b in s.conflict],
            }
            for s in vote.double_votes
        ],
        "tellers_detail": _tellers(vote, roster),
        "stops": [_stop(x, roster) for x in sorted(vote.stops, key=lambda x: x.id)],
        "sheets": [_sheet(sid, sh, vote, roster) for sid, sh in sorted(vote.sheets.items())],
        "sheets_not_here": sheets_not_here(vote),
        "teller_equivocations": [
            {
                "member": e.member.hex(),
                "name": roster.name_of(e.member),
                "counted": _seal(e.counted, roster),
                "others": [_seal(s, roster) for s in e.others],
            }
            for e in vote.equivocations
        ],
        "equivocated_tellers": equivocated(vote, roster),
        "conflict_sheets": [c.hex() for c in vote.conflict],
        "stuck_detail": stuck(vote, roster),
        "sealed_sheet": vote.sealed_sheet.hex() if vote.sealed_sheet else None,
        "sealed_root": vote.sealed_root.hex() if vote.sealed_root else None,
        "missing_ballots": [b.hex() for b in vote.missing_ballots],
        "unproven_ballots": [b.hex() for b in vote.unproven_ballots],
        "late_ballots": [b.hex() for b in vote.late],
        "result": result(vote, roster),
        "ignored": [i.to_json() for i in votes.ignored_for(vote.id)],
    }


def sheets_not_here(vote: Vote) -> list[dict[str, Any]]:
    """Before a sheet is sealed: sheets this laptop knows only by their counted seals (it
    lacks the sheet itself), most seals first: sync before sealing (`vote seal` says so)."""
    if vote.sealed_sheet is not None:
        return []
    seen = [(-n, sid) for sid, n in vote.seal_counts_seen.items() if sid not in vote.sheets]
    return [{"id": sid.hex(), "seals": -n} for n, sid in sorted(seen)]


def secret(vote: Vote) -> dict[str, Any] | None:
    """A secret vote's key and, once sealed, its decryption (None: an open vote)."""
    s = vote.charter.fields.secret
    if s is None:
        return None
    return {
        "ceremony": s.ceremony.hex(),
        "joint_key": s.keys.joint_key.hex(),
        "provisional": (
            f"sealed on sheet {vote.sealed_sheet.hex()[:12]}, which this laptop lacks: sync "
            "to decrypt the counts"
            if vote.sealed_sheet is not None and vote.secret is None
            else "none: a secret vote has no counts before k tellers seal it "
            "(sealing decrypts the sum of the sealed ballots, never one ballot)"
        ),
        "decryption": vote.secret.to_json() if vote.secret is not None else None,
    }


def result(vote: Vote, roster: Roster, *, ballots: bool = True) -> dict[str, Any] | None:
    """The FINAL result, or None before it. ``ballots=False``: ballots and voters are
    summarised (counts per reason) instead of listed, for big votes (`--ballots` lists)."""
    r: Result | None = vote.result
    if vote.state != FINAL or r is None:
        return None
    if not ballots:
        return _summary_result(vote, r, roster)
    names = {b.id: b for b in vote.ballots.values()}
    return {
        **_result_head(vote, r, roster),
        "counted": [b.id.hex() for b in r.counted],
        "uncounted": [
            {
                "ballot": bid.hex(),
                "name": roster.name_of(names[bid].member) if bid in names else None,
                "reason": why,
            }
            for bid, why in r.uncounted
        ],
        "void": [
            {
                "member": s.member.hex(),
                "name": roster.name_of(s.member),
                "ballots": [_ballot(b, roster) for b in s.conflict],
            }
            for _, s in sorted(r.slots.items())
            if s.status == "void"
        ],
        "voters": [_voter(s, vote, roster) for _, s in sorted(r.slots.items())],
    }


def _result_head(vote: Vote, r: Result, roster: Roster) -> dict[str, Any]:
    """What a FINAL result says whether or not it lists the ballots."""
    return {
        "vote": vote.id.hex(),
        "sheet": vote.sealed_sheet.hex() if vote.sealed_sheet else None,
        "root": vote.sealed_root.hex() if vote.sealed_root else None,
        "method": r.tally.method,
        "outcome": r.outcome,
        "winner": r.winner.to_json() if r.winner else None,
        "tied": r.tally.tied if r.outcome == "tie" else [],
        "counts": r.tally.counts,
        "rounds": [x.to_json() for x in r.tally.rounds],
        "margin": r.tally.margin,
        "quorum_pct": r.quorum_pct,
        "quorum_met": r.quorum_met,
        "turnout_weight": r.turnout_weight,
        "roll_weight": r.roll_weight,
        "missing_weight": r.missing_weight,
        "decided_regardless": r.decided_regardless,
        "equivocated_tellers": equivocated(vote, roster),
        "secret": secret(vote),
    }


def _summary_result(vote: Vote, r: Result, roster: Roster) -> dict[str, Any]:
    reasons: dict[str, int] = {}
    for _, why in r.uncounted:
        head = why.split(":")[0]
        reasons[head] = reasons.get(head, 0) + 1
    return {
        **_result_head(vote, r, roster),
        "ballots": {
            "counted": len(r.counted),
            "uncounted": dict(sorted(reasons.items())),
            "void_slots": sum(1 for s in r.slots.values() if s.status == "void"),
            "listed": "use --ballots for every ballot, voter and reason",
        },
    }


def everything(votes: Votes, roster: Roster) -> dict[str, Any]:
    """Every vote in full (for drills comparing laptops)."""
    return {
        "votes": [status(v, votes, roster) for _, v in sorted(votes.votes.items())],
        "ignored": [i.to_json() for i in votes.ignored],
        "waiting": [i.to_json() for i in votes.waiting],
    }
