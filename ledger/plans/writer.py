"""Writing plan entries: propose (with the plan attached), adopt, withdraw, acknowledge orders.

The planner itself lives in ``planner/`` (the ledger imports no sibling): the
caller hands over the plan JSON and its orders; this module packs them into
entries and checks roles and references against the current views first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledger.entry import Entry
from ledger.errors import InvalidInput
from ledger.guard import require_role
from ledger.identity import Identity
from ledger.plans import view
from ledger.store import Store


def vote_winners(store: Store, votes: Any = None) -> dict[bytes, bytes]:
    """FINAL votes whose winning option refers to a plan proposal: vote id -> plan id.

    ``votes``: the votes view if the caller already folded it (else folded here).
    """
    if votes is None:
        from ledger.votes.writer import load as load_votes

        votes, _ = load_votes(store)
    return winners_of(votes)


def winners_of(votes: Any) -> dict[bytes, bytes]:
    """vote id -> plan id, for each FINAL vote of ``votes`` (a votes view) won by a plan."""
    out: dict[bytes, bytes] = {}
    for vote_id, vote in votes.votes.items():
        option = vote.winning_option
        ref = getattr(option, "ref", None) if option is not None else None
        if isinstance(ref, str) and len(ref) == 64:
            try:
                out[vote_id] = bytes.fromhex(ref)
            except ValueError:
                continue
    return out


def load(store: Store, votes: Any = None) -> view.PlansState:
    """The plans view (``votes``: the votes view, if the caller already holds it)."""
    winners = vote_winners(store, votes)
    return view.fold(store.entries(kinds=list(view.KINDS)), store.roster(), winners)


def _dict_or_empty(value: object) -> dict[str, Any]:
    """A JSON object field, or ``{}`` where it is missing or not an object."""
    return value if isinstance(value, dict) else {}


def summarise(plan: Mapping[str, Any]) -> dict[str, Any]:
    """The few numbers everyone needs to compare plans (kept in the propose entry)."""
    tiers = {
        str(t.get("tier")): t.get("served_pct")
        for t in plan.get("tiers") or []
        if isinstance(t, dict)
    }
    summary = _dict_or_empty(plan.get("summary"))
    ac = _dict_or_empty(plan.get("ac"))
    return {
        "served_pct": summary.get("served_pct"),
        "tiers": tiers,
        "fuel": summary.get("fuel") if isinstance(summary.get("fuel"), dict | list) else None,
        "fuel_end_litres": summary.get("fuel_end_litres"),
        "ac": {k: ac.get(k) for k in ("converged_periods", "periods", "violations") if k in ac},
    }


def propose(
    store: Store,
    identity: Identity,
    plan: dict[str, Any],
    orders: list[dict[str, Any]],
    future: dict[str, str] | None = None,
) -> Entry:
    """Attach a plan (and its orders) to the ledger; returns the propose entry (the plan id).

    ``future``: ``{"id", "label"}`` when the plan is one of a set of futures
    (``plan futures --propose``), kept in the proposal's summary."""
    require_role(store, identity, "operator", "coordinator")
    plan_hash = plan.get("plan_hash")
    scenario = _dict_or_empty(plan.get("scenario"))
    if not isinstance(plan_hash, str) or not scenario.get("name"):
        raise InvalidInput(
            "this is not a plan file (no plan_hash or scenario): run `plurictl plan run --out`"
        )
    existing = [p for p in load(store).proposals.values() if p.plan_hash == plan_hash]
    if existing:
        raise InvalidInput(f"this plan is already proposed as {existing[0].id.hex()[:12]}")
    blob = view.pack_content(plan, orders)
    chunks = view.split(blob)
    if len(chunks) > 64:
        raise InvalidInput(f"the plan is too large to attach ({len(blob):,} bytes compressed)")
    digest = view.blob_hash(blob)
    items: list[tuple[str, dict[str, Any]]] = [
        (view.PART, {"blob": digest, "index": i, "count": len(chunks), "data": c})
        for i, c in enumerate(chunks)
    ]
    body = {
        "plan_hash": plan_hash,
        "scenario_hash": (plan.get("recipe") or {}).get("scenario_hash"),
        "scenario": str(scenario["name"]),
        "horizon": {k: scenario.get(k) for k in ("start", "periods", "hours_per_period")},
        "status": str(plan.get("status") or "unknown"),
        "summary": {**summarise(plan), **({"future": future} if future else {})},
        "recipe": plan.get("recipe") or {},
        "blob": {"hash": digest, "size": len(blob), "count": len(chunks)},
    }
    items.append((view.PROPOSE, body))
    return store.append_many(identity, items)[-1]


def find(state: view.PlansState, prefix: str) -> view.Proposal:
    matches = state.find(prefix) if len(prefix.strip()) >= 4 else []
    if len(matches) != 1:
        listed = ", ".join(pid.hex()[:8] for pid in sorted(state.proposals)) or "none"
        raise InvalidInput(
            f"no single plan matches {prefix!r} (plans: {listed})", hint="see `plurictl plan list`"
        )
    return matches[0]


def adopt(store: Store, identity: Identity, prefix: str, note: str = "") -> Entry:
    require_role(store, identity, "coordinator")
    state = load(store)
    p = find(state, prefix)
    if p.status not in view.ADOPTABLE:
        raise InvalidInput(
            f"plan {p.id.hex()[:8]} was not solved ({p.status}); it cannot be adopted"
        )
    if p.withdrawn:
        raise InvalidInput(f"plan {p.id.hex()[:8]} was withdrawn: {p.withdrawn}")
    # A coordinator replaces coordinators' adoptions it has seen, never a council
    # vote's: to overrule the council, withdraw the plan (plan withdraw) and say why.
    current = [
        a.id.hex()
        for a in state.adoptions
        if a.via == "coordinator" and state.proposals[a.plan].horizon == p.horizon
    ]
    return store.append(
        identity, view.ADOPT, {"plan": p.id.hex(), "supersedes": current, "note": note}
    )


def withdraw(store: Store, identity: Identity, prefix: str, reason: str) -> Entry:
    require_role(store, identity, "coordinator")
    p = find(load(store), prefix)
    return store.append(identity, view.SUPERSEDE, {"plan": p.id.hex(), "reason": reason})


def find_order(state: view.PlansState, prefix: str) -> view.OrderState:
    p = prefix.strip().lower()
    matches = [o for oid, o in state.orders.items() if oid.startswith(p)] if len(p) >= 4 else []
    if len(matches) != 1:
        raise InvalidInput(
            f"no single order of an adopted plan matches {prefix!r}", hint="see `plurictl orders`"
        )
    return matches[0]


def acknowledge(
    store: Store, identity: Identity, prefix: str, note: str = "", *, deviation: bool = False
) -> Entry:
    require_role(store, identity, "operator", "coordinator")
    o = find_order(load(store), prefix)
    kind = view.DEVIATION if deviation else view.ACK
    return store.append(identity, kind, {"order": o.id, "plan": o.plan.hex(), "note": note})


def futures_choices(store: Store, prefix: str) -> tuple[str, list[tuple[str, str, str]]]:
    """The proposed plans of one set of futures (``plan futures --propose``):
    (the futures id, [(option id, label, plan id hex)]) in proposal order."""
    key = prefix.strip().lower()
    if len(key) < 6:
        raise InvalidInput("give at least 6 characters of the futures id (f-...)")
    state = load(store)
    found = [
        p for p in state.proposals.values()
        if p.future and p.future["id"].startswith(key) and not p.withdrawn
    ]  # fmt: skip
    ids = sorted({p.future["id"] for p in found if p.future})
    if not ids:
        raise InvalidInput(
            f"no proposed futures {prefix!r} on this laptop",
            hint="propose them with `plurictl plan futures SCENARIO --propose`, or sync",
        )
    if len(ids) > 1:
        raise InvalidInput(f"{prefix!r} matches several sets of futures: {', '.join(ids)}")
    found.sort(key=lambda p: (p.hlc, p.id))
    choices = [
        (
            _option_id(p.future["label"] if p.future else "", p.id.hex()),
            _future_label(p),
            p.id.hex(),
        )
        for p in found
    ]
    return ids[0], choices


def _option_id(label: str, plan_id: str) -> str:
    import re

    slug = re.sub(r"[^a-z0-9_-]+", "-", label.lower()).strip("-_")[:32].strip("-_")
    return slug or plan_id[:8]


def _future_label(p: view.Proposal) -> str:
    t1, t2, t3 = p.tier_served
    name = p.future["label"] if p.future else p.id.hex()[:8]
    policy = (p.future or {}).get("policy") or ""
    fuel = _fuel_left(p.summary)
    left = f", {fuel:,.0f} L fuel left" if fuel is not None else ""
    figures = f": tiers {t1:g}% / {t2:g}% / {t3:g}% served{left} (plan {p.id.hex()[:8]})"
    room = LABEL_MAX - len(name) - len(figures) - 3  # the figures always show whole
    what = policy if len(policy) <= room else policy[: max(0, room - 1)] + "…"
    return f"{name}{f' ({what})' if what else ''}{figures}"


#: A vote option's label (the vote's own limit is 300 characters).
LABEL_MAX = 240


def _fuel_left(summary: dict[str, Any]) -> float | None:
    value = summary.get("fuel_end_litres")
    return float(value) if isinstance(value, int | float) and value == value else None


def set_preference(
    store: Store, identity: Identity, site: str, rank: list[str], note: str = ""
) -> Entry:
    """Sign a site's order of its loads (an empty ``rank`` clears it)."""
    from ledger.plans.prefs import MAX_RANK, PREFERENCE
    from ledger.schemas import body_problem

    require_role(store, identity, "operator", "coordinator")
    if not site.strip():
        raise InvalidInput("SITE is empty: give the site's name, e.g. north")
    if not rank and site.strip() not in preferences(store):
        raise InvalidInput(f"{site.strip()!r} has no preference to clear (plurictl prefs show)")
    names = [n.strip() for n in rank]
    if any(not n for n in names):
        raise InvalidInput("--rank: an empty load name (check the commas)")
    if len(set(names)) != len(names):
        raise InvalidInput("--rank names a load twice")
    if len(names) > MAX_RANK:
        raise InvalidInput(f"--rank: at most {MAX_RANK} loads")
    body: dict[str, Any] = {"site": site.strip(), "rank": names}
    if note.strip():
        body["note"] = note.strip()
    problem = body_problem(PREFERENCE, body)
    if problem:
        raise InvalidInput(f"preference not written: {problem}")
    return store.append(identity, PREFERENCE, body)


def preferences(store: Store) -> dict[str, Any]:
    """The standing preference of each site."""
    from ledger.plans.prefs import KINDS, fold

    return fold(store.entries(kinds=list(KINDS)), store.roster())
