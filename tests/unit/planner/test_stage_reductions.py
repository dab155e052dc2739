"""Smaller models, same guarantees: lazy branch limits and spread floors as bounds.

Large networks start their stages without branch limits and add the ones a stage
breaks; the spread stage's rows are in the model for that stage only. Both must
give the plans of the full model: same stage optima, every limit respected.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from planner.api import Scenario, solve
from planner.formulation import build_problem
from planner.network import build_network
from planner.stages import run_stages

from .conftest import find, make_net
from .test_plan_small import genset, horizon, load

Case = Callable[..., Scenario]

# A meshed 4-bus network: the genset at bus 0 reaches loads at buses 2 and 3 over two
# limited paths; the load profile makes the limits bind in some hours only.
PROFILE = "\n[profiles]\nday = [0.5, 1.0, 0.8, 0.3]\n"


def _meshed(write_case: Case, *, init: float = 9000) -> Scenario:
    net = make_net(
        4,
        [(0, 1, None), (1, 2, 3.0), (0, 3, 2.5), (3, 2, 2.0), (1, 3, None)],
        [
            (1, 1.0, 0.0, "clinic"),
            (2, 4.0, 0.0, "north"),
            (3, 3.0, 0.0, "south"),
            (2, 2.0, 0.0, "depot"),
        ],
    )
    body = horizon(4) + genset(init=init) + PROFILE
    for i, (name, tier, comm) in enumerate(
        [("clinic", 1, "a"), ("north", 3, "a"), ("south", 3, "b"), ("depot", 2, "b")]
    ):
        body += load(i, name, tier, comm) + 'profile = "day"\n'
    return write_case(net, body)


def _flows_ok(problem, x: np.ndarray) -> bool:  # type: ignore[no-untyped-def]
    start, count = problem.rows["branch"]
    act = problem.A.tocsr()[start : start + count] @ x
    lo, hi = problem.row_lo[start : start + count], problem.row_hi[start : start + count]
    return bool(np.all(act <= hi + 1e-6) and np.all(act >= lo - 1e-6))


@pytest.mark.parametrize("tiebreak", ["lp", "vertex"])
@pytest.mark.parametrize("init", [9000, 2500])
def test_lazy_branch_limits_give_the_full_models_plan(
    write_case: Case, tiebreak: str, init: float
) -> None:
    sc = _meshed(write_case, init=init)
    model = build_network(sc)
    problem = build_problem(sc, model.grid)
    assert "branch" in problem.rows
    full = run_stages(problem, sc.policy, tiebreak=tiebreak, lazy_branches=False)
    lazy = run_stages(problem, sc.policy, tiebreak=tiebreak, lazy_branches=True)
    assert full.status == lazy.status == "solved"
    assert full.lazy_rows is None
    assert lazy.lazy_rows is not None and lazy.lazy_rows > 0  # some limits were needed
    assert lazy.x is not None and full.x is not None
    assert _flows_ok(problem, lazy.x)
    # every stage reached the same optimum
    assert [s.name for s in full.log] == [s.name for s in lazy.log]
    for a, b in zip(full.log, lazy.log, strict=True):
        assert a.objective == pytest.approx(b.objective, rel=1e-6, abs=1e-7), a.name
    for k, v in full.tier_optimum.items():
        assert lazy.tier_optimum[k] == pytest.approx(v, rel=1e-6, abs=1e-7)
    # the final vertex is the single optimum of the full model: the same plan either way
    for name in ("p", "s", "L"):
        cols = problem.blocks[name].cols()
        assert np.allclose(full.x[cols], lazy.x[cols], atol=1e-6), name


def test_lazy_plan_matches_the_full_plan_where_limits_bind(write_case: Case) -> None:
    sc = _meshed(write_case)
    res_full = solve(sc, validate=False)
    model = build_network(sc)
    problem = build_problem(sc, model.grid)
    run = run_stages(problem, sc.policy, lazy_branches=True)
    assert run.status == "solved" and run.x is not None
    # served load per hour as in the full model's plan (a single vertex: the same point)
    served = run.x[problem.blocks["s"].cols()].reshape(problem.T, -1).T * problem.base_mva
    north = [ld.name for ld in model.grid.loads].index("north")
    plan_north = find(res_full.to_json()["loads"], "name", "north")["served_mw"]
    assert served[north] == pytest.approx(plan_north, abs=1e-3)
    assert res_full.to_json()["binding_branches"]  # the limits do bind in this case


def test_spread_floor_holds_for_every_load_hour(write_case: Case) -> None:
    # Fuel for half of the tier-3 energy; the spread stage holds every tier-3 load-hour
    # at or above the tier's hourly floor, and the floor is the best possible: 50%.
    net = make_net(2, [(0, 1, None)], [(1, 2.0, 0.0, "a"), (1, 6.0, 0.0, "b")])
    body = horizon(2) + genset(init=0.5 * 8 * 2 * 250) + load(0, "a", 3) + load(1, "b", 3)
    plan = solve(write_case(net, body), validate=False).to_json()
    floor = find(plan["tiers"], "tier", 3)["hourly_floor_pct"]
    assert floor == pytest.approx(50.0, abs=0.01)
    for name, demand in (("a", 2.0), ("b", 6.0)):
        for mw in find(plan["loads"], "name", name)["served_mw"]:
            assert mw >= floor / 100 * demand - 1e-3
    names = [s["name"] for s in plan["stages"]]
    assert "tier 3 spread" in names and names.index("tier 3 spread") < names.index("fuel kept")


def test_each_solve_gets_its_own_time_budget(write_case: Case) -> None:
    # HiGHS's run clock adds up over every run of one instance; a stage's time limit
    # must count from its own start, or later stages would stop at once
    from planner.highs import Solver

    sc = _meshed(write_case)
    problem = build_problem(sc, build_network(sc).grid)
    solver = Solver(problem.A, problem.col_lo, problem.col_hi, problem.row_lo, problem.row_hi)
    solver.set_objective(problem.energy_weight[3])
    while solver.h.getRunTime() < 0.3:
        solver.h.clearSolver()
        assert solver.solve().status == "optimal"
    solver.h.clearSolver()
    out = solver.solve(0.2)
    assert out.status == "optimal", out.detail


def test_a_solver_failure_after_some_stages_keeps_the_plan_so_far() -> None:
    # e.g. HiGHS ending 'Unknown' in the fuel stage: every priority before it holds, so
    # the operator gets that plan, marked partial, with the reason - not nothing
    from planner.highs import Outcome
    from planner.stages import StageRun, _stop

    failed = Outcome("error", float("nan"), None, None, None, 1.0, 10, "Unknown")
    x_last = np.arange(3.0)
    run = _stop(StageRun("unsolved", "", None), failed, "fuel kept", x_last)
    assert run.status == "partial" and run.x is x_last
    assert "Unknown" in run.reason and "fuel kept" in run.reason
    assert "stage before" in run.reason
    first = _stop(StageRun("unsolved", "", None), failed, "tier 1 fairness", None)
    assert first.status == "unsolved" and first.x is None and "Unknown" in first.reason
