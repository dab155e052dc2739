"""The dashboard in a real browser: Debian's chromium driven by Playwright (no browser is
ever downloaded), on the ledger of a 5-node drill.

Screenshots are kept in ``test-artefacts/dashboard/`` (not committed). Skipped, with a
message, only where chromium is not installed (`apt-get install chromium`).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard_ledger import copy_home, dashboard_app

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artefacts" / "dashboard"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed (Debian: apt-get install chromium chromium-driver)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def site(quickstart_nodes: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A dashboard served over a copy of alice's home from the drill (one per module)."""
    from plurictl.dashboard.server import BackgroundServer

    home = copy_home(quickstart_nodes, "alice", tmp_path_factory.mktemp("dash"))
    _add_injection(home)
    app, dash = dashboard_app(home, watch=True)
    with BackgroundServer(app) as server:
        server.home = home  # type: ignore[attr-defined]
        yield server
    dash.live.stop()


EVIL = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


def _add_injection(home: Path) -> None:
    from ledger.fuel import writer as fuel
    from ledger.home import Home

    with Home(home) as h:
        fuel.report(h.store, h.identity, "alpha", 14800, note=EVIL)


def shot(page: Any, name: str) -> Path:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTEFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    p = context.new_page()
    dialogs: list[str] = []
    p.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    p.dialogs = dialogs  # type: ignore[attr-defined]
    yield p
    context.close()


def test_overview_loads_with_numbers(site: Any, page: Any) -> None:
    page.goto(site.url + "/")
    text = page.inner_text("main")
    assert "quickstart" in text and "14,800" in text and "50,000" in text
    assert "alice" in text and "Peers" in text
    assert re.search(r"charlie: about \d+ h", text)  # the low-fuel banner
    shot(page, "overview")


@pytest.mark.parametrize(
    ("path", "numbers"),
    [
        ("/fuel", ["14,800", "4,000", "2,500", "50,000", "Transfers in flight"]),
        ("/plan", ["three-bases", "charlie-hangar", "Orders due in the next 12 hours"]),
        ("/votes", ["FINAL", "3 of 3", "Adopt the plan"]),
        ("/playbooks", ["3 of 9 steps", "Hours of fuel left at the hospital"]),
    ],
)
def test_each_page_shows_its_key_numbers(
    site: Any, page: Any, path: str, numbers: list[str]
) -> None:
    page.goto(site.url + path)
    text = page.inner_text("main")
    for n in numbers:
        assert n in text, (path, n)
    if path in ("/fuel", "/plan"):
        assert page.locator("main svg.chart").count() >= 2
    shot(page, path.strip("/"))


def test_a_note_with_a_script_is_shown_as_text(site: Any, page: Any) -> None:
    page.goto(site.url + "/fuel")
    page.wait_for_timeout(300)  # give an injected handler every chance to run
    assert page.evaluate("window.__pwned") is None
    assert page.dialogs == []
    assert "<script>window.__pwned = 1</script>" in page.inner_text("main")
    assert page.locator("main script").count() == 0 and page.locator("main img").count() == 0


def test_phone_viewport(site: Any, browser: Any) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    page = context.new_page()
    for path in ("/", "/fuel"):
        page.goto(site.url + path)
        assert "14,800" in page.inner_text("main")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} is {width} px wide on a 390 px phone"
        shot(page, f"phone{path.replace('/', '-') or '-overview'}")
    context.close()


def test_pages_work_with_javascript_off(site: Any, browser: Any) -> None:
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 1280, "height": 900}
    )
    page = context.new_page()
    for path, text in (("/", "14,800"), ("/plan", "charlie-hangar"), ("/votes", "FINAL")):
        page.goto(site.url + path)
        assert text in page.inner_text("main"), path
    assert page.locator("main svg.chart").count() == 0  # the votes page has none; plan had
    page.goto(site.url + "/plan")
    assert page.locator("main svg.chart").count() >= 2  # charts are drawn on the laptop
    context.close()


def test_print_sheet_is_one_a4_page(site: Any, page: Any) -> None:
    page.goto(site.url + "/sheet")
    page.emulate_media(media="print")
    assert "Next orders" in page.inner_text("main")
    assert page.locator("header.top").count() == 0
    pdf = page.pdf(format="A4", print_background=True)
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    (ARTEFACTS / "sheet.pdf").write_bytes(pdf)
    assert pages == 1, f"the sheet printed on {pages} pages"
    shot(page, "sheet")


def test_token_refusal(quickstart_nodes: Path, tmp_path: Path, page: Any) -> None:
    from plurictl.dashboard.server import BackgroundServer

    home = copy_home(quickstart_nodes, "alice", tmp_path)
    app, dash = dashboard_app(home, view_token="field-token-123")
    try:
        with BackgroundServer(app) as server:
            refused = page.goto(server.url + "/fuel")
            assert refused.status == 403
            assert "needs its access link" in page.inner_text("main")
            assert "alpha" not in page.content()
            page.goto(server.url + "/fuel?t=wrong")
            assert "not valid" in page.inner_text("main")
            page.goto(server.url + "/fuel?t=field-token-123")
            assert page.url == server.url + "/fuel"  # the token left the address bar
            assert "15,000" in page.inner_text("main")
            shot(page, "token-accepted")
    finally:
        dash.live.stop()


def test_live_update_when_an_entry_arrives_over_the_mesh(
    quickstart_nodes: Path, tmp_path: Path, page: Any
) -> None:
    """bob reports fuel on his laptop; alice's node receives it; alice's open page shows it."""
    from ledger.fuel import writer as fuel
    from ledger.home import Home
    from ledger.store import Store
    from plurictl.cluster import ClusterNode, LocalCluster, free_port
    from plurictl.dashboard.server import BackgroundServer

    homes = {n: copy_home(quickstart_nodes, n, tmp_path) for n in ("alice", "bob")}
    for home in homes.values():
        (home / "peers.json").unlink()  # the drill's addresses: these copies listen elsewhere
    with LocalCluster(tmp_path, interval=0.3) as cluster:
        for name, home in homes.items():
            key = Home(home).public_key()[1]
            cluster.nodes[name] = ClusterNode(name, home, free_port(), key)
        cluster.start("alice", peers=[])
        cluster.start("bob")
        app, dash = dashboard_app(homes["alice"], watch=True)
        try:
            with BackgroundServer(app) as server:
                page.goto(server.url + "/fuel")
                page.locator("#live-state", has_text="Live").wait_for(timeout=15_000)
                with Home(homes["bob"]) as bob:
                    fuel.report(bob.store, bob.identity, "bravo", 12345)
                cluster.nudge("bob")
                arrived = _wait_for_entry(homes["alice"], Store)
                page.locator("main").get_by_text("12,345").first.wait_for(timeout=15_000)
                shown = time.monotonic() - arrived
                shot(page, "live-update")
        finally:
            dash.live.stop()
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    (ARTEFACTS / "live-update.json").write_text(json.dumps({"arrival_to_page_s": shown}))
    assert shown < 3.0, f"the page showed the entry {shown:.2f} s after it arrived"


def _wait_for_entry(home: Path, store_cls: Any, timeout: float = 30.0) -> float:
    """The moment bob's reading is in alice's ledger (polled every 10 ms)."""
    deadline = time.monotonic() + timeout
    with store_cls.open(home) as store:
        while time.monotonic() < deadline:
            if any(e.body.get("litres") == 12345 for e in store.entries(kinds=["fuel.report"])):
                return time.monotonic()
            time.sleep(0.01)
    raise AssertionError("bob's reading never reached alice's ledger")
