"""Roster view: who is a member of the mesh, with which roles, at which point of their feed.

A pure fold from entries to state. Every other view asks it one question:
"was this key a valid member with this role at this seq of its feed?"
(:meth:`Roster.authority`).

Roster entries (``mesh.genesis``, ``roster.change``, ``roster.approve``) form a
DAG: each one names the roster entries its author had seen (``after``), an
approval names the change it approves, and an author's roster entries follow
their feed order. The fold applies them in one deterministic topological
order (ties broken by entry id, never by clock), so the same set of entries
gives the same roster on every laptop, whatever the arrival order. Entries
whose references have not arrived yet wait.

Validity windows are in terms of the key's own feed: a revocation or rotation
names the last valid seq (``at``) of the key; a grant takes effect after
``at``. An entry applied early in the order whose author turns out to be
revoked before its seq (concurrent revocation) is excluded and the fold re-run
until nothing changes (an entry whose exclusion no longer holds comes back), so
the result never keeps an entry that the final roster says is invalid.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from typing import Any

from ledger.entry import Entry
from ledger.folds import Ignored, parse_id_list, well_formed
from ledger.kinds import GENESIS, ROSTER_APPROVE, ROSTER_CHANGE, ROSTER_KINDS
from ledger.roster.model import (
    ACTIVE,
    EQUIVOCATED,
    OPS,
    REVOKED,
    ROLES,
    ROTATED,
    KeyInfo,
    PendingChange,
    RoleSpan,
    Roster,
    is_role_name,
)

# --- the fold ----------------------------------------------------------------------


def fold(
    entries: Iterable[Entry],
    forks: Mapping[bytes, int] | None = None,
    mesh_id: bytes | None = None,
) -> Roster:
    """Compute the roster from any iterable of entries (other kinds are skipped).

    ``forks`` maps an author to the lowest seq with a fork proof; ``mesh_id``
    picks the genesis when entries of several meshes are mixed (the store never
    mixes them; the pure view must still be deterministic).
    """
    forks = dict(forks or {})
    by_id: dict[bytes, Entry] = {}
    fitting, malformed = well_formed(entries, ROSTER_KINDS)
    for e in fitting:
        by_id[e.id] = e
    genesis = _pick_genesis(by_id.values(), mesh_id)
    order, waiting, deps = _linearize(by_id, genesis)
    past = _causal_past(order, by_id, deps)
    frozen = {e.id for e in by_id.values() if e.seq >= forks.get(e.author, 1 << 62)}
    excluded: set[bytes] = set(frozen)
    seen: list[frozenset[bytes]] = []
    for _ in range(MAX_PASSES):
        roster = _apply(order, by_id, genesis, excluded, forks, past)
        # Recomputed from scratch each pass: an entry excluded only because of a
        # revocation that itself turned out invalid comes back.
        invalid = {
            eid for eid in roster.applied if not roster.valid(by_id[eid].author, by_id[eid].seq)
        }
        nxt = frozenset(frozen | (excluded & _still_invalid(roster, by_id, excluded)) | invalid)
        if nxt == excluded:
            break
        if nxt in seen:  # an oscillation: settle on the union, deterministically
            excluded = set(nxt.union(*seen))
            roster = _apply(order, by_id, genesis, excluded, forks, past)
            break
        seen.append(frozenset(excluded))
        excluded = set(nxt)
    roster.waiting = sorted(waiting)
    roster.ignored.extend(malformed)
    # Heads for new roster entries to build on: only entries the fold could order. An
    # entry waiting for a reference that never comes must not hold back everything after.
    ordered = set(order)
    referenced = {d for eid, ds in deps.items() if eid in ordered for d in ds}
    roster.heads = sorted(eid for eid in ordered if eid not in referenced)
    if genesis is None:
        roster.heads = []
    return roster


#: Bound on the fold's re-runs (revocations cutting revocations); real rosters need 1-3.
MAX_PASSES = 16


def _still_invalid(roster: Roster, by_id: dict[bytes, Entry], excluded: set[bytes]) -> set[bytes]:
    """Excluded entries whose author is still not valid at their seq under ``roster``."""
    return {eid for eid in excluded if not roster.valid(by_id[eid].author, by_id[eid].seq)}


def _causal_past(
    order: list[bytes], by_id: dict[bytes, Entry], deps: dict[bytes, list[bytes]]
) -> dict[bytes, dict[bytes, int]]:
    """For each roster entry: the highest seq of every author among its ancestors.

    A revocation can never invalidate what its own author had already seen: an
    admin who revokes a key after reading that key's roster change cannot cut
    that change off with a lower ``at``.
    """
    past: dict[bytes, dict[bytes, int]] = {}
    for eid in order:
        mine: dict[bytes, int] = {}
        for d in deps.get(eid, ()):
            if d not in past:
                continue
            for author, seq in past[d].items():
                if mine.get(author, 0) < seq:
                    mine[author] = seq
            parent = by_id[d]
            if mine.get(parent.author, 0) < parent.seq:
                mine[parent.author] = parent.seq
        past[eid] = mine
    return past


def _pick_genesis(candidates: Iterable[Entry], mesh_id: bytes | None) -> Entry | None:
    geneses = sorted(
        (e for e in candidates if e.kind == GENESIS and e.seq == 1 and e.prev is None),
        key=lambda e: e.id,
    )
    if mesh_id is not None:
        geneses = [g for g in geneses if g.id == mesh_id]
    return geneses[0] if geneses else None


def _dependencies(e: Entry, previous_by_author: bytes | None) -> list[bytes] | None:
    """Ids this roster entry must come after; None if its references are malformed."""
    if e.kind == GENESIS:
        return []
    after = parse_id_list(e.body.get("after", []))
    if after is None:
        return None
    deps = list(after)
    if e.kind == ROSTER_APPROVE:
        change = parse_id_list([e.body.get("change")])
        if change is None:
            return None
        deps += change
    if previous_by_author is not None:
        deps.append(previous_by_author)
    return deps


def _linearize(
    by_id: dict[bytes, Entry], genesis: Entry | None
) -> tuple[list[bytes], set[bytes], dict[bytes, list[bytes]]]:
    """Kahn's algorithm over the roster DAG, smallest id first among ready entries."""
    per_author: dict[bytes, list[Entry]] = {}
    for e in by_id.values():
        per_author.setdefault(e.author, []).append(e)
    deps: dict[bytes, list[bytes]] = {}
    for feed in per_author.values():
        feed.sort(key=lambda e: (e.seq, e.id))
        previous = None
        for e in feed:
            d = _dependencies(e, previous) or []  # malformed: reported by _apply
            if genesis is not None and e.id != genesis.id and e.kind != GENESIS and not d:
                d = [genesis.id]  # every roster change comes after the genesis
            deps[e.id] = d
            previous = e.id
    present = set(by_id)
    # Entries with a missing reference wait, and so does everything after them.
    waiting = {eid for eid, d in deps.items() if any(x not in present for x in d)}
    if genesis is None:
        waiting = set(present)
    children: dict[bytes, list[bytes]] = {}
    indegree: dict[bytes, int] = {}
    for eid, d in deps.items():
        if eid in waiting:
            continue
        indegree[eid] = 0
        for x in set(d):
            children.setdefault(x, []).append(eid)
            indegree[eid] += 1
    ready = [eid for eid, n in indegree.items() if n == 0]
    heapq.heapify(ready)
    order: list[bytes] = []
    while ready:
        eid = heapq.heappop(ready)
        order.append(eid)
        for child in children.get(eid, ()):
            if child in waiting:
                continue
            indegree[child] -= 1
            if indegree[child] == 0:
                heapq.heappush(ready, child)
    # Anything not ordered sits behind a waiting entry or a cycle: it waits too.
    waiting |= set(indegree) - set(order)
    return order, waiting, deps


class _Fold:
    """Mutable state of one pass of the fold."""

    def __init__(
        self, genesis: Entry, forks: Mapping[bytes, int], past: dict[bytes, dict[bytes, int]]
    ) -> None:
        self.forks = forks
        self.past = past
        body = genesis.body
        self.roster = Roster(
            mesh_id=genesis.id,
            name=str(body.get("name", "")),
            founder=genesis.author,
            threshold=_int(body.get("admin_threshold"), 1) or 1,
        )
        roles = body.get("roles") or ["admin"]
        roles = [r for r in ROLES if r in roles] or ["admin"]
        if "admin" not in roles:
            roles = ["admin", *roles]
        self.roster.keys[genesis.author] = KeyInfo(
            key=genesis.author,
            member=genesis.author,
            name=str(body.get("creator", "founder")),
            roles=[RoleSpan(r, 1) for r in roles],
            added_in=genesis.id,
        )
        for cofounder in body.get("admins") or []:
            if not isinstance(cofounder, dict) or not _is_key_hex(cofounder.get("key")):
                continue
            key = bytes.fromhex(cofounder["key"])
            if key in self.roster.keys:
                continue
            self.roster.keys[key] = KeyInfo(
                key=key,
                member=key,
                name=str(cofounder.get("name") or key.hex()[:12]),
                roles=[RoleSpan("admin", 1)],
                added_in=genesis.id,
                fork_seq=forks.get(key),
            )
        self.roster.threshold = max(1, min(self.roster.threshold, len(self.roster.keys)))

    def ignore(self, e: Entry, reason: str) -> None:
        self.roster.ignored.append(Ignored(e.id, e.author, e.seq, e.kind, reason))

    def step(self, e: Entry) -> None:
        r = self.roster
        why = r.authority(e.author, e.seq, "admin")
        if why is not None:
            self.ignore(e, f"not applied: {why}")
            return
        if e.kind == ROSTER_CHANGE:
            problem = _check_body(e.body)
            if problem:
                self.ignore(e, f"malformed change: {problem}")
                return
            change = PendingChange(
                e.id, e.author, e.seq, e.body, {r.keys[e.author].member: e.author}
            )
            r.pending[e.id] = change
            r.applied.append(e.id)
            self.maybe_apply(change)
        elif e.kind == ROSTER_APPROVE:
            target = bytes.fromhex(e.body["change"])
            approved = r.pending.get(target)
            if approved is None:
                self.ignore(
                    e, "approves a change that is not pending (already applied, ignored or unknown)"
                )
                return
            member = r.keys[e.author].member
            if member in approved.approvals:
                self.ignore(e, "this admin already approved the change")
                return
            approved.approvals[member] = e.author
            r.applied.append(e.id)
            self.maybe_apply(approved)

    def maybe_apply(self, change: PendingChange) -> None:
        r = self.roster
        if len(change.approvals) < r.threshold:
            return
        del r.pending[change.id]
        problem = self.apply(change)
        if problem:
            r.ignored.append(
                Ignored(
                    change.id,
                    change.author,
                    change.seq,
                    ROSTER_CHANGE,
                    f"approved but not applied: {problem}",
                )
            )
        elif change.body.get("op") == "threshold":
            # A lower threshold may complete other pending changes.
            for other in sorted(list(r.pending.values()), key=lambda c: c.id):
                if other.id in r.pending:
                    self.maybe_apply(other)

    def apply(self, change: PendingChange) -> str | None:
        """Apply an approved change; returns why it cannot apply (then nothing changed)."""
        r = self.roster
        b = change.body
        op = b["op"]
        if op == "threshold":
            k = b["k"]
            if k > len(r.admins()):
                return f"threshold {k} is more than the {len(r.admins())} active admins"
            r.threshold = k
            return None
        key = bytes.fromhex(b["key"])
        info = r.keys.get(key)
        if op == "add":
            return self._add(change, key, info)
        if info is None:
            return "key is not in the roster"
        if info.status in (REVOKED, ROTATED):
            return f"key is already {info.status}"
        # Never cut below what the change's author had seen of that key.
        at = max(b.get("at", 0), self.past.get(change.id, {}).get(key, 0))
        if op == "grant":
            if info.open_span(b["role"]):
                return f"already has role {b['role']}"
            info.roles.append(RoleSpan(b["role"], at + 1))
            return None
        if op == "remove_role":
            return self._remove_role(info, b["role"], at)
        if op == "revoke":
            if "admin" in info.current_roles and len(r.admins() - {info.member}) < r.threshold:
                return "would leave fewer admins than the admin threshold"
            self._close(info, at)
            info.status = REVOKED
            info.reason = str(b.get("reason") or "") or None
            return None
        if op == "rotate":
            return self._rotate(change, key, info, at)
        return f"unknown op {op!r}"  # pragma: no cover - _check_body refuses it

    def _add(self, change: PendingChange, key: bytes, info: KeyInfo | None) -> str | None:
        if info is not None:
            return "key is already in the roster"
        b = change.body
        self.roster.keys[key] = KeyInfo(
            key=key,
            member=key,
            name=b["name"],
            roles=[RoleSpan(role, 1) for role in ROLES if role in b["roles"]],
            added_in=change.id,
            fork_seq=self.forks.get(key),
        )
        return None

    def _remove_role(self, info: KeyInfo, role: str, at: int) -> str | None:
        r = self.roster
        span = info.open_span(role)
        if span is None:
            return f"does not have role {role}"
        if role == "admin" and len(r.admins() - {info.member}) < r.threshold:
            return "would leave fewer admins than the admin threshold"
        span.to_seq = max(at, span.from_seq - 1)
        return None

    def _rotate(self, change: PendingChange, key: bytes, info: KeyInfo, at: int) -> str | None:
        r = self.roster
        successor = bytes.fromhex(change.body["successor"])
        if successor in r.keys:
            return "successor key is already in the roster"
        roles = info.current_roles
        self._close(info, at)
        info.status = ROTATED
        info.successor = successor
        r.keys[successor] = KeyInfo(
            key=successor,
            member=info.member,
            name=info.name,
            roles=[RoleSpan(role, 1) for role in roles],
            predecessor=key,
            added_in=change.id,
            fork_seq=self.forks.get(successor),
        )
        return None

    @staticmethod
    def _close(info: KeyInfo, at: int) -> None:
        info.last_seq = at if info.last_seq is None else min(info.last_seq, at)
        for span in info.roles:
            if span.to_seq is None or span.to_seq > at:
                span.to_seq = at


def _int(value: Any, default: int | None = None) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return default


def _is_key_hex(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 64:
        return False
    try:
        bytes.fromhex(value)
    except ValueError:
        return False
    return True


def _check_body(b: dict[str, Any]) -> str | None:
    """Return what is wrong with a roster change body, or None."""
    op = b.get("op")
    if op not in OPS:
        return f"unknown op {op!r}"
    if op == "threshold":
        k = _int(b.get("k"))
        return None if k is not None and k >= 1 else "k must be an integer >= 1"
    if not _is_key_hex(b.get("key")):
        return "key must be 64 hex characters"
    if op == "add":
        roles = b.get("roles")
        if not isinstance(roles, list) or not roles or any(r not in ROLES for r in roles):
            return f"roles must be a non-empty list of {', '.join(ROLES)}"
        name = b.get("name")
        if not isinstance(name, str) or not name.strip():
            return "name must be a non-empty string"
        return None
    at = _int(b.get("at"))
    if at is None or at < 0:
        return "at must be an integer >= 0 (the key's last seq the admin had seen)"
    if op in ("grant", "remove_role") and not is_role_name(b.get("role")):
        return f"role must be one of {', '.join(ROLES)}, or a function (e.g. grid-operator)"
    if op == "rotate" and not _is_key_hex(b.get("successor")):
        return "successor must be 64 hex characters"
    return None


def _apply(
    order: list[bytes],
    by_id: dict[bytes, Entry],
    genesis: Entry | None,
    excluded: set[bytes],
    forks: Mapping[bytes, int],
    past: dict[bytes, dict[bytes, int]],
) -> Roster:
    if genesis is None:
        return Roster()
    state = _Fold(genesis, forks, past)
    founder = state.roster.keys[genesis.author]
    founder.fork_seq = forks.get(genesis.author)
    for eid in order:
        e = by_id[eid]
        if eid == genesis.id:
            state.roster.applied.append(eid)
            continue
        if e.kind == GENESIS:
            state.ignore(e, "genesis of another mesh")
            continue
        if eid in excluded:
            reason = state.roster.authority(e.author, e.seq) or "author not valid at this seq"
            state.ignore(e, f"not applied: {reason}")
            continue
        if _dependencies(e, None) is None:
            state.ignore(e, "malformed references (after/change)")
            continue
        state.step(e)
    for info in state.roster.keys.values():
        if info.key in forks:
            info.fork_seq = forks[info.key]
            if info.status == ACTIVE:
                info.status = EQUIVOCATED
    return state.roster


__all__ = [
    "ACTIVE",
    "EQUIVOCATED",
    "OPS",
    "REVOKED",
    "ROLES",
    "ROTATED",
    "KeyInfo",
    "PendingChange",
    "RoleSpan",
    "Roster",
    "fold",
]
