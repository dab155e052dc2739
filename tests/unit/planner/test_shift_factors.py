"""Shift factors: large networks plan without bus angles, with the same guarantees.

The flows the shift factors give must be the DC power flow's (checked against
pandapower's own ``rundcpp``), and a plan built on them must reach the optima of the
angle formulation stage by stage and respect every branch limit.
"""

from __future__ import annotations

import copy
import functools
import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import planner.model_data as model_data
from planner.api import Scenario, parse_scenario, solve
from planner.formulation import build_problem
from planner.network import build_network
from planner.stages import run_stages

from .conftest import find, make_net
from .test_plan_small import horizon, load
from .test_stage_reductions import _meshed

Case = Callable[..., Scenario]


def _angle_flows_ok(problem: Any, x_angles: np.ndarray) -> bool:
    start, count = problem.rows["branch"]
    act = problem.A.tocsr()[start : start + count] @ x_angles
    lo, hi = problem.row_lo[start : start + count], problem.row_hi[start : start + count]
    return bool(np.all(act <= hi + 1e-6) and np.all(act >= lo - 1e-6))


@pytest.mark.parametrize("init", [9000, 2500])
def test_shift_factor_stages_reach_the_angle_models_optima(write_case: Case, init: float) -> None:
    sc = _meshed(write_case, init=init)
    grid = build_network(sc).grid
    angles = build_problem(sc, grid, form="angles")
    shift = build_problem(sc, grid, form="shift")
    assert shift.shift is not None and "branch" not in shift.rows
    assert shift.blocks["th"].n == 0
    assert shift.n_col < angles.n_col  # the angles are gone
    full = run_stages(angles, sc.policy, tiebreak="lp", lazy_branches=False)
    run = run_stages(shift, sc.policy, tiebreak="lp")
    assert full.status == run.status == "solved"
    assert run.lazy_rows is not None and run.lazy_rows > 0  # some limits were needed
    assert [s.name for s in full.log] == [s.name for s in run.log]
    for a, b in zip(full.log, run.log, strict=True):
        assert a.objective == pytest.approx(b.objective, rel=1e-6, abs=1e-7), a.name
    # the shift plan's dispatch, put into the angle model (angles from a DC power flow),
    # respects every branch limit there too
    assert run.x is not None
    flows = shift.shift.flows_mw(run.x, shift.base_mva)  # type: ignore[union-attr]
    rate = grid.branch_rate_mw[shift.limited_branches]
    assert np.all(np.abs(flows) <= rate * (1 + 1e-6) + 1e-6)
    if init == 9000:  # with fuel to spare, the lines are what limits the plan
        assert np.any(np.abs(flows) >= rate * (1 - 1e-5))


def test_large_models_use_shift_factors_and_say_so(
    write_case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    sc = _meshed(write_case)
    small = solve(sc, validate=False).to_json()
    assert small["recipe"]["network"] == "angles"
    monkeypatch.setattr(model_data, "LARGE_COLS", 10)  # this tiny case counts as large
    res = solve(sc, validate=False)
    assert res.status == "solved", res.reason
    plan = res.to_json()
    assert plan["recipe"]["network"] == "shift factors"
    assert plan["recipe"]["method"] == "simplex" and plan["recipe"]["tiebreak"] == "vertex"
    assert any("shift factors" in n for n in plan["notes"])
    # interior point restarts cold after every batch of added rows: it keeps the angles
    ipm = solve(sc, validate=False, method="ipm").to_json()
    assert ipm["recipe"]["network"] == "angles" and ipm["recipe"]["method"] == "ipm"
    assert any("were needed" in n for n in plan["notes"])
    # binding branches are read off the shift factors
    grid = build_network(sc).grid
    limited = {grid.branch_names[b] for b in np.flatnonzero(np.isfinite(grid.branch_rate_mw))}
    assert plan["binding_branches"]
    assert {b["branch"] for b in plan["binding_branches"]} <= limited
    # priorities reach the same optimum as the angle plan
    for tier in (1, 2, 3):
        a = find(small["tiers"], "tier", tier)
        b = find(plan["tiers"], "tier", tier)
        assert a["served_mwh"] == pytest.approx(b["served_mwh"], abs=2e-3)


def test_shift_factor_infeasibility_names_the_branch(
    write_case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A must-run unit pushes 6 MW from bus 0 to bus 2; two thirds of it take the direct,
    # 3 MW line. Breaking that limit by 1 MW is cheaper than the unit's minimum by 1.5 MW,
    # so the diagnosis (on the shift model, limits added as its relaxation breaks them)
    # names the line, exactly as the angle model's diagnosis does.
    net = make_net(3, [(0, 1, None), (1, 2, None), (0, 2, 3.0)], [(2, 6.0, 0.0, "far")])
    body = horizon(2) + load(0, "far", 3)
    body += (
        '\n[[generators]]\nname = "big"\nelement = "new"\nbus = 0\np_max_mw = 10\np_min_mw = 6\n'
    )
    sc = write_case(net, body)
    angles = solve(sc, validate=False).to_json()
    monkeypatch.setattr(model_data, "LARGE_COLS", 1)
    res = solve(sc, validate=False)
    assert res.status == "infeasible"
    plan = res.to_json()
    assert plan["recipe"]["network"] == "shift factors"
    items = plan["reason_detail"]["items"]
    assert {(i["limit"], i["period"]) for i in items} == {("branch limit", 0), ("branch limit", 1)}
    assert items == angles["reason_detail"]["items"]
    assert items[0]["by"] == pytest.approx(1.0, abs=1e-3)
    assert "branch limit" in res.reason


def test_diagnosis_names_lazily_added_limit_rows_and_gives_up_in_time(write_case: Case) -> None:
    from planner.diagnose import describe_row, diagnose_infeasible

    net = make_net(3, [(0, 1, None), (1, 2, 3.0)], [(2, 6.0, 0.0, "far")])
    body = horizon(2) + load(0, "far", 3)
    body += (
        '\n[[generators]]\nname = "big"\nelement = "new"\nbus = 0\np_max_mw = 10\np_min_mw = 5\n'
    )
    sc = write_case(net, body)
    grid = build_network(sc).grid
    problem = build_problem(sc, grid, form="shift")
    assert problem.shift is not None
    # the second limit row added (period 1 of the only limited branch) sits after the
    # model's own rows; it is named as a branch limit in its period
    n_lim = len(problem.limited_branches)
    kind, element, t = describe_row(problem, grid, sc, problem.n_row + 1, [0, n_lim])
    assert (kind, t) == ("branch limit", 1)
    assert element == grid.branch_names[problem.limited_branches[0]]
    # a relaxation that cannot finish in time says so and what to try
    out = diagnose_infeasible(problem, grid, sc, time_limit=1e-9)
    assert not out["items"]
    assert "could not diagnose within" in out["summary"] and "--periods" in out["summary"]


def test_one_reference_per_island_or_the_angles_stay(write_case: Case) -> None:
    sc = _meshed(write_case)
    grid = build_network(sc).grid
    assert build_problem(sc, grid, form="shift").shift is not None
    other = int(np.setdiff1d(np.arange(grid.n_bus), grid.ref_buses)[0])
    two_refs = replace(
        grid,
        ref_buses=np.append(grid.ref_buses, other),
        ref_angles=np.append(grid.ref_angles, 0.0),
    )
    problem = build_problem(sc, two_refs, form="shift")
    assert problem.shift is None and "branch" in problem.rows
    with pytest.raises(ValueError, match="form"):
        build_problem(sc, grid, form="ptdf")


def test_tie_break_options_are_checked(write_case: Case) -> None:
    sc = _meshed(write_case)
    shift = build_problem(sc, build_network(sc).grid, form="shift")
    with pytest.raises(ValueError, match="tiebreak"):
        run_stages(shift, sc.policy, tiebreak="center")
    assert run_stages(shift, sc.policy, tiebreak="vertex").tiebreak == "vertex"


# ---- the flows themselves, against pandapower's DC power flow ------------------------


def _case_scenario(case: str, loss: float = 0.0) -> Scenario:
    return parse_scenario(
        f'[scenario]\nname = "{case}"\n[network]\ncase = "{case}"\nloss_allowance = {loss}\n'
        "[horizon]\nperiods = 2\n"
    )


@functools.cache
def _case(case: str, loss: float = 0.0) -> tuple[Any, Any]:
    import pandapower.networks as pn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = getattr(pn, case)()
    sc = _case_scenario(case, loss)
    return build_network(sc, net=net), sc


def test_case89pegase_has_what_the_flow_check_needs() -> None:
    # phase shifters (Pfinj, Pbusinj), shunts (fixed demand) and static generators: the
    # constant part of every flow and the curtailable injections are covered below
    grid = _case("case89pegase")[0].grid
    assert np.any(grid.pfinj) and np.any(grid.pbusinj) and np.any(grid.fixed_demand_mw)
    assert {u.element for u in grid.units} >= {"gen", "sgen", "ext_grid"}


@pytest.mark.parametrize(
    ("case", "loss"), [("case118", 0.0), pytest.param("case89pegase", 0.05, marks=pytest.mark.slow)]
)
@settings(max_examples=10, deadline=None)
@given(
    scale=st.lists(st.floats(0.0, 1.5), min_size=2, max_size=2),
    seed=st.integers(0, 2**16),
)
def test_shift_flows_equal_pandapower_rundcpp(
    case: str, loss: float, scale: list[float], seed: int
) -> None:
    # (a loss allowance serves s but draws s x (1 + loss) from the network)
    import pandapower as pp

    model, sc = _case(case, loss)
    grid = model.grid
    # every branch limited (1 MW) so every flow has a shift-factor row to compare
    limited_grid = replace(grid, branch_rate_mw=np.ones_like(grid.branch_rate_mw))
    problem = build_problem(sc, limited_grid, form="shift")
    sf = problem.shift
    assert sf is not None and sf.n_lim == grid.Bf.shape[0]
    rng = np.random.default_rng(seed)
    T = problem.T
    nu, nl = len(grid.units), len(grid.loads)
    p = np.array([u.p_max_mw for u in grid.units])
    p = np.where(np.isfinite(p), p, 0.0) * rng.uniform(0, 1, (T, nu)) * scale[0]
    s = np.array([ld.p_mw for ld in grid.loads]) * rng.uniform(0, 1, (T, nl)) * scale[1]
    x = np.zeros(problem.n_col)
    x[problem.blocks["p"].cols()] = (p / grid.base_mva).ravel()
    x[problem.blocks["s"].cols()] = (s / grid.base_mva).ravel()
    flows = sf.flows_mw(x, grid.base_mva)
    for t in range(T):
        net = copy.deepcopy(model.net)
        for i, u in enumerate(grid.units):
            if u.element in ("gen", "sgen"):
                net[u.element].at[u.index, "p_mw"] = p[t, i]
            elif u.element == "load":  # a negative load is a unit
                net.load.at[u.index, "p_mw"] = -p[t, i]
        for j, ld in enumerate(grid.loads):
            net.load.at[ld.index, "p_mw"] = s[t, j] * (1 + loss)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pp.rundcpp(net)
        expect = np.array(
            [
                net[f"res_{kind}"].at[int(idx), "p_from_mw" if kind == "line" else "p_hv_mw"]
                for kind, idx in zip(grid.branch_kind, grid.branch_index, strict=True)
            ]
        )
        assert np.allclose(flows[t], expect, atol=1e-6 * max(1.0, float(np.abs(expect).max())))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), picks=st.lists(st.integers(0, 10**6), min_size=1, max_size=8))
def test_limit_rows_agree_with_the_flows_they_bound(seed: int, picks: list[int]) -> None:
    # the rows the solver gets (built per branch and period on demand) measure the same
    # flow the violation check computes, and their bounds carry the constant part
    model, sc = _case("case89pegase")
    grid = model.grid
    limited_grid = replace(grid, branch_rate_mw=np.full_like(grid.branch_rate_mw, 50.0))
    problem = build_problem(sc, limited_grid, form="shift")
    sf = problem.shift
    assert sf is not None
    x = np.random.default_rng(seed).uniform(-1, 1, problem.n_col)
    idx = np.unique(np.array(picks) % sf.n_rows)
    rows = sf.rows(idx, problem.n_col)
    assert rows.shape == (len(idx), problem.n_col)
    assert np.allclose(rows @ x, sf.values(x)[idx], atol=1e-9)


def test_shift_factor_plans_are_reproducible(
    write_case: Case, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the ledger stores a plan by hash and recipe: the same recipe, the same plan
    monkeypatch.setattr(model_data, "LARGE_COLS", 10)
    sc = _meshed(write_case, init=2500)
    a = solve(sc, validate=False).to_json()
    b = solve(sc, validate=False).to_json()
    assert a["recipe"]["network"] == "shift factors"
    assert a["plan_hash"] == b["plan_hash"] and a == b


def _two_islands() -> Any:
    """case14 cut in two islands, each with its own slack at a non-zero angle, plus phase
    shifters, shunts (fixed demand), a static generator, a negative load and a gen at a
    reference bus: every constant and every kind of unit the shift factors must carry."""
    import pandapower as pp
    import pandapower.networks as pn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = pn.case14()
        net.ext_grid.at[0, "va_degree"] = -7.0
        first = set(range(5))
        for i, row in net.line.iterrows():
            if (row.from_bus in first) != (row.to_bus in first):
                net.line.at[i, "in_service"] = False
        for i, row in net.trafo.iterrows():
            if (row.hv_bus in first) != (row.lv_bus in first):
                net.trafo.at[i, "in_service"] = False
            else:
                net.trafo.at[i, "shift_degree"] = 5.0
        pp.create_ext_grid(net, 8, va_degree=13.0, max_p_mw=40.0, min_p_mw=-40.0)
        pp.create_shunt(net, 10, q_mvar=0, p_mw=3.0)
        pp.create_shunt(net, 2, q_mvar=0, p_mw=2.0)
        pp.create_sgen(net, 12, p_mw=6.0)
        pp.create_load(net, 3, p_mw=-4.0)
        pp.create_gen(net, 8, p_mw=5, max_p_mw=20, min_p_mw=0, vm_pu=1.0)
        net.ext_grid.at[0, "max_p_mw"] = 150.0
        net.ext_grid.at[0, "min_p_mw"] = -10.0
    return net


@pytest.mark.parametrize("loss", [0.0, 0.08])
def test_two_islands_with_every_constant_plan_alike(loss: float) -> None:
    from planner.formulation import island_labels

    net = _two_islands()
    sc = parse_scenario(
        '[scenario]\nname = "split"\n[network]\ncase = "case14"\n'
        f"loss_allowance = {loss}\n"
        "[horizon]\nperiods = 3\n[profiles]\nday = [0.6, 1.0, 0.8]\n[policy]\ndefault_tier = 2\n"
    )
    grid = build_network(sc, net=net).grid
    assert int(island_labels(grid).max()) == 1 and len(grid.ref_buses) == 2
    assert np.any(grid.pfinj) and np.any(grid.fixed_demand_mw) and np.any(grid.ref_angles)
    # ratings at 60% of the flows a plan takes without them, so that they bind
    free = build_problem(sc, grid, form="angles")
    x0 = run_stages(free, sc.policy, tiebreak="lp", lazy_branches=False).x
    assert x0 is not None
    th0 = x0[free.blocks["th"].cols()].reshape(free.T, grid.n_bus)
    f0 = np.abs((grid.Bf @ th0.T).T + grid.pfinj).max(axis=0) * grid.base_mva
    grid = replace(grid, branch_rate_mw=np.maximum(0.6 * f0, 0.5))
    angles = build_problem(sc, grid, form="angles")
    shift = build_problem(sc, grid, form="shift")
    assert shift.shift is not None
    full = run_stages(angles, sc.policy, lazy_branches=False)
    run = run_stages(shift, sc.policy)  # "auto" tie-break: the vertex, either form
    assert full.status == run.status == "solved"
    assert run.tiebreak == full.tiebreak == "vertex" and run.lazy_rows
    assert [s.name for s in full.log] == [s.name for s in run.log]
    for a, b in zip(full.log, run.log, strict=True):
        assert a.objective == pytest.approx(b.objective, rel=1e-6, abs=1e-7), a.name
    assert run.x is not None and full.x is not None
    rate = grid.branch_rate_mw[shift.limited_branches]
    flows = shift.shift.flows_mw(run.x, shift.base_mva)  # type: ignore[union-attr]
    assert np.all(np.abs(flows) <= rate + 1e-5)
    # the angle plan's own flows, recomputed through the shift factors, agree
    th = full.x[angles.blocks["th"].cols()].reshape(angles.T, grid.n_bus)
    own = (grid.Bf[angles.limited_branches] @ th.T).T + grid.pfinj[angles.limited_branches]
    x = np.zeros(shift.n_col)
    x[shift.blocks["p"].cols()] = full.x[angles.blocks["p"].cols()]
    x[shift.blocks["s"].cols()] = full.x[angles.blocks["s"].cols()]
    assert np.allclose(shift.shift.flows_mw(x, shift.base_mva), own * grid.base_mva, atol=1e-6)  # type: ignore[union-attr]
