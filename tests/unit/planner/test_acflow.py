"""AC validation: the DC plan is re-checked with AC power flow and violations are reported."""

from __future__ import annotations

from collections.abc import Callable

from planner.api import Scenario, solve

from .conftest import make_net

Case = Callable[..., Scenario]

BODY = """
[horizon]
periods = 2

[[generators]]
name = "G"
element = "new"
bus = 0
p_max_mw = 20
"""


def test_weak_long_line_gives_undervoltage_that_dc_cannot_see(write_case: Case) -> None:
    # 20 kV, 25 km of line, 8 MW + 4 Mvar at the far end: the DC model serves it all,
    # AC power flow finds the far bus far below 0.95 pu and says so in every period.
    net = make_net(2, [(0, 1, None)], [(1, 8.0, 4.0, "town")], length_km=25.0, x_ohm_per_km=0.4)
    sc = write_case(net, BODY + '\n[[loads]]\nindex = 0\nname = "town"\ntier = 1\n')
    plan = solve(sc).to_json()
    assert plan["summary"]["served_pct"] == 100.0
    ac = plan["ac"]["summary"]
    assert ac["converged"] == 2
    assert ac["ok"] is False
    assert ac["violations_by_kind"]["undervoltage"] == 2
    assert ac["v_min_pu"] < 0.95
    v = plan["ac"]["periods"][0]["violations"][0]
    assert v["kind"] == "undervoltage" and v["element"] == "bus 1" and v["value"] < v["limit"]


def test_reactive_power_overloads_a_line_at_its_dc_limit(write_case: Case) -> None:
    # The line is rated 5 MW; DC serves exactly 5 MW through it, but the load's 3 Mvar
    # add current: AC loading is above 100% and is reported as a line overload.
    net = make_net(2, [(0, 1, 5.0)], [(1, 8.0, 3.0, "town")])
    sc = write_case(net, BODY + '\n[[loads]]\nindex = 0\nname = "town"\ntier = 1\n')
    plan = solve(sc).to_json()
    assert plan["loads"][0]["served_mw"] == [5.0, 5.0]
    ac = plan["ac"]["summary"]
    assert ac["violations_by_kind"].get("line overload") == 2
    assert ac["worst_line"]["loading_pct"] > 100.0


def test_healthy_plan_reports_no_violations(write_case: Case) -> None:
    net = make_net(2, [(0, 1, None)], [(1, 1.0, 0.2, "town")])
    sc = write_case(net, BODY + '\n[[loads]]\nindex = 0\nname = "town"\ntier = 1\n')
    ac = solve(sc).to_json()["ac"]["summary"]
    assert ac["ok"] is True and ac["converged"] == 2 and ac["violations_by_kind"] == {}


def test_a_set_point_above_the_bus_limit_is_an_overvoltage(write_case: Case) -> None:
    # the genset holds its bus at 1.08 pu; the buses allow 0.95-1.05: every period says so
    net = make_net(2, [(0, 1, None)], [(1, 1.0, 0.2, "town")])
    body = BODY.replace("p_max_mw = 20", "p_max_mw = 20\nvm_pu = 1.08")
    sc = write_case(net, body + '\n[[loads]]\nindex = 0\nname = "town"\ntier = 1\n')
    ac = solve(sc).to_json()["ac"]
    assert ac["summary"]["violations_by_kind"].get("overvoltage") == 4  # 2 buses x 2 periods
    assert ac["summary"]["periods_with_violations"] == [0, 1]
    assert ac["summary"]["ok"] is False and ac["summary"]["v_max_pu"] == 1.08
    v = next(v for v in ac["periods"][0]["violations"] if v["kind"] == "overvoltage")
    assert v["element"] == "bus 0" and v["value"] == 1.08 and v["limit"] == 1.05


def test_a_transformer_the_dc_model_may_not_limit_is_reported_overloaded(write_case: Case) -> None:
    # 0.5 MW + 0.2 Mvar through a 0.4 MVA transformer whose limit the scenario relaxes:
    # the plan serves it all, the AC check finds the transformer above 100 %
    import warnings

    import pandapower as pp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = pp.create_empty_network(sn_mva=1.0)
        hv = pp.create_bus(net, vn_kv=20.0, name="hv", min_vm_pu=0.9, max_vm_pu=1.1)
        lv = pp.create_bus(net, vn_kv=0.4, name="lv", min_vm_pu=0.8, max_vm_pu=1.1)
        pp.create_transformer(net, hv, lv, std_type="0.4 MVA 20/0.4 kV", name="T1")
        pp.create_load(net, lv, p_mw=0.5, q_mvar=0.2, name="clinic")
    body = BODY.replace("p_max_mw = 20", "p_max_mw = 2")
    body = 'transformer_limits = "relax"\n' + body
    sc = write_case(net, body + '\n[[loads]]\nindex = 0\nname = "clinic"\ntier = 1\n')
    plan = solve(sc).to_json()
    assert plan["loads"][0]["served_mw"] == [0.5, 0.5]
    ac = plan["ac"]["summary"]
    assert ac["violations_by_kind"].get("transformer overload") == 2
    assert ac["worst_transformer"]["element"] == "T1"
    assert ac["worst_transformer"]["loading_pct"] > 100.0
