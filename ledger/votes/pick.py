"""Which close sheet ``vote seal`` seals when no ``--sheet`` is given.

field_guides/voting.md "Sealing": first a sheet that can still reach k seals
(with the tellers who have not sealed yet, this one included), then one that
leaves out none of the ballots this laptop holds (usually the newest), then
the most seals, the most ballots, the smallest id (so tellers who agree pick
the same). A sheet that can no longer reach k would only spend the seal.
"""

from __future__ import annotations

from ledger.errors import InvalidInput
from ledger.votes.state import Sheet, Vote


def pick_sheet(vote: Vote, text: str | None) -> Sheet:
    """The sheet named by ``text``; else the sealed one; else the best one to seal here."""
    if not vote.sheets:
        raise InvalidInput(
            "there is no close sheet for this vote yet",
            hint=f"a coordinator runs `plurictl vote close {vote.id.hex()[:12]}`",
        )
    if text:
        found = [s for sid, s in vote.sheets.items() if sid.hex().startswith(text.strip().lower())]
        if len(found) != 1:
            raise InvalidInput(f"no single close sheet of this vote matches {text!r}")
        return found[0]
    if vote.sealed_sheet in vote.sheets:
        return vote.sheets[vote.sealed_sheet]
    k = vote.charter.k
    unsealed = sum(1 for t in vote.charter.tellers if t not in vote.seals)

    def rank(s: Sheet) -> tuple[bool, bool, int, int, bytes]:
        seals = len(s.sealers) + len(s.set_aside)
        listed = set(s.ballots or ())
        omits = s.ballots is None or any(b not in listed for b in vote.ballots)
        return (seals + unsealed < k, omits, -seals, -s.count, s.id)

    return sorted(vote.sheets.values(), key=rank)[0]
