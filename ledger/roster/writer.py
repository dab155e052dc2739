"""Writing trust entries: founding a mesh and changing its roster.

These functions check a change against the current roster *before* signing it,
so an operator gets a clear refusal instead of an entry the roster view would
ignore. The view (``ledger.roster.view``) stays the authority: what it says
holds on every laptop, whatever these pre-checks said on one.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any

from ledger import guard
from ledger.entry import Entry
from ledger.errors import InvalidInput, TrustError, WrongMesh
from ledger.identity import Identity, validate_name
from ledger.kinds import GENESIS, ROSTER_APPROVE, ROSTER_CHANGE
from ledger.roster import advice
from ledger.roster.view import ACTIVE, EQUIVOCATED, REVOKED, ROLES, KeyInfo, Roster
from ledger.store import Store


def _admin_only(why: str) -> str:
    return f"only an admin can change the roster ({why})"


DEFAULT_FOUNDER_ROLES = ("admin", "coordinator", "operator")


def mesh_fingerprint(mesh_id: bytes) -> str:
    """The mesh id as 4 groups of 4 base32 characters, for reading aloud."""
    text = base64.b32encode(hashlib.blake2b(mesh_id, digest_size=10).digest()).decode()
    return "-".join(text[i : i + 4] for i in range(0, 16, 4))


def _hex32(text: str, problem: str, hint: str) -> bytes:
    """32 bytes written as 64 hex characters, or InvalidInput naming what was expected."""
    text = text.strip().lower()
    try:
        value = bytes.fromhex(text)
    except ValueError:
        value = b""
    if len(value) != 32:
        raise InvalidInput(problem.format(text=text[:20]), hint=hint)
    return value


def parse_mesh_id(text: str) -> bytes:
    return _hex32(
        text,
        "a mesh id is 64 hex characters",
        "see `plurictl mesh show` on a member's laptop",
    )


def create_mesh(
    store: Store,
    identity: Identity,
    name: str,
    *,
    admin_threshold: int = 1,
    roles: tuple[str, ...] = DEFAULT_FOUNDER_ROLES,
    cofounders: list[tuple[str, bytes]] | None = None,
) -> Entry:
    """Write the genesis entry; its id is the mesh id.

    ``cofounders`` (name, key) are admins from the start, so that a threshold
    K > 1 can hold from the first roster change on.
    """
    name = validate_name(name)
    cofounders = cofounders or []
    keys = [identity.public] + [k for _, k in cofounders]
    if len(set(keys)) != len(keys):
        raise InvalidInput("each founding admin needs a different key")
    if admin_threshold < 1:
        raise InvalidInput("--admin-threshold must be at least 1")
    if admin_threshold > len(keys):
        # With fewer admins than K no roster change could ever take effect.
        raise InvalidInput(
            f"--admin-threshold {admin_threshold} needs at least {admin_threshold} founding "
            f"admins; this mesh would have {len(keys)}",
            hint="name co-founders with --admin NAME=PUBLIC_KEY, or raise the threshold "
            "later with `plurictl roster threshold K`",
        )
    bad = [r for r in roles if r not in ROLES]
    if bad:
        raise InvalidInput(f"unknown role(s) {', '.join(bad)}; roles are {', '.join(ROLES)}")
    if store.mesh_id is not None:
        raise WrongMesh(
            f"this laptop already belongs to mesh {store.mesh_id.hex()[:16]}",
            hint="a laptop belongs to exactly one mesh; use another --home to found another",
        )
    roles_list = [r for r in ROLES if r in set(roles) | {"admin"}]
    return store.append(
        identity,
        GENESIS,
        {
            "name": name,
            "admin_threshold": admin_threshold,
            "creator": identity.name,
            "roles": roles_list,
            "admins": [{"name": validate_name(n), "key": k.hex()} for n, k in cofounders],
            "protocol": 1,
        },
    )


def parse_key(text: str) -> bytes:
    return _hex32(
        text,
        "{text!r} is not a public key (64 hex characters)",
        "the newcomer sees it with `plurictl key show`",
    )


@dataclass
class ChangeResult:
    entry: Entry
    applied: bool  # False: waiting for more admin approvals
    approvals: int
    needed: int
    warnings: list[str] = field(default_factory=list)
    #: revoke/rotate: entries of that key this laptop holds that the cut makes stop counting
    cut_entries: int = 0
    #: revoke/rotate: the key's last valid seq named by the change
    cut_at: int | None = None


def _target(roster: Roster, key: bytes, op: str) -> KeyInfo:
    info = roster.keys.get(key)
    if info is None:
        raise TrustError(
            f"{key.hex()[:16]} is not in the roster", hint="see `plurictl roster list`"
        )
    # A forked key (the laptop was copied or stolen) must still be revocable and rotatable:
    # it is the first thing an admin does about a fork (trust.md, "Forks").
    allowed = (ACTIVE, EQUIVOCATED) if op in ("revoke", "rotate") else (ACTIVE,)
    if info.status not in allowed:
        raise TrustError(f"{info.name} ({key.hex()[:16]}) is {info.status}")
    return info


def _counting_after(store: Store, info: KeyInfo, at: int) -> int:
    """Entries of the key this laptop holds that count today and would not after a cut at ``at``."""
    head = store.stored_heads().get(info.key)
    last = head.seq if head else 0
    if info.limit is not None:
        last = min(last, info.limit)
    return max(0, last - at)


def _cut_point(store: Store, info: KeyInfo, op: str, at: int | None) -> int:
    """The last valid seq of the key for a revoke or rotate: ``at``, or what this laptop has seen.

    An admin who has seen none of the member's entries would cut at 0, so every
    entry the member ever signed stops counting: a revocation then needs an
    explicit ``at`` (``--at 0`` included).
    """
    head = store.stored_heads().get(info.key)
    seen = head.seq if head else 0
    if info.fork_seq is not None:
        seen = min(seen, info.fork_seq - 1)  # the fork point: nothing after it counts anyway
    if at is not None:
        return at
    if head is None and op == "revoke":
        raise InvalidInput(
            f"this laptop has seen none of {info.name}'s entries: revoking now would make every "
            "entry they ever signed stop counting, on every laptop",
            hint=f"sync first, or give the last valid seq with --at N (see `plurictl log show "
            f"--author {info.name}` on a laptop that has their entries); --at 0 cuts everything",
        )
    return seen


def propose(store: Store, identity: Identity, body: dict[str, Any]) -> ChangeResult:
    """Sign a roster change after checking it against the current roster."""
    roster = store.roster()
    guard.require(store, roster, identity, "admin", refusal=_admin_only)
    op = body["op"]
    if op == "add":
        key = bytes.fromhex(body["key"])
        if key in roster.keys:
            raise TrustError(
                f"{key.hex()[:16]} is already in the roster as {roster.keys[key].name}"
            )
        bad = [r for r in body["roles"] if r not in ROLES]
        if bad or not body["roles"]:
            raise InvalidInput(f"roles must be some of {', '.join(ROLES)}")
    elif op == "threshold":
        k = body["k"]
        admins = len(roster.admins())
        if not 1 <= k <= admins:
            raise InvalidInput(
                f"the threshold must be between 1 and the number of admins ({admins})"
            )
    else:
        key = bytes.fromhex(body["key"])
        info = _target(roster, key, op)
        if op == "grant" and body["role"] in info.current_roles:
            raise TrustError(f"{info.name} already has role {body['role']}")
        if op == "remove_role" and body["role"] not in info.current_roles:
            raise TrustError(f"{info.name} does not have role {body['role']}")
        drops_admin = op == "revoke" or (op == "remove_role" and body["role"] == "admin")
        remaining = len(roster.admins() - {info.member})
        if drops_admin and "admin" in info.current_roles and remaining < roster.threshold:
            raise TrustError("that would leave fewer admins than the admin threshold")
        if op == "rotate":
            successor = bytes.fromhex(body["successor"])
            if successor in roster.keys:
                raise TrustError("the new key is already in the roster")
        # The target's last seq this laptop has seen: the revocation/rotation point.
        head = store.stored_heads().get(key)
        if op in ("revoke", "rotate"):
            body = {**body, "at": _cut_point(store, info, op, body.get("at"))}
        else:
            body = {**body, "at": body.get("at", head.seq if head else 0)}
    warnings = advice.advise(store, roster, body)
    body = {**body, "after": [h.hex() for h in roster.heads]}
    cut_entries, cut_at = 0, None
    if op in ("revoke", "rotate"):
        cut_at = int(body["at"])
        cut_entries = _counting_after(store, roster.keys[bytes.fromhex(body["key"])], cut_at)
    entry = store.append(identity, ROSTER_CHANGE, body)
    after = store.roster()
    pending = after.pending.get(entry.id)
    return ChangeResult(
        entry=entry,
        applied=pending is None,
        approvals=len(pending.approvals) if pending else after.threshold,
        needed=after.threshold,
        warnings=warnings,
        cut_entries=cut_entries,
        cut_at=cut_at,
    )


def add_member(
    store: Store, identity: Identity, key: bytes, name: str, roles: list[str]
) -> ChangeResult:
    name = validate_name(name)
    check_member_key(key)
    taken = [
        info
        for info in store.roster().keys.values()
        if info.name.casefold() == name.casefold() and info.status != REVOKED
    ]
    if taken:
        raise InvalidInput(
            f"the name {name!r} is already used by {taken[0].key.hex()[:12]} in this mesh",
            hint="names must be unique so that commands can find a member by name; "
            "add a call sign or a number",
        )
    return propose(store, identity, {"op": "add", "key": key.hex(), "name": name, "roles": roles})


def check_member_key(key: bytes) -> None:
    """InvalidInput unless ``key`` is a usable ed25519 public key (not all zeros, not
    a point of small order: such a key can never sign, nor connect to the mesh)."""
    import nacl.bindings
    import nacl.exceptions

    try:
        nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(key)
    except (nacl.exceptions.RuntimeError, nacl.exceptions.ValueError, ValueError, RuntimeError):
        raise InvalidInput(
            f"{key.hex()[:16]}… is not a usable public key (all zeros or a weak point)",
            hint="the newcomer reads theirs with `plurictl key show`",
        ) from None


def grant(store: Store, identity: Identity, key: bytes, role: str) -> ChangeResult:
    return propose(store, identity, {"op": "grant", "key": key.hex(), "role": role})


def remove_role(store: Store, identity: Identity, key: bytes, role: str) -> ChangeResult:
    return propose(store, identity, {"op": "remove_role", "key": key.hex(), "role": role})


def revoke(
    store: Store, identity: Identity, key: bytes, reason: str = "", at: int | None = None
) -> ChangeResult:
    body: dict[str, Any] = {"op": "revoke", "key": key.hex(), "reason": reason}
    if at is not None:
        body["at"] = at
    return propose(store, identity, body)


def rotate(
    store: Store, identity: Identity, old: bytes, new: bytes, at: int | None = None
) -> ChangeResult:
    check_member_key(new)
    body: dict[str, Any] = {"op": "rotate", "key": old.hex(), "successor": new.hex()}
    if at is not None:
        body["at"] = at
    return propose(store, identity, body)


def set_threshold(store: Store, identity: Identity, k: int) -> ChangeResult:
    return propose(store, identity, {"op": "threshold", "k": k})


def approve(store: Store, identity: Identity, change_prefix: str) -> ChangeResult:
    """Approve a pending roster change (threshold K > 1)."""
    roster = store.roster()
    guard.require(store, roster, identity, "admin", refusal=_admin_only)
    matches = [
        c for cid, c in roster.pending.items() if cid.hex().startswith(change_prefix.lower())
    ]
    if len(matches) != 1:
        listed = ", ".join(cid.hex()[:12] for cid in roster.pending) or "none"
        raise InvalidInput(
            f"no single pending change matches {change_prefix!r} (pending: {listed})"
        )
    change = matches[0]
    member = roster.keys[identity.public].member
    if member in change.approvals:
        raise TrustError("you already approved this change")
    entry = store.append(
        identity,
        ROSTER_APPROVE,
        {"change": change.id.hex(), "after": [h.hex() for h in roster.heads]},
    )
    after = store.roster()
    pending = after.pending.get(change.id)
    return ChangeResult(
        entry=entry,
        applied=pending is None,
        approvals=len(pending.approvals) if pending else after.threshold,
        needed=after.threshold,
    )
