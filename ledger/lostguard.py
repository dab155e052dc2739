"""A home in a mesh never silently gets a fresh ledger.

Once a ledger belongs to a mesh, a marker file is written beside it
(``ledger.db.mesh``, holding the mesh id). From then on a missing or empty
ledger file is a *lost* ledger: opening it is an error that says how to get the
entries back, never a new empty ledger that would look like a mesh with no
history.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from ledger.errors import StoreError

MARKER_SUFFIX = ".mesh"


def marker_of(ledger: Path) -> Path:
    """The marker beside ``ledger``."""
    return ledger.with_name(ledger.name + MARKER_SUFFIX)


def mark(ledger: Path, mesh: bytes) -> None:
    """Record that ``ledger`` belongs to ``mesh`` (best effort: a read-only disk skips it)."""
    with contextlib.suppress(OSError):
        marker_of(ledger).write_text(mesh.hex() + "\n")


def check_not_lost(ledger: Path) -> None:
    """Refuse a missing or empty ledger file of a home that belongs to a mesh."""
    marker = marker_of(ledger)
    if not marker.exists():
        return
    try:
        empty = ledger.stat().st_size == 0
    except FileNotFoundError:
        empty = True
    except OSError:
        return  # unreadable: SQLite says so when it opens it
    if empty:
        raise StoreError(
            f"the ledger file is missing or empty ({ledger}), but this home belongs "
            "to a mesh: restore it from a backup or sync from a peer with `plurictl "
            "mesh join` and `plurictl sync --peer ADDR` (after moving "
            f"{marker.name} aside); nothing was created",
            hint=f"copy {ledger.name} back from a backup of this home",
        )
