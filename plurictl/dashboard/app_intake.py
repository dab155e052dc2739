"""Phone intake routes: pair a phone (`/pair?d=TOKEN`), and the fuel reading form (`/intake`).

Writing needs all of: the dashboard started with ``--intake``, a device token
that is not revoked (from the pairing cookie), the form's own check value, and
the device's rate limit. Bad input re-shows the form with the reason and writes
nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from plurictl.dashboard import intake
from plurictl.dashboard.errors import DashboardInputError
from plurictl.dashboard.formread import read_form
from plurictl.dashboard.guard import DEVICE_COOKIE
from plurictl.dashboard.plan_model import adopted_plans
from plurictl.errors import handled_errors

if TYPE_CHECKING:
    from plurictl.dashboard.app import Dashboard


def known_sites(snap: Any) -> tuple[list[str], list[str]]:
    """(sites, tanks) a reading may name: those of the fuel view and the adopted plans."""
    sites: set[str] = set(snap.fuel.sites) if snap.fuel is not None else set()
    tanks: set[str] = {"main"}
    if snap.fuel is not None:
        tanks |= {t for s in snap.fuel.sites.values() for t in s.tanks}
    for plan in snap.cached("plans:adopted", lambda: adopted_plans(snap.plans)):
        for t in plan["tanks"]:
            if t["site"]:
                sites.add(str(t["site"]))
            key = str(t["key"])
            if "/" in key:
                tanks.add(key.split("/", 1)[1])
    return sorted(sites), sorted(tanks)


def intake_routes(dash: Dashboard, named: Callable[..., Route]) -> list[Route]:
    async def pair(request: Request) -> Response:
        client = request.client.host if request.client else "?"
        if dash.access.failures.spent(client):
            return dash.refuse(
                request, 429, "Too many wrong tokens from here. Wait a minute.", False
            )
        device = dash.access.devices.match(request.query_params.get("d"))
        if device is None:
            dash.access.failures.allow(client)
            return dash.refuse(request, 403, "This phone link is not valid (any more).", False)
        response = RedirectResponse("/intake" if dash.access.intake else "/", status_code=303)
        response.set_cookie(
            DEVICE_COOKIE,
            str(request.query_params.get("d")),
            max_age=90 * 86400,
            httponly=True,
            samesite="strict",
            path="/",
        )
        return response

    async def form(request: Request) -> Response:
        if not dash.access.intake:
            return dash.refuse(
                request,
                403,
                "Phone intake is off. The coordinator starts it with "
                "`plurictl dashboard --lan --intake`.",
                False,
            )
        client = request.client.host if request.client else "?"
        if dash.access.failures.spent(client):
            return dash.refuse(
                request, 429, "Too many wrong tokens from here. Wait a minute.", False
            )
        presented = request.cookies.get(DEVICE_COOKIE)
        device = dash.access.devices.match(presented)
        if device is None:
            if presented:  # a wrong token counts toward the lockout, as on every route
                dash.access.failures.allow(client)
            return dash.refuse(
                request,
                403,
                "This phone may not send readings. Ask the coordinator for a phone link "
                "(`plurictl dashboard devices add LABEL`).",
                False,
            )
        if request.method == "POST":
            return await _post(dash, request, device)
        done = request.query_params.get("done")
        return _form(dash, request, device, {}, message=done and f"Recorded, entry {done[:12]}.")

    return [named("/pair", pair, "pair"), named("/intake", form, "intake", ["GET", "POST"])]


def _form(
    dash: Dashboard,
    request: Request,
    device: Any,
    values: dict[str, Any],
    *,
    message: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    snap = dash.live.snapshot
    sites, tanks = known_sites(snap)
    ctx = {
        "title": "Fuel reading",
        "page": "intake",
        "snap": snap,
        "device": device,
        "csrf": dash.access.csrf(device),
        "sites": sites,
        "tanks": tanks,
        "values": {k: intake.printable(str(v)) for k, v in values.items()},
        "message": message,
        "error": error,
    }
    return dash.render.page(request, "intake.html", ctx, status)


async def _post(dash: Dashboard, request: Request, device: Any) -> Response:
    """Record a reading; only an accepted one counts toward the phone's rate limit."""
    if not dash.access.writes.allow(device.label):
        return _form(
            dash,
            request,
            device,
            {},
            error="Too many readings from this phone: wait a minute.",
            status=429,
        )
    response = await _record(dash, request, device)
    if response.status_code != 303:  # refused: nothing written, the reading is not counted
        dash.access.writes.refund(device.label)
    return response


async def _record(dash: Dashboard, request: Request, device: Any) -> Response:
    length = request.headers.get("content-length")
    if length is None or not length.isdigit() or int(length) > intake.MAX_UPLOAD + 65536:
        return _form(
            dash, request, device, {}, error="The photo is too large (12 MB at most).", status=413
        )
    try:
        values, photo = await read_form(request, max_fields=10, max_part_size=intake.MAX_UPLOAD)
    except DashboardInputError as e:
        return _form(dash, request, device, {}, error=str(e), status=400)
    except Exception as e:  # malformed multipart: the parser's own errors vary
        return _form(
            dash, request, device, {}, error=f"The form could not be read: {e}", status=400
        )
    if not dash.access.csrf_ok(device, values.get("csrf")):
        return _form(
            dash, request, device, values, error="This form is stale: send it again.", status=400
        )
    sites, _ = known_sites(dash.live.snapshot)
    try:
        reading = intake.parse(values, photo, sites)
        entry = await asyncio.to_thread(intake.submit, dash.writer, reading, device.label)
    except DashboardInputError as e:
        return _form(dash, request, device, values, error=str(e), status=400)
    except handled_errors() as e:  # role, store or key problems
        message = str(e.args[0]) if e.args else type(e).__name__
        return _form(dash, request, device, values, error=f"Not recorded: {message}", status=400)
    dash.live.poke()
    return RedirectResponse(f"/intake?done={entry.id.hex()[:12]}", status_code=303)
