"""May this laptop write with role X, and at which seq: the check every writer makes first.

A writer checks a new entry against the roster *before* signing it, at the seq the entry will
get (this laptop's next), so an operator gets a clear refusal instead of an entry the folds
would ignore. The roster fold (``ledger.roster.view``) stays the authority: what it says holds
on every laptop, whatever this pre-check said on one.
"""

from __future__ import annotations

from collections.abc import Callable

from ledger.errors import NotInMesh, TrustError
from ledger.identity import Identity
from ledger.roster.view import Roster
from ledger.store import Store


def next_seq(store: Store, author: bytes) -> int:
    """The seq ``author``'s next entry on this laptop gets."""
    head = store.stored_heads().get(author)
    return (head.seq if head else 0) + 1


def _plain(why: str) -> str:
    return f"not allowed: {why}"


def check(
    roster: Roster,
    author: bytes,
    seq: int,
    roles: tuple[str, ...],
    refusal: Callable[[str], str] = _plain,
) -> None:
    """TrustError, worded by ``refusal(why)``, unless ``author`` holds one of ``roles`` at ``seq``."""
    why = roster.authority(author, seq, *roles)
    if why is not None:
        raise TrustError(refusal(why))


def require(
    store: Store,
    roster: Roster,
    identity: Identity,
    *roles: str,
    refusal: Callable[[str], str] = _plain,
) -> None:
    """NotInMesh if ``roster`` has no mesh; else :func:`check` at this laptop's next seq."""
    if roster.mesh_id is None:
        raise NotInMesh()
    check(roster, identity.public, next_seq(store, identity.public), roles, refusal)


def require_role(store: Store, identity: Identity, *roles: str) -> None:
    """NotInMesh without a mesh; TrustError unless this laptop's next entry carries ``roles``."""
    if store.mesh_id is None:
        raise NotInMesh()
    check(store.roster(), identity.public, next_seq(store, identity.public), roles)
