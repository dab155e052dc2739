"""Orders, explanations and the plot, on a small hand-made plan."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from planner.api import Scenario, explain, orders, read_plan, solve
from planner.errors import PlanFileError

from .conftest import make_net

Case = Callable[..., Scenario]

BODY = """
[horizon]
periods = 3

[[sites]]
name = "plant"
buses = [0, 1, 2]
  [[sites.tanks]]
  name = "main"
  capacity_litres = 5000
  initial_litres = 1000

[[depots]]
name = "depot"
initial_litres = 1000

[[routes]]
from = "depot"
to = "plant"
litres_per_trip = 250
lead_periods = 1

[[generators]]
name = "G"
element = "new"
bus = 0
p_max_mw = 10
site = "plant"
fuel = "diesel"
lph_per_mw = 250

[[loads]]
index = 0
name = "hospital"
tier = 1

[[loads]]
index = 1
name = "far-homes"
tier = 3
"""


@pytest.fixture
def plan(write_case: Case) -> dict:  # type: ignore[type-arg]
    net = make_net(
        3, [(0, 1, None), (1, 2, 2.0)], [(1, 2.0, 0.0, "hospital"), (2, 4.0, 0.0, "far-homes")]
    )
    return solve(write_case(net, BODY), validate=False).to_json()


def test_orders_cover_units_loads_and_trucks(plan: dict) -> None:  # type: ignore[type-arg]
    out = orders(plan)
    kinds = {o["kind"] for o in out}
    assert {"run", "send"} <= kinds and ({"shed", "limit"} & kinds)
    run = [o for o in out if o["kind"] == "run"]
    assert all(o["site"] == "plant" and o["unit"] == "G" for o in run)
    send = [o for o in out if o["kind"] == "send"]
    assert all(o["arrive_period"] == o["from_period"] + 1 and o["litres"] <= 250 for o in send)
    sheds = [o for o in out if o["kind"] in ("shed", "limit")]
    assert all(o["load"] == "far-homes" for o in sheds)  # the hospital is never shed
    # ids: content hashes under the plan hash, stable and unique
    assert len({o["order_id"] for o in out}) == len(out)
    other = dict(plan, plan_hash="0" * 64)
    assert {o["order_id"] for o in orders(other)}.isdisjoint({o["order_id"] for o in out})


def test_explain_load_site_and_overview(plan: dict) -> None:  # type: ignore[type-arg]
    why = explain(plan, load="far-homes")
    assert why["shed"] is not None
    causes = why["shed"]["causes"]
    assert "line limit" in causes or "fuel" in causes
    assert any("Because" in line for line in why["lines"])
    assert explain(plan, load="hospital")["shed"] is None
    site = explain(plan, site="plant")
    assert site["tanks"][0]["key"] == "plant/main" and site["transfers_in"]
    assert explain(plan)["kind"] == "overview"
    with pytest.raises(PlanFileError, match="no load named 'far-home'") as info:
        explain(plan, load="far-home")
    assert "far-homes" in (info.value.hint or "")


def test_read_plan_checks_format_and_hash(plan: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    good = tmp_path / "plan.json"
    good.write_text(json.dumps(plan), encoding="utf-8")
    assert read_plan(good)["plan_hash"] == plan["plan_hash"]
    tampered = dict(plan)
    tampered["summary"] = dict(plan["summary"], served_pct=100.0)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(tampered), encoding="utf-8")
    with pytest.raises(PlanFileError, match="does not match"):
        read_plan(bad)
    junk = tmp_path / "junk.json"
    junk.write_text("{]", encoding="utf-8")
    with pytest.raises(PlanFileError, match="not JSON"):
        read_plan(junk)


def test_plot_writes_a_png(plan: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    pytest.importorskip("matplotlib")
    from planner.plot import plot_plan

    out = plot_plan(plan, tmp_path / "plan.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
