"""What ``vote seal`` checks before a teller signs a seal, and what ``vote status`` tells
that teller to run next (the same checks, run without signing anything).

field_guides/voting.md "Sealing": a teller vouches only for what its laptop can check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ledger.entry import Entry
from ledger.errors import InvalidInput, PluriError, VerificationFailed
from ledger.roster.view import Roster
from ledger.votes.pick import pick_sheet
from ledger.votes.result import (
    no_new_sheet,
    refuse_other_sheet,
    refuse_second_sheet,
    refuse_small,
    refuse_stuck,
    refuse_unreachable,
    refuse_unseen,
)
from ledger.votes.state import PROVISIONAL, Sheet, Vote


def seal_checks(
    vote: Vote,
    roster: Roster,
    member: bytes,
    get: Callable[[bytes], Entry | None],
    sheet_text: str | None,
    accept_late: bool,
    reveal_small: bool,
) -> Sheet:
    """The sheet ``member``'s seal would go to, once every check passed (else the refusal:
    exit 5 for a sheet this laptop cannot vouch for, 6 for a damaged one)."""
    refuse_stuck(vote, "seal")
    sheet = pick_sheet(vote, sheet_text)
    refuse_other_sheet(vote, sheet.id)
    if sheet.missing_parts or sheet.ballots is None:
        raise InvalidInput(
            f"this laptop lacks {len(sheet.missing_parts)} part(s) of sheet {sheet.id.hex()[:12]}",
            hint="sync first: a teller vouches only for what it can check",
        )
    if sheet.problem:
        raise VerificationFailed(f"sheet {sheet.id.hex()[:12]} cannot be sealed: {sheet.problem}")
    listed = set(sheet.ballots)
    unseen = [b for b in sheet.ballots if b not in vote.ballots]
    if unseen:
        refuse_unseen(vote, roster, sheet.id, unseen, get)
    refuse_unreachable(vote, f"seal sheet {sheet.id.hex()[:12]}", sheet, member, roster)
    omitted = [b for b in vote.ballots if b not in listed]
    if omitted and not accept_late:
        why = no_new_sheet(vote, member)
        raise InvalidInput(
            f"the sheet leaves out {len(omitted)} ballot(s) this laptop holds; sealing sheet "
            f"{sheet.id.hex()[:12]} makes them uncounted (late)",
            hint=(
                "ask the coordinator to close again so a new sheet includes them, or "
                if why is None
                else f"a new sheet could not be sealed ({why}): "
            )
            + "seal with --accept-late",
        )
    refuse_second_sheet(vote, f"seal sheet {sheet.id.hex()[:12]}", sheet.id)
    refuse_small(vote, listed, f"seal sheet {sheet.id.hex()[:12]}", reveal_small)
    return sheet


def next_seal(
    vote: Vote, roster: Roster, key: bytes, seq: int, get: Callable[[bytes], Entry | None]
) -> dict[str, Any] | None:
    """For ``vote status`` on a teller's laptop: the ``vote seal`` command that would seal
    now, and what it does, when this laptop's key (its next entry at ``seq``) holds a seat
    that has not sealed a vote still open; None otherwise, or when no plain seal and no
    seal with ``--accept-late`` would pass (``vote seal`` then says why, and Stuck says
    what unblocks the vote). Every check ``vote seal`` makes is made here, in its order."""
    member = roster.member_of(key)
    f = vote.charter.fields
    if roster.mesh_id is None or roster.authority(key, seq, "teller") is not None:
        return None  # the key is revoked, rotated or lost the role: `vote seal` exits 7
    if member is None or member not in vote.charter.tellers:
        return None
    if f.teller_keys.get(member, member) != key:
        return None
    command = f"plurictl vote seal {vote.id.hex()[:8]}"
    if member in vote.seals:  # sealed: a secret vote may still want this seat's share
        return _share_step(vote, member, command)
    if vote.state != PROVISIONAL:
        return None
    try:
        sheet = seal_checks(vote, roster, member, get, None, False, False)
        return {"command": command, "sheet": sheet.id.hex(), "accept_late": False, "why": None}
    except PluriError:
        pass
    try:  # --accept-late changes one check only: the plain seal failed on the late ballots
        sheet = seal_checks(vote, roster, member, get, None, True, False)
    except PluriError:
        return None
    assert sheet.ballots is not None  # seal_checks passed
    listed = set(sheet.ballots)
    omitted = sum(1 for b in vote.ballots if b not in listed)
    why = no_new_sheet(vote, member)
    return {
        "command": command + " --accept-late",
        "sheet": sheet.id.hex(),
        "accept_late": True,
        "why": (
            f"sheet {sheet.id.hex()[:8]} leaves out {omitted} ballot(s) this laptop holds "
            "(they stay uncounted)"
            + (
                f"; it is the only way left: a new sheet could not be sealed ({why})"
                if why is not None
                else "; or ask the coordinator to close again so a new sheet lists them"
            )
        ),
    }


def _share_step(vote: Vote, member: bytes, command: str) -> dict[str, Any] | None:
    """Seal, then share: on a secret vote sealed on a sheet, ``vote seal`` adds the
    decryption share of a teller that sealed and has no valid one there yet (the checks
    of ``share_writer.write_share``, in its order)."""
    sheet = vote.sheets.get(vote.sealed_sheet) if vote.sealed_sheet is not None else None
    sec = vote.secret
    if vote.charter.fields.secret is None or sheet is None or sheet.ballots is None:
        return None
    if sec is None or sec.counts is not None:
        return None
    if any(s.member == member and s.valid for s in sec.shares):
        return None
    try:
        refuse_stuck(vote, "wait for a share")
        refuse_small(vote, sheet.ballots, "share", False)
    except PluriError:
        return None
    return {
        "command": command,
        "sheet": sheet.id.hex(),
        "accept_late": False,
        "why": f"adds your decryption share to the sealed sheet {sheet.id.hex()[:8]}",
    }
