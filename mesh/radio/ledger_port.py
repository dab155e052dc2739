"""The one place the radio touches the local ledger: heads, entries, ingest.

Entries that arrive by radio go through :meth:`ledger.store.Store.ingest`,
the same verified ingest as entries from the mesh or a courier bundle:
signature, chain, mesh and membership are checked there and nowhere else.
Everything is re-read when another process (the node, a CLI command)
commits, so a bridge running beside ``node up`` sees the mesh's entries and
the node sees the radio's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgpack

from ledger.forks import ForkProof
from ledger.store import Head, IngestReport, Store
from mesh.radio import priority


@dataclass
class EntryInfo:
    seq: int
    raw: bytes
    cls: int


@dataclass
class LocalLedger:
    """A cached view of one store for the radio station."""

    store: Store
    heads: dict[bytes, Head] = field(default_factory=dict)
    digest: bytes = b""
    forks: dict[bytes, tuple[int, bytes, bytes]] = field(default_factory=dict)
    proofs: dict[bytes, ForkProof] = field(default_factory=dict)
    mesh_id: bytes | None = None
    members: set[bytes] = field(default_factory=set)  # keys admitted on the air
    known_keys: set[bytes] = field(default_factory=set)  # every key the roster names
    _newest: int | None = None
    _dirty: bool = True

    def refresh(self) -> bool:
        """Re-read if the ledger changed (here or in another process); True if it did."""
        digest = self.store.digest()  # cached by the store until something commits
        if digest == self.digest and not self._dirty:
            return False
        self._dirty = False
        old = self.digest
        self.heads = self.store.heads()
        self.digest = digest
        self.proofs = {p.author: p for p in self.store.fork_proofs()}
        self.forks = {a: (p.seq, p.a.id, p.b.id) for a, p in self.proofs.items()}
        self.mesh_id = self.store.mesh_id
        roster = self.store.roster()
        self.members = roster.connectable_keys()
        self.known_keys = set(roster.keys)
        self._newest = None
        return self.digest != old

    @property
    def newest_hlc(self) -> int:
        """The newest hybrid-clock stamp among the feeds' last entries (for "old" history)."""
        if self._newest is None:
            self._newest = self._newest_hlc()
        return self._newest

    def _newest_hlc(self) -> int:
        newest = 0
        for author, head in self.heads.items():
            raw = self.raw_at(author, head.seq)
            if raw is not None:
                newest = max(newest, _fields(raw)[4])
        return newest

    def id_at(self, author: bytes, seq: int) -> bytes | None:
        head = self.heads.get(author)
        if head is not None and head.seq == seq:
            return head.id
        return self.store.id_at(author, seq)

    def raw_at(self, author: bytes, seq: int) -> bytes | None:
        rows = self.store.range_raw(author, seq, seq, limit=1)
        return rows[0] if rows else None

    def entries(self, author: bytes, start: int, end: int, limit: int) -> list[EntryInfo]:
        """Entries ``start..end`` of a feed with their priority class (before inheritance)."""
        out = []
        for i, raw in enumerate(self.store.range_raw(author, start, end, limit=limit)):
            fields = _fields(raw)
            cls = priority.classify(fields[5], fields[6], len(raw), fields[4], self.newest_hlc)
            out.append(EntryInfo(start + i, raw, cls))
        return out

    def ingest(self, raws: list[bytes]) -> IngestReport:
        report = self.store.ingest(raws)
        self._dirty = True
        return report

    def add_fork_proofs(self, proofs: list[ForkProof]) -> int:
        added = self.store.add_fork_proofs(proofs)
        self._dirty = True
        return len(added)

    def keys_with_prefix(self, prefix: bytes) -> list[bytes]:
        return sorted(k for k in self.known_keys if k.startswith(prefix))


def _fields(raw: bytes) -> list:  # type: ignore[type-arg]
    """The eight fields of a stored (already verified) entry."""
    return msgpack.unpackb(raw, raw=False)  # type: ignore[no-any-return]
