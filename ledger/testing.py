"""Test helpers shipped with the ledger: deterministic identities and in-memory meshes.

Views are pure functions of entries, so their tests need entries, not stores:
:class:`MeshFixture` signs real entries (real ed25519, real encoding) with
keys derived from fixed seeds, keeping every author's chain consistent, and
fills the roster references (``after``) the way ``ledger.roster.writer`` does.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import nacl.signing

from ledger.entry import Entry, create
from ledger.identity import Identity
from ledger.kinds import GENESIS, ROSTER_APPROVE, ROSTER_CHANGE
from ledger.roster import view as roster_view

#: Fixed start of the test clock (2026-01-01T00:00:00Z), in packed HLC form.
T0 = 1_767_225_600_000 << 16


def identity_from_seed(name: str, seed: str | bytes | None = None) -> Identity:
    """An identity whose key is derived from ``seed`` (default: the name)."""
    material = seed if isinstance(seed, bytes) else (seed or name).encode()
    key = nacl.signing.SigningKey(hashlib.sha256(b"plurigrid-test-key:" + material).digest())
    return Identity(name=name, signing_key=key)


@dataclass
class Feed:
    """One author's chain: the next seq and the id it must point back to."""

    identity: Identity
    seq: int = 0
    prev: bytes | None = None

    def write(self, kind: str, body: dict[str, Any], hlc: int) -> Entry:
        entry = create(
            self.identity,
            seq=self.seq + 1,
            prev=self.prev,
            hlc=hlc,
            kind=kind,
            body=body,
        )
        self.seq, self.prev = entry.seq, entry.id
        return entry


@dataclass
class MeshFixture:
    """An in-memory mesh: a founder, members with roles, and every entry they signed."""

    name: str
    founder: str
    people: dict[str, Identity] = field(default_factory=dict)
    feeds: dict[str, Feed] = field(default_factory=dict)
    entries: list[Entry] = field(default_factory=list)
    clock: int = T0
    mesh_id: bytes = b""

    @classmethod
    def create(
        cls,
        founder: str = "alice",
        members: dict[str, list[str]] | None = None,
        *,
        name: str = "test-mesh",
        founder_roles: tuple[str, ...] = ("admin", "coordinator", "operator"),
    ) -> MeshFixture:
        mesh = cls(name=name, founder=founder)
        ident = mesh.person(founder)
        genesis = mesh.feeds[founder].write(
            GENESIS,
            {
                "name": name,
                "admin_threshold": 1,
                "creator": ident.name,
                "roles": list(founder_roles),
                "admins": [],
                "protocol": 1,
            },
            mesh.tick(),
        )
        mesh.mesh_id = genesis.id
        mesh.feeds[founder].prev = genesis.id
        mesh.entries.append(genesis)
        for person, roles in (members or {}).items():
            mesh.add(person, roles)
        return mesh

    def tick(self, ms: int = 1000) -> int:
        self.clock += ms << 16
        return self.clock

    def person(self, name: str) -> Identity:
        if name not in self.people:
            ident = identity_from_seed(name)
            self.people[name] = ident
            self.feeds[name] = Feed(ident, 0, None)
        return self.people[name]

    def key(self, name: str) -> bytes:
        return self.person(name).public

    def write(self, who: str, kind: str, body: dict[str, Any], *, hlc: int | None = None) -> Entry:
        """``who`` signs the next entry of their feed."""
        self.person(who)
        feed = self.feeds[who]
        if feed.seq == 0 and feed.prev is None:
            feed.prev = self.mesh_id  # every feed hangs off the mesh id
        entry = feed.write(kind, body, hlc if hlc is not None else self.tick())
        self.entries.append(entry)
        return entry

    def roster(self) -> roster_view.Roster:
        return roster_view.fold(self.entries)

    def _after(self) -> list[str]:
        return [h.hex() for h in self.roster().heads]

    def change(self, who: str, body: dict[str, Any]) -> Entry:
        return self.write(who, ROSTER_CHANGE, {**body, "after": self._after()})

    def approve(self, who: str, change: Entry) -> Entry:
        return self.write(who, ROSTER_APPROVE, {"change": change.id.hex(), "after": self._after()})

    def add(self, person: str, roles: list[str], *, by: str | None = None) -> Entry:
        key = self.key(person)
        return self.change(
            by or self.founder, {"op": "add", "key": key.hex(), "name": person, "roles": roles}
        )

    def revoke(self, person: str, *, at: int | None = None, by: str | None = None) -> Entry:
        at = self.feeds[person].seq if at is None else at
        return self.change(
            by or self.founder, {"op": "revoke", "key": self.key(person).hex(), "at": at}
        )

    def grant(self, person: str, role: str, *, by: str | None = None) -> Entry:
        return self.change(
            by or self.founder,
            {
                "op": "grant",
                "key": self.key(person).hex(),
                "role": role,
                "at": self.feeds[person].seq,
            },
        )
