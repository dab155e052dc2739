"""Signed vote entries for tests, benchmarks and drills, without a store.

:class:`VoteBook` writes charters, ballots, stops, sheets and seals through a
:class:`ledger.testing.MeshFixture` with the same body formats as
:mod:`ledger.votes.writer`, and remembers each voter's ballots so that a revote names
what it replaces (or, on purpose, does not: a double vote).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger import merkle
from ledger.entry import Entry
from ledger.kinds import ROSTER_CHANGE
from ledger.testing import MeshFixture
from ledger.votes.bodies import (
    BALLOT,
    CHARTER,
    CLOSE,
    IDS_PER_PART,
    PART,
    ROLL_PER_PART,
    SEAL,
    STOP,
)


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


@dataclass
class VoteBook:
    mesh: MeshFixture
    ballots: dict[tuple[bytes, str], list[Entry]] = field(default_factory=dict)

    def member(self, name: str) -> bytes:
        return self.mesh.roster().member_of(self.mesh.key(name)) or self.mesh.key(name)

    def open(
        self,
        by: str,
        *,
        options: Sequence[str | tuple[str, str] | tuple[str, str, str]] = ("a", "b"),
        method: str = "plurality",
        roll: dict[str, int] | Sequence[str] = (),
        roll_members: dict[bytes, int] | None = None,
        tellers: Sequence[str] = (),
        k: int | None = None,
        quorum_pct: int = 0,
        credits: int | None = None,
        title: str = "Which option?",
        members: dict[str, bytes] | None = None,
        f: int | None = None,
    ) -> Entry:
        """Write a charter (and roll parts when the roll is long); ``f``: the equivocating
        tellers tolerated (None: a charter as written before f existed)."""
        members = members or {}
        weights = dict(roll) if isinstance(roll, dict) else dict.fromkeys(roll, 1)
        rows = dict(roll_members or {})
        for name, w in weights.items():
            rows[members.get(name) or self.member(name)] = w
        opts = []
        for o in options:
            if isinstance(o, str):
                opts.append({"id": o, "label": o.upper()})
            else:
                opt = {"id": o[0], "label": o[1]}
                if len(o) > 2:
                    opt["ref"] = o[2]
                opts.append(opt)
        teller_ids = sorted(members.get(t) or self.member(t) for t in tellers)
        body: dict[str, Any] = {
            "title": title,
            "text": "",
            "options": opts,
            "method": method,
            "roll_size": len(rows),
            "roll_weight": sum(rows.values()),
            "roll_source": "test",
            "tellers": [t.hex() for t in teller_ids],
            "teller_keys": {
                t.hex(): (self.mesh.roster().current_key(t) or t).hex() for t in teller_ids
            },
            "k": k
            if k is not None
            else (len(teller_ids) + (f or 0) + 2) // 2,  # smallest with 2k - n >= f + 1
            "quorum_pct": quorum_pct,
            "window_minutes": None,
        }
        if credits is not None:
            body["credits"] = credits
        if f is not None:
            body["f"] = f
        items = sorted((m.hex(), w) for m, w in rows.items())
        if len(items) <= ROLL_PER_PART:
            body["roll"] = dict(items)
        else:
            body["roll_parts"] = [
                self.mesh.write(by, PART, {"items": dict(c)}).id.hex()
                for c in chunks(items, ROLL_PER_PART)
            ]
        return self.mesh.write(by, CHARTER, body)

    def cast(
        self,
        who: str,
        vote: Entry,
        choice: Any,
        *,
        replaces: Iterable[Entry] | None = None,
        fresh: bool = False,
    ) -> Entry:
        """A ballot naming every earlier ballot of ``who`` (``fresh``: naming none)."""
        mine = self.ballots.setdefault((vote.id, who), [])
        if replaces is None:
            replaces = [] if fresh else list(mine)
        body = {
            "vote": vote.id.hex(),
            "choice": choice,
            "replaces": sorted(b.id.hex() for b in replaces),
        }
        entry = self.mesh.write(who, BALLOT, body)
        mine.append(entry)
        return entry

    def stop(self, who: str, vote: Entry, ballots: Sequence[Entry]) -> Entry:
        ids = sorted(b.id for b in ballots)
        return self.mesh.write(
            who, STOP, {"vote": vote.id.hex(), "count": len(ids), "root": merkle.root(ids).hex()}
        )

    def close(self, who: str, vote: Entry, ballots: Iterable[Entry | bytes]) -> Entry:
        """A close sheet over ``ballots`` (parts first when there are many)."""
        ids = sorted({b if isinstance(b, bytes) else b.id for b in ballots})
        body: dict[str, Any] = {
            "vote": vote.id.hex(),
            "count": len(ids),
            "root": merkle.root(ids).hex(),
        }
        if len(ids) <= IDS_PER_PART:
            body["ballots"] = [i.hex() for i in ids]
        else:
            body["parts"] = [
                self.mesh.write(who, PART, {"items": [i.hex() for i in c]}).id.hex()
                for c in chunks(ids, IDS_PER_PART)
            ]
        return self.mesh.write(who, CLOSE, body)

    def seal(self, who: str, vote: Entry, sheet: Entry) -> Entry:
        return self.mesh.write(
            who,
            SEAL,
            {"vote": vote.id.hex(), "sheet": sheet.id.hex(), "root": sheet.body["root"]},
        )


def add_many(mesh: MeshFixture, names: Sequence[str], roles: list[str]) -> None:
    """Add many members quickly: each change names the previous one (no roster re-fold)."""
    heads = [h.hex() for h in mesh.roster().heads]
    for name in names:
        body = {"op": "add", "key": mesh.key(name).hex(), "name": name, "roles": roles}
        entry = mesh.write(mesh.founder, ROSTER_CHANGE, {**body, "after": heads})
        heads = [entry.id.hex()]


def vote_entries(entries: Iterable[Entry]) -> list[Entry]:
    return [e for e in entries if e.kind.startswith("vote.")]


__all__ = [
    "BALLOT",
    "CHARTER",
    "CLOSE",
    "SEAL",
    "STOP",
    "VoteBook",
    "add_many",
    "chunks",
    "vote_entries",
]
