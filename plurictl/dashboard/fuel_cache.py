"""The fuel view, refolded one site at a time as readings arrive.

A long emergency fills the ledger with tank readings: refolding all of them on
every new reading is too slow for a live page. The fuel fold has a seam: a
site's state depends only on its own readings and burn rates, and on the
transfers (which touch two sites each). So a new reading for site S is folded
together with S's earlier entries and every transfer, and S (alone) is taken
from that result; every other site keeps its state. The same fold function as
``plurictl fuel status`` runs on a subset of the entries; a test checks the
result equals the full fold for any arrival order.

A new transfer entry (rare) or a roster change refolds everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from ledger.fuel import view

#: bucket of entries that are not about one named site (transfers, malformed bodies)
SHARED = ""


def bucket_of(entry: Any) -> str:
    """The site a fuel entry is about, or SHARED (transfers, and anything odd)."""
    if entry.kind == view.TRANSFER:
        return SHARED
    site = entry.body.get("site") if isinstance(entry.body, dict) else None
    return site.strip() if isinstance(site, str) and 0 < len(site.strip()) <= 64 else SHARED


class FuelCache:
    """The fuel entries of a ledger by site, and the fuel state folded from them."""

    def __init__(self) -> None:
        self.buckets: dict[str, list[Any]] = {}
        self.ids: set[bytes] = set()
        self.state: view.FuelState = view.FuelState()

    def reload(self, entries: Iterable[Any], roster: Any) -> view.FuelState:
        """Start over from every fuel entry of the ledger."""
        self.buckets, self.ids = {}, set()
        self._keep(entries)
        return self.full(roster)

    def full(self, roster: Any) -> view.FuelState:
        """Fold every kept entry (after a roster change, or a new transfer)."""
        self.state = view.fold(self._all(), roster)
        return self.state

    def add(self, entries: Iterable[Any], roster: Any) -> view.FuelState:
        """Fold new fuel entries in, refolding only the sites they are about."""
        fresh = self._keep(entries)
        if not fresh:
            return self.state
        sites = {bucket_of(e) for e in fresh}
        if SHARED in sites:
            return self.full(roster)
        partial = view.fold(self._entries_of(sites), roster)
        self.state = merge(self.state, partial, sites, self._ids_of(sites))
        return self.state

    def _keep(self, entries: Iterable[Any]) -> list[Any]:
        fresh = []
        for e in entries:
            if e.kind in view.KINDS and e.id not in self.ids:
                self.ids.add(e.id)
                self.buckets.setdefault(bucket_of(e), []).append(e)
                fresh.append(e)
        return fresh

    def _all(self) -> list[Any]:
        return [e for bucket in self.buckets.values() for e in bucket]

    def _entries_of(self, sites: set[str]) -> list[Any]:
        return [e for s in (*sorted(sites), SHARED) for e in self.buckets.get(s, [])]

    def _ids_of(self, sites: set[str]) -> set[bytes]:
        return {e.id for s in (*sites, SHARED) for e in self.buckets.get(s, [])}


def merge(
    old: view.FuelState, partial: view.FuelState, sites: set[str], refolded: set[bytes]
) -> view.FuelState:
    """``old`` with ``sites``, the transfers and their ignored entries taken from ``partial``."""
    merged = dict(old.sites)
    for name in sites:
        if name in partial.sites:
            merged[name] = partial.sites[name]
        else:
            merged.pop(name, None)
    ignored = [i for i in old.ignored if i.id not in refolded] + partial.ignored
    return replace(
        old, sites=dict(sorted(merged.items())), transfers=partial.transfers, ignored=ignored
    )
