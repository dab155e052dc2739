"""Batteries (``net.storage``) are modelled like a tank of energy, not ignored.

State of charge carried from period to period, charge and discharge limits, and the
efficiency of each way: energy out = energy in x charge efficiency x discharge efficiency.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest

from planner.api import Scenario, orders, solve

from .conftest import find, make_net
from .test_plan_small import genset, load

Case = Callable[..., Scenario]

DAY_NIGHT = """
[horizon]
periods = 4

[profiles]
sun = [1.0, 1.0, 0.0, 0.0]
evening = [0.0, 0.0, 1.0, 1.0]
"""


def _net(power_mva: float) -> Any:
    import pandapower as pp

    net = make_net(2, [(0, 1, None)], [(1, 2.0, 0.0, "shelter")])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pp.create_sgen(net, 1, p_mw=2.0, name="roof-pv")
        pp.create_storage(
            net, 1, p_mw=0.0, max_e_mwh=4.0, soc_percent=0.0, sn_mva=power_mva, name="bank"
        )
    return net


def _body(extra: str = "") -> str:
    # the genset has no fuel: it is only the island's voltage reference
    body = DAY_NIGHT + genset(init=0, cap=1000) + load(0, "shelter", 1)
    body += 'profile = "evening"\n'
    body += '\n[[generators]]\nname = "roof-pv"\nelement = "sgen"\nindex = 0\nprofile = "sun"\n'
    return body + extra


def test_solar_stored_by_day_serves_the_evening_less_what_the_battery_loses(
    write_case: Case,
) -> None:
    extra = '\n[[storage]]\nindex = 0\nname = "bank"\ncharge_efficiency = 0.9\ndischarge_efficiency = 0.9\n'
    plan = solve(write_case(_net(2.0), _body(extra)), validate=False).to_json()
    bank = find(plan["storage"], "name", "bank")
    # 2 MW of PV for 2 h into the battery: 3.6 MWh stored; 3.24 MWh come back out
    assert bank["charge_mw"][:2] == pytest.approx([2.0, 2.0], abs=1e-3)
    assert bank["stored_mwh"][1] == pytest.approx(3.6, abs=1e-3)
    assert sum(bank["discharge_mw"][2:]) == pytest.approx(3.24, abs=1e-3)
    assert bank["end_mwh"] == pytest.approx(0.0, abs=1e-3)
    shelter = find(plan["loads"], "name", "shelter")
    assert shelter["served_mw"][2:] == pytest.approx([1.62, 1.62], abs=1e-3)
    # never charging and discharging at once
    assert all(
        min(c, d) < 1e-4 for c, d in zip(bank["charge_mw"], bank["discharge_mw"], strict=True)
    )
    kinds = {o["kind"] for o in orders(plan) if o.get("battery") == "bank"}
    assert kinds == {"charge", "discharge"}


def test_the_battery_power_limit_caps_charging(write_case: Case) -> None:
    plan = solve(write_case(_net(1.0), _body()), validate=False).to_json()
    bank = find(plan["storage"], "name", "bank")
    assert max(bank["charge_mw"]) <= 1.0 + 1e-6 and max(bank["discharge_mw"]) <= 1.0 + 1e-6
    # default efficiencies 0.95 each: 2 MWh in, 1.805 MWh out
    assert bank["stored_mwh"][1] == pytest.approx(1.9, abs=1e-3)
    assert sum(bank["discharge_mw"][2:]) == pytest.approx(1.805, abs=1e-3)
    assert all(0.0 - 1e-6 <= e <= 4.0 + 1e-6 for e in bank["stored_mwh"])


def test_ac_check_sees_the_battery(write_case: Case) -> None:
    plan = solve(write_case(_net(2.0), _body())).to_json()
    ac = plan["ac"]
    assert ac["summary"]["converged"] == 4  # the idle genset holds the voltage
    assert all(abs(p["losses_mw"]) < 0.01 for p in ac["periods"])  # the battery is counted
