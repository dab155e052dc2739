"""Dispatch orders derived from a plan: what each site must do, and when.

Orders are grouped runs of identical instructions (a genset held at one setpoint
for hours 6-11 is one order, not six), each with a stable id: blake2b-256 of the
plan hash and the order's canonical content. The same plan therefore yields the
same order ids on every laptop, which is what the ledger acknowledges against.
"""

from __future__ import annotations

from typing import Any

from planner.canonical import blake_hex, canonical_bytes, rnd

SETPOINT_STEP_MW = 0.001  # setpoints within 1 kW are the same instruction
SERVED_STEP_PCT = 1.0  # served fractions within 1 point are the same instruction


def _span(t0: int, t1: int, labels: list[str]) -> dict[str, Any]:
    """Periods t0..t1 of an order, with the labels of its start and of when it ends."""
    return {
        "from_period": t0,
        "to_period": t1,
        "from": labels[t0] if labels else None,
        "until": labels[t1 + 1] if labels and t1 + 1 < len(labels) else "end of horizon",
    }


def _runs(values: list[Any]) -> list[tuple[int, int, Any]]:
    """Consecutive equal values -> (first period, last period, value)."""
    out: list[tuple[int, int, Any]] = []
    for t, v in enumerate(values):
        if out and out[-1][2] == v and out[-1][1] == t - 1:
            out[-1] = (out[-1][0], t, v)
        else:
            out.append((t, t, v))
    return out


def _with_id(plan_hash: str, order: dict[str, Any]) -> dict[str, Any]:
    order = dict(order)
    order["order_id"] = blake_hex(plan_hash.encode() + b"\x00" + canonical_bytes(order))
    return order


def orders(plan_json: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-site, per-period orders: run/stop units, shed loads, send fuel.

    Sorted by first period, then site, then kind, so lists read like a timeline.
    """
    ph = plan_json.get("plan_hash") or ""
    labels = [p["label"] for p in plan_json.get("periods", [])]
    out: list[dict[str, Any]] = []
    for un in plan_json.get("units", []):
        if un["element"] == "ext_grid" and un.get("fuel") is None:
            continue
        if un.get("curtailable"):
            # PV and other free injections: an order only where the plan curtails them
            avail = un.get("available_mw") or [0.0] * len(un["schedule_mw"])
            steps = [
                round((mw or 0.0) / SETPOINT_STEP_MW)
                if (a or 0.0) - (mw or 0.0) > SETPOINT_STEP_MW
                else "free"
                for mw, a in zip(un["schedule_mw"], avail, strict=True)
            ]
        else:
            steps = [
                round((mw or 0.0) / SETPOINT_STEP_MW) if on else None
                for mw, on in zip(un["schedule_mw"], un["running"], strict=True)
            ]
        for t0, t1, step in _runs(steps):
            if step == "free":
                continue
            if step is None:
                kind, mw = "stop", 0.0
            else:
                kind, mw = ("curtail" if un.get("curtailable") else "run"), step * SETPOINT_STEP_MW
            if kind == "stop" and t0 == 0 and t1 == len(steps) - 1 and un["element"] != "gen":
                continue
            out.append(
                {
                    "kind": kind,
                    "site": un.get("site"),
                    "unit": un["name"],
                    "mw": rnd(mw, "mw"),
                    **_span(t0, t1, labels),
                }
            )
    for ld in plan_json.get("loads", []):
        if not ld["shed_periods"]:
            continue
        frac = [
            round(100.0 * (s or 0.0) / d / SERVED_STEP_PCT) * SERVED_STEP_PCT if d else 100.0
            for s, d in zip(ld["served_mw"], ld["demand_mw"], strict=True)
        ]
        for t0, t1, pct in _runs(frac):
            if pct >= 100.0:
                continue
            shed = [
                (d or 0.0) - (s or 0.0)
                for s, d in zip(
                    ld["served_mw"][t0 : t1 + 1], ld["demand_mw"][t0 : t1 + 1], strict=True
                )
            ]
            out.append(
                {
                    "kind": "shed" if pct <= 0 else "limit",
                    "site": ld.get("site"),
                    "load": ld["name"],
                    "tier": ld["tier"],
                    "community": ld["community"],
                    "served_pct": rnd(pct, "pct"),
                    "shed_mw_max": rnd(max(shed), "mw"),
                    **_span(t0, t1, labels),
                }
            )
    for tr in plan_json.get("transfers", []):
        out.append(
            {
                "kind": "send",
                "site": tr["from"].split("/")[0],
                "route": tr["route"],
                "from_tank": tr["from"],
                "to_tank": tr["to"],
                "fuel": tr["fuel"],
                "litres": tr["litres"],
                "trips": tr["trips"],
                "from_period": tr["depart_period"],
                "to_period": tr["depart_period"],
                "arrive_period": tr["arrive_period"],
                "from": tr["depart_at"],
            }
        )
    out.sort(
        key=lambda o: (
            o["from_period"],
            str(o.get("site")),
            o["kind"],
            str(o.get("unit") or o.get("load") or o.get("route")),
        )
    )
    return [_with_id(ph, o) for o in out]
