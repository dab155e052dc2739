"""The store's fork proofs: stored, checked from their signed bytes, sealed.

Part of :class:`ledger.store.Store` (a mixin). A proof counts only if it checks out
from its signed bytes; the seal (a digest of the table kept in ``meta``) lets
``log verify`` notice a proof deleted or edited outside plurictl.
"""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ledger.forks import ForkProof
from ledger.roster import view as roster_view


def _wall_ms() -> int:
    from ledger.clock import wall_ms

    return wall_ms()


def forks_seal(db: sqlite3.Connection) -> bytes:
    """Digest of every fork proof row (author, seq, both signed encodings)."""
    h = hashlib.blake2b(digest_size=32, person=b"plurigrid-forks")
    for author, seq, raw_a, raw_b in db.execute(
        "SELECT author, seq, raw_a, raw_b FROM forks ORDER BY author"
    ):
        for part in (author, str(seq).encode(), raw_a, raw_b):
            part = part if isinstance(part, bytes) else str(part).encode()
            h.update(len(part).to_bytes(4, "big") + part)
    return h.digest()


class ForkStoreMixin:
    """Fork proofs of :class:`ledger.store.Store`."""

    damaged_forks: dict[bytes, str]
    _fork_memo: dict[tuple[Any, ...], ForkProof | str]

    if TYPE_CHECKING:  # provided by Store

        def _read(self) -> contextlib.AbstractContextManager[sqlite3.Connection]: ...
        def _write(self) -> contextlib.AbstractContextManager[sqlite3.Connection]: ...
        def _meta(self, key: str, default: Any = None) -> Any: ...
        def _set_meta(self, key: str, value: Any) -> None: ...
        def _bump_generation(self) -> None: ...
        def roster(self) -> roster_view.Roster: ...

    def forks_by_author(self) -> dict[bytes, int]:
        """author -> seq of every fork proof that checks out (see :meth:`fork_proofs`)."""
        return {p.author: p.seq for p in self.fork_proofs()}

    def fork_proofs(self) -> list[ForkProof]:
        """The stored fork proofs that check out from their signed bytes.

        A proof counts only if it is two validly signed entries by one author at one
        seq (both read from the signed bytes, not the columns) with different ids,
        and its row names that author and seq. Any other row (forged or edited in
        the file) is left out of every view and noted in :attr:`damaged_forks`;
        ``log verify`` reports it and ``--repair`` drops it. Each row is checked
        once per process (forks are few).
        """
        with self._read() as db:
            rows = db.execute(
                "SELECT author, seq, raw_a, raw_b FROM forks ORDER BY author"
            ).fetchall()
        out = []
        for row in rows:
            checked = self._checked_fork(row)
            if isinstance(checked, str):
                self.damaged_forks[row[0]] = checked
                continue
            out.append(checked)
        return out

    def _checked_fork(self, row: Any) -> ForkProof | str:
        """The proof in one ``forks`` row, or why it does not prove a fork."""
        try:
            key = tuple(row)
            hash(key)
        except TypeError:
            key = None
        if key is not None and key in self._fork_memo:
            return self._fork_memo[key]
        result: ForkProof | str
        author, seq, raw_a, raw_b = row
        try:
            proof = ForkProof.from_raw(raw_a, raw_b)  # signatures, same author and seq, ids
        except Exception as err:
            result = f"fork proof fails its check ({err})"
        else:
            if proof.author != author or proof.seq != seq:
                result = "fork proof does not match its row"
            else:
                result = proof
        if key is not None:
            self._fork_memo[key] = result
        return result

    def add_fork_proofs(self, proofs: Iterable[ForkProof]) -> list[ForkProof]:
        """Store fork proofs received from peers or bundles; returns those that were new.

        Only proofs about keys of this mesh's roster are kept: anyone can make two
        entries with a throwaway key, and such proofs would otherwise pile up and
        replicate everywhere forever.
        """
        added: list[ForkProof] = []
        with self._write() as db:
            roster = self.roster()
            for proof in proofs:
                if proof.author not in roster.keys:
                    continue
                if proof.seq == 1 and self._meta("mesh_id") not in (proof.a.prev, proof.b.prev):
                    continue  # neither entry hangs off this mesh
                if self._record_fork(db, proof):
                    added.append(proof)
            if added:
                self._bump_generation()
        return added

    def _record_fork(self, db: sqlite3.Connection, proof: ForkProof) -> bool:
        row = db.execute(
            "SELECT seq, raw_a, raw_b FROM forks WHERE author=?", (proof.author,)
        ).fetchone()
        if row is not None:
            existing = self._checked_fork((proof.author, *row))
            if isinstance(existing, ForkProof) and existing.key() <= proof.key():
                return False  # a proof that checks out, as good or better, is kept
        db.execute(
            "INSERT INTO forks(author, seq, raw_a, raw_b, found) VALUES(?,?,?,?,?) "
            "ON CONFLICT(author) DO UPDATE SET seq=excluded.seq, raw_a=excluded.raw_a, "
            "raw_b=excluded.raw_b, found=excluded.found",
            (proof.author, proof.seq, proof.a.raw, proof.b.raw, _wall_ms()),
        )
        self.seal_forks(db)
        return True

    def seal_forks(self, db: sqlite3.Connection) -> None:
        """Record a digest of the fork proofs table: ``log verify`` notices a deleted proof."""
        self._set_meta("forks_seal", forks_seal(db))
