"""The dashboard's web application (Starlette): pages, their JSON under /api/, live updates.

Every page is plain HTML that works with JavaScript off; ``static/live.js``
listens to ``/events`` (server-sent events) and swaps the page's main part when
the ledger changes. Every ``/api/`` route returns the same document as the CLI
read command it names (:mod:`plurictl.readouts`), or the page's own data.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from plurictl import readouts
from plurictl.dashboard import intake, model
from plurictl.dashboard.errors import DashboardInputError
from plurictl.dashboard.guard import DEVICE_COOKIE, VIEW_COOKIE, Access, Who
from plurictl.dashboard.live import LiveViews
from plurictl.dashboard.render import Renderer, asset
from plurictl.render.common import dumps

Handler = Callable[[Request], Awaitable[Response]]
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}
#: a tick for pages whose numbers depend on the clock (fuel estimates, countdowns)
TICK_S = 60.0
KEEPALIVE_S = 15.0


def now_ms() -> int:
    return int(time.time() * 1000)


class Dashboard:
    """The application's state: the live views, the access rules, the writer for intake."""

    def __init__(
        self, live: LiveViews, access: Access, writer: Any = None, *, stopping: Any = None
    ) -> None:
        self.live = live
        self.access = access
        self.writer = writer  # a ledger Home whose key signs intake readings
        self.render = Renderer(intake_on=access.intake)
        self.stopping = stopping or threading.Event()

    @property
    def home(self) -> Path:
        return self.live.home

    # --- access -----------------------------------------------------------------

    def gate(self, request: Request, *, api: bool = False) -> Who | Response:
        """Who asks, or the response that refuses them (403, or 429 after many wrong tokens)."""
        client = request.client.host if request.client else "?"
        if self.access.failures.spent(client):
            return self.refuse(request, 429, "Too many wrong tokens from here. Wait a minute.", api)
        token = request.query_params.get("t")
        if token is not None and self.access.view_token is not None:
            if not self.access.token_ok(token):
                self.access.failures.allow(client)
                return self.refuse(request, 403, "This access link is not valid (any more).", api)
            rest = {k: v for k, v in request.query_params.items() if k != "t"}
            target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
            response = RedirectResponse(target, status_code=303)
            _cookie(response, VIEW_COOKIE, token)
            return response
        who = self.access.who(request.cookies.get(VIEW_COOKIE), request.cookies.get(DEVICE_COOKIE))
        if who is None:
            self.access.failures.allow(client)
            return self.refuse(
                request,
                403,
                "This dashboard needs its access link: scan the QR code shown on the "
                "coordinator's laptop (or ask for a phone token).",
                api,
            )
        return who

    def refuse(self, request: Request, status: int, message: str, api: bool) -> Response:
        if api or request.url.path.startswith("/api/"):
            return Response(dumps({"error": message}), status, media_type="application/json")
        return self.render.page(
            request, "message.html", {"title": "Refused", "message": message}, status
        )

    # --- pages ------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        who = self.gate(request)
        if isinstance(who, Response):
            return who
        name = request.scope["route_name"]
        build = PAGES[name]
        snap, now = self.live.snapshot, now_ms()
        ctx = await asyncio.to_thread(build, self, snap, now)
        ctx.update(snap=snap, now_ms=now, who=who, page=name)
        return self.render.page(request, f"{name}.html", ctx)

    async def api(self, request: Request) -> Response:
        who = self.gate(request, api=True)
        if isinstance(who, Response):
            return who
        name = request.scope["route_name"]
        snap, now = self.live.snapshot, now_ms()
        try:
            data = await asyncio.to_thread(API[name], self, snap, now, request.path_params)
        except LookupError as e:
            return Response(
                dumps({"error": str(e.args[0] if e.args else e)}),
                404,
                media_type="application/json",
            )
        return Response(dumps(data), media_type="application/json")

    # --- live updates -------------------------------------------------------------

    async def events(self, request: Request) -> Response:
        who = self.gate(request, api=True)
        if isinstance(who, Response):
            return who
        return StreamingResponse(
            self._stream(), media_type="text/event-stream", headers={"x-accel-buffering": "no"}
        )

    async def _stream(self) -> AsyncIterator[str]:
        version = self.live.snapshot.version
        yield f"retry: 1000\nevent: hello\ndata: {version}\n\n"
        quiet = tick = time.monotonic()
        while not self.stopping.is_set():
            await asyncio.sleep(0.05)
            now = time.monotonic()
            current = self.live.snapshot.version
            if current != version or now - tick >= TICK_S:
                version, quiet, tick = current, now, now
                yield f"event: update\ndata: {version}\n\n"
            elif now - quiet >= KEEPALIVE_S:
                quiet = now
                yield ": still here\n\n"

    # --- files ------------------------------------------------------------------

    async def static(self, request: Request) -> Response:
        found = asset(request.path_params["name"])
        if found is None:
            return Response("not found", 404, media_type="text/plain")
        body, media = found
        return Response(body, media_type=media, headers={"cache-control": "max-age=300"})

    async def blob(self, request: Request) -> Response:
        who = self.gate(request)
        if isinstance(who, Response):
            return who
        path = intake.blob_path(self.home, request.path_params["name"])
        if path is None:
            return Response("not found", 404, media_type="text/plain")
        return Response(path.read_bytes(), media_type="image/jpeg")


def _cookie(response: Response, name: str, value: str) -> None:
    response.set_cookie(name, value, max_age=14 * 86400, httponly=True, samesite="strict", path="/")


# --- page and API builders (run in a worker thread) ----------------------------------


def _overview(d: Dashboard, snap: Any, now: int) -> dict[str, Any]:
    return model.overview(snap, d.live.me, now)


def _fuel(d: Dashboard, snap: Any, now: int) -> dict[str, Any]:
    from plurictl.dashboard.page_charts import fuel_charts

    data = model.fuel_page(snap, now)
    return {**data, "charts": snap.cached("fuel:charts", lambda: fuel_charts(data["sites"], now))}


def _plan(d: Dashboard, snap: Any, now: int) -> dict[str, Any]:
    from plurictl.dashboard.page_charts import plan_charts
    from plurictl.dashboard.plan_model import timed_plans

    plans = timed_plans(snap, now)
    return {"plans": plans, "charts": plan_charts(plans)}


def _votes(d: Dashboard, snap: Any, now: int) -> dict[str, Any]:
    return {"votes": snap.cached("votes:rows", lambda: model.vote_rows(snap, d.live.me))}


def _playbooks(d: Dashboard, snap: Any, now: int) -> dict[str, Any]:
    return {"runs": model.run_rows(snap, now)}


def _sheet(d: Dashboard, snap: Any, now: int) -> dict[str, Any]:
    return model.sheet(snap, d.live.me, now)


PAGES: dict[str, Callable[[Dashboard, Any, int], dict[str, Any]]] = {
    "overview": _overview,
    "fuel": _fuel,
    "plan": _plan,
    "votes": _votes,
    "playbooks": _playbooks,
    "sheet": _sheet,
}


def _find_vote(votes: Any, ref: str) -> Any:
    found = votes.find(ref.lower()) if votes is not None and len(ref) >= 4 else []
    if len(found) != 1:
        raise LookupError(f"no single vote matches {ref!r}")
    return found[0]


def _vote_status(d: Dashboard, snap: Any, now: int, params: dict[str, Any]) -> Any:
    """`vote status VOTE --json`, with last-heard (folded at most once per ledger change)."""
    from ledger.store import Store
    from ledger.votes import writer as votes_writer

    def fold() -> Any:
        with Store.open(d.home) as store:
            return votes_writer.load(store, heard=True)

    votes, roster = snap.cached("any:votes-heard", fold)
    vote = _find_vote(votes, params["vote"])
    with Store.open(d.home) as store:  # this laptop's seal, as `vote status` says it
        return readouts.vote_status(vote, votes, roster, store, d.home)


def _run_status(d: Dashboard, snap: Any, now: int, params: dict[str, Any]) -> Any:
    runs = snap.playbooks.matching(params["run"].lower()) if snap.playbooks else []
    if len(params["run"]) < 4 or len(runs) != 1:
        raise LookupError(f"no single run matches {params['run']!r}")
    return readouts.run_status(runs[0], now)


def _playbook_list(d: Dashboard, snap: Any, now: int, params: dict[str, Any]) -> Any:
    from ledger.playbooks.writer import catalogue
    from plurictl.commands.playbook import shipped_dir

    runs = readouts.playbook_runs(snap.playbooks) if snap.playbooks is not None else None
    return readouts.playbook_list(catalogue(shipped_dir()), shipped_dir(), runs)


def _health(d: Dashboard, snap: Any, now: int, params: dict[str, Any]) -> Any:
    return {
        "version": snap.version,
        "fold_seconds": snap.fold_seconds,
        "entries": snap.mesh.get("entries"),
        "errors": d.live.errors,
        "intake": d.access.intake,
    }


API: dict[str, Callable[[Dashboard, Any, int, dict[str, Any]], Any]] = {
    "api_overview": lambda d, s, n, p: _overview(d, s, n),
    "api_mesh": lambda d, s, n, p: s.mesh,
    "api_peers": lambda d, s, n, p: s.peers,
    "api_fuel": lambda d, s, n, p: model.fuel_status(s, n),
    "api_fuel_history": lambda d, s, n, p: s.cached(
        "fuel:history", lambda: model.reading_history(s.fuel)
    ),
    "api_plans": lambda d, s, n, p: readouts.plan_list(s.plans),
    "api_orders": lambda d, s, n, p: readouts.orders_list(s.plans),
    "api_plan": lambda d, s, n, p: _plan(d, s, n)["plans"],
    "api_votes": lambda d, s, n, p: readouts.vote_list(s.votes, s.roster),
    "api_vote": _vote_status,
    "api_vote_result": lambda d, s, n, p: readouts.vote_result(
        _find_vote(s.votes, p["vote"]), s.roster
    ),
    "api_playbooks": _playbook_list,
    "api_run": _run_status,
    "api_sheet": lambda d, s, n, p: _sheet(d, s, n),
    "api_health": _health,
}


DEVICES_DAMAGED = (
    "This laptop's list of phones (dashboard/devices.json) cannot be read. "
    "The coordinator runs `plurictl dashboard devices list` to see why."
)


def create_app(dash: Dashboard, *, allowed_hosts: list[str] | None = None) -> Starlette:
    """The Starlette application serving ``dash`` (the caller starts and stops the views)."""
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    from plurictl.dashboard.app_intake import intake_routes

    def named(path: str, endpoint: Handler, name: str, methods: list[str] | None = None) -> Route:
        async def handler(request: Request) -> Response:
            request.scope["route_name"] = name
            try:
                return await endpoint(request)
            except DashboardInputError:  # devices.json damaged while running
                return dash.refuse(request, 503, DEVICES_DAMAGED, False)

        return Route(path, handler, name=name, methods=methods or ["GET"])

    routes = [
        named("/", dash.page, "overview"),
        *(named(f"/{name}", dash.page, name) for name in PAGES if name != "overview"),
        named("/api/overview", dash.api, "api_overview"),
        named("/api/mesh", dash.api, "api_mesh"),
        named("/api/peers", dash.api, "api_peers"),
        named("/api/fuel", dash.api, "api_fuel"),
        named("/api/fuel/history", dash.api, "api_fuel_history"),
        named("/api/plans", dash.api, "api_plans"),
        named("/api/orders", dash.api, "api_orders"),
        named("/api/plan", dash.api, "api_plan"),
        named("/api/votes", dash.api, "api_votes"),
        named("/api/votes/{vote}", dash.api, "api_vote"),
        named("/api/votes/{vote}/result", dash.api, "api_vote_result"),
        named("/api/playbooks", dash.api, "api_playbooks"),
        named("/api/playbooks/{run}", dash.api, "api_run"),
        named("/api/sheet", dash.api, "api_sheet"),
        named("/api/health", dash.api, "api_health"),
        named("/events", dash.events, "events"),
        named("/static/{name}", dash.static, "static"),
        named("/blobs/{name}", dash.blob, "blob"),
        *intake_routes(dash, named),
    ]
    middleware = [Middleware(SecurityHeaders)]
    if allowed_hosts:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts))
    app = Starlette(routes=routes, middleware=middleware)
    app.state.dashboard = dash
    return app


class SecurityHeaders:
    """Adds :data:`SECURITY_HEADERS` to every response (streams included)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [
                    (k.encode(), v.encode())
                    for k, v in SECURITY_HEADERS.items()
                    if k.encode() not in present
                ]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)
