"""``plan futures``: alternative plans that differ only in policy, side by side.

The physics (network, units, fuel, trucks) is never changed; each future changes one
policy choice the council may disagree on:

* ``baseline``: the scenario as written;
* ``reserve-Nh``: keep N hours of each site's tier-1 burn in its tanks (the reserve
  every tank keeps is raised by that site's share, so it is there at the end);
* ``max-energy``: no fairness between communities: the most energy in total;
* ``swap-A-B``: loads A and B exchange their tiers (e.g. hospital and water plant).

Each future is an ordinary plan (its own ``plan_hash``); the set has an id, the hash
of its futures' labels and plan hashes, the same on every laptop.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from planner.canonical import blake_hex, canonical_bytes, rnd
from planner.errors import ScenarioError
from planner.scenario import Scenario

Progress = Callable[[str, str, float], None]


@dataclasses.dataclass
class Future:
    label: str
    policy: str  # what was varied, in words
    scenario: Scenario
    plan: dict[str, Any] | None = None
    result: Any = None
    same_as: list[str] = dataclasses.field(default_factory=list)  # dropped: the same plan


def variants(
    base: Scenario,
    baseline_plan: dict[str, Any],
    reserve_hours: tuple[float, ...] = (24.0, 48.0),
    max_energy: bool = True,
    swap: tuple[str, str] | None = None,
) -> list[Future]:
    """The futures to compute (the baseline first, already planned)."""
    out = [Future("baseline", "the scenario as written", base, baseline_plan)]
    rates = tier1_burn_lph(base, baseline_plan)
    for h in reserve_hours:
        sc, short = with_reserve(base, rates, h)
        words = f"keep {h:g} h of tier-1 burn in every site's tanks"
        if short:
            words += (
                " (capped: all its fuel keeps only "
                + "; ".join(f"{site} {held:g} h" for site, held in sorted(short.items()))
                + ")"
            )
        out.append(Future(f"reserve-{h:g}h", words, sc))
    if max_energy and base.policy.fairness:
        policy = dataclasses.replace(base.policy, fairness=False)
        out.append(
            Future("max-energy", "no fairness between communities: most energy in total",
                   dataclasses.replace(base, policy=policy))
        )  # fmt: skip
    if swap is not None:
        out.append(Future(f"swap-{swap[0]}-{swap[1]}"[:48], f"{swap[0]} and {swap[1]} exchange tiers",
                          swapped(base, *swap)))  # fmt: skip
    if len(out) > 6:
        raise ScenarioError(f"{len(out)} futures: at most 6 side by side (fewer --reserve-hours)")
    return out


def tier1_burn_lph(sc: Scenario, plan: dict[str, Any]) -> dict[str, float]:
    """Litres per hour each site burns to carry its own tier-1 loads (at their mean demand
    in ``plan``), shared over the site's gensets by rating."""
    out: dict[str, float] = {}
    periods = max(1, len(plan.get("periods") or []))
    for site in sc.sites:
        if site.kind != "site":
            continue
        mw = sum(
            sum(v or 0.0 for v in ld["demand_mw"]) / periods
            for ld in plan.get("loads", [])
            if ld.get("site") == site.name and ld.get("tier") == 1
        )
        sets = [g for g in sc.generators if g.site == site.name and g.fuelled]
        rated = {g.name: _rating(g, plan) for g in sets}
        rating = sum(rated.values())
        if mw <= 0 or rating <= 0:
            continue
        out[site.name] = sum(
            g.no_load_lph + g.lph_per_mw * mw * rated[g.name] / rating for g in sets
        )
    return out


def _rating(g: Any, plan: dict[str, Any]) -> float:
    """A unit's rating: from the scenario, else as the plan read it from the network (a
    ``gen`` or ``ext_grid`` takes its rating from the network file)."""
    if g.p_max_mw:
        return float(g.p_max_mw)
    for u in plan.get("units") or []:
        if u.get("name") == g.name and isinstance(u.get("p_max_mw"), int | float):
            return float(u["p_max_mw"])
    return 0.0


def with_reserve(
    sc: Scenario, rates: dict[str, float], hours: float
) -> tuple[Scenario, dict[str, float]]:
    """Each site's tanks keep ``hours`` of its tier-1 burn more (split by capacity, never
    more than the tank holds at the start); and the sites whose fuel cannot keep that
    much, with the hours of tier-1 burn their whole reserve then holds (rounded to 0.1 h:
    what ``fuel_hours_left_by_site`` shows at the end)."""
    sites = []
    short: dict[str, float] = {}
    for site in sc.sites:
        rate = rates.get(site.name, 0.0)
        extra = rate * hours
        cap = sum(t.capacity_litres for t in site.tanks) or 1.0
        tanks = tuple(
            dataclasses.replace(
                t,
                reserve_litres=min(
                    t.initial_litres, t.reserve_litres + extra * t.capacity_litres / cap
                ),
            )
            for t in site.tanks
        )
        kept = sum(t.reserve_litres for t in tanks) - sum(t.reserve_litres for t in site.tanks)
        if rate > 0 and kept < extra - 1e-6:  # the whole reserve it keeps, in hours
            short[site.name] = round(sum(t.reserve_litres for t in tanks) / rate, 1)
        sites.append(dataclasses.replace(site, tanks=tanks))
    return dataclasses.replace(sc, sites=tuple(sites)), short


def swapped(sc: Scenario, a: str, b: str) -> Scenario:
    by_name = {ld.name: ld for ld in sc.loads}
    for name in (a, b):
        if name not in by_name:
            raise ScenarioError(f"--swap: no load named {name!r} in the scenario")
    ta, tb = by_name[a].tier, by_name[b].tier
    if ta == tb:
        raise ScenarioError(f"--swap: {a} and {b} are both tier {ta}: swapping changes nothing")
    loads = tuple(
        dataclasses.replace(ld, tier=tb if ld.name == a else ta if ld.name == b else ld.tier)
        for ld in sc.loads
    )
    return dataclasses.replace(sc, loads=loads)


def compare(fut: Future, rates: dict[str, float]) -> dict[str, Any]:
    """The figures shown side by side for one future."""
    plan = fut.plan or {}
    sites: dict[str, dict[str, float]] = {}
    shed_hours: dict[str, set[int]] = {}
    shed_mwh: dict[str, float] = {}
    for ld in plan.get("loads", []):
        s = sites.setdefault(str(ld.get("site")), {"demand": 0.0, "served": 0.0})
        s["demand"] += ld.get("demand_mwh") or 0.0
        s["served"] += ld.get("served_mwh") or 0.0
        community = str(ld.get("community"))
        shed_hours.setdefault(community, set()).update(ld.get("shed_periods") or [])
        lost = (ld.get("demand_mwh") or 0.0) - (ld.get("served_mwh") or 0.0)
        shed_mwh[community] = shed_mwh.get(community, 0.0) + lost
    hours = float((plan.get("scenario") or {}).get("hours_per_period") or 1.0)
    fuel_left = {
        s["name"]: rnd(s["end_litres"] / rates[s["name"]], "pct") if rates.get(s["name"]) else None
        for s in plan.get("sites", [])
        if s.get("kind") == "site"
    }
    ac = plan.get("ac") or {}
    return {
        "label": fut.label,
        "policy": fut.policy,
        "status": plan.get("status"),
        "plan_hash": plan.get("plan_hash"),
        "served_pct_by_tier": {str(t["tier"]): t["served_pct"] for t in plan.get("tiers", [])},
        "served_pct_by_site": {
            k: rnd(100.0 * v["served"] / v["demand"], "pct") if v["demand"] > 0 else None
            for k, v in sorted(sites.items())
        },
        "fuel_hours_left_by_site": fuel_left,
        "fuel_end_litres": (plan.get("summary") or {}).get("fuel_end_litres"),
        "truck_trips": sum(int(t.get("trips") or 0) for t in plan.get("transfers", [])),
        "shed_hours_by_community": {
            k: rnd(len(v) * hours, "pct") for k, v in sorted(shed_hours.items())
        },
        "shed_mwh_by_community": {k: rnd(v, "mwh") for k, v in sorted(shed_mwh.items())},
        "ac_violations": sum(((ac.get("summary") or {}).get("violations_by_kind") or {}).values())
        if ac
        else None,
    }


def _distinct(futures: list[Future]) -> list[Future]:
    """One future per plan: a later future whose plan is the same as an earlier one's
    (two reserves both capped at all the fuel) is dropped, and the earlier says so;
    otherwise a vote would offer one plan twice and split its votes."""
    out: list[Future] = []
    for fut in futures:
        same = next(
            (
                f
                for f in out
                if f.plan and fut.plan and f.plan["plan_hash"] == fut.plan["plan_hash"]
            ),
            None,
        )
        if same is None:
            out.append(fut)
        else:
            same.same_as.append(fut.label)
    return out


def _note_losses(futures: list[Future], rows: list[dict[str, Any]]) -> None:
    """Say it when a future serves the scenario's tier-1 (or tier-2) loads less than the
    baseline: the price of its policy, in the words the council must weigh. The tiers
    are the scenario's, by load name: a swap that makes the hospital tier 3 still counts
    the hospital as tier 1 here."""
    base = (futures[0].plan or {}).get("loads") or []
    tier_of = {ld.get("name"): ld.get("tier") for ld in base}
    for fut, row in zip(futures, rows, strict=True):
        row["notes"] = []
        if fut is futures[0]:
            continue
        for tier in (1, 2):
            was, _ = _served(base, tier_of, tier)
            now, worst = _served((fut.plan or {}).get("loads") or [], tier_of, tier)
            if was is None or now is None or now >= was - 0.01:
                continue
            row.setdefault("cost", f"sheds tier {tier}: {worst} served")
            row["notes"].append(
                f"the scenario's tier-{tier} loads served {now:g}% against {was:g}% in the "
                f"baseline (least: {worst})"
                + (": this future sheds life-safety loads now" if tier == 1 else "")
                + (" to keep the fuel reserve" if fut.label.startswith("reserve-") else "")
            )


def _served(
    loads: list[dict[str, Any]], tier_of: dict[Any, Any], tier: int
) -> tuple[float | None, str]:
    """Served % of the loads that are ``tier`` in the scenario, and the least served."""
    mine = [ld for ld in loads if tier_of.get(ld.get("name")) == tier]
    demand = sum(float(ld.get("demand_mwh") or 0.0) for ld in mine)
    if demand <= 0:
        return None, ""
    served = sum(float(ld.get("served_mwh") or 0.0) for ld in mine)
    least = min(mine, key=lambda ld: (float(ld.get("served_pct") or 0.0), str(ld.get("name"))))
    return rnd(100.0 * served / demand, "pct"), f"{least.get('name')} {least.get('served_pct')}%"


def futures_id(rows: list[dict[str, Any]]) -> str:
    return "f-" + blake_hex(canonical_bytes([[r["label"], r["plan_hash"]] for r in rows]))[:16]


def run_futures(
    scenario: Scenario,
    *,
    reserve_hours: tuple[float, ...] = (24.0, 48.0),
    max_energy: bool = True,
    swap: tuple[str, str] | None = None,
    ac: bool = True,
    progress: Progress | None = None,
) -> tuple[dict[str, Any], list[Future]]:
    """Plan every future; (the side-by-side comparison, the futures with their results)."""
    from planner.api import solve

    say = progress or (lambda stage, msg, frac: None)
    say("baseline", "planning the baseline", 0.0)
    base = solve(scenario, validate=ac)
    futures = variants(scenario, base.to_json(), reserve_hours, max_energy, swap)
    futures[0].result = base
    rates = tier1_burn_lph(scenario, futures[0].plan or {})
    for i, fut in enumerate(futures[1:], start=1):
        say(fut.label, f"planning {fut.label} ({i + 1} of {len(futures)})", i / len(futures))
        fut.result = solve(fut.scenario, validate=ac)
        fut.plan = fut.result.to_json()
    futures = _distinct(futures)
    rows = [compare(f, rates) for f in futures]
    _note_losses(futures, rows)
    for row, fut in zip(rows, futures, strict=True):
        row["notes"] += [f"the same plan as {label}" for label in fut.same_as]
    say("done", "done", 1.0)
    return {
        "id": futures_id(rows),
        "scenario": scenario.name,
        "tier1_burn_lph_by_site": {k: rnd(v, "pct") for k, v in sorted(rates.items())},
        "futures": rows,
    }, futures


def tagged(plan: dict[str, Any], futures: str, label: str) -> dict[str, Any]:
    """The plan as proposed for a set of futures: the set and its label are part of its
    content (``recipe.future``) and hash, so it never collides with the same plan proposed
    on its own, and re-proposing the set finds the same plans."""
    from planner.canonical import plan_hash

    out = dict(plan)
    out["recipe"] = {**(plan.get("recipe") or {}), "future": {"id": futures, "label": label}}
    out["plan_hash"] = plan_hash(out)
    return out
