"""The Plan page's data: the adopted plan(s), their charts, orders due soon, shed loads.

Built from the plans view (`plurictl plan list --json`, `plurictl orders --json`)
and the plan attached to the ledger; why a load is shed comes from the
planner's own explanation (`plurictl plan explain`), not from a second reading.
"""

from __future__ import annotations

from typing import Any

from plurictl import readouts
from plurictl.dashboard import timefmt

#: orders starting within this many hours are "due soon"
DUE_HOURS = 12
TIERS = (1, 2, 3)


def adopted_plans(state: Any) -> list[dict[str, Any]]:
    """Every adopted plan (one per horizon), with what the page draws. Time-free: memoisable."""
    if state is None:
        return []
    orders = readouts.orders_list(state)
    out = []
    for horizon, decision in sorted(state.decisions.items()):
        proposal = state.proposals[decision.plan]
        content = proposal.content or {}
        plan = content.get("plan") if isinstance(content.get("plan"), dict) else None
        out.append(_adopted(horizon, decision, proposal, plan, orders))
    return out


def _adopted(
    horizon: str, decision: Any, proposal: Any, plan: dict[str, Any] | None, orders: list[Any]
) -> dict[str, Any]:
    periods = _list(plan, "periods")
    labels = [str(p.get("label", i)) for i, p in enumerate(periods)]
    hours = _hours_per_period(plan)
    start = timefmt.parse_label(labels[0]) if labels else None
    end = start + int(len(labels) * hours * 3_600_000) if start is not None else None
    mine = [o for o in orders if o.get("plan") == decision.plan.hex()]
    return {
        "id": decision.plan.hex(),
        "horizon": horizon,
        "scenario": proposal.scenario,
        "status": proposal.status,
        "by": decision.adoption.by,
        "via": decision.adoption.via,
        "rule": decision.rule,
        "complete": plan is not None,
        "summary": proposal.summary,
        "reason": (plan or {}).get("reason"),
        "labels": labels,
        "hours_per_period": hours,
        "start_ms": start,
        "end_ms": end,
        "tiers": tier_stack(plan) if plan else [],
        "tanks": [
            {
                "key": str(t.get("key")),
                "levels": [float(x) for x in t.get("level_litres") or []],
                "start": float(t.get("start_litres") or 0),
                "reserve": float(t.get("reserve_litres") or 0),
                "capacity": float(t.get("capacity_litres") or 0),
                "runs_out_at": t.get("runs_out_at"),
                "site": t.get("site"),
                "burn": [float(x) for x in t.get("burn_litres") or []],
            }
            for t in _list(plan, "tanks")
        ],
        "shed": shed_reasons(plan) if plan else [],
        "orders": [_order_times(o, labels, hours) for o in mine],
    }


def _list(plan: dict[str, Any] | None, key: str) -> list[dict[str, Any]]:
    items = (plan or {}).get(key)
    return [x for x in items if isinstance(x, dict)] if isinstance(items, list) else []


def _hours_per_period(plan: dict[str, Any] | None) -> float:
    scenario = (plan or {}).get("scenario")
    value = scenario.get("hours_per_period") if isinstance(scenario, dict) else None
    return float(value) if isinstance(value, int | float) and value > 0 else 1.0


def tier_stack(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Per period: MW served of each tier and MW shed (the stacked chart's bars)."""
    loads = _list(plan, "loads")
    n = len(_list(plan, "periods"))
    bars = []
    for i in range(n):
        served = dict.fromkeys(TIERS, 0.0)
        demand = 0.0
        for ld in loads:
            d, s = _at(ld.get("demand_mw"), i), _at(ld.get("served_mw"), i)
            tier: int = ld["tier"] if ld.get("tier") in TIERS else 3
            served[tier] += s
            demand += d
        shed = max(0.0, demand - sum(served.values()))
        bars.append({"served": served, "shed": shed, "demand": demand})
    return bars


def _at(values: Any, i: int) -> float:
    if isinstance(values, list) and i < len(values) and isinstance(values[i], int | float):
        return float(values[i])
    return 0.0


def shed_reasons(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Each shed load with the planner's own sentences (as `plan explain --load` says)."""
    from planner.errors import PlannerError
    from planner.explain import explain

    out = []
    for s in _list(plan, "shed"):
        name = str(s.get("load"))
        try:
            lines = explain(plan, load=name).get("lines") or []
        except (PlannerError, KeyError, TypeError, ValueError) as e:
            lines = [f"(no explanation: {e})"]
        out.append(
            {
                "load": name,
                "site": s.get("site"),
                "tier": s.get("tier"),
                "served_pct": s.get("served_pct"),
                "lines": [str(x) for x in lines],
            }
        )
    return out


def _order_times(order: dict[str, Any], labels: list[str], hours: float) -> dict[str, Any]:
    start = timefmt.parse_label(order.get("from"))
    if start is None and isinstance(order.get("from_period"), int) and labels:
        i = order["from_period"]
        start = timefmt.parse_label(labels[i]) if 0 <= i < len(labels) else None
    until = timefmt.parse_label(order.get("until"))
    return {**order, "start_ms": start, "until_ms": until}


def planned_burn(plans: list[dict[str, Any]]) -> dict[str, float]:
    """site -> litres per hour the adopted plan burns there (average over its horizon)."""
    out: dict[str, float] = {}
    for plan in plans:
        for t in plan["tanks"]:
            if t["site"] and t["burn"]:
                rate = sum(t["burn"]) / (len(t["burn"]) * plan["hours_per_period"])
                out[str(t["site"])] = out.get(str(t["site"]), 0.0) + rate
    return out


def with_time(plan: dict[str, Any], now_ms: int) -> dict[str, Any]:
    """The plan with what depends on the clock: is its horizon now, which orders are due."""
    start, end = plan["start_ms"], plan["end_ms"]
    if start is None or end is None:
        state, ref = "unknown", now_ms
    elif now_ms < start:
        state, ref = "ahead", start
    elif now_ms >= end:
        state, ref = "ended", start
    else:
        state, ref = "now", now_ms
    soon = ref + DUE_HOURS * 3_600_000
    orders = []
    for o in plan["orders"]:
        begins, ends = o["start_ms"], o["until_ms"]
        running = begins is not None and begins <= ref and (ends is None or ends > ref)
        due_soon = begins is not None and (running or ref <= begins < soon)
        overdue = state == "now" and begins is not None and begins <= now_ms
        orders.append({**o, "due_soon": due_soon, "overdue": overdue and o.get("status") == "open"})
    return {**plan, "horizon_state": state, "reference_ms": ref, "orders": orders}


def timed_plans(snap: Any, now_ms: int) -> list[dict[str, Any]]:
    """The adopted plans of a snapshot (memoised), with the clock-dependent parts for now."""
    return [
        with_time(p, now_ms)
        for p in snap.cached("plans:adopted", lambda: adopted_plans(snap.plans))
    ]
