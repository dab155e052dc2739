"""Writing fuel entries: tank readings, transfers and burn rates (pre-checked, then signed)."""

from __future__ import annotations

from typing import Any

from ledger.entry import Entry
from ledger.errors import InvalidInput
from ledger.fuel import view
from ledger.guard import require_role
from ledger.identity import Identity
from ledger.names import refuse_near_miss
from ledger.store import Store


def load(store: Store) -> view.FuelState:
    return view.fold(store.entries(kinds=list(view.KINDS)), store.roster())


def _checked(problem: str | None) -> None:
    if problem:
        raise InvalidInput(problem)


def check_site(state: view.FuelState, site: str, *, new_site: bool = False) -> None:
    """A site name that is a typo's distance from a known site is refused (a typo would
    otherwise start a new site silently), unless the caller says it is new."""
    if not new_site:
        refuse_near_miss(site.strip(), state.sites, "site", override="--new-site")


def report(
    store: Store,
    identity: Identity,
    site: str,
    litres: float,
    *,
    tank: str = "main",
    fuel: str = "diesel",
    note: str = "",
    new_site: bool = False,
    new_tank: bool = False,
    via: str = "",
    photo: str = "",
) -> Entry:
    """Sign a tank reading; it supersedes the readings of that tank this laptop holds.

    A site or tank name a typo away from a known one is refused unless ``new_site`` /
    ``new_tank`` says it really is new. ``via`` names the device that sent the reading
    (a phone through the dashboard): this laptop signs it and so vouches for it.
    ``photo`` is the content hash of a gauge photo stored beside this laptop's ledger.
    """
    require_role(store, identity, *view.WRITERS)
    state = load(store)
    check_site(state, site, new_site=new_site)
    current = state.sites.get(site.strip())
    if current is not None and not new_tank:
        refuse_near_miss(
            tank.strip(), current.tanks, f"tank at {site.strip()}", override="--new-tank"
        )
    known = current.tanks.get(tank.strip()) if current else None
    body: dict[str, Any] = {
        "site": site.strip(),
        "tank": tank.strip(),
        "fuel": fuel,
        "litres": litres,
        "supersedes": [r.id.hex() for r in known.current] if known else [],
    }
    for key, value in (("note", note), ("via", via), ("photo", photo)):
        if value:
            body[key] = value
    _checked(view.check_report(body))
    return store.append(identity, view.REPORT, body)


def plan_transfer(
    store: Store,
    identity: Identity,
    source: str,
    target: str,
    litres: float,
    *,
    fuel: str = "diesel",
    tank: str | None = None,
    order: str | None = None,
    note: str = "",
    new_site: bool = False,
) -> Entry:
    require_role(store, identity, "coordinator")
    state = load(store)
    for site in (source, target):
        check_site(state, site, new_site=new_site)
    body: dict[str, Any] = {
        "op": "plan",
        "from": source.strip(),
        "to": target.strip(),
        "litres": litres,
        "fuel": fuel,
    }
    for key, value in (("tank", tank), ("order", order), ("note", note)):
        if value:
            body[key] = value
    _checked(view.check_transfer(body))
    return store.append(identity, view.TRANSFER, body)


def find_transfer(state: view.FuelState, prefix: str) -> view.Transfer:
    prefix = prefix.strip().lower()
    matches = (
        [t for tid, t in state.transfers.items() if tid.hex().startswith(prefix)]
        if len(prefix) >= 4
        else []
    )
    if len(matches) != 1:
        listed = ", ".join(tid.hex()[:8] for tid in sorted(state.transfers)) or "none"
        raise InvalidInput(
            f"no single transfer matches {prefix!r} (transfers: {listed})",
            hint="`plurictl fuel status` lists transfers with their ids",
        )
    return matches[0]


def transfer_step(
    store: Store,
    identity: Identity,
    transfer: str,
    op: str,
    *,
    litres: float | None = None,
    reason: str = "",
) -> Entry:
    """dispatch / receive / cancel a planned transfer."""
    require_role(store, identity, "coordinator" if op == "cancel" else "operator", "coordinator")
    t = find_transfer(load(store), transfer)
    allowed = {
        "dispatch": (view.PLANNED,),
        "receive": (view.PLANNED, view.DISPATCHED),
        "cancel": (view.PLANNED,),
    }
    if t.state not in allowed[op]:
        done = {"dispatch": "dispatched", "receive": "received", "cancel": "cancelled"}[op]
        raise InvalidInput(f"transfer {t.id.hex()[:8]} is {t.state}: it cannot be {done} now")
    body: dict[str, Any] = {"op": op, "transfer": t.id.hex()}
    if litres is not None:
        body["litres"] = litres
    if reason:
        body["reason"] = reason
    _checked(view.check_transfer(body))
    return store.append(identity, view.TRANSFER, body)


def consumption(
    store: Store, identity: Identity, site: str, litres_per_hour: float, *, new_site: bool = False
) -> Entry:
    require_role(store, identity, *view.WRITERS)
    check_site(load(store), site, new_site=new_site)
    if not 0 <= litres_per_hour <= view.MAX_LITRES:
        raise InvalidInput("the burn rate must be between 0 and 10,000,000 litres per hour")
    return store.append(
        identity, view.CONSUMPTION, {"site": site.strip(), "litres_per_hour": litres_per_hour}
    )
