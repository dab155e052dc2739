"""The JSON of plurictl's read commands, built in one place.

Each function takes folded state (or the home) and returns the exact document
the command prints with ``--json``. The commands and the dashboard's ``/api/``
routes both call these, so the two can never drift apart. Nothing here folds a
view itself: callers pass the state they already hold (the CLI folds on each
run, the dashboard keeps folded views up to date as entries arrive).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ledger.fuel.view import FuelState
    from ledger.plans.view import PlansState
    from ledger.playbooks.state import PlaybooksState, Run
    from ledger.roster.view import Roster
    from ledger.store import Store
    from ledger.votes.state import Votes


def fuel_status(
    state: FuelState, now_ms: int, site: str | None = None, *, whole: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`plurictl fuel status --json`: every site (or one), with the estimate now.

    ``whole``: ``state.to_json()`` if the caller keeps it (the dashboard does, per ledger state).
    """
    sites = [s for name, s in sorted(state.sites.items()) if site is None or name == site]
    data = dict(whole) if whole is not None else state.to_json()
    data["sites"] = [
        {**s.to_json(), "estimate_now_litres": round(s.estimate(now_ms), 3)} for s in sites
    ]
    return data


def orders_list(state: PlansState, site: str | None = None) -> list[dict[str, Any]]:
    """`plurictl orders --json`: the orders of adopted plans, in period order."""
    rows = sorted(state.orders.items(), key=lambda kv: (kv[1].order.get("from_period", 0), kv[0]))
    return [o.to_json() for _, o in rows if site is None or o.order.get("site") == site]


def plan_list(state: PlansState) -> dict[str, Any]:
    """`plurictl plan list --json`: proposals, adoptions per horizon, orders."""
    return state.to_json()


def vote_list(votes: Votes, roster: Roster) -> dict[str, Any]:
    """`plurictl vote list --json`: every vote's summary, and entries waiting for a charter."""
    from ledger.votes import as_json as vote_json

    rows = [
        vote_json.summary(v, roster)
        for _, v in sorted(votes.votes.items(), key=lambda kv: (kv[1].charter.hlc, kv[0]))
    ]
    return {"votes": rows, "waiting": [w.to_json() for w in votes.waiting]}


def vote_status(
    vote: Any, votes: Votes, roster: Roster, store: Store, home: Path
) -> dict[str, Any]:
    """`plurictl vote status VOTE --json`: where it stands, and ``next_seal``, the seal this
    laptop's teller seat would make now (None: no seat, sealed, or `vote seal` refuses)."""
    from ledger.errors import PluriError
    from ledger.guard import next_seq
    from ledger.identity import public_name
    from ledger.votes import as_json as vote_json
    from ledger.votes.seal_checks import next_seal

    data = vote_json.status(vote, votes, roster)
    data["next_seal"] = None
    try:  # no identity here: no seat either
        key = public_name(home)[1]
    except PluriError:
        return data
    data["next_seal"] = next_seal(vote, roster, key, next_seq(store, key), store.get)
    return data


def vote_result(vote: Any, roster: Roster, *, ballots: bool = False) -> dict[str, Any]:
    """`plurictl vote result VOTE --json`: the result once sealed (``result`` None before)."""
    from ledger.votes import as_json as vote_json

    data = vote_json.result(vote, roster, ballots=ballots)
    return {
        "vote": vote.id.hex(),
        "state": vote.state,
        "failure": vote.failure,
        "equivocated_tellers": vote_json.equivocated(vote, roster),  # in every state
        "sealed_sheet": vote.sealed_sheet.hex() if vote.sealed_sheet else None,
        # a secret vote sealed but not decrypted yet: how many shares, and who may add one
        "waiting": vote.secret.waiting if vote.secret is not None and data is None else None,
        "result": data,
    }


def playbook_runs(state: PlaybooksState) -> list[Run]:
    """The runs of the playbook view, oldest first (as `playbook list` shows them)."""
    return sorted(state.runs.values(), key=lambda r: (r.entry.hlc, r.id))


def playbook_list(shipped: list[Any], shipped_dir: Path, runs: list[Run] | None) -> dict[str, Any]:
    """`plurictl playbook list --json` (``runs`` None: this laptop has no ledger yet)."""
    return {
        "shipped_dir": str(shipped_dir),
        "shipped": [i.to_json() for i in shipped],
        "runs": None if runs is None else [r.summary() for r in runs],
    }


def run_status(run: Run, now_ms: int) -> dict[str, Any]:
    """`plurictl playbook status RUN --json`: the checklist, holds counted at ``now_ms``."""
    return {"now_ms": now_ms, **run.to_json(now_ms)}


def mesh_info(store: Store, me: bytes) -> dict[str, Any]:
    """`plurictl mesh show --json`: this laptop's mesh, its ledger, and this laptop's roles."""
    from ledger.roster.writer import mesh_fingerprint

    roster = store.roster()
    mesh_id = store.mesh_id
    info = roster.keys.get(me)
    expected = store.expected_mesh
    return {
        "mesh_id": mesh_id.hex() if mesh_id else None,
        "fingerprint": mesh_fingerprint(mesh_id) if mesh_id else None,
        "joining": expected.hex() if expected and not mesh_id else None,
        "name": roster.name,
        "founder": roster.founder.hex() if roster.founder else None,
        "admin_threshold": roster.threshold,
        "members": sum(1 for i in roster.keys.values() if i.status == "active"),
        "keys": len(roster.keys),
        "pending_changes": len(roster.pending),
        "entries": store.count(),
        "feeds": len(store.heads()),
        "forks": len(store.fork_proofs()),
        "me": {
            "key": me.hex(),
            "name": info.name if info else None,
            "status": info.status if info else "not in roster",
            "roles": info.current_roles if info else [],
        },
    }


def peers(home: Path, *, timeout: float = 3.0) -> list[dict[str, Any]]:
    """`plurictl peers --json`: the running node's live peers, else the remembered ones."""
    from mesh.control import ControlClient
    from mesh.errors import NodeNotRunning

    try:
        with ControlClient(home, timeout=timeout) as client:
            return list(client.call("peers"))
    except NodeNotRunning:
        from mesh.peers import PeerBook, peer_row

        return [peer_row(**r.to_json(), state="node not running") for r in PeerBook(home).records]
