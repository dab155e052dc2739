"""Small pieces every view uses: the record of an ignored entry, id parsing."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from ledger.entry import Entry


@dataclass(frozen=True)
class Ignored:
    """An entry a view gave no effect, and why (views report these, never drop silently)."""

    id: bytes
    author: bytes
    seq: int
    kind: str
    reason: str

    @classmethod
    def of(cls, e: Entry, reason: str) -> Ignored:
        return cls(e.id, e.author, e.seq, e.kind, reason)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id.hex(),
            "author": self.author.hex(),
            "seq": self.seq,
            "kind": self.kind,
            "reason": self.reason,
        }


def well_formed(
    entries: Iterable[Entry], kinds: Collection[str]
) -> tuple[list[Entry], list[Ignored]]:
    """The entries of ``kinds`` whose bodies fit their schema, and the others as Ignored.

    Every fold starts here, so no fold ever reads a body of the wrong shape.
    """
    from ledger.schemas import problem

    good: list[Entry] = []
    bad: list[Ignored] = []
    for e in entries:
        if e.kind not in kinds:
            continue
        why = problem(e)
        if why is None:
            good.append(e)
        else:
            bad.append(Ignored.of(e, why))
    return good, bad


def parse_id_list(value: Any) -> list[bytes] | None:
    """A list of 64-hex-character ids (None is the empty list); None if malformed."""
    if value is None:
        return []
    if not isinstance(value, list):
        return None
    out = []
    for v in value:
        if not isinstance(v, str) or len(v) != 64:
            return None
        try:
            out.append(bytes.fromhex(v))
        except ValueError:
            return None
    return out
