"""The smaller defects of issue 15, each pinned: horizons, messages, names, one-bus nets."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from planner.api import Scenario, load_scenario, parse_scenario, solve
from planner.errors import NetworkError, ScenarioError

from .conftest import find, make_net
from .test_plan_small import genset, horizon, load

Case = Callable[..., Scenario]
SCENARIOS = Path(__file__).resolve().parents[3] / "field_guides" / "scenarios"


def test_periods_beyond_the_horizon_are_refused() -> None:
    # three-bases has 56 periods and a resupply list of 56: 80 periods used to plan a
    # phantom tanker in period 76 (the list repeated)
    sc = load_scenario(SCENARIOS / "three-bases.toml")
    with pytest.raises(ScenarioError, match="more than the scenario's horizon of 56"):
        solve(sc, periods=80, validate=False)
    assert solve(sc, periods=8, validate=False).status == "solved"


def test_resupply_above_tank_capacity_says_excess_in_the_period_it_arrives(
    write_case: Case,
) -> None:
    net = make_net(2, [(0, 1, None)], [(1, 1.0, 0.0, "hospital")])
    body = horizon(6) + genset(init=1000, cap=5000) + load(0, "hospital", 1)
    body += """
[[depots]]
name = "depot"
initial_litres = 800
capacity_litres = 1000
resupply_litres = [0, 0, 0, 500, 0, 0]
"""
    res = solve(write_case(net, body), validate=False)
    assert res.status == "infeasible"
    top = res.to_json()["reason_detail"]["items"][0]
    assert (top["element"], top["period"], top["direction"]) == ("depot/stock", 3, "excess")
    assert top["by"] == pytest.approx(300.0)
    assert "excess of 300.0 litres" in res.reason and "period 3" in res.reason
    assert "short" not in res.reason


def test_a_tank_below_its_reserve_is_short(write_case: Case) -> None:
    net = make_net(2, [(0, 1, None)], [(1, 1.0, 0.0, "hospital")])
    sc = write_case(net, horizon(2) + genset(init=100, reserve=500) + load(0, "hospital", 1))
    res = solve(sc, validate=False)
    assert res.status == "infeasible" and "short by" in res.reason


def test_a_one_bus_network_is_checked_without_a_power_flow(write_case: Case) -> None:
    import pandapower as pp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = pp.create_empty_network()
        pp.create_bus(net, vn_kv=0.4, name="b0", min_vm_pu=0.95, max_vm_pu=1.05)
        pp.create_load(net, 0, p_mw=0.05, q_mvar=0.01, name="clinic")
    body = horizon(4) + '\n[[generators]]\nname = "G"\nelement = "new"\nbus = 0\np_max_mw = 0.1\n'
    plan = solve(write_case(net, body)).to_json()
    ac = plan["ac"]["summary"]
    assert ac["converged"] == 4 and ac["ok"] is True  # was "AC 0/24 converged"
    assert ac["v_min_pu"] == ac["v_max_pu"] == 1.0


def test_branches_are_called_by_their_own_names(write_case: Case) -> None:
    net = make_net(3, [(0, 1, None), (1, 2, 3.0)], [(1, 1.0, 0.0, "near"), (2, 5.0, 0.0, "far")])
    net.line.loc[0, "name"] = "main-feeder"
    net.line.loc[1, "name"] = "tie-0-1"
    body = horizon(1) + genset(init=9000) + load(0, "near", 3, "a") + load(1, "far", 3, "b")
    plan = solve(write_case(net, body)).to_json()
    assert plan["binding_branches"][0]["branch"] == "tie-0-1"  # not "line 1 (b1-b2)"
    assert "tie-0-1" in find(plan["shed"], "load", "far")["causes"]["line limit"]["branches"]
    assert plan["ac"]["summary"]["worst_line"]["element"] == "tie-0-1"


def test_a_missing_network_file_says_file_not_found(tmp_path: Path) -> None:
    text = '[scenario]\nname = "x"\n[network]\nfile = "nowhere.json"\n[horizon]\nperiods = 1\n'
    sc = parse_scenario(text, base_dir=tmp_path)
    with pytest.raises(NetworkError, match=r"network file .*nowhere\.json not found"):
        solve(sc, validate=False)


def test_cost_mode_honours_the_network_options() -> None:
    import pandapower as pp
    import pandapower.networks as pn

    net = pn.case9()
    net.line["max_loading_percent"] *= 0.4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.rundcopp(net)
    text = '[scenario]\nname = "x"\n[network]\ncase = "case9"\n{}\n[horizon]\nperiods = 1\n'
    tight = solve(parse_scenario(text.format("limit_factor = 0.4")), objective="cost")
    assert tight.data["objective_exact"] == pytest.approx(float(net.res_cost), rel=1e-6)
    assert tight.data["objective_exact"] == pytest.approx(5390.06, abs=0.01)  # not 5216.03
    free = solve(parse_scenario(text.format('branch_limits = "relax"')), objective="cost")
    assert free.data["objective_exact"] < tight.data["objective_exact"]


def test_a_start_that_is_not_a_time_is_refused() -> None:
    text = (
        '[scenario]\nname = "x"\n[network]\ncase = "case9"\n[horizon]\nperiods = 1\n'
        'start = "yesterday"\n'
    )
    with pytest.raises(ScenarioError, match=r"horizon.start \(line 7\): must be an ISO time"):
        parse_scenario(text)
