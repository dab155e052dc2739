"""Receiving a courier bundle: inspect it offline, or import it into a store.

* :func:`inspect_bundle` verifies a bundle (framing, trailer signature, every
  entry's signature) and compares it with this laptop's ledger, writing nothing;
* :func:`import_bundle` refuses a bundle of another mesh before writing
  anything, then feeds the entries to :meth:`Store.ingest` in bounded batches
  inside one transaction (a full or read-only disk leaves the store unchanged),
  offers entries that arrived before what they depend on again in further
  passes, and remembers the creator's heads as its latest known frontier.

Entries are trusted by their own signatures and the roster, never by who
carried or cut the bundle. Callers use these through ``ledger.courier.export``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ledger.courier import frontier as frontiers
from ledger.courier.bundle import T_FORK, VALID, BundleReader, Header, Item, ReadState, fork_proof
from ledger.courier.frontier import Frontier
from ledger.entry import decode, signature_valid
from ledger.errors import EncodingError, NotInitialised, VerificationFailed, WrongMesh
from ledger.forks import ForkProof
from ledger.store import IngestReport, Rejection, Store

#: Entries per Store.ingest call: bounds memory whatever the bundle size.
BATCH = 1000
#: Rejections kept in full; beyond this only counts per reason are kept.
MAX_REJECTIONS_KEPT = 1000
#: Store reasons that may only mean "arrived before what it depends on".
_ORDER_REASONS = ("unknown author", "this laptop is not in a mesh yet", "gap:")
_MAX_PASSES = 16

Progress = Callable[[int], None]
Source = str | os.PathLike[str] | BinaryIO


def ignore_progress(n: int) -> None:
    return None


# --- reports shared by inspect and import ---------------------------------------------


@dataclass
class AuthorStats:
    entries: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    new: int = 0  # not on this laptop yet
    conflicts: int = 0  # this laptop holds a different entry at that seq (a fork)
    bad: int = 0  # unreadable or badly signed

    def see(self, seq: int) -> None:
        self.entries += 1
        self.first_seq = seq if self.first_seq is None else min(self.first_seq, seq)
        self.last_seq = seq if self.last_seq is None else max(self.last_seq, seq)

    def to_json(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "new": self.new,
            "conflicts": self.conflicts,
            "bad": self.bad,
        }


@dataclass
class RejectionLog:
    """Refused entries: exact counts per reason, the first MAX_REJECTIONS_KEPT in full."""

    total: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    kept: list[Rejection] = field(default_factory=list)

    def add(self, r: Rejection) -> None:
        self.total += 1
        reason = r.reason if len(self.by_reason) < 100 or r.reason in self.by_reason else "other"
        self.by_reason[reason] = self.by_reason.get(reason, 0) + 1
        if len(self.kept) < MAX_REJECTIONS_KEPT:
            self.kept.append(r)

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "by_reason": dict(sorted(self.by_reason.items())),
            "entries": [r.to_json() for r in self.kept],
        }


def _mesh_status(store: Store | None, header: Header | None) -> str:
    if header is None:
        return "unknown (header damaged)"
    if store is None:
        return "unknown (no ledger on this laptop)"
    mesh = store.mesh_id
    if mesh is not None:
        return "this mesh" if header.mesh == mesh else "another mesh"
    if store.expected_mesh is not None:
        return (
            "the mesh this laptop is joining"
            if header.mesh == store.expected_mesh
            else ("another mesh")
        )
    return "unknown (this laptop is not in a mesh)"


def _signer_status(store: Store | None, header: Header | None) -> str:
    if header is None:
        return "unknown"
    if store is None:
        return "unknown (no ledger on this laptop)"
    if store.mesh_id is None:
        return "unknown (this laptop has no roster yet)"
    info = store.roster().keys.get(header.creator)
    if info is None:
        return "not a member"
    return "member" if info.status == "active" else f"member key, {info.status}"


# --- inspect -------------------------------------------------------------------------


@dataclass
class InspectReport:
    name: str
    read: ReadState
    mesh_status: str
    signer_status: str
    authors: dict[bytes, AuthorStats]
    forks: list[ForkProof]
    new_forks: int
    bad: RejectionLog

    @property
    def new_entries(self) -> int:
        return sum(a.new for a in self.authors.values())

    @property
    def ok(self) -> bool:
        return self.read.intact and self.bad.total == 0

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.name,
            "ok": self.ok,
            **self.read.to_json(),
            "mesh_status": self.mesh_status,
            "signer_status": self.signer_status,
            "new_entries": self.new_entries,
            "authors": {a.hex(): s.to_json() for a, s in sorted(self.authors.items())},
            "forks": [{"author": p.author.hex(), "seq": p.seq} for p in self.forks],
            "new_forks": self.new_forks,
            "bad": self.bad.to_json(),
        }


def inspect_bundle(
    source: Source, store: Store | None = None, *, progress: Progress | None = None
) -> InspectReport:
    """Verify a bundle offline (signatures, framing, trailer) and compare it with ``store``.

    Writes nothing. ``store`` may be None (a laptop without a ledger).
    """
    advance = progress or ignore_progress
    local = store.stored_heads() if store is not None else {}
    known_forks = store.forks_by_author() if store is not None else {}
    authors: dict[bytes, AuthorStats] = {}
    forks: list[ForkProof] = []
    new_forks = 0
    bad = RejectionLog()
    with BundleReader(source) as reader:
        last = reader.position
        for n, item in enumerate(reader.items()):
            if item.type == T_FORK:
                try:
                    proof = fork_proof(item.payload)
                except VerificationFailed as e:
                    bad.add(Rejection(f"fork proof at byte {item.offset}: {e.message}"))
                    continue
                forks.append(proof)
                if known_forks.get(proof.author, 1 << 62) > proof.seq:
                    new_forks += 1
                continue
            _inspect_entry(item, authors, local, store, bad)
            if n % BATCH == 0:
                advance(reader.position - last)
                last = reader.position
        advance(reader.position - last)
    return InspectReport(
        reader.name,
        reader.state,
        _mesh_status(store, reader.header),
        _signer_status(store, reader.header),
        authors,
        forks,
        new_forks,
        bad,
    )


def _inspect_entry(
    item: Item,
    authors: dict[bytes, AuthorStats],
    local: dict[bytes, Any],
    store: Store | None,
    bad: RejectionLog,
) -> None:
    try:
        e = decode(item.payload)
    except EncodingError as err:
        bad.add(Rejection(f"unreadable entry at byte {item.offset}: {err.message}"))
        return
    stats = authors.setdefault(e.author, AuthorStats())
    stats.see(e.seq)
    if not signature_valid(e):
        stats.bad += 1
        bad.add(Rejection("bad signature (forged or damaged)", e.author, e.seq, e.id, e.kind))
        return
    head = local.get(e.author)
    if head is None or e.seq > head.seq:
        stats.new += 1
    elif store is not None:
        mine = store.entry_at(e.author, e.seq)
        if mine is not None and mine.id != e.id:
            stats.conflicts += 1


# --- import --------------------------------------------------------------------------


@dataclass
class ImportReport:
    name: str
    read: ReadState
    mesh_status: str
    signer_status: str
    accepted: dict[bytes, int] = field(default_factory=dict)
    duplicates: int = 0
    #: damaged or missing entries here replaced by the bundle's intact copy
    repaired: int = 0
    rejected: RejectionLog = field(default_factory=RejectionLog)
    forks_added: list[ForkProof] = field(default_factory=list)
    forks_known: int = 0
    frontier_recorded: bool = False
    passes: int = 0

    @property
    def new_entries(self) -> int:
        return sum(self.accepted.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.name,
            "intact": self.read.intact,
            **{k: v for k, v in self.read.to_json().items() if k != "intact"},
            "mesh_status": self.mesh_status,
            "signer_status": self.signer_status,
            "new_entries": self.new_entries,
            "accepted_per_author": {a.hex(): n for a, n in sorted(self.accepted.items())},
            "duplicates": self.duplicates,
            "repaired": self.repaired,
            "rejected": self.rejected.to_json(),
            "forks_added": [f.to_json() for f in self.forks_added],
            "forks_already_known": self.forks_known,
            "frontier_recorded": self.frontier_recorded,
            "passes": self.passes,
        }


def check_mesh(store: Store, header: Header | None, name: str) -> None:
    """Refuse, before writing anything, a bundle this laptop must not take."""
    from ledger.roster.writer import mesh_fingerprint

    if header is None:
        raise VerificationFailed(
            f"{name}: the bundle's header is unreadable, so its mesh cannot be checked; "
            "nothing was imported",
            hint="get a fresh copy; `plurictl bundle inspect` shows what is still readable",
        )
    theirs = f"{header.mesh.hex()[:16]} (fingerprint {mesh_fingerprint(header.mesh)})"
    mesh = store.mesh_id
    if mesh is not None:
        if header.mesh != mesh:
            raise WrongMesh(
                f"{name} belongs to another mesh: {theirs}; this laptop is in "
                f"{mesh.hex()[:16]} (fingerprint {mesh_fingerprint(mesh)}). Nothing was imported."
            )
        return
    pinned = store.expected_mesh
    if pinned is None:
        raise NotInitialised(
            f"this laptop is not in a mesh yet; {name} is of mesh {theirs}. Nothing was imported.",
            hint="check that fingerprint with an admin of your mesh, then run "
            f"`plurictl mesh join {header.mesh.hex()}` and import again",
        )
    if header.mesh != pinned:
        raise WrongMesh(
            f"{name} belongs to mesh {theirs}, but this laptop is joining "
            f"{pinned.hex()[:16]} (fingerprint {mesh_fingerprint(pinned)}). Nothing was imported."
        )


def import_bundle(
    source: Source,
    store: Store,
    *,
    progress: Progress | None = None,
    batch: int = BATCH,
) -> ImportReport:
    """Verify and ingest a bundle; see the module docstring. Never imports an unverified entry.

    Raises (before writing anything) for another mesh, a damaged header, or a
    laptop that has not joined any mesh; StoreError for a full or read-only
    store (rolled back: unchanged). Damage and truncation are reported, and
    every complete, valid entry is still imported.
    """
    advance = progress or ignore_progress
    with BundleReader(source) as reader:
        check_mesh(store, reader.header, reader.name)
        report = ImportReport(reader.name, reader.state, "", "")
        retry: dict[tuple[bytes | None, int | None, bytes | None], Rejection] = {}
        with store.transaction():
            report.passes = 1
            progressed = _ingest_pass(reader, store, report, retry, batch, advance, None)
            while retry and progressed and report.passes < _MAX_PASSES:
                report.passes += 1
                with BundleReader(_reopen(source)) as again:
                    progressed = _ingest_pass(
                        again, store, report, retry, batch, ignore_progress, retry
                    )
            for rejection in retry.values():
                report.rejected.add(rejection)
            header = reader.header
            if reader.state.signature == VALID and header is not None:
                report.frontier_recorded = frontiers.record(
                    store,
                    Frontier(header.mesh, header.creator, header.hlc, header.heads),
                    "bundle",
                )
    report.mesh_status = _mesh_status(store, reader.header)
    report.signer_status = _signer_status(store, reader.header)
    return report


def _reopen(source: Source) -> Source:
    if hasattr(source, "read"):
        source.seek(0)  # type: ignore[union-attr]
    return source


def _ingest_pass(
    reader: BundleReader,
    store: Store,
    report: ImportReport,
    retry: dict[tuple[bytes | None, int | None, bytes | None], Rejection],
    batch_size: int,
    advance: Progress,
    only: dict[tuple[bytes | None, int | None, bytes | None], Rejection] | None,
) -> bool:
    """One read of the file. ``only``: offer just these (author, seq, id) (a retry pass).

    Returns whether anything new was accepted.
    """
    progressed = False
    batch: list[Any] = []
    proofs: list[ForkProof] = []
    last = reader.position

    def flush(final: bool = False) -> None:
        nonlocal progressed, last
        if batch:
            progressed |= _offer(store, batch, report, retry)
            batch.clear()
        # Fork proofs are kept only for roster keys: a fresh laptop learns the
        # roster from this very bundle, so its proofs go in after the entries.
        if proofs and final:
            added = store.add_fork_proofs(proofs)
            report.forks_added += added
            report.forks_known += len(proofs) - len(added)
            proofs.clear()
        advance(reader.position - last)
        last = reader.position

    for item in reader.items():
        if item.type == T_FORK:
            if only is not None:
                continue
            try:
                proofs.append(fork_proof(item.payload))
            except VerificationFailed as err:
                report.rejected.add(Rejection(f"fork proof at byte {item.offset}: {err.message}"))
            continue
        if only is None:
            batch.append(item.payload)
        else:
            try:
                e = decode(item.payload)
            except EncodingError:
                continue  # reported by the first pass
            if (e.author, e.seq, e.id) in only:
                batch.append(e)
        if len(batch) >= batch_size:
            flush()
    flush(final=True)
    return progressed


def _offer(
    store: Store,
    batch: list[Any],
    report: ImportReport,
    retry: dict[tuple[bytes | None, int | None, bytes | None], Rejection],
) -> bool:
    result: IngestReport = store.ingest(batch)
    for e in result.accepted:
        report.accepted[e.author] = report.accepted.get(e.author, 0) + 1
        retry.pop((e.author, e.seq, e.id), None)
    report.duplicates += result.duplicates
    report.repaired += len(result.repaired)
    report.forks_added += result.forks
    for r in result.rejected:
        key = (r.author, r.seq, r.id)
        if r.author is not None and r.reason.startswith(_ORDER_REASONS):
            retry[key] = r  # may only have arrived too early: offered again next pass
        else:
            retry.pop(key, None)
            report.rejected.add(r)
    return bool(result.accepted)
