"""Site preferences: the order in which a site wants its own loads kept on.

``plan.preference`` ``{"site", "rank": [load names, most important first], "note"?}``,
signed by an operator or coordinator. Per site the entry with the highest (HLC, id)
wins, the same on every laptop whatever the arrival order; an empty ``rank`` clears the
site's preference. The planner honours it within each tier, after fairness between
communities (``plan run --from-ledger``; ``planner.stage_list``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ledger.entry import Entry
from ledger.roster.model import Roster

PREFERENCE = "plan.preference"
KINDS = (PREFERENCE,)
MAX_RANK = 200


@dataclass(frozen=True)
class SitePreference:
    site: str
    rank: tuple[str, ...]
    by: str
    hlc: int
    id: bytes
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "rank": list(self.rank),
            "by": self.by,
            "hlc": self.hlc,
            "entry": self.id.hex(),
            "note": self.note,
        }


def fold(entries: Iterable[Entry], roster: Roster) -> dict[str, SitePreference]:
    """The standing preference of each site (cleared ones left out)."""
    best: dict[str, SitePreference] = {}
    for e in entries:
        if e.kind != PREFERENCE:
            continue
        if roster.authority(e.author, e.seq, "operator", "coordinator") is not None:
            continue
        site, rank = e.body.get("site"), e.body.get("rank")
        if not isinstance(site, str) or not isinstance(rank, list):
            continue
        if any(not isinstance(x, str) for x in rank) or len(set(rank)) != len(rank):
            continue
        note = e.body.get("note")
        pref = SitePreference(
            site, tuple(rank), roster.name_of(e.author), e.hlc, e.id,
            note if isinstance(note, str) else "",
        )  # fmt: skip
        old = best.get(site)
        if old is None or (pref.hlc, pref.id) > (old.hlc, old.id):
            best[site] = pref
    return {s: p for s, p in sorted(best.items()) if p.rank}
