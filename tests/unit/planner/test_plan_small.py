"""Hand-checkable 2-3 bus plans: served load, fuel use, tiers, fairness, lead times, lines."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from planner.api import Scenario, solve

from .conftest import find, make_net

Case = Callable[..., Scenario]

GENSET = """
[[sites]]
name = "plant"
buses = [0]
  [[sites.tanks]]
  name = "main"
  fuel = "diesel"
  capacity_litres = {cap}
  initial_litres = {init}
  reserve_litres = {reserve}

[[generators]]
name = "G"
element = "new"
bus = 0
p_max_mw = {pmax}
site = "plant"
fuel = "diesel"
no_load_lph = {a}
lph_per_mw = 250
min_stable_mw = {msl}
"""


def genset(
    *,
    cap: float = 10000,
    init: float = 3000,
    reserve: float = 0,
    pmax: float = 10,
    a: float = 0,
    msl: float = 0,
) -> str:
    return GENSET.format(cap=cap, init=init, reserve=reserve, pmax=pmax, a=a, msl=msl)


def horizon(periods: int = 2) -> str:
    return f"\n[horizon]\nperiods = {periods}\nhours_per_period = 1.0\n"


def load(index: int, name: str, tier: int, community: str = "town") -> str:
    return (
        f'\n[[loads]]\nindex = {index}\nname = "{name}"\ntier = {tier}\ncommunity = "{community}"\n'
    )


def test_fuel_limited_two_bus_case(write_case: Case) -> None:
    # 3000 L at 250 L/MWh = 12 MWh over 2 h. Tier 1 needs 2 x 4 = 8 MWh, tier 3 gets the
    # remaining 4 MWh of its 8 (50%), spread evenly: 2 MW in each hour.
    net = make_net(2, [(0, 1, None)], [(1, 4.0, 0.0, "hospital"), (1, 4.0, 0.0, "homes")])
    sc = write_case(net, horizon(2) + genset() + load(0, "hospital", 1) + load(1, "homes", 3))
    res = solve(sc, validate=False)
    assert res.status == "solved", res.reason
    plan = res.to_json()
    hospital = find(plan["loads"], "name", "hospital")
    homes = find(plan["loads"], "name", "homes")
    assert hospital["served_mw"] == [4.0, 4.0]
    assert homes["served_mw"] == pytest.approx([2.0, 2.0], abs=1e-3)
    assert plan["summary"]["served_mwh"] == pytest.approx(12.0, abs=1e-3)
    tank = find(plan["tanks"], "key", "plant/main")
    assert tank["end_litres"] == pytest.approx(0, abs=1)
    assert tank["burn_litres"] == pytest.approx([1500, 1500], abs=1)
    g = find(plan["units"], "name", "G")
    assert g["fuel_litres"] == pytest.approx(3000, abs=1)
    assert tank["runs_out_period"] == 1


def test_no_load_fuel_is_spread_per_mw_without_commitment(write_case: Case) -> None:
    # a = 100 L/h at pmax 10 MW adds 10 L/MWh: 260 L/MWh; 2 MW for 2 h -> 1040 L.
    net = make_net(2, [(0, 1, None)], [(1, 2.0, 0.0, "hospital")])
    sc = write_case(net, horizon(2) + genset(a=100) + load(0, "hospital", 1))
    plan = solve(sc, validate=False).to_json()
    assert find(plan["units"], "name", "G")["fuel_litres"] == pytest.approx(1040, abs=1)


def test_commitment_respects_min_stable_load(write_case: Case) -> None:
    # The only load is 1 MW but the genset cannot run below 3 MW: with on/off decisions
    # it stays off and the load is shed; the LP relaxation serves it.
    net = make_net(2, [(0, 1, None)], [(1, 1.0, 0.0, "pump")])
    sc = write_case(net, horizon(2) + genset(msl=3, a=20) + load(0, "pump", 1))
    lp = solve(sc, validate=False).to_json()
    milp = solve(sc, commitment=True, validate=False).to_json()
    assert find(lp["loads"], "name", "pump")["served_mw"] == [1.0, 1.0]
    assert find(milp["loads"], "name", "pump")["served_mw"] == [0.0, 0.0]
    assert find(milp["units"], "name", "G")["running"] == [False, False]
    # with enough load it runs, at or above its minimum, and pays no-load fuel per hour on
    net2 = make_net(2, [(0, 1, None)], [(1, 4.0, 0.0, "pump")])
    sc2 = write_case(net2, horizon(2) + genset(msl=3, a=20) + load(0, "pump", 1), name="c2")
    p2 = solve(sc2, commitment=True, validate=False).to_json()
    g = find(p2["units"], "name", "G")
    assert g["running"] == [True, True]
    assert g["fuel_litres"] == pytest.approx(2 * (20 + 250 * 4), abs=1)


def test_tier_priority_tier_two_never_takes_what_tier_one_could_use(write_case: Case) -> None:
    # Fuel for 5 MWh in 1 h; tier 1 wants 4 MW, tier 2 wants 4 MW: tier 1 gets 4, tier 2 gets 1.
    net = make_net(2, [(0, 1, None)], [(1, 4.0, 0.0, "ops"), (1, 4.0, 0.0, "hangar")])
    sc = write_case(net, horizon(1) + genset(init=1250) + load(0, "ops", 1) + load(1, "hangar", 2))
    plan = solve(sc, validate=False).to_json()
    assert find(plan["loads"], "name", "ops")["served_mw"] == [4.0]
    assert find(plan["loads"], "name", "hangar")["served_mw"] == pytest.approx([1.0], abs=1e-3)
    # and when even tier 1 cannot be fully served, tier 2 gets nothing
    sc2 = write_case(
        net, horizon(1) + genset(init=750) + load(0, "ops", 1) + load(1, "hangar", 2), name="c2"
    )
    plan2 = solve(sc2, validate=False).to_json()
    assert find(plan2["loads"], "name", "ops")["served_mw"] == pytest.approx([3.0], abs=1e-3)
    assert find(plan2["loads"], "name", "hangar")["served_mw"] == [0.0]
    assert find(plan2["tiers"], "tier", 2)["served_pct"] == 0.0


def test_fairness_gives_equal_communities_equal_fractions(write_case: Case) -> None:
    # Three communities, one genset with fuel for half of the tier-3 demand. The community
    # sizes differ (1, 2, 3 MW) but every one ends at the same served fraction: 50%.
    net = make_net(
        3,
        [(0, 1, None), (0, 2, None)],
        [(1, 1.0, 0.0, "a"), (1, 2.0, 0.0, "b"), (2, 3.0, 0.0, "c")],
    )
    body = horizon(2) + genset(init=0.5 * 6 * 2 * 250)
    body += load(0, "a", 3, "north") + load(1, "b", 3, "east") + load(2, "c", 3, "south")
    plan = solve(write_case(net, body), validate=False).to_json()
    fractions = sorted(c["served_pct"] for c in plan["communities"])
    assert fractions == pytest.approx([50.0, 50.0, 50.0], abs=0.01)
    assert find(plan["tiers"], "tier", 3)["community_floor_pct"] == pytest.approx(50.0, abs=0.01)


def test_deliveries_arrive_after_their_lead_time_and_fuel_never_goes_negative(
    write_case: Case,
) -> None:
    # The plant starts dry; the depot sends fuel with a 2-period lead: nothing can be
    # served before period 2, and every level stays within [reserve, capacity].
    net = make_net(2, [(0, 1, None)], [(1, 2.0, 0.0, "hospital")])
    body = horizon(5) + genset(init=0, cap=2000)
    body += """
[[depots]]
name = "depot"
initial_litres = 1000

[[routes]]
from = "depot"
to = "plant"
litres_per_trip = 500
trips_per_period = 1
lead_periods = 2
"""
    body += load(0, "hospital", 1)
    plan = solve(write_case(net, body), validate=False).to_json()
    served = find(plan["loads"], "name", "hospital")["served_mw"]
    assert served[:2] == [0.0, 0.0]
    # 1000 L = 4 MWh for the 3 remaining hours, none of them left dark or fully on
    assert plan["stages"][-1]["name"] == "tie-break (vertex)", plan["stages"]
    assert sum(served[2:]) == pytest.approx(4.0, abs=1e-3)
    assert all(0.5 < v < 2.0 for v in served[2:])
    for tr in plan["transfers"]:
        assert tr["arrive_period"] == tr["depart_period"] + 2
        assert tr["litres"] <= 500
    for tank in plan["tanks"]:
        assert min(tank["level_litres"]) >= tank["reserve_litres"] - 1
        assert max(tank["level_litres"]) <= tank["capacity_litres"] + 1
    arrivals = {t: 0.0 for t in range(5)}
    for tr in plan["transfers"]:
        arrivals[tr["arrive_period"]] += tr["litres"]
    plant = find(plan["tanks"], "key", "plant/main")
    prev = 0.0
    for t in range(5):  # level_t = level_{t-1} + arrivals_t - burn_t
        assert plant["level_litres"][t] == pytest.approx(
            prev + arrivals[t] - plant["burn_litres"][t], abs=2
        )
        prev = plant["level_litres"][t]
    shed = find(plan["shed"], "load", "hospital")
    assert "fuel" in shed["causes"] or "generation capacity" in shed["causes"]


def test_line_limit_caps_what_reaches_a_load(write_case: Case) -> None:
    # Plenty of fuel; the only line to bus 2 is rated 3 MW, the load there wants 5 MW.
    net = make_net(3, [(0, 1, None), (1, 2, 3.0)], [(1, 1.0, 0.0, "near"), (2, 5.0, 0.0, "far")])
    body = horizon(1) + genset(init=9000) + load(0, "near", 3, "a") + load(1, "far", 3, "b")
    plan = solve(write_case(net, body), validate=False).to_json()
    assert find(plan["loads"], "name", "far")["served_mw"] == pytest.approx([3.0], abs=1e-3)
    assert find(plan["loads"], "name", "near")["served_mw"] == [1.0]
    shed = find(plan["shed"], "load", "far")
    assert "line limit" in shed["causes"]
    assert plan["binding_branches"] and plan["binding_branches"][0]["periods"] == [0]


def test_relaxed_branch_limits_lift_the_cap(write_case: Case) -> None:
    net = make_net(3, [(0, 1, None), (1, 2, 3.0)], [(2, 5.0, 0.0, "far")])
    body = horizon(1) + genset(init=9000) + load(0, "far", 3)
    sc = write_case(net, body)
    from dataclasses import replace

    relaxed = replace(sc, network=replace(sc.network, branch_limits="relax"))
    plan = solve(relaxed, validate=False).to_json()
    assert find(plan["loads"], "name", "far")["served_mw"] == [5.0]


def test_infeasible_is_a_result_with_a_reason(write_case: Case) -> None:
    # The tank starts below its reserve and nothing can refill it: no plan exists.
    net = make_net(2, [(0, 1, None)], [(1, 1.0, 0.0, "hospital")])
    sc = write_case(net, horizon(2) + genset(init=100, reserve=500) + load(0, "hospital", 1))
    res = solve(sc, validate=False)
    assert res.status == "infeasible"
    assert "plant/main" in res.reason
    assert "tank level" in res.reason or "fuel balance" in res.reason
    plan = res.to_json()
    assert plan["status"] == "infeasible" and plan["reason_detail"]["items"]


def test_must_run_unit_with_nowhere_to_send_power_is_infeasible(write_case: Case) -> None:
    net = make_net(2, [(0, 1, None)], [(1, 1.0, 0.0, "hospital")])
    body = horizon(1) + load(0, "hospital", 1)
    body += (
        '\n[[generators]]\nname = "big"\nelement = "new"\nbus = 0\np_max_mw = 10\np_min_mw = 5\n'
    )
    res = solve(write_case(net, body), validate=False)
    assert res.status == "infeasible"
    assert "big" in res.reason or "power balance" in res.reason


def test_time_limit_option_is_accepted_and_validated(write_case: Case) -> None:
    from planner.errors import ScenarioError

    net = make_net(2, [(0, 1, None)], [(1, 1.0, 0.0, "hospital")])
    sc = write_case(net, horizon(1) + genset() + load(0, "hospital", 1))
    assert solve(sc, time_limit=30, validate=False).status == "solved"
    with pytest.raises(ScenarioError, match="time_limit"):
        solve(sc, time_limit=-1)
