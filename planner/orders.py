"""Dispatch orders derived from a plan: what each site must do, and when.

Orders are grouped runs of identical instructions (a genset held at one setpoint
for hours 6-11 is one order, not six), each with a stable id: blake2b-256 of the
plan hash and the order's canonical content. The same plan therefore yields the
same order ids on every laptop, which is what the ledger acknowledges against.

Every order carries structured fields and ``text``: one plain sentence a driver or a
plant operator can act on — what, where from, where to, how much, by when:

    At plant: run genset G at 2.5 MW from 2025-09-14 06:00 until 2025-09-14 12:00.
    Send 8,000 L of diesel from depot/stock to alpha/main (route depot->alpha, 1 trip):
    leave 2025-09-14 06:00, arrive by 2025-09-14 09:00.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from planner.canonical import blake_hex, canonical_bytes, rnd

SETPOINT_STEP_MW = 0.001  # setpoints within 1 kW are the same instruction
SERVED_STEP_PCT = 1.0  # served fractions within 1 point are the same instruction


def _span(t0: int, t1: int, labels: list[str]) -> dict[str, Any]:
    """Periods t0..t1 of an order, with the labels of its start and of when it ends."""
    return {
        "from_period": t0,
        "to_period": t1,
        "starts_at": labels[t0] if labels else f"period {t0}",
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
    order["text"] = sentence(order)
    order["order_id"] = blake_hex(plan_hash.encode() + b"\x00" + canonical_bytes(order))
    return order


def orders(plan_json: dict[str, Any]) -> list[dict[str, Any]]:
    """Per-site, per-period orders: run/stop units, charge/discharge batteries, shed
    loads, send fuel. Sorted by first period, then site, then kind (a timeline)."""
    ph = plan_json.get("plan_hash") or ""
    labels = [p["label"] for p in plan_json.get("periods", [])]
    out = list(_unit_orders(plan_json, labels))
    out += _battery_orders(plan_json, labels)
    out += _load_orders(plan_json, labels)
    out += [_send(tr) for tr in plan_json.get("transfers", [])]
    out.sort(
        key=lambda o: (
            o["from_period"],
            str(o.get("site")),
            o["kind"],
            str(o.get("unit") or o.get("load") or o.get("route") or o.get("battery")),
        )
    )
    return [_with_id(ph, o) for o in out]


def _unit_steps(un: dict[str, Any]) -> list[Any]:
    """Per period: a set-point step, None (off), or "free" (PV not curtailed)."""
    if un.get("curtailable"):
        avail = un.get("available_mw") or [0.0] * len(un["schedule_mw"])
        return [
            round((mw or 0.0) / SETPOINT_STEP_MW)
            if (a or 0.0) - (mw or 0.0) > SETPOINT_STEP_MW
            else "free"
            for mw, a in zip(un["schedule_mw"], avail, strict=True)
        ]
    return [
        round((mw or 0.0) / SETPOINT_STEP_MW) if on else None
        for mw, on in zip(un["schedule_mw"], un["running"], strict=True)
    ]


def _unit_orders(plan: dict[str, Any], labels: list[str]) -> Iterator[dict[str, Any]]:
    for un in plan.get("units", []):
        if un["element"] == "ext_grid" and un.get("fuel") is None:
            continue
        if not un.get("in_service", True) or not un.get("reachable", True):
            continue
        steps = _unit_steps(un)
        for t0, t1, step in _runs(steps):
            if step == "free":
                continue
            if step is None:
                kind, mw = "stop", 0.0
            else:
                kind, mw = ("curtail" if un.get("curtailable") else "run"), step * SETPOINT_STEP_MW
            if kind == "stop" and t0 == 0 and t1 == len(steps) - 1 and un["element"] != "gen":
                continue
            yield {
                "kind": kind,
                "site": un.get("site"),
                "unit": un["name"],
                "fuel": un.get("fuel"),
                "mw": rnd(mw, "mw"),
                **_span(t0, t1, labels),
            }


def _battery_orders(plan: dict[str, Any], labels: list[str]) -> list[dict[str, Any]]:
    out = []
    for b in plan.get("storage", []):
        steps = [round((mw or 0.0) / SETPOINT_STEP_MW) for mw in b["net_mw"]]
        for t0, t1, step in _runs(steps):
            if step == 0:
                continue
            out.append(
                {
                    "kind": "discharge" if step > 0 else "charge",
                    "site": b.get("site"),
                    "battery": b["name"],
                    "mw": rnd(abs(step) * SETPOINT_STEP_MW, "mw"),
                    **_span(t0, t1, labels),
                }
            )
    return out


def _load_orders(plan: dict[str, Any], labels: list[str]) -> list[dict[str, Any]]:
    out = []
    for ld in plan.get("loads", []):
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
                    "reachable": ld.get("reachable", True),
                    "served_pct": rnd(pct, "pct"),
                    "shed_mw_max": rnd(max(shed), "mw"),
                    **_span(t0, t1, labels),
                }
            )
    return out


def _send(tr: dict[str, Any]) -> dict[str, Any]:
    return {
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
        "depart_at": tr["depart_at"],
        "arrive_at": tr.get("arrive_at") or f"period {tr['arrive_period']}",
    }


def _litres(v: Any) -> str:
    return f"{float(v or 0):,.0f} L"


def _mw(v: Any) -> str:
    return f"{float(v or 0):g} MW"


def _when(order: dict[str, Any]) -> str:
    start = order.get("starts_at") or order.get("from") or f"period {order.get('from_period')}"
    until = order.get("until") or "end of horizon"
    return f"from {start} until {until}"


def sentence(order: dict[str, Any]) -> str:
    """One order in plain words: what, where from, where to, how much, by when.

    Also reads orders written by older planners (``from``/``until`` labels, no ``text``).
    """
    text = _sentence(order)
    return text[:1].upper() + text[1:]


def _sentence(order: dict[str, Any]) -> str:
    kind = order.get("kind")
    where = f"At {order['site']}: " if order.get("site") else ""
    when = _when(order)
    if kind == "send":
        trips = order.get("trips") or 1
        return (
            f"Send {_litres(order.get('litres'))} of {order.get('fuel') or 'fuel'} from "
            f"{order.get('from_tank')} to {order.get('to_tank')} (route {order.get('route')}, "
            f"{trips} trip{'s' if trips != 1 else ''}): leave {order.get('depart_at') or order.get('from')}, "
            f"arrive by {order.get('arrive_at') or 'period ' + str(order.get('arrive_period'))}."
        )
    if kind in ("run", "stop", "curtail"):
        return where + _unit_sentence(order, when)
    if kind in ("charge", "discharge"):
        return f"{where}{kind} battery {order.get('battery')} at {_mw(order.get('mw'))} {when}."
    if kind in ("shed", "limit"):
        return where + _load_sentence(order, when)
    details = ", ".join(
        f"{k}={v}" for k, v in sorted(order.items()) if k not in ("order_id", "text")
    )
    return f"{kind}: {details}"


def _unit_sentence(order: dict[str, Any], when: str) -> str:
    what = f"genset {order.get('unit')}" if order.get("fuel") else f"unit {order.get('unit')}"
    if order.get("kind") == "run":
        return f"run {what} at {_mw(order.get('mw'))} {when}."
    if order.get("kind") == "stop":
        return f"keep {what} off {when}."
    return f"hold {order.get('unit')} at or below {_mw(order.get('mw'))} (curtail) {when}."


def _load_sentence(order: dict[str, Any], when: str) -> str:
    who = f"{order.get('load')} (tier {order.get('tier')}, community {order.get('community')})"
    if order.get("reachable") is False:
        return f"{who} stays dark {when}: no generation can reach it."
    if order.get("kind") == "shed":
        return f"switch off {who} {when}."
    return (
        f"limit {who} to {float(order.get('served_pct') or 0):g}% of its demand "
        f"(shed up to {_mw(order.get('shed_mw_max'))}) {when}."
    )
