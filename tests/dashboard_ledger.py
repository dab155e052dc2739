"""A drill's ledger for the dashboard's tests: run the 5-node quickstart drill once, keep
alice's home, and (for the benchmarks) grow it to a large ledger of realistic entries."""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

SITES = [f"site-{i:02d}" for i in range(20)]


def run_quickstart(into: Path) -> Path:
    """Run the shipped quickstart drill (5 real nodes) keeping homes under ``into``.

    Returns the folder holding the nodes' homes (``nodes/alice`` ... ``nodes/erin``).
    """
    from plurictl.drills.model import load
    from plurictl.drills.runner import DrillRunner
    from plurictl.shipped import folder

    report = DrillRunner(load(folder("drills") / "quickstart.toml"), into).run()
    assert report.passed, report.to_json()
    return into / "nodes"


def copy_home(nodes: Path, name: str, into: Path) -> Path:
    """A private copy of one node's home (the drill's homes stay untouched)."""
    target = into / name
    shutil.copytree(nodes / name, target, ignore=shutil.ignore_patterns("node.*", "*.sock"))
    return target


def grow(home: Path, nodes: Path, total: int, *, seed: int = 7) -> int:
    """Append entries signed by the drill's five members until the ledger holds ``total``.

    A mix a long emergency produces: tank readings at 20 sites (each superseding the
    last one its author saw), late ballots on the drill's vote, playbook notes, and
    plain notes. Returns the number of entries added.
    """
    from ledger.identity import load as load_identity
    from ledger.store import Store

    rng = random.Random(seed)
    people = {p.name: load_identity(p) for p in sorted(nodes.iterdir()) if p.is_dir()}
    with Store.open(home) as store:
        missing = total - store.count()
        vote_id = _first(store, "vote.charter")
        last_reading: dict[tuple[str, str], str] = {}
        added = 0
        while added < missing:
            # One tank is read at most once per batch, so each reading names the one
            # before it (as an operator's laptop does): no false conflicts.
            batch = min(100, missing - added)
            name = rng.choice(sorted(people))
            items, fresh = [], set()
            for i in range(batch):
                kind, body = _item(rng, vote_id, last_reading, name, added + i)
                key = (body.get("site"), body.get("tank"))
                if kind == "fuel.report" and key in fresh:
                    kind, body = "note", {"text": f"{name}: all normal", "i": added + i}
                fresh.add(key)
                items.append((kind, body))
            written = store.append_many(people[name], items)
            for (kind, body), e in zip(items, written, strict=True):
                if kind == "fuel.report":
                    last_reading[(body["site"], body["tank"])] = e.id.hex()
            added += batch
    return added


def _first(store: Any, kind: str) -> str | None:
    found = store.entries(kinds=[kind], limit=1)
    return found[0].id.hex() if found else None


def _item(
    rng: random.Random,
    vote_id: str | None,
    last: dict[tuple[str, str], str],
    name: str,
    i: int,
) -> tuple[str, dict[str, Any]]:
    roll = rng.random()
    if roll < 0.3:
        site, tank = rng.choice(SITES), rng.choice(["main", "day"])
        prev = last.get((site, tank))
        return "fuel.report", {
            "site": site,
            "tank": tank,
            "fuel": "diesel",
            "litres": float(rng.randint(200, 40_000)),
            "supersedes": [prev] if prev else [],
        }
    if roll < 0.35 and vote_id is not None:
        return "vote.ballot", {"vote": vote_id, "choice": [rng.choice(["yes", "no"])]}
    return "note", {"text": f"{name}: generator check {i}, all normal", "i": i}


def dashboard_app(
    home: Path, *, view_token: str | None = None, intake: bool = False, watch: bool = False
) -> Any:
    """(app, dashboard) over ``home``: views folded now (and watched if ``watch``)."""
    from ledger.home import Home
    from plurictl.dashboard.app import Dashboard, create_app
    from plurictl.dashboard.devices import DeviceBook
    from plurictl.dashboard.guard import Access
    from plurictl.dashboard.live import LiveViews

    live = LiveViews(home)
    if watch:
        live.start()
    else:
        live.refresh()
    access = Access(DeviceBook(home), view_token=view_token, intake=intake)
    dash = Dashboard(live, access, writer=Home(home) if intake else None)
    return create_app(dash, allowed_hosts=["127.0.0.1", "localhost"]), dash


def pages(home: Path, *paths: str) -> list[str]:
    """The text of each dashboard page in ``paths`` over ``home`` (views folded now)."""
    from starlette.testclient import TestClient

    app, dash = dashboard_app(home)
    try:
        with TestClient(app, base_url="http://127.0.0.1") as c:
            return [c.get(p).text for p in paths]
    finally:
        dash.live.stop()
