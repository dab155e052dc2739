"""Seal, then share: when a secret vote's teller releases its decryption share.

A teller's decryption share of a sheet goes into the ledger only once that sheet has k
counted seals in its laptop's view (it is then THE sealed sheet: at most one sheet can
ever get k, field_guides/voting.md). So a seal that is not the sheet's k-th or later
carries no share; the teller runs ``plurictl vote seal VOTE`` again once the vote is
SEALED, which writes a ``vote.share`` entry for the sealed sheet. A teller who sealed no
sheet, or another one on the other side of a split, shares on the sealed sheet the same
way: sharing is what finishes the vote. Checked before anything is signed; the view
(:mod:`ledger.votes.votefold`) stays the authority.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ledger.entry import Entry
from ledger.errors import InvalidInput
from ledger.identity import Identity
from ledger.store import Store
from ledger.votes.bodies import SHARE
from ledger.votes.state import FINAL, SEALED, Sheet, Vote, Votes


@dataclass
class SealResult:
    """What `vote seal` did (:func:`ledger.votes.writer.seal`, :func:`write_share`)."""

    entry: Entry | None  # None: nothing to write
    sheet: Sheet
    seals: int
    k: int
    state: str
    share: str = ""  # secret: carried, held (back), written (a vote.share), nothing: why
    waiting: str = ""  # secret, SEALED: whose shares the counts still wait for


def waiting_of(vote: Vote) -> str:
    """A sealed secret vote's "decrypting: m of k shares; waiting for ..." ("" otherwise)."""
    return (vote.secret.waiting or "") if vote.secret and vote.state == "SEALED" else ""


def new_key_hint(vote: Vote, member: bytes) -> str:
    """What a teller is told when its key, rotated since the vote opened, runs `vote seal`:
    on a sealed vote, that there is nothing to do, or (secret vote, counts not decrypted
    yet) whether its seat's share is still missing, which only the old key could add."""
    if vote.sealed_sheet is None or vote.state not in (SEALED, FINAL):
        return "k of the other tellers can still seal; or the coordinator opens a new vote"
    done = f"the vote is already {vote.state} on sheet {vote.sealed_sheet.hex()[:12]}"
    secret = vote.secret
    if vote.charter.fields.secret is None or (secret is not None and secret.counts is not None):
        return f"{done}: nothing to do"
    if secret is not None and any(s.member == member and s.valid for s in secret.shares):
        return f"{done} and your seat's decryption share is on it: nothing to do"
    return (
        f"{done}; its counts wait for {vote.charter.k} decryption shares and your seat's is "
        "not in: only the key you had when the vote opened could add it, so the other "
        f"tellers add theirs (`plurictl vote status {vote.id.hex()[:8]}` says whose)"
    )


def sealed_by(vote: Vote, sheet: Sheet) -> bool:
    """Counting one more seal (this teller's), does ``sheet`` have k counted seals here?"""
    if vote.sealed_sheet is not None:
        return vote.sealed_sheet == sheet.id
    return len(sheet.sealers) + len(sheet.set_aside) + 1 >= vote.charter.k


def seal_share(
    votes: Votes, vote: Vote, sheet: Sheet, member: bytes, identity: Identity
) -> bytes | None:
    """The decryption share a new seal of ``sheet`` carries: only when, counting it, the
    sheet is sealed in this laptop's view; else None (the share is held back)."""
    from ledger.votes.secret_writer import share_for

    if not sealed_by(vote, sheet):
        return None
    return share_for(votes, vote, sheet, member, identity)


def held_back(vote_text: str, k: int, sheet: bytes, seals: int) -> str:
    """What a teller is told when its seal (or a second run) carries no share yet."""
    return (
        f"sheet {sheet.hex()[:12]} has {seals} of {k} seals. Your decryption share is held "
        f"back until the sheet is sealed ({k} seals); then run `plurictl vote seal "
        f"{vote_text}` again"
    )


def write_share(
    store: Store,
    identity: Identity,
    votes: Votes,
    vote: Vote,
    member: bytes,
    sheet_text: str | None = None,
    reveal_small: bool = False,
) -> SealResult:
    """A teller of a secret vote adds its decryption share to the sealed sheet (a
    ``vote.share``); nothing when it already has a valid one there or the counts are
    decrypted, or while the sheet it sealed waits for k seals (its share is held back)."""
    from ledger.votes.pick import pick_sheet
    from ledger.votes.result import refuse_small, refuse_stuck
    from ledger.votes.secret_writer import share_for
    from ledger.votes.writer import load

    mine = vote.seals.get(member)
    refuse_stuck(vote, "wait for a share")
    if vote.sealed_sheet is None:
        sheet = pick_sheet(vote, sheet_text) if mine is None else vote.sheets.get(mine.sheet)
        seals = len(sheet.sealers) if sheet is not None else 0
        if mine is not None and sheet is not None:  # sealed, waiting: nothing wrong (exit 0)
            why = "your seal is on this sheet; " + held_back(
                vote.id.hex()[:8], vote.charter.k, sheet.id, seals
            )
            return SealResult(None, sheet, seals, vote.charter.k, vote.state, f"nothing: {why}")
        raise InvalidInput(
            "no sheet of this vote is sealed on this laptop yet: "
            + (
                held_back(vote.id.hex()[:8], vote.charter.k, sheet.id, seals)
                if sheet is not None
                else "nothing to share"
            ),
            hint="sync; a decryption share goes only to the sheet with k seals "
            "(`plurictl vote status` says SEALED)",
        )
    sheet = vote.sheets.get(vote.sealed_sheet)
    if sheet_text and not vote.sealed_sheet.hex().startswith(sheet_text.strip().lower()):
        raise InvalidInput(
            f"sheet {sheet_text} is not the sealed sheet ({vote.sealed_sheet.hex()[:12]}): a "
            "decryption share goes only to the sheet with k seals",
            hint="leave out --sheet: the share goes to the sealed sheet",
        )
    if sheet is None or sheet.ballots is None or vote.secret is None:
        raise InvalidInput(
            f"this laptop lacks part of the sealed sheet {vote.sealed_sheet.hex()[:12]} or its "
            "ballots",
            hint="sync first: a teller's share is computed over the sheet's ballots",
        )
    done = [s for s in vote.secret.shares if s.member == member and s.valid]
    if done or vote.secret.counts is not None:
        why = "your valid share is on the sealed sheet" if done else "the counts are decrypted"
        k = vote.charter.k
        return SealResult(None, sheet, len(sheet.sealers), k, vote.state, f"nothing: {why}")
    refuse_small(vote, sheet.ballots, f"share on sheet {sheet.id.hex()[:12]}", reveal_small)
    body: dict[str, Any] = {
        "vote": vote.id.hex(),
        "sheet": sheet.id.hex(),
        "root": sheet.root.hex(),
        "share": share_for(votes, vote, sheet, member, identity),
    }
    entry = store.append(identity, SHARE, body)
    now = load(store)[0].votes[vote.id]
    k = vote.charter.k
    return SealResult(entry, sheet, len(sheet.sealers), k, now.state, "written", waiting_of(now))


def sealed_already(vote: Vote, member: bytes, sheet_text: str | None) -> SealResult:
    """An open vote's teller runs `vote seal` again: nothing to write when it names no
    sheet or the one it sealed (exit 0); another sheet would be teller equivocation."""
    from ledger.errors import TrustError

    done = vote.seals[member]
    if sheet_text and not done.sheet.hex().startswith(sheet_text.strip().lower()):
        raise TrustError(
            f"you already sealed sheet {done.sheet.hex()[:12]} of this vote; a teller seals at "
            "most one sheet per vote",
            hint="a second seal on another sheet is teller equivocation: flagged, never counted",
        )
    sheet = vote.sheets.get(done.sheet)
    if sheet is None:  # sealed a sheet this laptop lacks
        raise InvalidInput(
            f"you already sealed sheet {done.sheet.hex()[:12]}, which this laptop lacks",
            hint="sync with the mesh; a teller seals once",
        )
    why = "you already sealed this sheet; a teller seals once"
    if vote.sealed_sheet is not None and vote.sealed_sheet != done.sheet:
        why = (
            f"you sealed sheet {done.sheet.hex()[:12]}; the vote is sealed on sheet "
            f"{vote.sealed_sheet.hex()[:12]}, and a teller seals once"
        )
    return SealResult(
        None, sheet, len(sheet.sealers), vote.charter.k, vote.state, f"nothing: {why}"
    )
