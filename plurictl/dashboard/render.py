"""HTML from the package's Jinja2 templates (autoescaped), and the package's own assets.

Only files listed in :data:`ASSETS` are ever served from ``static/``: a request
names an asset, never a path.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

from plurictl.dashboard import timefmt

ASSETS = {
    "dashboard.css": "text/css; charset=utf-8",
    "live.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}


@functools.cache
def asset(name: str) -> tuple[bytes, str] | None:
    """(bytes, media type) of a shipped asset, or None for any other name."""
    media = ASSETS.get(name)
    if media is None:
        return None
    return resources.files("plurictl.dashboard").joinpath("static").joinpath(
        name
    ).read_bytes(), media


def litres(value: Any) -> str:
    return "-" if value is None else f"{float(value):,.0f} L"


def number(value: Any, digits: int = 0) -> str:
    return "-" if value is None else f"{float(value):,.{digits}f}"


#: keys that `orders --json` and the Plan page add to a plan's own order
ADDED_ORDER_KEYS = frozenset(
    {"plan", "status", "acks", "deviations", "start_ms", "until_ms", "due_soon", "overdue"}
)


def order_text(order: dict[str, Any]) -> str:
    """An order in plain words, as `plurictl orders` words it."""
    from plurictl.commands.orders import describe

    return describe({k: v for k, v in order.items() if k not in ADDED_ORDER_KEYS})


class Renderer:
    """The template environment of one dashboard."""

    def __init__(self, *, intake_on: bool = False) -> None:
        import jinja2

        self.env = jinja2.Environment(
            loader=jinja2.PackageLoader("plurictl.dashboard", "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(
            local=lambda ms, now=None: timefmt.local(ms, now_ms=now),
            hlc=lambda h, now=None: timefmt.hlc_local(h, now_ms=now),
            duration=timefmt.duration,
            hours=lambda h: timefmt.duration(None if h is None else h * 3600),
            litres=litres,
            number=number,
            short=lambda s, n=8: str(s or "")[:n],
            order_text=order_text,
        )
        self.env.globals.update(intake_on=intake_on)

    def html(self, template: str, ctx: dict[str, Any]) -> str:
        return self.env.get_template(template).render(ctx)

    def main_part(self, template: str, ctx: dict[str, Any]) -> str:
        """Only the page's ``main`` block: what live updates swap in."""
        tmpl = self.env.get_template(template)
        return "".join(tmpl.blocks["main"](tmpl.new_context(ctx)))

    def page(
        self, request: Request, template: str, ctx: dict[str, Any], status: int = 200
    ) -> HTMLResponse:
        ctx = {"title": "", "page": "", "now_ms": None, "snap": None, **ctx}
        snap = ctx.get("snap")
        headers = {"x-version": str(snap.version)} if snap is not None else {}
        if request.headers.get("x-partial") == "1":
            return HTMLResponse(self.main_part(template, ctx), status, headers=headers)
        return HTMLResponse(self.html(template, ctx), status, headers=headers)
