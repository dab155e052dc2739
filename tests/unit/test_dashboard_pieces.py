"""Pure pieces of the dashboard: which views an entry makes stale, the site-by-site fuel
fold (equal to the full fold in any arrival order), rate limits, tokens, time, charts."""

from __future__ import annotations

import hmac
import io
import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.fuel import view as fuel_view
from ledger.testing import T0, MeshFixture

pytest.importorskip("markupsafe")


def test_stale_views() -> None:
    from plurictl.dashboard.live import VIEWS, stale_views

    assert stale_views(["note"], roster_changed=False) == set()
    assert stale_views(["fuel.report"], roster_changed=False) == {"fuel", "playbooks"}
    assert stale_views(["vote.ballot"], roster_changed=False) == {"votes", "plans", "playbooks"}
    assert stale_views(["order.ack"], roster_changed=False) == {"plans", "playbooks"}
    assert stale_views(["playbook.sign"], roster_changed=False) == {"playbooks"}
    assert stale_views([], roster_changed=True) == set(VIEWS)


# --- the fuel view folded site by site ------------------------------------------------

SITES = ["north", "south", "depot", " spaced "]


def _fuel_entries(ops: list[tuple[Any, ...]]) -> tuple[list[Any], Any]:
    """Signed fuel entries from drawn operations (readings, burn rates, transfers)."""
    mesh = MeshFixture.create(
        "alice", {"bob": ["operator"], "carol": ["operator"], "dave": ["coordinator", "operator"]}
    )
    out: list[Any] = []
    last: dict[tuple[str, str], str] = {}
    transfers: list[str] = []
    for i, op in enumerate(ops):
        hlc = T0 + (i + 1) * (60_000 << 16)
        who = op[1]
        if op[0] == "read":
            site, tank, litres, sees = op[2], op[3], op[4], op[5]
            prev = last.get((site, tank))
            body = {
                "site": site,
                "tank": tank,
                "litres": litres,
                "supersedes": [prev] if prev and sees else [],
            }
            e = mesh.write(who, "fuel.report", body, hlc=hlc)
            last[(site, tank)] = e.id.hex()
        elif op[0] == "burn":
            e = mesh.write(
                who, "fuel.consumption", {"site": op[2], "litres_per_hour": op[3]}, hlc=hlc
            )
        elif op[0] == "plan":
            body = {"op": "plan", "from": "depot", "to": op[2], "litres": op[3], "tank": "main"}
            e = mesh.write("dave", "fuel.transfer", body, hlc=hlc)
            transfers.append(e.id.hex())
        else:
            if not transfers:
                continue
            body = {"op": op[2], "transfer": transfers[op[3] % len(transfers)], "litres": op[4]}
            e = mesh.write(who, "fuel.transfer", body, hlc=hlc)
        out.append(e)
    return out, mesh.roster()


people = st.sampled_from(["bob", "carol", "dave", "alice"])
ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("read"),
            people,
            st.sampled_from(SITES),
            st.sampled_from(["main", "day"]),
            st.floats(0, 5000, allow_nan=False),
            st.booleans(),
        ),
        st.tuples(st.just("burn"), people, st.sampled_from(SITES), st.floats(0, 100)),
        st.tuples(st.just("plan"), people, st.sampled_from(SITES[:2]), st.floats(1, 900)),
        st.tuples(
            st.just("step"),
            people,
            st.sampled_from(["dispatch", "receive"]),
            st.integers(0, 5),
            st.floats(0, 900),
        ),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=ops, cuts=st.lists(st.integers(0, 30), max_size=6), seed=st.randoms())
def test_site_by_site_fuel_fold_equals_the_full_fold(ops: Any, cuts: Any, seed: Any) -> None:
    """Entries arriving in any order and batches give the state `fuel status` computes."""
    from plurictl.dashboard.fuel_cache import FuelCache

    entries, roster = _fuel_entries(ops)
    shuffled = list(entries)
    seed.shuffle(shuffled)
    bounds = sorted({0, len(shuffled), *(c for c in cuts if c < len(shuffled))})
    cache = FuelCache()
    cache.reload(shuffled[: bounds[1]] if len(bounds) > 1 else [], roster)
    for a, b in itertools.pairwise(bounds[1:]):
        cache.add(shuffled[a:b], roster)
    expected = fuel_view.fold(entries, roster)
    assert cache.state.to_json() == expected.to_json()
    now = T0 >> 16
    assert {n: s.estimate(now) for n, s in cache.state.sites.items()} == {
        n: s.estimate(now) for n, s in expected.sites.items()
    }


# --- access ----------------------------------------------------------------------------


def test_rate_limiter_refills_with_time() -> None:
    from plurictl.dashboard.guard import RateLimiter

    now = [0.0]
    limit = RateLimiter(per_minute=6, burst=2, clock=lambda: now[0])
    assert [limit.allow("a") for _ in range(3)] == [True, True, False]
    assert limit.allow("b")  # per key
    assert limit.spent("a")
    now[0] += 10  # one token per 10 s
    assert limit.allow("a") and not limit.allow("a")


def test_device_tokens_are_compared_in_constant_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from plurictl.dashboard import devices as devices_mod
    from plurictl.dashboard.devices import DeviceBook

    book = DeviceBook(tmp_path)
    tokens = [book.add(f"phone {i}")[1] for i in range(3)]
    book.revoke("phone 1")
    calls: list[int] = []
    real = hmac.compare_digest

    def counting(a: Any, b: Any) -> bool:
        calls.append(1)
        return real(a, b)

    monkeypatch.setattr(devices_mod.hmac, "compare_digest", counting)
    assert book.match(tokens[0]).label == "phone 0"
    assert len(calls) == 3  # every device compared, the match first or not
    assert book.match(tokens[1]) is None  # revoked
    assert book.match(tokens[2][:-1] + "x") is None
    assert book.match("") is None and book.match("a" * 500) is None


def test_access_token_and_form_check(tmp_path: Path) -> None:
    from plurictl.dashboard.devices import DeviceBook
    from plurictl.dashboard.guard import Access

    book = DeviceBook(tmp_path)
    device, token = book.add("p")
    lan = Access(book, view_token="secret-1")
    assert lan.who(None, None) is None
    assert lan.who("secret-2", None) is None
    assert lan.who("secret-1", None).kind == "token"
    assert lan.who(None, token).kind == "device"
    local = Access(book)
    assert local.who(None, None).kind == "local"
    assert local.csrf_ok(device, local.csrf(device))
    assert not local.csrf_ok(device, None) and not lan.csrf_ok(device, local.csrf(device))


# --- intake pieces -----------------------------------------------------------------------


def test_blob_names_never_leave_the_blob_folder(tmp_path: Path) -> None:
    from plurictl.dashboard.intake import blob_path

    good = "a" * 64
    (tmp_path / "blobs").mkdir()
    (tmp_path / "blobs" / f"{good}.jpg").write_bytes(b"x")
    assert blob_path(tmp_path, f"{good}.jpg") == tmp_path / "blobs" / f"{good}.jpg"
    for bad in (
        "../ledger.db",
        f"{good}.png",
        f"{good.upper()}.jpg",
        f"../{good}.jpg",
        "b" * 64 + ".jpg",
    ):
        assert blob_path(tmp_path, bad) is None, bad


def test_photos_are_shrunk_upright_and_without_exif() -> None:
    from PIL import Image

    from plurictl.dashboard.errors import DashboardInputError
    from plurictl.dashboard.intake import shrink_photo

    img = Image.new("RGB", (400, 2600), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated: shown 2600 wide
    out = io.BytesIO()
    img.save(out, "PNG", exif=exif)
    with Image.open(io.BytesIO(shrink_photo(out.getvalue()))) as small:
        assert small.format == "JPEG" and small.size == (1280, 197)
        assert not small.getexif()
    with pytest.raises(DashboardInputError):
        shrink_photo(b"GIF89a not really")


# --- time and charts ---------------------------------------------------------------------


def test_burn_from_readings_ignores_deliveries() -> None:
    from plurictl.dashboard.model import burn_from_readings

    h = 3_600_000
    now = 100 * h
    points = [
        {"time_ms": now - 10 * h, "litres": 1000.0},
        {"time_ms": now - 8 * h, "litres": 800.0},  # 100 L/h
        {"time_ms": now - 7 * h, "litres": 3000.0},  # a delivery: not burn
        {"time_ms": now - 5 * h, "litres": 2800.0},  # 100 L/h
    ]
    assert burn_from_readings(points, now) == pytest.approx(100.0)
    assert burn_from_readings(points[:1], now) is None
    assert burn_from_readings([{"time_ms": now - 100 * h, "litres": 5.0}, *points[:1]], now) is None


def test_orders_due_and_overdue() -> None:
    from plurictl.dashboard.plan_model import with_time

    h = 3_600_000
    start = 1_000 * h
    plan = {
        "start_ms": start,
        "end_ms": start + 24 * h,
        "orders": [
            {"order_id": "a", "start_ms": start, "until_ms": start + 3 * h, "status": "open"},
            {"order_id": "b", "start_ms": start + 6 * h, "until_ms": None, "status": "open"},
            {"order_id": "c", "start_ms": start + 20 * h, "until_ms": None, "status": "open"},
            {"order_id": "d", "start_ms": start, "until_ms": None, "status": "acknowledged"},
        ],
    }
    now = with_time(plan, start + h)
    flags = {o["order_id"]: (o["due_soon"], o["overdue"]) for o in now["orders"]}
    assert now["horizon_state"] == "now"
    assert flags == {"a": (True, True), "b": (True, False), "c": (False, False), "d": (True, False)}
    ended = with_time(plan, start + 48 * h)
    assert ended["horizon_state"] == "ended" and not any(o["overdue"] for o in ended["orders"])
    assert with_time(plan, start - h)["horizon_state"] == "ahead"


def test_durations() -> None:
    from plurictl.dashboard.timefmt import duration, parse_label

    assert duration(None) == "-"
    assert duration(45) == "45 s" and duration(600) == "10 min"
    assert duration(3 * 3600 + 5 * 60) == "3 h 05 min"
    assert duration(50 * 3600) == "2 d 2 h"
    assert parse_label("2025-09-14 06:00") == parse_label("2025-09-14T06:00")
    assert parse_label("soon") is None and parse_label(None) is None


def test_chart_labels_are_escaped() -> None:
    from plurictl.dashboard.charts import level_chart, tier_bars

    svg = level_chart(
        [{"label": "<script>x()</script>", "points": [(0, 1.0, False), (1, 2.0, True)]}],
        title="t <b>",
        x_labels=("<i>", "</svg>"),
    )
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "</svg>" not in svg[:-6]
    bars = tier_bars(
        [{"served": {1: 1.0, 2: 0.5, 3: 0.0}, "shed": 0.5, "demand": 2.0}], ["<p>"], title="x"
    )
    assert "<p>" not in bars and bars.count("<rect") == 3
