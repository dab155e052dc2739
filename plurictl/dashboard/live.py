"""The dashboard's folded views, kept up to date as entries arrive.

A request never folds the ledger: it reads the current :class:`Snapshot`. A
watcher thread notices every commit to the ledger (``PRAGMA data_version``,
also commits by the node process or a CLI command), reads only the entries
that arrived (the heads that moved), and refolds only the views that read
those kinds (:func:`stale_views`). A roster change or a fork proof (the
store's generation) can change every view's verdicts, so it refolds them all.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from plurictl import readouts
from plurictl.dashboard.fuel_cache import FuelCache

#: view -> kind prefixes whose entries can change it (its own, and what it reads:
#: plans read the votes' winners; playbook checks read the fuel and plan views).
DEPENDS: dict[str, tuple[str, ...]] = {
    "fuel": ("fuel.",),
    "votes": ("vote.",),
    "plans": ("plan.", "order.", "vote."),
    "playbooks": ("playbook.", "fuel.", "plan.", "order.", "vote."),
}
VIEWS = tuple(DEPENDS)
#: more new entries than this in one change: refold everything rather than read them
MAX_NEW = 2000
#: how often the node's peers are asked for (seconds)
PEERS_EVERY = 2.0


def stale_views(kinds: Iterable[str], roster_changed: bool) -> set[str]:
    """The views that entries of ``kinds`` can change (all of them on a roster change)."""
    if roster_changed:
        return set(VIEWS)
    kinds = set(kinds)
    return {v for v, prefixes in DEPENDS.items() if any(k.startswith(prefixes) for k in kinds)}


@dataclass(frozen=True)
class Snapshot:
    """Everything the pages show, as of one ledger state. Never changed once published."""

    version: int
    fuel: Any = None
    plans: Any = None
    votes: Any = None
    roster: Any = None
    playbooks: Any = None
    mesh: dict[str, Any] = field(default_factory=dict)
    peers: list[dict[str, Any]] = field(default_factory=list)
    #: seconds the latest fold of each view took (shown in /api/health)
    fold_seconds: dict[str, float] = field(default_factory=dict)
    #: documents built from this snapshot, memoised by name; a name starts with the view
    #: it is built from ("fuel:charts"), so a new snapshot keeps those of views not refolded
    memo: dict[str, Any] = field(default_factory=dict, compare=False)

    def cached(self, name: str, build: Callable[[], Any]) -> Any:
        """``build()`` once per snapshot (two racing threads build the same value)."""
        if name not in self.memo:
            self.memo[name] = build()
        return self.memo[name]


def _peer_signature(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """What of the peers a page shows and is worth an update (not the ticking seconds)."""
    return [
        (r.get("key"), r.get("addr"), r.get("state"), r.get("ahead"), r.get("behind")) for r in rows
    ]


class LiveViews:
    """Folded views of one home's ledger, refreshed by :meth:`refresh` (or the watcher)."""

    def __init__(self, home: Path, *, poll_s: float = 0.05) -> None:
        from ledger.store import Store

        self.home = Path(home)
        self.poll_s = poll_s
        self.store = Store.open(self.home)
        from ledger.home import Home

        self.me: bytes = Home(self.home).public_key()[1]
        self.snapshot = Snapshot(version=0)
        self._lock = threading.Lock()
        self._data_version: int | None = None
        self._generation: int | None = None
        self._heads: dict[bytes, int] = {}
        self._peers_at = 0.0
        self._fuel = FuelCache()
        #: entries that arrived since the last fold (None: unknown, refold from the store)
        self._new: list[Any] | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        #: (monotonic time, version) of each published change, for tests and /api/health
        self.changed_at = time.monotonic()
        self.errors: list[str] = []

    # --- watching ---------------------------------------------------------------

    def start(self) -> None:
        """Fold once now, then watch the ledger in a daemon thread."""
        self.refresh()
        self._thread = threading.Thread(target=self._watch, name="dashboard-watch", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        """Look at the ledger now (this process just wrote to it)."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.store.close()

    def _watch(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.refresh()
            except Exception as e:  # keep serving the last good snapshot; say why on /api/health
                self.errors = [*self.errors[-9:], f"{type(e).__name__}: {e}"]

    # --- refreshing -------------------------------------------------------------

    def refresh(self, *, force: bool = False) -> bool:
        """Refold what changed since the last call; True if a new snapshot was published."""
        with self._lock:
            stale, ledger_moved = self._what_changed(force)
            peers = self._poll_peers(force or ledger_moved)
            if not stale and not ledger_moved and peers is None:
                return False
            snap = self.snapshot
            kept = {k: v for k, v in snap.memo.items() if k.split(":")[0] in set(VIEWS) - stale}
            changes: dict[str, Any] = {"version": snap.version + 1, "memo": kept}
            if peers is not None:
                changes["peers"] = peers
            if ledger_moved:
                changes["mesh"] = readouts.mesh_info(self.store, self.me)
            if stale:
                changes.update(self._fold(stale, snap))
            self.snapshot = replace(snap, **changes)
            self.changed_at = time.monotonic()
            return True

    def _what_changed(self, force: bool) -> tuple[set[str], bool]:
        """(views to refold, whether the ledger changed at all) since the last call."""
        version = self.store.data_version()
        if not force and version == self._data_version:
            return set(), False
        self._data_version = version
        generation = self.store.generation()
        heads = {a: h.seq for a, h in self.store.stored_heads().items()}
        first = force or self._generation is None
        roster_changed = first or generation != self._generation
        self._generation = generation
        self._new = None if roster_changed else self._new_entries(self._heads, heads)
        self._heads = heads
        if self._new is None:
            return set(VIEWS), True
        return stale_views({e.kind for e in self._new}, roster_changed=False), True

    def _new_entries(self, old: dict[bytes, int], new: dict[bytes, int]) -> list[Any] | None:
        """The entries between two heads vectors (None: too many to read one by one)."""
        moved = [(a, old.get(a, 0), seq) for a, seq in new.items() if seq > old.get(a, 0)]
        if sum(seq - start for _, start, seq in moved) > MAX_NEW:
            return None
        found = []
        for author, start, seq in moved:
            for s in range(start + 1, seq + 1):
                entry = self.store.entry_at(author, s)
                if entry is not None:
                    found.append(entry)
        return found

    def _poll_peers(self, due: bool) -> list[dict[str, Any]] | None:
        """The node's peers if they changed in a way the pages show (None: no change)."""
        now = time.monotonic()
        if not due and now - self._peers_at < PEERS_EVERY:
            return None
        self._peers_at = now
        rows: list[dict[str, Any]] = []
        with contextlib.suppress(Exception):  # a busy or dying node: keep the last rows
            rows = readouts.peers(self.home, timeout=0.5)
        if _peer_signature(rows) == _peer_signature(self.snapshot.peers) and not due:
            return None
        return rows

    def _fold(self, stale: set[str], snap: Snapshot) -> dict[str, Any]:
        """Refold the stale views (in dependency order), reusing the fresh ones."""
        from ledger.plans import writer as plans
        from ledger.playbooks import writer as playbooks
        from ledger.playbooks.facts import LedgerFacts
        from ledger.votes import writer as votes

        out: dict[str, Any] = {}
        timing = dict(snap.fold_seconds)

        def timed(name: str, fn: Callable[[], Any]) -> Any:
            t = time.perf_counter()
            value = fn()
            timing[name] = round(time.perf_counter() - t, 4)
            return value

        store = self.store
        fuel_state = timed("fuel", self._fold_fuel) if "fuel" in stale else snap.fuel
        if "votes" in stale:
            out["votes"], out["roster"] = timed("votes", lambda: votes.load(store))
        votes_state = out.get("votes", snap.votes)
        plans_state = (
            timed("plans", lambda: plans.load(store, votes_state))
            if "plans" in stale
            else snap.plans
        )
        if "playbooks" in stale:
            facts = LedgerFacts(store, fuel=fuel_state, plans=plans_state)
            out["playbooks"] = timed("playbooks", lambda: playbooks.load_state(store, facts))
        out.update(fuel=fuel_state, plans=plans_state, fold_seconds=timing)
        if "roster" not in out:
            out["roster"] = store.roster()
        return out

    def _fold_fuel(self) -> Any:
        """Fold the new fuel entries in site by site, or every fuel entry when unsure."""
        from ledger.fuel.view import KINDS

        roster = self.store.roster()
        if self._new is None:
            return self._fuel.reload(self.store.iter_entries(kinds=list(KINDS)), roster)
        return self._fuel.add((e for e in self._new if e.kind in KINDS), roster)
