"""The roster's state: members' keys, their roles over their feed, pending changes.

What :func:`ledger.roster.view.fold` builds and every other view asks
(:meth:`Roster.authority`); no fold logic here."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ledger.folds import Ignored

ROLES = ("admin", "coordinator", "operator", "teller", "observer")
#: Functions an admin may grant besides the roles (e.g. grid-operator, driver): they carry
#: no authority of their own; playbook steps ask for them (``signers = ["role:driver"]``).
FUNCTION_RE = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


def is_role_name(value: object) -> bool:
    """A role of :data:`ROLES`, or a function name."""
    return isinstance(value, str) and (value in ROLES or FUNCTION_RE.match(value) is not None)


OPS = ("add", "grant", "remove_role", "revoke", "rotate", "threshold")

ACTIVE, REVOKED, ROTATED, EQUIVOCATED = "active", "revoked", "rotated", "equivocated"


@dataclass
class RoleSpan:
    """A role held from ``from_seq`` to ``to_seq`` (inclusive; None = still held)."""

    role: str
    from_seq: int
    to_seq: int | None = None

    def covers(self, seq: int) -> bool:
        return self.from_seq <= seq and (self.to_seq is None or seq <= self.to_seq)


@dataclass
class KeyInfo:
    """One key of a member. A member rotating to a new laptop has several keys."""

    key: bytes
    member: bytes  # the member's first key: stays the same across rotations
    name: str
    status: str = ACTIVE
    last_seq: int | None = None  # last valid seq after a revocation or rotation
    fork_seq: int | None = None  # lowest seq with a fork proof: frozen from here
    roles: list[RoleSpan] = field(default_factory=list)
    successor: bytes | None = None
    predecessor: bytes | None = None
    added_in: bytes | None = None  # id of the entry that added this key
    reason: str | None = None  # why revoked, when given

    def valid_at(self, seq: int) -> bool:
        if seq < 1:
            return False
        if self.last_seq is not None and seq > self.last_seq:
            return False
        return not (self.fork_seq is not None and seq >= self.fork_seq)

    @property
    def limit(self) -> int | None:
        """Highest valid seq, or None when the feed may still grow."""
        limits = []
        if self.last_seq is not None:
            limits.append(self.last_seq)
        if self.fork_seq is not None:
            limits.append(self.fork_seq - 1)
        return min(limits) if limits else None

    def roles_at(self, seq: int) -> set[str]:
        if not self.valid_at(seq):
            return set()
        return {span.role for span in self.roles if span.covers(seq)}

    @property
    def current_roles(self) -> list[str]:
        if self.status in (REVOKED, ROTATED):
            return []
        held = {span.role for span in self.roles if span.to_seq is None}
        return [r for r in ROLES if r in held] + sorted(held - set(ROLES))

    def open_span(self, role: str) -> RoleSpan | None:
        for span in self.roles:
            if span.role == role and span.to_seq is None:
                return span
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key.hex(),
            "member": self.member.hex(),
            "name": self.name,
            "status": self.status,
            "roles": self.current_roles,
            "role_history": [
                {"role": s.role, "from_seq": s.from_seq, "to_seq": s.to_seq} for s in self.roles
            ],
            "valid_from_seq": 1,
            "last_valid_seq": self.limit,
            "fork_seq": self.fork_seq,
            "successor": self.successor.hex() if self.successor else None,
            "predecessor": self.predecessor.hex() if self.predecessor else None,
            "reason": self.reason,
        }


@dataclass
class PendingChange:
    """A roster change waiting for more admin approvals (threshold K > 1)."""

    id: bytes
    author: bytes
    seq: int
    body: dict[str, Any]
    approvals: dict[bytes, bytes] = field(default_factory=dict)  # member -> approving key

    def to_json(self, threshold: int) -> dict[str, Any]:
        return {
            "change": self.id.hex(),
            "proposed_by": self.author.hex(),
            "op": self.body.get("op"),
            "body": {k: v for k, v in self.body.items() if k != "after"},
            "approvals": len(self.approvals),
            "needed": threshold,
            "approved_by": sorted(k.hex() for k in self.approvals.values()),
        }


@dataclass
class Roster:
    mesh_id: bytes | None = None
    name: str | None = None
    founder: bytes | None = None
    threshold: int = 1
    keys: dict[bytes, KeyInfo] = field(default_factory=dict)
    pending: dict[bytes, PendingChange] = field(default_factory=dict)
    ignored: list[Ignored] = field(default_factory=list)
    applied: list[bytes] = field(default_factory=list)
    waiting: list[bytes] = field(default_factory=list)
    heads: list[bytes] = field(default_factory=list)

    # --- the questions every view asks ---------------------------------------------

    def valid(self, author: bytes, seq: int) -> bool:
        """Was ``author`` a member whose entry ``seq`` counts?"""
        info = self.keys.get(author)
        return info is not None and info.valid_at(seq)

    def has_role(self, author: bytes, seq: int, role: str) -> bool:
        info = self.keys.get(author)
        return info is not None and role in info.roles_at(seq)

    def authority(self, author: bytes, seq: int, *roles: str) -> str | None:
        """None if entry ``seq`` of ``author`` carries one of ``roles``; else the reason why not."""
        info = self.keys.get(author)
        if info is None:
            return "author is not in the roster"
        if not info.valid_at(seq):
            if info.fork_seq is not None and seq >= info.fork_seq:
                return f"author's feed is frozen at seq {info.fork_seq} (equivocation)"
            return f"author's key is {info.status} after seq {info.last_seq}"
        held = info.roles_at(seq)
        if roles and not held.intersection(roles):
            have = ", ".join(sorted(held)) or "no role"
            return f"needs role {' or '.join(roles)}; author had {have} at seq {seq}"
        return None

    def member_of(self, key: bytes) -> bytes | None:
        info = self.keys.get(key)
        return info.member if info else None

    def name_of(self, key: bytes) -> str:
        info = self.keys.get(key)
        return info.name if info else key.hex()[:12]

    def current_key(self, member: bytes) -> bytes | None:
        """The newest key of a member (following rotations)."""
        info = self.keys.get(member)
        seen = set()
        while info is not None and info.successor is not None and info.key not in seen:
            seen.add(info.key)
            info = self.keys.get(info.successor)
        return info.key if info else None

    def active_keys(self) -> set[bytes]:
        """Keys that may still write (not revoked, rotated or frozen by a fork)."""
        return {k for k, info in self.keys.items() if info.status == ACTIVE}

    def connectable_keys(self) -> set[bytes]:
        """Keys admitted to the mesh: active ones, and equivocated ones (frozen, not
        revoked), so that the laptop holding that key learns of the fork and its
        member can be moved to a new key; nothing it writes counts any more."""
        return {k for k, info in self.keys.items() if info.status in (ACTIVE, EQUIVOCATED)}

    def admins(self) -> set[bytes]:
        """Members currently holding the admin role (by member id)."""
        return {
            info.member
            for info in self.keys.values()
            if info.status == ACTIVE and "admin" in info.current_roles
        }

    def keys_with_role(self, role: str) -> list[bytes]:
        return sorted(
            k for k, i in self.keys.items() if i.status == ACTIVE and role in i.current_roles
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "mesh_id": self.mesh_id.hex() if self.mesh_id else None,
            "name": self.name,
            "admin_threshold": self.threshold,
            "members": [self.keys[k].to_json() for k in sorted(self.keys)],
            "pending": [p.to_json(self.threshold) for _, p in sorted(self.pending.items())],
            "ignored": [i.to_json() for i in self.ignored],
            "waiting": [w.hex() for w in self.waiting],
        }
