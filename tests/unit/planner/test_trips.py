"""No half-empty trucks: a departure is 0 or at least its route's minimum load."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from planner.api import Scenario, orders, solve

from .conftest import make_net

Case = Callable[..., Scenario]

# A plant burning 250 L an hour for its 1 MW clinic, fed by truck from a depot: the LP
# alone is free to send the fuel in dribbles, one small departure an hour.
BODY = """
[horizon]
periods = 8

[[sites]]
name = "plant"
buses = [0]
  [[sites.tanks]]
  name = "main"
  capacity_litres = 800
  initial_litres = 300

[[depots]]
name = "depot"
initial_litres = 10000

[[routes]]
from = "depot"
to = "plant"
litres_per_trip = 1000
lead_periods = 1
{min_line}

[[generators]]
name = "G"
element = "new"
bus = 0
p_max_mw = 5
site = "plant"
fuel = "diesel"
lph_per_mw = 250

[[loads]]
index = 0
name = "clinic"
tier = 1
"""


def _plan(write_case: Case, min_line: str) -> dict[str, Any]:
    net = make_net(1, [], [(0, 1.0, 0.0, "clinic")])
    scenario = write_case(net, BODY.format(min_line=min_line))
    return solve(scenario, validate=False).to_json()


def _sends(plan: dict[str, Any]) -> list[float]:
    return [o["litres"] for o in orders(plan) if o["kind"] == "send"]


@pytest.mark.parametrize("min_line", ["", "min_litres_per_trip = 900"])
def test_every_departure_is_nothing_or_at_least_the_minimum(
    write_case: Case, min_line: str
) -> None:
    plan = _plan(write_case, min_line)
    minimum = 900.0 if min_line else 500.0  # the default: half a truck
    sends = _sends(plan)
    assert sends, "the clinic needs fuel: something must be sent"
    assert all(v >= minimum - 0.5 for v in sends), sends
    assert not any("below their route's minimum" in n for n in plan["notes"])


def test_the_minimum_changes_trucks_not_what_is_served_or_kept(write_case: Case) -> None:
    free = _plan(write_case, "min_litres_per_trip = 0")
    fewer = _plan(write_case, "min_litres_per_trip = 900")
    assert free["summary"]["served_mwh"] == fewer["summary"]["served_mwh"]
    # the fuel left in all tanks together is the same (a raised trip moves fuel, burns none)
    left = [sum(t["end_litres"] for t in p["tanks"]) for p in (free, fewer)]
    assert left[0] == pytest.approx(left[1], abs=1.0)
    assert len(_sends(fewer)) < len(_sends(free)), (_sends(free), _sends(fewer))


def test_a_departure_that_cannot_be_changed_is_counted_in_the_notes(write_case: Case) -> None:
    # a 300 L tank refilled hourly: no truck can ever carry 900 L into it
    body = BODY.replace("capacity_litres = 800", "capacity_litres = 300")
    net = make_net(1, [], [(0, 1.0, 0.0, "clinic")])
    plan = solve(write_case(net, body.format(min_line="min_litres_per_trip = 900")), validate=False)
    data = plan.to_json()
    small = [v for v in _sends(data) if v < 899.5]
    assert small
    assert f"{len(small)} truck departures are below their route's minimum load" in " ".join(
        data["notes"]
    )
