"""The dashboard's HTTP surface on a 5-node drill's ledger: every page and API route,
the API equal to the CLI's --json, access tokens, files, headers, escaping."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")
from starlette.testclient import TestClient

from tests.conftest import Invoke, json_out
from tests.dashboard_ledger import copy_home, dashboard_app

BASE = "http://127.0.0.1"


@pytest.fixture
def alice(quickstart_nodes: Path, tmp_path: Path) -> Path:
    return copy_home(quickstart_nodes, "alice", tmp_path)


@pytest.fixture
def client(alice: Path) -> Iterator[TestClient]:
    app, dash = dashboard_app(alice)
    with TestClient(app, base_url=BASE) as c:
        yield c
    dash.live.stop()


def api(client: TestClient, path: str) -> Any:
    r = client.get(path)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    return r.json()


def cli_json(invoke: Invoke, home: Path, *args: str) -> Any:
    return json_out(invoke(home, *args, "--json"))


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", ["quickstart", "15,000", "EG7V"]),
        ("/fuel", ["alpha", "15,000", "4,000", "2,500", "50,000"]),
        ("/plan", ["three-bases", "Served load by tier", "charlie-hangar"]),
        ("/votes", ["Adopt the fuel plan for the next 24 hours?", "FINAL", "3 of 3"]),
        ("/playbooks", ["Emergency fuel resupply of a hospital", "3 of 9 steps"]),
        ("/sheet", ["Status", "quickstart", "15,000"]),
    ],
)
def test_pages_show_the_drills_numbers(client: TestClient, path: str, expected: list[str]) -> None:
    r = client.get(path)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    for text in expected:
        if text == "EG7V":
            text = api(client, "/api/mesh")["fingerprint"]
        assert text in r.text, (path, text)


def test_api_documents_equal_the_cli_json(client: TestClient, alice: Path, invoke: Invoke) -> None:
    """Same library functions as the CLI: the documents are identical."""
    vote = cli_json(invoke, alice, "vote", "list")["votes"][0]["id"]
    run = cli_json(invoke, alice, "playbook", "list")["runs"][0]["id"]
    pairs = {
        "/api/fuel": ("fuel", "status"),
        "/api/orders": ("orders",),
        "/api/plans": ("plan", "list"),
        "/api/votes": ("vote", "list"),
        f"/api/votes/{vote[:8]}": ("vote", "status", vote[:8]),
        f"/api/votes/{vote[:8]}/result": ("vote", "result", vote[:8]),
        "/api/playbooks": ("playbook", "list"),
        "/api/mesh": ("mesh", "show"),
        "/api/peers": ("peers",),
    }
    for path, args in pairs.items():
        assert api(client, path) == cli_json(invoke, alice, *args), path
    mine, theirs = (
        api(client, f"/api/playbooks/{run[:8]}"),
        cli_json(invoke, alice, "playbook", "status", run[:8]),
    )
    assert {**mine, "now_ms": 0} == {**theirs, "now_ms": 0}  # holds counted at each one's now


def test_page_apis(client: TestClient) -> None:
    overview = api(client, "/api/overview")
    assert overview["mesh"]["name"] == "quickstart"
    assert {s["site"] for s in overview["fuel"]} == {"alpha", "bravo", "charlie", "depot"}
    assert overview["waiting"] == {"they_lack": 0, "we_lack": 0}
    texts = [b["text"] for b in overview["banners"]]
    assert any(t.startswith("charlie: about") for t in texts), texts  # < 24 h at the plan's burn
    plan = api(client, "/api/plan")
    (adopted,) = plan
    assert adopted["via"] == "vote" and adopted["scenario"] == "three-bases"
    assert len(adopted["tiers"]) == 8 and {s["load"] for s in adopted["shed"]} == {
        "charlie-hangar",
        "charlie-housing",
    }
    assert all(s["lines"] for s in adopted["shed"])
    history = api(client, "/api/fuel/history")
    assert history["alpha"]["main"][0]["litres"] == 15000.0
    sheet = api(client, "/api/sheet")
    assert sheet["mesh"]["name"] == "quickstart" and sheet["votes"][0]["state"] == "FINAL"
    health = api(client, "/api/health")
    assert health["entries"] == 31 and health["errors"] == []  # 25 + 3 futures x (part, propose)


def test_unknown_ids_are_404_json(client: TestClient) -> None:
    for path in ("/api/votes/ffff", "/api/votes/ab", "/api/playbooks/0000", "/api/votes/zz/result"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert "error" in r.json()


def test_partial_requests_get_the_main_part_only(client: TestClient) -> None:
    r = client.get("/fuel", headers={"X-Partial": "1"})
    assert r.status_code == 200
    assert "<html" not in r.text and "alpha" in r.text
    assert r.headers["x-version"].isdigit()


def test_security_headers_and_host_check(client: TestClient) -> None:
    r = client.get("/")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert client.get("/", headers={"host": "evil.example"}).status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        "/static/../pyproject.toml",
        "/static/%2e%2e%2fpyproject.toml",
        "/static/..%2F..%2Fledger.db",
        "/static/templates",
        "/static/base.html",
        "/blobs/identity.json",
        "/blobs/..%2Fidentity.json",
        "/blobs/%2e%2e%2fledger.db",
        "/blobs/" + "0" * 64 + ".jpg",
        "/blobs/" + "g" * 64 + ".jpg",
        "/../identity.json",
    ],
)
def test_no_file_outside_the_assets_and_blobs(client: TestClient, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404, (path, r.status_code)
    assert b"secret" not in r.content and b"SQLite" not in r.content


def test_shipped_assets_are_served(client: TestClient) -> None:
    css = client.get("/static/dashboard.css")
    assert css.status_code == 200 and "@page" in css.text
    js = client.get("/static/live.js")
    assert js.status_code == 200 and "EventSource" in js.text


def test_lan_mode_needs_the_access_token(alice: Path) -> None:
    app, dash = dashboard_app(alice, view_token="right-token")
    with TestClient(app, base_url=BASE, follow_redirects=False) as c:
        refused = c.get("/")
        assert refused.status_code == 403 and "access link" in refused.text
        assert "quickstart" not in refused.text  # nothing of the mesh leaks
        assert c.get("/api/fuel").status_code == 403
        assert c.get("/events").status_code == 403
        assert c.get("/fuel?t=wrong-token").status_code == 403
        ok = c.get("/fuel?t=right-token")
        assert ok.status_code == 303 and ok.headers["location"] == "/fuel"
        assert "httponly" in ok.headers["set-cookie"].lower()
        assert c.get("/fuel").status_code == 200  # the cookie now carries the token
        assert c.get("/api/fuel").status_code == 200
    dash.live.stop()


def test_many_wrong_tokens_are_refused_for_a_while(alice: Path) -> None:
    app, dash = dashboard_app(alice, view_token="right-token")
    with TestClient(app, base_url=BASE, follow_redirects=False) as c:
        codes = [c.get(f"/?t=guess{i}").status_code for i in range(12)]
        assert codes[:10] == [403] * 10 and codes[-1] == 429
        assert c.get("/?t=right-token").status_code == 429  # even the right one, for now
    dash.live.stop()


def test_a_fuel_note_with_markup_renders_as_text(alice: Path, invoke: Invoke) -> None:
    """Entry bodies are untrusted: a note or a site name with markup is shown, not run."""
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    r = invoke(alice, "fuel", "report", "alpha", "--litres", "14000", "--note", evil)
    assert r.exit_code == 0, r.output
    r = invoke(alice, "fuel", "report", "<b>bold</b>", "--litres", "10")
    assert r.exit_code == 0, r.output
    app, dash = dashboard_app(alice)
    with TestClient(app, base_url=BASE) as c:
        for path in ("/", "/fuel", "/sheet", "/plan"):
            body = c.get(path).text
            assert "<script>alert" not in body and "<img src=x" not in body, path
            assert "<b>bold</b>" not in body, path
        page = c.get("/fuel").text
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in page
        assert "&lt;b&gt;bold&lt;/b&gt;" in page
        data = c.get("/api/fuel")  # JSON keeps the text as it is, and is never sniffed as HTML
        assert data.headers["content-type"] == "application/json"
        assert data.headers["x-content-type-options"] == "nosniff"
        notes = [r["note"] for s in data.json()["sites"] for k in s["tanks"] for r in k["current"]]
        assert evil in notes
    dash.live.stop()


def test_write_routes_need_intake_and_a_device(alice: Path) -> None:
    app, dash = dashboard_app(alice)  # intake off
    with TestClient(app, base_url=BASE) as c:
        assert c.get("/intake").status_code == 403
        assert c.post("/intake", data={"site": "alpha", "litres": "1"}).status_code == 403
        for path in ("/", "/fuel", "/api/fuel", "/api/votes"):
            assert c.post(path).status_code == 405, path
    dash.live.stop()


def test_orders_read_as_the_planners_sentences(client: TestClient) -> None:
    """The Plan page and the sheet word an order as `plurictl orders` does: the planner's
    one sentence (what, from where, to where, how much, by when), never a raw field."""
    from plurictl.dashboard.render import order_text

    orders = api(client, "/api/orders")
    assert orders
    for o in orders:
        assert o["text"] and order_text(o) == o["text"], o
        assert "None" not in o["text"] and "limit:" not in o["text"], o["text"]
    sends = [o for o in orders if o["kind"] == "send"]
    assert all(o["route"] in o["text"] and o["to_tank"] in o["text"] for o in sends), sends
