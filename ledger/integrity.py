"""`log verify`: check every stored byte and column; `log verify --repair`: fix what can be fixed.

What :func:`verify` checks (``quick`` skips the items marked *full*):

1. every entry's signed bytes decode in canonical form (*full*; quick: they
   decode) and hash to the stored id;
2. every column beside them (author, seq, id, prev, hlc, kind) equals the
   value in the signed bytes;
3. the signature (*full*);
4. each feed's chain: seq 1, 2, 3 … with no gap, ``prev`` = the id before
   (the mesh id for seq 1), the genesis is this mesh's;
5. the heads table names each feed's last stored entry;
6. every fork proof: two decodable entries (*full*: validly signed) by one
   author at one seq, with different ids, matching their row;
7. SQLite's own ``PRAGMA integrity_check`` (quick: ``quick_check``): pages,
   b-trees and that every index holds exactly the rows of its table.

A file SQLite cannot read (page damage) never makes verify fail without a
finding: the failure is reported under ``database`` with :data:`RESTORE_ADVICE`.
What ``--repair`` does is in :mod:`ledger.repair`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ledger.entry import Entry, decode, signature_valid
from ledger.errors import StoreError
from ledger.forks import ForkProof
from ledger.forkstore import forks_seal
from ledger.ingest import Rejection
from ledger.kinds import GENESIS
from ledger.store import Store
from ledger.stored import Damage, column_drift, entry_hash, fast_decode

Progress = Callable[[int], None]


@dataclass
class VerifyReport:
    checked: int = 0
    quick: bool = False
    bad: list[Damage] = field(default_factory=list)
    forks: list[ForkProof] = field(default_factory=list)
    #: fork proof rows that fail their check, by author
    bad_forks: list[Damage] = field(default_factory=list)
    #: valid signatures, but after the author's revocation, rotation or fork point
    ignored: list[Rejection] = field(default_factory=list)
    #: problems SQLite's integrity check reported (pages, b-trees, indexes)
    database: list[str] = field(default_factory=list)
    #: heads-table rows that disagree with the entries
    heads: list[str] = field(default_factory=list)
    #: what the operator should do when the file itself is damaged (None: nothing special)
    advice: str | None = None

    @property
    def ok(self) -> bool:
        return not (self.bad or self.forks or self.bad_forks or self.database or self.heads)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "mode": "quick" if self.quick else "full",
            "checked": self.checked,
            "bad": [b.to_json() for b in self.bad],
            "forks": [f.to_json() for f in self.forks],
            "bad_fork_proofs": [b.to_json() for b in self.bad_forks],
            "database": self.database,
            "heads": self.heads,
            "ignored": [i.to_json() for i in self.ignored],
            "advice": self.advice,
        }


RESTORE_ADVICE = (
    "the ledger file has damage SQLite cannot read past (--repair rebuilds indexes, columns "
    "and heads, not this). Restore it from a peer or a bundle: stop the node; move ledger.db "
    "out of the home folder (keep it for investigation) and ledger.db.mesh too, noting the "
    "mesh id written in it; `plurictl mesh join MESH_ID`; then `plurictl sync --peer "
    "tcp://HOST:PORT` against a healthy laptop, or `plurictl bundle import FILE` of a full "
    "bundle made there with `plurictl bundle export -o FILE` (field_guides/ledger.md, "
    "'When the file itself is damaged')"
)


def verify(store: Store, *, quick: bool = False, progress: Progress | None = None) -> VerifyReport:
    """Check the whole store (see the module docstring); never raises for damage."""
    report = VerifyReport(quick=quick)
    report.database = _sqlite_check(store, quick)
    try:
        _check_rows(store, report, progress)
        report.forks, report.bad_forks = _check_forks(store, quick)
        report.database += _seal_problems(store)
    except StoreError as err:  # pages SQLite cannot read: report, never stop without findings
        report.database.append(f"reading the ledger stopped: {err.message}")
    if _file_damaged(report.database):
        report.advice = RESTORE_ADVICE
    return report


def unopenable_report(message: str) -> VerifyReport:
    """What verify says about a file SQLite cannot even open (truncated, overwritten)."""
    return VerifyReport(database=[f"opening the ledger failed: {message}"], advice=RESTORE_ADVICE)


def _file_damaged(problems: list[str]) -> bool:
    """Whether SQLite's findings are page damage (not just an index missing rows)."""
    index_only = ("missing from index", "wrong # of entries in index", "non-unique entry in index")
    return any(
        not any(marker in p for marker in index_only)
        and any(
            m in p for m in ("Page ", "malformed", "damaged", "reading the ledger", "NULL value")
        )
        for p in problems
    )


def _check_rows(store: Store, report: VerifyReport, progress: Progress | None) -> None:
    """Items 1 to 5 of the module docstring, into ``report``."""
    mesh = store.mesh_id
    genesis = _genesis_id(store)
    if genesis is not None and genesis != mesh:
        report.database.append(
            f"the mesh id recorded in the store ({mesh.hex()[:16] if mesh else 'none'}) "
            f"is not the genesis entry's ({genesis.hex()[:16]})"
        )
        mesh = genesis  # the chains are checked against the signed genesis
    roster = store.roster()
    chain = _Chain(mesh)
    last: dict[bytes, tuple[int, bytes | None]] = {}
    moved: set[tuple[bytes | None, int | None]] = set()  # true places of rows under edited columns
    for row in store.iter_rows():
        report.checked += 1
        if progress is not None and report.checked % 1000 == 0:
            progress(1000)
        e, damage = _check_entry(row, report.quick)
        author, seq = row[0], row[1]
        placed = isinstance(author, bytes) and isinstance(seq, int)
        if e is None and damage is not None and damage.columns_only:
            moved.add(_signed_place(row[6]))  # its place's chain and head are left alone
        elif placed:
            last[author] = (seq, e.id if e is not None else None)
            if e is None:
                chain.skip(author, seq, row[2] if isinstance(row[2], bytes) else None)
        # An entry with drifted columns is still its feed's link: the chain goes on through it
        # (else the entry after it would be reported missing).
        chained = chain.problem(e) if e is not None else None
        report.bad += [p for p in (damage, chained) if p is not None]
        if (
            damage is None
            and chained is None
            and e is not None
            and not roster.valid(e.author, e.seq)
        ):
            why = roster.authority(e.author, e.seq) or "not valid"
            said = f"ignored by views: {why}"
            if e.kind.startswith("vote."):  # stored past the cut only because a vote needs it
                said = f"{why}: kept for the vote it belongs to (voting.md, 'Losing a teller')"
            report.ignored.append(Rejection(said, e.author, e.seq, e.id, e.kind))
    if progress is not None:
        progress(report.checked % 1000)
    # An entry whose author/seq columns were edited is not missing from its place: it is
    # reported once, as moved, and --repair puts it back.
    covered = [
        d
        for d, first, end in chain.gaps
        if all((d.author, s) in moved for s in range(first, end + 1))
    ]
    report.bad = [d for d in report.bad if not any(d is c for c in covered)]
    report.heads, missing = _heads_problems(store, last)
    report.bad += missing


def _signed_place(raw: bytes) -> tuple[bytes | None, int | None]:
    try:
        e = decode(raw)
    except Exception:
        return (None, None)
    return (e.author, e.seq)


def _genesis_id(store: Store) -> bytes | None:
    """The id of this store's intact genesis entry (seq 1, prev nil), from its signed bytes."""
    with store._read() as db:
        rows = db.execute(
            "SELECT author, seq, id, prev, hlc, kind, raw FROM entries "
            "WHERE seq=1 AND (kind_signed=? OR kind=?)",
            (GENESIS, GENESIS),
        ).fetchall()
    found = sorted(
        e.id
        for e in (fast_decode(r[6], r[2]) if isinstance(r[6], bytes) else None for r in rows)
        if e is not None and e.kind == GENESIS and e.prev is None and signature_valid(e)
    )
    return found[0] if len(found) == 1 else None


def _seal_problems(store: Store) -> list[str]:
    with store._read() as db:
        recorded = store._meta("forks_seal")
        if recorded is None or recorded == forks_seal(db):
            return []
    return [
        "the fork proofs table changed outside plurictl (a proof was deleted or edited); "
        "peers send their proofs again at the next sync"
    ]


def _check_entry(row: Any, quick: bool) -> tuple[Entry | None, Damage | None]:
    """(entry, None) when the row is intact; (entry or None, damage) otherwise."""
    author, seq, stored_id, _prev, _hlc, _kind, raw = row
    where = (author if isinstance(author, bytes) else None, seq if isinstance(seq, int) else None)
    sid = stored_id if isinstance(stored_id, bytes) else None
    if not isinstance(raw, bytes):
        return None, Damage(*where, sid, "signed bytes missing or not a blob")
    e = fast_decode(raw, sid) if quick else None
    if e is None:
        try:
            e = decode(raw)
        except Exception as err:
            return None, Damage(*where, sid, f"unreadable signed bytes: {_short(err)}")
    if e.author != author or e.seq != seq:
        place = f"seq {e.seq} of {e.author.hex()[:12]}"
        if entry_hash(raw) == sid if quick else signature_valid(e):
            # intact, validly signed bytes under edited author/seq columns: repair moves it back
            return None, Damage(
                *where,
                e.id,
                f"author/seq columns edited: the signed bytes are {place}",
                columns_only=True,
            )
        return None, Damage(*where, sid, f"row holds another place's entry ({place})")
    drift = column_drift(row, e)
    signed = quick or signature_valid(e)
    if drift is None and signed:
        return e, None
    if not quick and not signed:
        return None, Damage(*where, sid, "bad signature: the signed bytes are damaged or forged")
    intact = (not quick) or entry_hash(raw) == sid
    if intact:
        return e, Damage(*where, e.id, drift or "columns disagree", columns_only=True)
    return None, Damage(*where, sid, f"signed bytes do not hash to the stored id ({drift})")


class _Chain:
    """Each feed's chain, checked row by row in (author, seq) order."""

    def __init__(self, mesh: bytes | None) -> None:
        self.mesh = mesh
        self.author: bytes | None = None
        self.seq = 0
        self.prev: bytes | None = mesh
        #: (damage, first seq, last seq) of every gap reported
        self.gaps: list[tuple[Damage, int, int]] = []

    def skip(self, author: bytes, seq: int, expected: bytes | None) -> None:
        """A damaged row (reported already): the chain goes on from it."""
        self.author, self.seq, self.prev = author, seq, expected

    def problem(self, e: Entry) -> Damage | None:
        if e.author != self.author:
            self.author, self.seq, self.prev = e.author, 0, self.mesh
        why = None
        if e.seq != self.seq + 1:
            gap = self.seq + 1, e.seq - 1
            self.seq, self.prev = e.seq, e.id
            span = f"seq {gap[0]}" if gap[0] == gap[1] else f"seqs {gap[0]} to {gap[1]}"
            # The missing entry just before this one is known by id: this one's prev.
            damage = Damage(e.author, e.seq - 1, e.prev, f"missing from the store ({span})")
            self.gaps.append((damage, *gap))
            return damage
        if e.kind == GENESIS and e.seq == 1 and e.prev is None:
            if e.id != self.mesh:
                why = "genesis of another mesh"
        elif e.prev != self.prev:
            why = "broken chain: prev does not match the entry before it"
        self.seq, self.prev = e.seq, e.id
        return Damage(e.author, e.seq, e.id, why) if why else None


def _heads_problems(
    store: Store, last: dict[bytes, tuple[int, bytes | None]]
) -> tuple[list[str], list[Damage]]:
    """Heads-table rows that disagree with the entries, and entries missing past the last one.

    A head above the last stored entry is not a wrong head: the entries up to it were
    stored here once (this laptop's own, maybe) and are missing; the head's id names the
    last of them, so they are quarantined and fetched by id, and the head is kept.
    """
    heads = store.stored_heads()
    out: list[str] = []
    missing: list[Damage] = []
    for author, (seq, eid) in sorted(last.items()):
        head = heads.get(author)
        if head is None:
            out.append(f"heads table lacks {author.hex()[:12]} (last stored seq {seq})")
        elif head.seq > seq:
            missing.append(_missing(author, seq + 1, head))
        elif head.seq != seq or (eid is not None and head.id != eid):
            out.append(
                f"heads table says {author.hex()[:12]} is at seq {head.seq}; "
                f"the entries end at seq {seq}"
            )
    for author in sorted(set(heads) - set(last)):
        missing.append(_missing(author, 1, heads[author]))
    return out, missing


def _missing(author: bytes, first: int, head: Any) -> Damage:
    span = f"seq {first}" if first == head.seq else f"seqs {first} to {head.seq}"
    return Damage(
        author, head.seq, head.id, f"missing from the store ({span}; the heads table had them)"
    )


def _check_forks(store: Store, quick: bool) -> tuple[list[ForkProof], list[Damage]]:
    good, bad = [], []
    with store._read() as db:
        rows = db.execute("SELECT author, seq, raw_a, raw_b FROM forks ORDER BY author").fetchall()
    for author, seq, raw_a, raw_b in rows:
        try:
            a, b = decode(raw_a), decode(raw_b)
            proof = ForkProof.stored(a, b) if quick else ForkProof.of(a, b)
            if proof.author != author or proof.seq != seq or a.author != b.author:
                raise ValueError("the proof does not match its row")
            if a.seq != b.seq or a.id == b.id:
                raise ValueError("not two different entries at one seq")
        except Exception as err:
            bad.append(Damage(author, seq, None, f"fork proof fails its check: {_short(err)}"))
            continue
        good.append(proof)
    return good, bad


def _sqlite_check(store: Store, quick: bool) -> list[str]:
    pragma = "quick_check" if quick else "integrity_check"
    try:
        with store._read() as db:
            rows = db.execute(f"PRAGMA {pragma}(100)").fetchall()
    except Exception as err:  # a damaged file may fail the check itself
        return [f"SQLite {pragma} failed: {_short(err)}"]
    found = list(dict.fromkeys(str(r[0]) for r in rows))  # once each, in SQLite's order
    return [] if found == ["ok"] else found


def _short(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return text if len(text) <= 160 else text[:157] + "..."
