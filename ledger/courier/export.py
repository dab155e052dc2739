"""What a courier does with a laptop's ledger: cut a bundle, inspect one, import one.

The functions the CLI, the mesh and the drills call all live here:

* :func:`export_bundle` writes everything the other side lacks (all of it,
  or what lies beyond a frontier) in the order an importer needs it: fork
  proofs, then roster entries with the feed prefixes they sit on, then the rest;
* :func:`plan_export`, :func:`load_since`, :func:`frontier_for`,
  :func:`note_frontier_file`: which frontier to cut from, and what it implies;
* :func:`inspect_bundle` and :func:`import_bundle` (from ``ledger.courier.receive``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger.courier import frontier as frontiers
from ledger.courier.bundle import BundleWriter, Header
from ledger.courier.frontier import Frontier, Range
from ledger.courier.receive import (
    BATCH,
    ImportReport,
    InspectReport,
    Progress,
    check_mesh,
    ignore_progress,
    import_bundle,
    inspect_bundle,
)
from ledger.entry import Signer
from ledger.errors import BundleError, NotInitialised, StoreError, WrongMesh
from ledger.kinds import ROSTER_KINDS
from ledger.store import Store

__all__ = [
    "ExportResult",
    "ImportReport",
    "InspectReport",
    "check_mesh",
    "export_bundle",
    "frontier_for",
    "import_bundle",
    "inspect_bundle",
    "load_since",
    "note_frontier_file",
    "plan_export",
    "roster_first",
]


# --- export --------------------------------------------------------------------------


@dataclass
class ExportResult:
    path: Path
    size: int
    header: Header
    entries: int
    forks: int
    per_author: dict[bytes, int]
    forked_authors: list[bytes]  # where the other side holds a different entry (fork sent)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "size": self.size,
            "mesh": self.header.mesh.hex(),
            "creator": self.header.creator.hex(),
            "since": "all" if self.header.since is None else "frontier",
            "for": self.header.for_key.hex() if self.header.for_key else None,
            "entries": self.entries,
            "forks": self.forks,
            "per_author": {a.hex(): n for a, n in sorted(self.per_author.items())},
            "forked_authors": [a.hex() for a in self.forked_authors],
        }


def plan_export(store: Store, since: Frontier | None) -> list[Range]:
    """The feed ranges a bundle cut from ``since`` (None: everything) must carry."""
    mesh = _require_mesh(store)
    if since is not None and since.mesh != mesh:
        raise WrongMesh(
            f"that frontier is of another mesh ({since.mesh.hex()[:16]}; "
            f"this laptop is in {mesh.hex()[:16]})",
            hint="ask for a frontier cut on a laptop of this mesh",
        )

    def id_at(author: bytes, seq: int) -> bytes | None:
        entry = store.entry_at(author, seq)
        return entry.id if entry is not None else None

    return frontiers.plan(store.heads(), since.heads if since else {}, id_at)


def export_bundle(
    store: Store,
    signer: Signer,
    path: str | os.PathLike[str],
    *,
    since: Frontier | None = None,
    overwrite: bool = False,
    progress: Progress | None = None,
) -> ExportResult:
    """Write a signed bundle of what ``since``'s laptop lacks (everything if None) to ``path``."""
    mesh = _require_mesh(store)
    heads = store.heads()
    ranges = plan_export(store, since)
    advance = progress or ignore_progress
    header = Header(
        mesh=mesh,
        creator=signer.public,
        hlc=frontiers.now_hlc(store),
        heads=heads,
        since=None if since is None else since.heads,
        for_key=None if since is None else since.key,
    )
    per_author: dict[bytes, int] = {}
    with BundleWriter(path, signer, header, overwrite=overwrite) as writer:
        for proof in store.fork_proofs():
            writer.add_fork(proof)
        for author, start, end in roster_first(store, ranges):
            seq = start
            while seq <= end:
                batch = store.range_raw(author, seq, end, limit=BATCH)
                if not batch:
                    damage = store.damaged.get((author, seq))
                    if damage is not None:
                        raise StoreError(
                            f"this laptop's copy of {damage.describe()}",
                            hint="run `plurictl log verify --repair` (or import a full bundle "
                            "from a healthy laptop), then export again",
                        )
                    raise StoreError(
                        f"the ledger lacks entries of {author.hex()[:12]} (seq {seq})",
                        hint="run `plurictl log verify --repair` (or import a full bundle "
                        "from a healthy laptop), then export again",
                    )
                for raw in batch:
                    writer.add_entry(raw)
                seq += len(batch)
                per_author[author] = per_author.get(author, 0) + len(batch)
                advance(len(batch))
        size = writer.finish()
        return ExportResult(
            Path(path),
            size,
            header,
            writer.entries,
            writer.forks,
            per_author,
            [r.author for r in ranges if r.fork],
        )


def roster_first(store: Store, ranges: list[Range]) -> Iterator[tuple[bytes, int, int]]:
    """(author, start, end) spans: roster entries (with their feed prefixes) first.

    Roster entries come in the order the roster view applied them (genesis,
    then changes and approvals as they took effect), so an importer reading
    in batches learns each member before it meets that member's entries.
    Each author's feed stays in seq order: the store needs contiguous chains.
    """
    cursor = {r.author: r.start for r in ranges}
    end = {r.author: r.end for r in ranges}
    roster_entries = {e.id: (e.author, e.seq) for e in store.entries(kinds=sorted(ROSTER_KINDS))}
    roster = store.roster()
    order = [i for i in [roster.mesh_id, *roster.applied] if i in roster_entries]
    in_order = set(order)
    order += sorted(
        (i for i in roster_entries if i not in in_order), key=lambda i: roster_entries[i]
    )
    for eid in order:
        author, seq = roster_entries[eid]
        if author in cursor and cursor[author] <= seq <= end[author]:
            yield author, cursor[author], seq
            cursor[author] = seq + 1
    for r in ranges:
        if cursor[r.author] <= r.end:
            yield r.author, cursor[r.author], r.end


def frontier_for(store: Store, key: bytes) -> Frontier:
    """The last frontier known for the member holding ``key``; BundleError if none."""
    known = frontiers.known_for_member(store, key)
    if known is None:
        name = store.roster().name_of(key)
        raise BundleError(
            f"this laptop has no frontier for {name} yet (it learns one from a frontier "
            f"file or from a bundle {name} made)",
            hint="use --all (everything; always safe), or ask them for "
            "`plurictl bundle frontier -o FILE` and use --since FILE",
        )
    return known.frontier


def load_since(store: Store, path: str | os.PathLike[str]) -> Frontier:
    """Read a frontier file for ``export --since``, check its mesh, and remember it."""
    found = frontiers.read_file(path)
    mesh = _require_mesh(store)
    if found.mesh != mesh:
        raise WrongMesh(
            f"{path} is a frontier of another mesh ({found.mesh.hex()[:16]}; "
            f"this laptop is in {mesh.hex()[:16]})",
            hint="ask for a frontier cut on a laptop of this mesh",
        )
    frontiers.record(store, found, "frontier file")
    return found


def note_frontier_file(store: Store, path: str | os.PathLike[str]) -> tuple[Frontier, bool]:
    """Remember a frontier file someone carried here (``bundle import FRONTIER``).

    Returns the frontier and whether it was newer than what this laptop knew.
    """
    found = frontiers.read_file(path)
    ours = store.mesh_id or store.expected_mesh
    if ours is None or found.mesh != ours:
        raise WrongMesh(
            f"{path} is a frontier of mesh {found.mesh.hex()[:16]}, not of this laptop's mesh"
        )
    return found, frontiers.record(store, found, "frontier file")


def _require_mesh(store: Store) -> bytes:
    mesh = store.mesh_id
    if mesh is None:
        raise NotInitialised(
            "this laptop is not in a mesh yet: it has nothing to put in a bundle",
            hint="found a mesh (`plurictl mesh create`) or join one and import a bundle",
        )
    return mesh
