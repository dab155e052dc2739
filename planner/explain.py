"""Why a load is shed, what a site does: read from a plan, no re-solve needed.

Each shed entry in a plan carries its causes, found when the plan was made from
the limits that bind in the shed periods: ``no generation can reach it`` (its island
has no genset or grid connection), ``generation capacity`` (every unit
that could serve it is at its maximum), ``fuel`` (units with spare capacity sit
on tanks that run dry), ``transfer capacity`` (the trucks into those tanks were
full), ``line limit`` (branches at their rating in those periods), plus the
policy reasons ``priority`` and ``fair share``. This module turns them into
sentences an operator can act on.
"""

from __future__ import annotations

import difflib
from typing import Any

from planner.errors import PlanFileError

CAUSE_TEXT = {
    "no generation can reach it": (
        "no generation can reach it: its island has no genset or grid connection "
        "(solar panels and batteries cannot run an island alone)"
    ),
    "generation capacity": "every unit that could serve it was already at full output",
    "fuel": "the units with spare capacity draw on tanks that run down to their reserve",
    "transfer capacity": "the trucks that could refill those tanks were already full",
    "line limit": "branches feeding it were at their rating",
    "priority": "higher-priority loads were served first",
    "fair share": "the shortfall was shared across communities",
}


def _span(plan: dict[str, Any], ranges: list[list[int]]) -> str:
    labels = [p["label"] for p in plan.get("periods", [])]
    parts = []
    for a, b in ranges:
        if labels:
            end = labels[b + 1] if b + 1 < len(labels) else "end"
            parts.append(f"{labels[a]} to {end}")
        else:
            parts.append(f"periods {a}-{b}")
    return ", ".join(parts)


def _find(items: list[dict[str, Any]], key: str, name: str, what: str) -> dict[str, Any]:
    for it in items:
        if it[key] == name:
            return it
    low = {str(it[key]).lower(): it for it in items}
    if name.lower() in low:
        return low[name.lower()]
    close = difflib.get_close_matches(name, [str(it[key]) for it in items], n=5)
    hint = f"did you mean: {', '.join(close)}?" if close else f"{len(items)} {what}s in this plan"
    raise PlanFileError(f"no {what} named {name!r} in this plan", hint=hint)


def explain(
    plan: dict[str, Any], *, load: str | None = None, site: str | None = None
) -> dict[str, Any]:
    """A structured explanation with ready-made sentences (``lines``)."""
    if plan.get("mode") != "tiers" or "loads" not in plan:
        raise PlanFileError(
            f"this plan has no loads to explain (status {plan.get('status')}, mode {plan.get('mode')})"
        )
    if load is not None:
        return _explain_load(plan, load)
    if site is not None:
        return _explain_site(plan, site)
    return _overview(plan)


def _explain_load(plan: dict[str, Any], name: str) -> dict[str, Any]:
    ld = _find(plan["loads"], "name", name, "load")
    shed = next((s for s in plan["shed"] if s["load"] == ld["name"]), None)
    lines = [
        f"{ld['name']} (tier {ld['tier']}, community {ld['community']}"
        + (f", site {ld['site']}" if ld.get("site") else "")
        + f"): served {ld['served_pct']}% of {ld['demand_mwh']} MWh."
    ]
    if shed is None:
        lines.append("It is never shed in this plan.")
    else:
        lines.append(f"Shed {shed['shed_mwh']} MWh, during {_span(plan, shed['periods'])}.")
        for cause, info in shed["causes"].items():
            text = f"Because {CAUSE_TEXT.get(cause, cause)}"
            if "periods" in info:
                text += f" ({_span(plan, info['periods'])})"
            extra = info.get("tanks") or info.get("branches") or info.get("routes")
            if extra:
                text += ": " + ", ".join(extra)
            if "note" in info:
                text += f" — {info['note']}"
            lines.append(text + ".")
        said = _preference_line(plan, ld)
        if said:
            lines.append(said)
        elif not shed["causes"]:
            lines.append(
                "No single binding limit was found; it is shed to share the shortfall evenly."
            )
    return {"kind": "load", "load": ld, "shed": shed, "lines": lines}


def _preference_line(plan: dict[str, Any], ld: dict[str, Any]) -> str | None:
    """When the site's own preference decided that this load is shed before others."""
    pref = next((p for p in plan.get("preferences", []) if p["site"] == ld.get("site")), None)
    if pref is None:
        return None
    tier = [x for x in plan["loads"] if x.get("site") == ld.get("site") and x["tier"] == ld["tier"]]
    named = [n for n in pref["rank"] if any(x["name"] == n for x in tier)]
    before = named[: named.index(ld["name"])] if ld["name"] in named else named
    if not before:
        return None
    where = (
        f"ranked {named.index(ld['name']) + 1} of {len(named)}"
        if ld["name"] in named
        else "not ranked"
    )
    who = f", set by {pref['by']}" if pref.get("by") else ""
    return (
        f"Site {pref['site']}'s preference{who} decided it: it is {where} in tier {ld['tier']}, "
        f"so {', '.join(before)} {'is' if len(before) == 1 else 'are'} served before it."
    )


def _explain_site(plan: dict[str, Any], name: str) -> dict[str, Any]:
    st = _find(plan["sites"], "name", name, "site")
    tanks = [t for t in plan["tanks"] if t["site"] == st["name"]]
    units = [u for u in plan["units"] if u.get("site") == st["name"]]
    transfers_in = [t for t in plan["transfers"] if t["to"].split("/")[0] == st["name"]]
    transfers_out = [t for t in plan["transfers"] if t["from"].split("/")[0] == st["name"]]
    loads = [ld for ld in plan["loads"] if ld.get("site") == st["name"]]
    shed = [s for s in plan["shed"] if s.get("site") == st["name"]]
    lines = [
        f"{st['name']} ({st['kind']}): fuel {st['start_litres']} L at the start, {st['end_litres']} L at the end."
    ]
    for t in tanks:
        when = (
            f"reaches its reserve at {t['runs_out_at']}" if t["runs_out_at"] else "never runs dry"
        )
        lines.append(
            f"Tank {t['key']} ({t['fuel']}): {t['start_litres']} -> {t['end_litres']} L, {when}."
        )
    for u in units:
        hours = sum(1 for r in u["running"] if r)
        lines.append(
            f"Unit {u['name']}: runs {hours} of {len(u['running'])} periods, {u['energy_mwh']} MWh, "
            f"{u['fuel_litres'] or 0} L of fuel."
        )
    for tr in transfers_in:
        lines.append(
            f"Receives {tr['litres']} L by {tr['route']} (departs {tr['depart_at']}, arrives period {tr['arrive_period']})."
        )
    for tr in transfers_out:
        lines.append(f"Sends {tr['litres']} L on {tr['route']} at {tr['depart_at']}.")
    if shed:
        lines.append(f"{len(shed)} of its {len(loads)} loads are shed at times:")
        for s in shed:
            lines.append(
                f"  {s['load']} (tier {s['tier']}): {s['shed_mwh']} MWh — "
                + ", ".join(s["causes"])
                + "."
            )
    elif loads:
        lines.append(f"All {len(loads)} of its loads are fully served.")
    return {
        "kind": "site",
        "site": st,
        "tanks": tanks,
        "units": [
            {k: u[k] for k in ("name", "energy_mwh", "fuel_litres", "p_max_mw")} for u in units
        ],
        "transfers_in": transfers_in,
        "transfers_out": transfers_out,
        "shed": shed,
        "lines": lines,
    }


def _overview(plan: dict[str, Any]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for s in plan["shed"]:
        for c in s["causes"]:
            counts[c] = counts.get(c, 0) + 1
    lines = [
        f"{plan['summary']['served_pct']}% of demand served; {len(plan['shed'])} loads shed at times."
    ]
    for c, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"{n} loads: {CAUSE_TEXT.get(c, c)}.")
    lines.append("Ask about one: plurictl plan explain PLAN --load NAME  (or --site NAME).")
    return {"kind": "overview", "cause_counts": counts, "lines": lines}
