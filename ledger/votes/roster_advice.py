"""What a roster change does to votes not yet final: the warnings shown before it is signed.

The roster sits below votes and does not import them; this advisor is registered with
:mod:`ledger.roster.advice` when the ``ledger`` package is imported (``ledger/__init__.py``).
The votes themselves are loaded only when a roster change is being checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledger.roster import advice

if TYPE_CHECKING:
    from ledger.roster.view import Roster
    from ledger.store import Store


@advice.register
def vote_warnings(store: Store, roster: Roster, body: dict[str, Any]) -> list[str]:
    """Warnings for a revoke, rotate or teller removal that touches votes not yet FINAL."""
    op = body["op"]
    warnings: list[str] = []
    if op in ("rotate", "revoke") or (op == "remove_role" and body.get("role") == "teller"):
        member = roster.member_of(bytes.fromhex(body["key"]))
        titles = open_votes_with_teller(store, member) if member else []
        if titles:
            warnings.append(
                f"{roster.name_of(bytes.fromhex(body['key']))} is a teller of {len(titles)} vote(s) not yet "
                f"final ({'; '.join(titles[:3])}): their seat on those votes stays empty for "
                "plurictl; a seal they already made, or sign anyway with another tool, still "
                "counts (on votes opened before f existed, one made after the point you cut "
                "at stops counting; see voting.md, 'Losing a teller')"
            )
        ballots = open_votes_with_ballot(store, member) if member and op != "remove_role" else []
        if ballots:
            warnings.append(
                f"{roster.name_of(bytes.fromhex(body['key']))} has a ballot in {len(ballots)} vote(s) "
                f"not yet final ({'; '.join(ballots[:3])}): a ballot that a sealed sheet lists "
                "still counts, whatever this change says; one cast after the point you cut at "
                f"(seq {body.get('at')}) counts only if a sealed sheet lists it "
                "(see voting.md, 'What is guaranteed')"
            )
    return warnings


def open_votes_with_teller(store: Store, member: bytes) -> list[str]:
    """Titles of votes not yet FINAL where ``member`` holds a teller seat."""
    from ledger.votes.writer import load as load_votes

    votes, _ = load_votes(store, count=False)  # states and ballots: no tally needed
    return [
        v.charter.fields.title
        for _, v in sorted(votes.votes.items())
        if v.state != "FINAL" and member in v.charter.tellers
    ]


def open_votes_with_ballot(store: Store, member: bytes) -> list[str]:
    """Titles of votes not yet FINAL in which ``member`` has a ballot on this laptop."""
    from ledger.votes.writer import load as load_votes

    votes, _ = load_votes(store, count=False)  # states and ballots: no tally needed
    return [
        v.charter.fields.title
        for _, v in sorted(votes.votes.items())
        if v.state != "FINAL" and any(b.member == member for b in v.ballots.values())
    ]
