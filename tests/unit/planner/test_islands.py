"""A network in pieces: every island planned, every load and unit in the plan, always.

After a disaster a network in pieces is the normal case. Each island is planned with
its own balance and reference; an island without generation has its loads reported
shed ("no generation can reach it"), and the plan's demand equals the input's.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.api import Scenario, explain, load_scenario, parse_scenario, solve

from .conftest import find, make_net
from .test_plan_small import genset, horizon, load

Case = Callable[..., Scenario]
SCENARIOS = Path(__file__).resolve().parents[3] / "field_guides" / "scenarios"


def input_demand_mwh(sc: Scenario, net: Any) -> float:
    """What the input asks for: every in-service, non-negative load, with its profile."""
    declared = {ld.index: ld for ld in sc.loads}
    h = sc.horizon.hours_per_period
    total = 0.0
    for idx, row in net.load.iterrows():
        p = float(row.p_mw) * float(row.get("scaling", 1.0))
        if not bool(row.in_service) or p < 0:
            continue
        profile = declared[idx].profile if idx in declared else None
        total += sum(p * m * h for m in sc.profile_values(profile))
    return total


def plan_demand_mwh(plan: dict[str, Any]) -> float:
    h = plan["scenario"]["hours_per_period"]
    return sum(sum(v or 0.0 for v in ld["demand_mw"]) * h for ld in plan["loads"])


def test_a_clinic_no_line_reaches_is_in_the_plan_shed_with_its_cause(write_case: Case) -> None:
    # buses 0-1 joined, the clinic's bus 2 has no line and no unit: 3 periods of
    # 2 MW homes + 1 MW clinic = 9 MWh asked, 6 MWh can be served
    net = make_net(3, [(0, 1, None)], [(1, 2.0, 0.0, "homes"), (2, 1.0, 0.0, "clinic")])
    body = horizon(3) + genset(init=9000) + load(0, "homes", 3) + load(1, "clinic", 1)
    res = solve(write_case(net, body), validate=False)
    plan = res.to_json()
    assert res.status == "solved"
    assert plan["summary"]["demand_mwh"] == pytest.approx(9.0)
    assert plan["summary"]["served_mwh"] == pytest.approx(6.0)
    assert plan["summary"]["loads_unreachable"] == 1
    assert "all demand served" not in res.reason and "66.67%" in res.reason
    clinic = find(plan["loads"], "name", "clinic")
    assert clinic["served_mw"] == [0.0, 0.0, 0.0] and clinic["reachable"] is False
    shed = find(plan["shed"], "load", "clinic")
    assert list(shed["causes"]) == ["no generation can reach it"]
    why = explain(plan, load="clinic")
    assert any("no generation can reach it" in line for line in why["lines"])
    assert any("no generation can reach" in n for n in plan["notes"])


def test_a_second_island_with_its_own_genset_is_planned_not_dropped(write_case: Case) -> None:
    # A tripped feeder: bus 2 (the clinic, with its own small genset) is cut off from the
    # main island (buses 0-1), and there is no grid. Both islands are planned, each with
    # its own balance: the clinic runs on its genset, the main island on the big one.
    net = make_net(3, [(0, 1, None)], [(1, 4.0, 0.0, "town"), (2, 0.5, 0.0, "clinic")])
    body = horizon(2) + genset(pmax=10, init=9000) + load(0, "town", 3) + load(1, "clinic", 1)
    body += '\n[[generators]]\nname = "clinic-genset"\nelement = "new"\nbus = 2\np_max_mw = 1.0\n'
    res = solve(write_case(net, body))
    plan = res.to_json()
    assert res.status == "solved" and res.reason == "solved: all demand served"
    assert find(plan["loads"], "name", "clinic")["served_mw"] == [0.5, 0.5]
    assert find(plan["loads"], "name", "town")["served_mw"] == [4.0, 4.0]
    assert find(plan["units"], "name", "clinic-genset")["schedule_mw"] == [0.5, 0.5]
    assert any("2 powered islands" in n for n in plan["notes"])
    ac = plan["ac"]["summary"]
    assert ac["converged"] == 2  # each island has its own reference in AC too


def test_an_island_of_only_solar_cannot_run_and_its_units_stay_in_the_plan(
    write_case: Case,
) -> None:
    import pandapower as pp

    net = make_net(3, [(0, 1, None)], [(1, 1.0, 0.0, "town"), (2, 0.2, 0.0, "farm")])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.create_sgen(net, 2, p_mw=0.5, name="farm-pv")
    body = horizon(2) + genset(init=9000) + load(0, "town", 3) + load(1, "farm", 2)
    plan = solve(write_case(net, body), validate=False).to_json()
    pv = find(plan["units"], "name", "farm-pv")
    assert pv["schedule_mw"] == [0.0, 0.0] and pv["reachable"] is False
    farm = find(plan["shed"], "load", "farm")
    assert "no generation can reach it" in farm["causes"]


def test_validate_counts_declared_loads_that_cannot_be_reached(
    write_case: Case, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from plurictl.cli import cli

    net = make_net(3, [(0, 1, None)], [(1, 2.0, 0.0, "homes"), (2, 1.0, 0.0, "clinic")])
    body = horizon(3) + genset(init=9000) + load(0, "homes", 3) + load(1, "clinic", 1)
    sc = write_case(net, body)
    r = CliRunner().invoke(cli, ["plan", "validate", str(sc.source)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "-1 more" not in r.stdout and "0 more at the default tier" in r.stdout
    assert "loads no generation can reach" in r.stdout and "clinic" in r.stdout


@pytest.mark.parametrize(
    "name", ["island-microgrid", "three-bases", pytest.param("case118-72h", marks=pytest.mark.slow)]
)
def test_every_load_of_a_shipped_scenario_is_in_its_plan(name: str) -> None:
    from planner.network import load_net

    sc = load_scenario(SCENARIOS / f"{name}.toml")
    net = load_net(sc.network.case, sc.network.file)
    plan = solve(sc, validate=False).to_json()
    assert plan["status"] == "solved"
    assert plan_demand_mwh(plan) == pytest.approx(input_demand_mwh(sc, net), rel=1e-6)
    assert {ld["index"] for ld in plan["loads"]} == {
        int(i) for i in net.load.index if float(net.load.at[i, "p_mw"]) >= 0
    }
    assert plan["summary"]["demand_mwh"] == pytest.approx(input_demand_mwh(sc, net), abs=2e-3)


def _case118() -> Any:
    import pandapower.networks as pn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pn.case118()


_NET118 = None


def _net118() -> Any:
    global _NET118
    if _NET118 is None:
        _NET118 = _case118()
    return _NET118


CASE118 = parse_scenario(
    '[scenario]\nname = "split"\n[network]\ncase = "case118"\n[horizon]\nperiods = 2\n'
    "[profiles]\nday = [0.7, 1.0]\n"
    '[[loads]]\nindex = [0, 1, 2, 3, 4, 5]\nname = "care"\ntier = 1\ncommunity = "a"\n'
    '[[loads]]\nindex = [6, 7, 8, 9]\nname = "homes"\ntier = 3\ncommunity = "b"\nprofile = "day"\n'
)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cut=st.lists(st.integers(min_value=0, max_value=185), min_size=1, max_size=40, unique=True),
    dead=st.lists(st.integers(min_value=0, max_value=53), max_size=20, unique=True),
)
def test_random_island_splits_of_case118_keep_every_load_and_unit(
    cut: list[int], dead: list[int]
) -> None:
    # lines cut at random and some generators lost: whatever islands result, the plan
    # holds every load and every unit of the input, and its demand is the input's
    import copy

    net = copy.deepcopy(_net118())
    net.line.loc[[i for i in cut if i in net.line.index], "in_service"] = False
    net.gen.loc[[i for i in dead if i in net.gen.index], "in_service"] = False
    res = solve(CASE118, validate=False, net=net)
    assert res.status in ("solved", "infeasible"), res.reason
    if res.status != "solved":
        return  # (a must-run unit alone in an island can make it infeasible: a result)
    plan = res.to_json()
    assert plan_demand_mwh(plan) == pytest.approx(
        input_demand_mwh(CASE118, net), rel=1e-9, abs=1e-6
    )
    assert len(plan["loads"]) == int((net.load.p_mw >= 0).sum())
    expected_units = (
        len(net.ext_grid) + len(net.gen) + len(net.sgen) + int((net.load.p_mw < 0).sum())
    )
    assert len(plan["units"]) == expected_units
    for ld in plan["loads"]:
        if not ld["reachable"]:
            assert all(v == 0.0 for v in ld["served_mw"])
            if any(v for v in ld["demand_mw"]):
                shed = find(plan["shed"], "load", ld["name"])
                assert "no generation can reach it" in shed["causes"]
    served = sum(sum(v or 0.0 for v in ld["served_mw"]) for ld in plan["loads"])
    generated = sum(p["generation_mw"] for p in plan["periods"])
    assert math.isclose(served, generated, rel_tol=1e-6, abs_tol=1e-2)
