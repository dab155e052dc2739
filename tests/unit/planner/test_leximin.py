"""Fair all the way down: lexicographic max-min between communities (leximin).

The worked example of planner.md: north sits behind a 1 MW feeder and can get at most a
third of its 3 MW; max-min fairness stops there and lets the rest fall anywhere. Leximin
raises the next worst-off too: mid and south end equal, at 36.36 % each.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from planner.api import Scenario, solve

from .conftest import find, make_net
from .test_plan_small import genset, horizon, load

Case = Callable[..., Scenario]


def three_communities(write_case: Case, *, litres: float) -> Scenario:
    # bus 0: the genset; north (3 MW) behind a 1 MW feeder at bus 1; mid (4 MW) and
    # south (7 MW) on strong lines at buses 2 and 3. One hour, fuel for 5 MWh at 250 L/MWh.
    net = make_net(
        4,
        [(0, 1, 1.0), (0, 2, None), (0, 3, None)],
        [(1, 3.0, 0.0, "north"), (2, 4.0, 0.0, "mid"), (3, 7.0, 0.0, "south")],
    )
    body = horizon(1) + genset(init=litres, cap=20000)
    body += load(0, "north", 3, "north") + load(1, "mid", 3, "mid") + load(2, "south", 3, "south")
    return write_case(net, body)


def test_leximin_raises_the_next_worst_off_after_the_worst(write_case: Case) -> None:
    plan = solve(three_communities(write_case, litres=5 * 250), validate=False).to_json()
    pct = {c["community"]: c["served_pct"] for c in plan["communities"]}
    assert pct["north"] == pytest.approx(100 / 3, abs=0.01)  # its feeder is full
    assert pct["mid"] == pytest.approx(400 / 11, abs=0.01)  # 36.36 %, not 34.68 / 53.18
    assert pct["south"] == pytest.approx(400 / 11, abs=0.01)
    levels = {c["community"]: c["fair_level_pct"] for c in plan["communities"]}
    assert levels["north"] == pytest.approx(33.33, abs=0.01)
    assert levels["mid"] == levels["south"] == pytest.approx(36.36, abs=0.01)
    assert find(plan["tiers"], "tier", 3)["community_floor_pct"] == pytest.approx(33.33, abs=0.01)
    assert plan["summary"]["served_mwh"] == pytest.approx(5.0, abs=1e-3)


def test_no_community_can_gain_without_a_worse_off_one_losing(write_case: Case) -> None:
    # With more fuel (8 MWh) north still stops at 1 MW; mid and south share the other
    # 7 MWh equally in proportion to their demand: 7/11 each.
    plan = solve(three_communities(write_case, litres=8 * 250), validate=False).to_json()
    pct = {c["community"]: c["served_pct"] for c in plan["communities"]}
    assert pct["north"] == pytest.approx(100 / 3, abs=0.01)
    assert pct["mid"] == pytest.approx(700 / 11, abs=0.01)
    assert pct["south"] == pytest.approx(700 / 11, abs=0.01)


def test_leximin_also_holds_with_unit_commitment(write_case: Case) -> None:
    # a MIP has no duals: each community is probed instead, with the same result
    sc = three_communities(write_case, litres=5 * 250)
    plan = solve(sc, validate=False, commitment=True).to_json()
    pct = {c["community"]: c["served_pct"] for c in plan["communities"]}
    assert pct["mid"] == pytest.approx(pct["south"], abs=0.02)
    assert pct["north"] == pytest.approx(100 / 3, abs=0.01)


def test_fuel_kept_is_traded_against_the_lowest_tier_then_shared_fairly(write_case: Case) -> None:
    # fuel_conservation_weight: 8 MWh of lowest-tier service are worth keeping 1000 L,
    # which would serve only 4 MWh (250 L/MWh): keeping every litre wins. At 0.1 serving
    # wins. The trade is made before the leximin (which alone would leave nothing to trade).
    net = make_net(3, [(0, 1, None), (0, 2, None)], [(1, 2.0, 0.0, "a"), (2, 2.0, 0.0, "b")])
    body = horizon(1) + genset(init=1000, cap=5000)
    body += load(0, "a", 3, "north") + load(1, "b", 3, "south")
    keep = write_case(net, body + "\n[policy]\nfuel_conservation_weight = 8.0\n", name="keep")
    spend = write_case(net, body + "\n[policy]\nfuel_conservation_weight = 0.1\n", name="spend")
    kept = solve(keep, validate=False).to_json()
    spent = solve(spend, validate=False).to_json()
    assert kept["summary"]["served_mwh"] == pytest.approx(0.0, abs=1e-3)
    assert kept["summary"]["fuel_end_litres"] == pytest.approx(1000, abs=1)
    assert spent["summary"]["served_mwh"] == pytest.approx(4.0, abs=1e-3)
    names = [s["name"] for s in spent["stages"]]
    assert names.index("tier 3 served") < names.index("tier 3 fairness")
    pct = {c["community"]: c["served_pct"] for c in spent["communities"]}
    assert pct["north"] == pct["south"] == pytest.approx(100.0, abs=0.01)


@pytest.mark.parametrize(
    "north_litres",
    [
        pytest.param(600.0, marks=pytest.mark.slow),
        1200.0,
        pytest.param(3000.0, marks=pytest.mark.slow),
    ],
)
def test_a_tier_left_at_almost_nothing_does_not_make_later_stages_infeasible(
    north_litres: float,
) -> None:
    # The README's field block reports 1,200 L at north and plans island-microgrid: tier 3
    # ends at a level of ~1e-7, and fixing hundreds of its load-hours a hair above what
    # the solver found made 'fuel kept' infeasible ("no single limit could be named").
    from planner.api import load_scenario
    from tests.unit.planner.test_determinism import SCENARIOS

    sc = load_scenario(SCENARIOS / "island-microgrid.toml").with_inventory(
        {"north/main": north_litres}
    )
    result = solve(sc)
    assert result.status == "solved", result.reason
    plan = result.to_json()
    assert sum(ld["demand_mwh"] for ld in plan["loads"]) == pytest.approx(
        plan["summary"]["demand_mwh"], rel=1e-9
    )


def _short_shift_model(write_case: Case) -> tuple[Scenario, Any]:
    """The three communities at tier 2 (a tier-3 load beside them): tier 2 cannot be served
    in full, so every tier's stages run (the every-tier path), here on shift factors."""
    from planner.formulation import build_problem
    from planner.network import build_network

    net = make_net(
        4,
        [(0, 1, 1.0), (0, 2, None), (0, 3, None)],
        [(1, 3.0, 0.0, "north"), (2, 4.0, 0.0, "mid"), (3, 7.0, 0.0, "south"), (3, 1.0, 0.0, "x")],
    )
    body = horizon(1) + genset(init=5 * 250, cap=20000)
    body += load(0, "north", 2, "north") + load(1, "mid", 2, "mid") + load(2, "south", 2, "south")
    body += load(3, "extra", 3, "south")
    sc = write_case(net, body)
    return sc, build_problem(sc, build_network(sc).grid, form="shift")


def test_an_interior_point_start_gives_the_walks_leximin_and_plan(
    write_case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A primal simplex walk cut short (here at once) hands the solve to interior point
    # with crossover; the leximin levels and the plan are the walk's.
    import planner.stage_context as stage_context
    from planner.highs import Solver
    from planner.stages import run_stages

    sc, problem = _short_shift_model(write_case)
    walk = run_stages(problem, sc.policy)
    interior: list[int] = []
    solve_interior = Solver.solve_interior

    def counted(self: Solver, time_limit: float | None = None) -> Any:
        interior.append(1)
        return solve_interior(self, time_limit)

    monkeypatch.setattr(Solver, "solve_interior", counted)
    monkeypatch.setattr(stage_context, "PRIMAL_WALK", 0)
    cut = run_stages(problem, sc.policy)
    assert walk.status == cut.status == "solved"
    assert interior  # the every-tier path was taken, and each walk was cut
    for run in (walk, cut):  # the worked example's levels: 1/3, then 4/11 for the others
        assert run.levels[2]["north"] == pytest.approx(1 / 3, abs=1e-6)
        assert run.levels[2]["mid"] == run.levels[2]["south"] == pytest.approx(4 / 11, abs=1e-6)
    assert [s.name for s in walk.log] == [s.name for s in cut.log]
    for a, b in zip(walk.log, cut.log, strict=True):
        assert a.objective == pytest.approx(b.objective, rel=1e-6, abs=1e-7), a.name
    assert walk.x is not None and cut.x is not None
    # the tie-break's single vertex, to the solver's tolerances (a plan rounds to 0.1 kW)
    assert np.allclose(walk.x, cut.x, rtol=0, atol=1e-5)
