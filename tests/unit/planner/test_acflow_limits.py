"""AC check limits: overvoltage and transformer overload, and the boundary of each.

Every network here is a small real pandapower net built in the test. The plan's AC
report is checked against pandapower's own ``runpp`` on an independent copy of the
same net (the planner's generator recreated by hand, loads at their served values),
so a wrong bus, a wrong limit, a dropped violation or a loose tolerance all fail.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from planner.api import Scenario, solve

Case = Callable[..., Scenario]

V_MAX = 1.05


def _body(vm_pu: float, p_max_mw: float = 20.0) -> str:
    """One period, one new genset at bus 0 holding ``vm_pu``, load 0 served at tier 1."""
    return f"""
[horizon]
periods = 1

[[generators]]
name = "G"
element = "new"
bus = 0
p_max_mw = {p_max_mw}
vm_pu = {vm_pu}

[[loads]]
index = 0
name = "town"
tier = 1
"""


def _empty() -> Any:
    import pandapower as pp

    return pp.create_empty_network(sn_mva=1.0)


def _reference(net: Any, vm_pu: float) -> Any:
    """pandapower's own AC power flow: a slack generator at bus 0 holding ``vm_pu``."""
    import pandapower as pp

    ref = copy.deepcopy(net)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.create_gen(ref, 0, p_mw=0.0, vm_pu=vm_pu, slack=True)
        pp.runpp(ref, algorithm="nr", calculate_voltage_angles=True)
    assert ref.converged
    return ref


def _ac_period(plan: dict[str, Any]) -> dict[str, Any]:
    load = plan["loads"][0]
    assert load["served_mw"] == load["demand_mw"]  # fully served: the reference uses base loads
    (period,) = plan["ac"]["periods"]
    assert period["converged"] is True
    return period


# --- overvoltage --------------------------------------------------------------------


def _light_cable() -> Any:
    """30 km of 20 kV cable (400 nF/km) feeding 0.2 MW: its charging current lifts the far end."""
    import pandapower as pp

    net = _empty()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for b in range(2):
            pp.create_bus(net, vn_kv=20.0, name=f"b{b}", min_vm_pu=0.95, max_vm_pu=V_MAX)
        pp.create_line_from_parameters(
            net,
            0,
            1,
            length_km=30.0,
            r_ohm_per_km=0.1,
            x_ohm_per_km=0.4,
            c_nf_per_km=400.0,
            max_i_ka=99.0,
        )
        pp.create_load(net, 1, p_mw=0.2, q_mvar=0.0, name="town")
    return net


def test_ferranti_rise_on_a_light_cable_is_reported_as_overvoltage(write_case: Case) -> None:
    # The genset holds bus 0 at 1.04 pu (inside 1.05); the far end of the lightly
    # loaded cable rises above 1.05 pu. DC power flow cannot see this at all.
    net = _light_cable()
    ref = _reference(net, 1.04)
    far = float(ref.res_bus.vm_pu.at[1])
    assert far > V_MAX + 0.005  # the case really overvolts, by a clear margin
    plan = solve(write_case(net, _body(1.04))).to_json()
    period = _ac_period(plan)
    assert period["violations"] == [
        {
            "kind": "overvoltage",
            "element": "bus 1",
            "value": pytest.approx(far, abs=1e-4),
            "limit": V_MAX,
        }
    ]
    assert period["v_max_pu"] == pytest.approx(far, abs=1e-4)
    assert period["v_min_pu"] == pytest.approx(1.04, abs=1e-4)
    summary = plan["ac"]["summary"]
    assert summary["ok"] is False
    assert summary["violations_by_kind"] == {"overvoltage": 1}
    assert summary["periods_with_violations"] == [0]


def test_each_bus_is_held_to_its_own_upper_limit(write_case: Case) -> None:
    # Three buses near 1.03 pu. Bus 1 allows only 1.00 pu and is reported against 1.00;
    # bus 0 allows 1.05 and bus 2 has no limit of its own (default 1.1): neither is reported.
    import pandapower as pp

    net = _empty()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.create_bus(net, vn_kv=20.0, name="b0", min_vm_pu=0.95, max_vm_pu=V_MAX)
        pp.create_bus(net, vn_kv=20.0, name="b1", min_vm_pu=0.95, max_vm_pu=1.0)
        pp.create_bus(net, vn_kv=20.0, name="b2", min_vm_pu=0.95)
        # pandapower fills an omitted limit with its OPF default (2.0 pu) once the column
        # exists; a net file can still carry NaN there, which means "no limit of its own".
        net.bus.at[2, "max_vm_pu"] = math.nan
        for f, t in ((0, 1), (1, 2)):
            pp.create_line_from_parameters(
                net,
                f,
                t,
                length_km=1.0,
                r_ohm_per_km=0.1,
                x_ohm_per_km=0.3,
                c_nf_per_km=0.0,
                max_i_ka=99.0,
            )
        pp.create_load(net, 2, p_mw=0.5, q_mvar=0.1, name="town")
    ref = _reference(net, 1.03)
    vm = ref.res_bus.vm_pu
    assert 1.0 + 0.01 < float(vm.at[1]) < V_MAX and 1.0 < float(vm.at[2]) < 1.1
    period = _ac_period(solve(write_case(net, _body(1.03))).to_json())
    assert period["violations"] == [
        {
            "kind": "overvoltage",
            "element": "bus 1",
            "value": pytest.approx(float(vm.at[1]), abs=1e-4),
            "limit": 1.0,
        }
    ]


def _held_bus(max_vm_pu: float) -> Any:
    """Bus 0 held at exactly 1.05 pu by the genset (a PV/slack bus), a small load downstream."""
    import pandapower as pp

    net = _empty()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.create_bus(net, vn_kv=20.0, name="b0", min_vm_pu=0.95, max_vm_pu=max_vm_pu)
        pp.create_bus(net, vn_kv=20.0, name="b1", min_vm_pu=0.95, max_vm_pu=V_MAX)
        pp.create_line_from_parameters(
            net,
            0,
            1,
            length_km=1.0,
            r_ohm_per_km=0.1,
            x_ohm_per_km=0.3,
            c_nf_per_km=0.0,
            max_i_ka=99.0,
        )
        pp.create_load(net, 1, p_mw=0.5, q_mvar=0.1, name="town")
    return net


def test_voltage_exactly_at_the_upper_limit_is_not_a_violation(write_case: Case) -> None:
    net = _held_bus(V_MAX)
    assert float(_reference(net, V_MAX).res_bus.vm_pu.at[0]) == pytest.approx(V_MAX, abs=1e-9)
    period = _ac_period(solve(write_case(net, _body(V_MAX))).to_json())
    assert period["v_max_pu"] == V_MAX
    assert period["violations"] == []


def test_voltage_a_hair_over_the_upper_limit_is_a_violation(write_case: Case) -> None:
    # 1e-4 pu over: far beyond the 1e-6 numerical tolerance, so it must be reported.
    net = _held_bus(V_MAX - 1e-4)
    period = _ac_period(solve(write_case(net, _body(V_MAX))).to_json())
    assert period["violations"] == [
        {"kind": "overvoltage", "element": "bus 0", "value": V_MAX, "limit": V_MAX - 1e-4}
    ]


# --- transformer overload -------------------------------------------------------------


def _substation(max_loading_percent: float | None = None) -> Any:
    """A 0.63 MVA 20/0.4 kV transformer feeding 0.6 MW + 0.3 Mvar: the DC model sees
    0.6 MW under a 0.63 MW rating; AC apparent power (and LV voltage drop) overload it."""
    import pandapower as pp

    net = _empty()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.create_bus(net, vn_kv=20.0, name="mv", min_vm_pu=0.9, max_vm_pu=1.1)
        pp.create_bus(net, vn_kv=0.4, name="lv", min_vm_pu=0.9, max_vm_pu=1.1)
        pp.create_transformer(net, 0, 1, std_type="0.63 MVA 20/0.4 kV", name="T1")
        if max_loading_percent is not None:
            net.trafo["max_loading_percent"] = max_loading_percent
        pp.create_load(net, 1, p_mw=0.6, q_mvar=0.3, name="town")
    return net


def test_transformer_overloaded_in_ac_is_reported(write_case: Case) -> None:
    net = _substation()
    loading = float(_reference(net, 1.0).res_trafo.loading_percent.at[0])
    assert loading > 105.0
    plan = solve(write_case(net, _body(1.0))).to_json()
    period = _ac_period(plan)
    assert period["violations"] == [
        {
            "kind": "transformer overload",
            "element": "T1",  # the transformer's name in the net
            "value": pytest.approx(loading, abs=0.01),
            "limit": 100.0,
        }
    ]
    assert period["worst_transformer"] == {
        "element": "T1",  # the transformer's name in the net
        "loading_pct": pytest.approx(loading, abs=0.01),
    }
    summary = plan["ac"]["summary"]
    assert summary["violations_by_kind"] == {"transformer overload": 1}
    assert summary["worst_transformer"]["loading_pct"] == pytest.approx(loading, abs=0.01)
    assert summary["ok"] is False


@pytest.mark.parametrize(("offset", "reported"), [(0.02, False), (-0.02, True)])
def test_transformer_limit_boundary(write_case: Case, offset: float, reported: bool) -> None:
    # The transformer's own max_loading_percent set just above / just below its AC loading.
    # Either limit is well above the DC flow, so the dispatch (and the loading) is the same.
    loading = float(_reference(_substation(), 1.0).res_trafo.loading_percent.at[0])
    limit = round(loading + offset, 2)
    net = _substation(limit)
    assert float(_reference(net, 1.0).res_trafo.loading_percent.at[0]) == pytest.approx(loading)
    period = _ac_period(solve(write_case(net, _body(1.0))).to_json())
    assert period["worst_transformer"]["loading_pct"] == pytest.approx(loading, abs=0.01)
    expected = [
        {
            "kind": "transformer overload",
            "element": "T1",  # the transformer's name in the net
            "value": pytest.approx(loading, abs=0.01),
            "limit": limit,
        }
    ]
    assert period["violations"] == (expected if reported else [])


def test_transformer_under_its_rating_is_not_reported(write_case: Case) -> None:
    net = _substation()
    net.load.at[0, "p_mw"] = 0.4
    net.load.at[0, "q_mvar"] = 0.1
    loading = float(_reference(net, 1.0).res_trafo.loading_percent.at[0])
    assert 50.0 < loading < 100.0
    plan = solve(write_case(net, _body(1.0))).to_json()
    period = _ac_period(plan)
    assert period["violations"] == []
    assert period["worst_transformer"]["loading_pct"] == pytest.approx(loading, abs=0.01)
    assert plan["ac"]["summary"]["ok"] is True


def test_a_bus_created_without_limits_is_held_to_the_defaults(write_case: Case) -> None:
    # pandapower 3 fills the limits of a bus created without them with 0.0 / 2.0 pu once
    # another bus has limits: those are "no limit of its own", so the defaults (0.9 / 1.1)
    # apply. Taken at face value, that bus would never be checked at all.
    import pandapower as pp

    net = _light_cable()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.create_bus(net, vn_kv=20.0, name="b2")  # no limits given
        pp.create_line_from_parameters(
            net, 1, 2, length_km=30.0, r_ohm_per_km=0.1, x_ohm_per_km=0.4,
            c_nf_per_km=400.0, max_i_ka=99.0,
        )  # fmt: skip
    net.bus.at[1, "max_vm_pu"] = 1.2  # bus 1 may rise: only bus 2 is in question
    assert float(net.bus.at[2, "max_vm_pu"]) >= 2.0  # what pandapower really stores
    ref = _reference(net, 1.04)
    far = float(ref.res_bus.vm_pu.at[2])
    assert far > 1.1 + 0.005
    period = _ac_period(solve(write_case(net, _body(1.04))).to_json())
    assert period["violations"] == [
        {
            "kind": "overvoltage",
            "element": "bus 2",
            "value": pytest.approx(far, abs=1e-4),
            "limit": 1.1,
        }
    ]
