"""The charts of the Fuel and Plan pages, from their page data."""

from __future__ import annotations

import functools
from typing import Any

from markupsafe import Markup

from plurictl.dashboard import charts, timefmt
from plurictl.dashboard.memo import ByIdentity

#: readings drawn per tank (the newest)
MAX_POINTS = 120


_CHARTS = ByIdentity()


def fuel_charts(sites: list[dict[str, Any]], now_ms: int) -> dict[str, Markup]:
    """site -> tank levels over time from the readings (conflicting ones ringed red).

    A site's chart is redrawn only when its readings changed (same history object).
    """
    return {
        s["site"]: _CHARTS.get(s["history"], functools.partial(_site_chart, s, now_ms))
        for s in sites
    }


def _site_chart(s: dict[str, Any], now_ms: int) -> Markup:
    series = []
    first, last = None, None
    for tank, points in sorted(s["history"].items()):
        recent = points[-MAX_POINTS:]
        if not recent:
            continue
        series.append(
            {"label": tank, "points": [(p["time_ms"], p["litres"], p["conflict"]) for p in recent]}
        )
        first = min(first or recent[0]["time_ms"], recent[0]["time_ms"])
        last = max(last or recent[-1]["time_ms"], recent[-1]["time_ms"])
    labels = (timefmt.local(first, now_ms=now_ms), timefmt.local(last, now_ms=now_ms))
    return charts.level_chart(
        series, title=f"Tank levels at {s['site']}", x_labels=labels if first else None
    )


def plan_charts(plans: list[dict[str, Any]]) -> dict[str, dict[str, Markup]]:
    """plan id -> {'tiers': served by tier per period, 'tanks': levels over the horizon}."""
    out = {}
    for p in plans:
        labels = p["labels"]
        tanks = [
            {"label": t["key"], "points": [(i, v, False) for i, v in enumerate(t["levels"])]}
            for t in p["tanks"]
        ]
        ends = (labels[0], labels[-1]) if labels else None
        out[p["id"]] = {
            "tiers": charts.tier_bars(
                p["tiers"], labels, title=f"Served load by tier, {p['scenario']}"
            ),
            "tanks": charts.level_chart(
                tanks, title=f"Tank levels over the plan, {p['scenario']}", x_labels=ends
            ),
        }
    return out
