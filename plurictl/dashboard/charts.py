"""Charts as inline SVG, drawn on the laptop: they need no script, print well, and
every label is escaped (names come from other laptops' entries)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from markupsafe import Markup, escape

#: colours by role (also named in dashboard.css for the legends)
TIER_COLOURS = {1: "#1b7f3b", 2: "#2f6fb3", 3: "#8a63b8"}
SHED_COLOUR = "#c9c9c9"
LINE_COLOURS = ("#2f6fb3", "#d2691e", "#1b7f3b", "#8a63b8", "#b8860b", "#444444")
CONFLICT_COLOUR = "#c0392b"


def _num(v: float) -> str:
    return f"{v:.1f}"


def _svg(width: int, height: int, title: str, body: list[str]) -> Markup:
    head = (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" role="img" '
        f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">'
        f"<title>{escape(title)}</title>"
    )
    return Markup(head + "".join(body) + "</svg>")


def _ticks(top: float, n: int = 4) -> list[float]:
    if top <= 0:
        return [0.0]
    step = top / n
    magnitude = 10 ** len(str(int(step))) / 10 if step >= 1 else 1
    step = max(magnitude, round(step / magnitude) * magnitude)
    ticks, v = [], 0.0
    while v <= top * 1.0001:
        ticks.append(v)
        v += step
    return ticks


def _axes(
    w: int, h: int, pad: tuple[int, int, int, int], top: float, unit: str
) -> tuple[list[str], float]:
    """Horizontal grid lines with labels; returns (svg parts, y-scale top)."""
    left, right, up, down = pad
    ticks = _ticks(top)
    top = max(ticks[-1], top, 1e-9)
    parts = []
    for t in ticks:
        y = up + (h - up - down) * (1 - t / top)
        parts.append(
            f'<line x1="{left}" x2="{w - right}" y1="{_num(y)}" y2="{_num(y)}" '
            f'stroke="#dddddd" stroke-width="1"/>'
            f'<text x="{left - 4}" y="{_num(y + 4)}" text-anchor="end" font-size="11" '
            f'fill="#555555">{escape(f"{t:,.0f}")}</text>'
        )
    parts.append(
        f'<text x="{left}" y="{up - 6}" font-size="11" fill="#555555">{escape(unit)}</text>'
    )
    return parts, top


def level_chart(
    series: Sequence[dict[str, Any]],
    *,
    title: str,
    unit: str = "litres",
    width: int = 560,
    height: int = 220,
    x_labels: tuple[str, str] | None = None,
    reserve: float | None = None,
) -> Markup:
    """Lines over time: each series is {label, points: [(x, y, flagged)]} with x in any unit.

    Flagged points (conflicting readings) are drawn as red rings.
    """
    pad = (56, 12, 22, 44)
    pts = [p for s in series for p in s["points"]]
    if not pts:
        return _svg(width, 40, title, ['<text x="8" y="24" font-size="12">no data yet</text>'])
    xs = [p[0] for p in pts]
    x0, x1 = min(xs), max(xs)
    span = (x1 - x0) or 1.0
    top = max([p[1] for p in pts] + [reserve or 0.0]) * 1.1 or 1.0
    body, top = _axes(width, height, pad, top, unit)
    left, right, up, down = pad
    plot_w, plot_h = width - left - right, height - up - down

    def at(x: float, y: float) -> tuple[float, float]:
        return left + plot_w * (x - x0) / span, up + plot_h * (1 - y / top)

    if reserve:
        _, ry = at(x0, reserve)
        body.append(
            f'<line x1="{left}" x2="{width - right}" y1="{_num(ry)}" y2="{_num(ry)}" '
            f'stroke="{CONFLICT_COLOUR}" stroke-dasharray="4 3" stroke-width="1"/>'
        )
    for i, s in enumerate(series):
        colour = LINE_COLOURS[i % len(LINE_COLOURS)]
        coords = [at(x, y) for x, y, _ in s["points"]]
        if len(coords) > 1:
            path = " ".join(f"{_num(x)},{_num(y)}" for x, y in coords)
            body.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
        for (x, y), (_, value, flagged) in zip(coords, s["points"], strict=True):
            ring = CONFLICT_COLOUR if flagged else colour
            body.append(
                f'<circle cx="{_num(x)}" cy="{_num(y)}" r="{4 if flagged else 3}" fill="white" '
                f'stroke="{ring}" stroke-width="2"><title>{escape(s["label"])}: '
                f"{escape(f'{value:,.0f}')} {escape(unit)}</title></circle>"
            )
        body.append(
            f'<text x="{left + 8 + 110 * i}" y="{height - 6}" font-size="11" fill="{colour}">'
            f"■ {escape(s['label'])}</text>"
        )
    if x_labels:
        body.append(
            f'<text x="{left}" y="{height - down + 14}" font-size="10" fill="#555555">'
            f"{escape(x_labels[0])}</text>"
            f'<text x="{width - right}" y="{height - down + 14}" font-size="10" '
            f'text-anchor="end" fill="#555555">{escape(x_labels[1])}</text>'
        )
    return _svg(width, height, title, body)


def tier_bars(
    bars: Sequence[dict[str, Any]],
    labels: Sequence[str],
    *,
    title: str,
    width: int = 560,
    height: int = 220,
) -> Markup:
    """Stacked bars per period: MW served of tier 1, 2, 3, and MW shed on top (grey)."""
    pad = (56, 12, 22, 40)
    if not bars:
        return _svg(width, 40, title, ['<text x="8" y="24" font-size="12">no periods</text>'])
    top = max(b["demand"] for b in bars) * 1.1 or 1.0
    body, top = _axes(width, height, pad, top, "MW")
    left, right, up, down = pad
    plot_w, plot_h = width - left - right, height - up - down
    slot = plot_w / len(bars)
    bar_w = max(2.0, slot * 0.7)
    every = max(1, len(bars) // 8)
    for i, b in enumerate(bars):
        x = left + slot * i + (slot - bar_w) / 2
        y = up + plot_h
        parts = [(TIER_COLOURS[t], b["served"][t], f"tier {t} served") for t in (1, 2, 3)]
        parts.append((SHED_COLOUR, b["shed"], "shed"))
        for colour, mw, what in parts:
            if mw <= 0:
                continue
            h = plot_h * mw / top
            y -= h
            body.append(
                f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(bar_w)}" height="{_num(h)}" '
                f'fill="{colour}"><title>{escape(labels[i] if i < len(labels) else str(i))}: '
                f"{escape(what)} {escape(f'{mw:.2f}')} MW</title></rect>"
            )
        if i % every == 0 and i < len(labels):
            body.append(
                f'<text x="{_num(x + bar_w / 2)}" y="{height - down + 14}" font-size="10" '
                f'text-anchor="middle" fill="#555555">{escape(labels[i][-5:])}</text>'
            )
    legend = [(TIER_COLOURS[t], f"tier {t} served") for t in (1, 2, 3)] + [(SHED_COLOUR, "shed")]
    for j, (colour, text) in enumerate(legend):
        body.append(
            f'<text x="{left + 110 * j}" y="{height - 6}" font-size="11" fill="{colour}">'
            f"■ {escape(text)}</text>"
        )
    return _svg(width, height, title, body)
