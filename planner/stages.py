"""Lexicographic stages: tiers first, fairness within each, then fuel, then one tie-break.

Why sequential solves and not weights: the exchange rate between tiers in a
network LP (how much tier-2 load one MW of tier-1 shedding can free) is set by
line-flow sensitivities and fuel curves, so no weight can be proven to dominate
in advance. Each stage therefore solves its own objective and then fixes it
(``planner.fixing``: exact sums, rounded down to a stated tolerance) before the next:

1. for each tier 1, 2, 3 in turn:
   a. fairness (if on and the tier has more than one community): leximin between the
      tier's communities (``planner.leximin``): the worst-off as well off as possible,
      then the next, and so on; each community's level fixed;
   b. maximise the tier's served energy, fix it (skipped after a complete leximin,
      which already fixes it; for the lowest tier with a fuel weight it comes first);
   c. spread (small models): leximin over every load and hour of the tier, so that
      shortfall rolls over everyone instead of a blackout for a few;
2. fuel: maximise the fuel left in every tank and depot at the end, fix it;
3. tie-break (``planner.tiebreak``): a generic cost whose single optimal vertex is
   the plan (``tiebreak="lp"`` first maximises the average served fraction).

Shortcut: every tier but the lowest is first pinned at full demand and the
lowest tier's stages run directly; only if that is infeasible are all stages run
(on a fresh model), and it is not tried when the energy cannot suffice. Tiers that
turn out fully served skip their later stages. With ``strict_tiers = false`` step 1b
is one weighted stage over all tiers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from planner import leximin
from planner.fixing import exact_dot, floor_fix
from planner.formulation import Problem
from planner.highs import Outcome
from planner.lazyrows import LazyBranches
from planner.scenario import Policy
from planner.stage_context import LAZY_MAX_COLS, StageContext, open_context
from planner.stage_list import Stage, stage_list
from planner.tiebreak import lp_tiebreak, vertex_tiebreak

__all__ = ["LAZY_MAX_COLS", "StageLog", "StageRun", "run_stages"]


@dataclass
class StageLog:
    name: str
    status: str
    objective: float
    seconds: float
    iterations: int


@dataclass
class StageRun:
    status: str  # solved | partial | infeasible | unsolved
    reason: str
    x: np.ndarray | None
    log: list[StageLog] = field(default_factory=list)
    tier_optimum: dict[int, float] = field(default_factory=dict)
    fairness: dict[int, float] = field(default_factory=dict)  # tier -> worst-off level
    levels: dict[int, dict[str, float]] = field(default_factory=dict)  # tier -> community level
    spread: dict[int, float] = field(default_factory=dict)
    method: str = "simplex"
    tiebreak: str = "vertex"
    lazy: LazyBranches | None = None  # branch limits added lazily (None: all in from the start)

    @property
    def lazy_rows(self) -> int | None:
        """How many branch rows the lazy stages needed (None: the full model was used)."""
        return None if self.lazy is None else self.lazy.n_added


Progress = Callable[[str, float], None]


@dataclass
class _Pass:
    """One run through the priority stages (the optimistic one, or the full one)."""

    optimistic: set[int]
    full_tiers: set[int] = field(default_factory=set)
    fixed_by_fairness: set[int] = field(default_factory=set)  # leximin fixed every community
    x_last: np.ndarray | None = None


def run_stages(
    problem: Problem,
    policy: Policy,
    *,
    method: str = "simplex",
    time_limit: float | None = None,
    progress: Progress | None = None,
    tiebreak: str = "auto",
    fuel_weight_pu: float = 0.0,
    lazy_branches: bool | None = None,
    units: list[tuple[bool, str]] | None = None,
) -> StageRun:
    """Solve the lexicographic sequence on one HiGHS instance.

    ``lazy_branches`` (default: simplex on large models) starts without branch limits
    and adds the ones a stage breaks (``planner.lazyrows``). Shift-factor limits
    (``problem.shift``) are always added that way. ``units``: (curtailable, battery
    role) per unit, for the final tie-break's preferences (default: plain units).
    """
    if tiebreak not in ("auto", "lp", "vertex"):
        raise ValueError(f"tiebreak: must be auto, lp or vertex, got {tiebreak!r}")
    if tiebreak == "auto":
        tiebreak = "vertex"
    deadline = None if time_limit is None else time.perf_counter() + time_limit
    ctx = open_context(problem, method=method, lazy_branches=lazy_branches, deadline=deadline)
    stages = stage_list(problem, policy, fuel_weight_pu)
    tiers = sorted({s.tier for s in stages if s.kind == "tier"})
    optimistic = set(tiers[:-1]) if policy.strict_tiers and len(tiers) > 1 else set()
    if optimistic and not _can_serve(problem, optimistic):
        # not even all the energy there is would serve them (pinning fewer tiers was
        # measured slower: case2869pegase 72 h, tier 1 alone pinned, over 25 minutes)
        optimistic = set()
        _every_tier_settings(ctx, method)
    run = StageRun(status="unsolved", reason="", x=None, method=method, lazy=ctx.lazy)
    state = _Pass(optimistic)
    _pin_tiers(ctx, optimistic, full=True)
    stopped = _priority_stages(ctx, run, stages, state, progress)
    if stopped == "restart":
        # a fresh model: the optimistic pass may have fixed rows; keep the limits it found
        ctx = open_context(
            problem,
            method=method,
            lazy_branches=lazy_branches,
            deadline=deadline,
            preload=None if ctx.lazy is None else ctx.lazy.added,
        )
        _every_tier_settings(ctx, method)
        run.lazy, state = ctx.lazy, _Pass(set())
        stopped = _priority_stages(ctx, run, stages, state, progress)
    if isinstance(stopped, StageRun):
        return stopped
    return _finish(ctx, run, state, tiebreak, units, progress)


def _every_tier_settings(ctx: StageContext, method: str) -> None:
    """The slow path (higher tiers short, every stage runs) on a shift-factor model:
    without presolve, which on the unpinned model peaks far above the rest
    (case2869pegase, tiers 1-2 short: 72 h 2.4 GB -> 0.8 GB); and primal simplex for a
    new objective, going on from the last plan, which dual simplex from the last basis
    was measured far slower at there (24 h: 197 s against 60 s, on a loaded machine);
    a fairness level that walk does not reach soon goes to interior point
    (``StageContext._primal_walk``)."""
    if ctx.problem.shift is None:
        return
    ctx.solver.h.setOptionValue("presolve", "off")
    ctx.primal_stages = method == "simplex"


def _priority_stages(
    ctx: StageContext,
    run: StageRun,
    stages: list[Stage],
    state: _Pass,
    progress: Progress | None,
) -> StageRun | str | None:
    """Every stage before the tie-break; "restart" when the optimistic pin fails."""
    for i, stage in enumerate(stages):
        if _skip(ctx, run, stage, state):
            continue
        if progress:
            progress(stage.name, i / (len(stages) + 1))
        out, value, seconds, iterations = _solve_stage(ctx, run, stage, state)
        run.log.append(StageLog(stage.name, out.status, value, seconds, iterations))
        if out.status == "infeasible" and state.optimistic:
            run.log[-1].status = "infeasible with higher tiers in full: staging every tier"
            for k in state.optimistic:
                run.tier_optimum.pop(k, None)
                run.fairness.pop(k, None)
            return "restart"
        if out.status != "optimal" or out.x is None:
            return _stop(run, out, stage.name, state.x_last)
        state.x_last = out.x
    if not stages:
        out = ctx.solve(np.zeros(ctx.problem.n_col))
        run.log.append(StageLog("feasibility", out.status, 0.0, out.seconds, out.iterations))
        if out.status != "optimal":
            return _stop(run, out, "feasibility", None)
        state.x_last = out.x
    return None


def _skip(ctx: StageContext, run: StageRun, stage: Stage, state: _Pass) -> bool:
    """Stages with nothing to decide: pinned tiers, fully served tiers, empty spreads."""
    k = stage.tier
    if k in state.optimistic:
        if stage.kind == "tier":
            run.tier_optimum[k], run.fairness[k] = _full(ctx.problem, k), 1.0
            run.log.append(
                StageLog(stage.name, "skipped (served in full)", run.tier_optimum[k], 0.0, 0)
            )
        return True
    if stage.kind in ("spread", "pref"):
        return k in state.full_tiers or run.tier_optimum.get(k, 1.0) <= 1e-12
    if stage.kind == "tier" and k in state.full_tiers:
        run.tier_optimum[k] = _full(ctx.problem, k)
        run.log.append(
            StageLog(stage.name, "skipped (tier fully served)", run.tier_optimum[k], 0.0, 0)
        )
        return True
    if stage.kind == "tier" and k in state.fixed_by_fairness and state.x_last is not None:
        # leximin is Pareto optimal between communities: with every community fixed at
        # its level, the tier's served energy is fixed too (to the fractions' tolerance)
        served = exact_dot(ctx.problem.energy_weight[k], state.x_last)
        run.tier_optimum[k] = served
        run.log.append(StageLog(stage.name, "skipped (fixed by fairness)", served, 0.0, 0))
        return True
    return False


def _can_serve(problem: Problem, tiers: set[int]) -> bool:
    """Could these tiers be served in full, as far as total energy goes? (A necessary
    condition only: False means the optimistic pin is sure to fail, so it is not tried.)"""
    need = sum(_full(problem, k) for k in tiers) * problem.base_mva * (1.0 + problem.loss)
    return need + problem.fixed_energy_mwh <= problem.energy_bound_mwh * (1.0 + 1e-9)


def _full(problem: Problem, k: int) -> float:
    """Tier k's energy when every load it can reach is served in full."""
    return exact_dot(problem.energy_weight[k], _finite(problem.col_hi))


def _solve_stage(
    ctx: StageContext, run: StageRun, stage: Stage, state: _Pass
) -> tuple[Outcome, float, float, int]:
    """Solve one stage and fix its optimum: (last outcome, the optimum as logged, solver
    seconds, iterations)."""
    k, problem = stage.tier, ctx.problem
    if stage.kind in ("fair", "spread"):
        found = leximin.communities(ctx, k) if stage.kind == "fair" else leximin.spread(ctx, k)
        assert found.outcome is not None
        if stage.kind == "spread":
            run.spread[k] = found.objective
        elif found.outcome.status == "optimal":
            run.fairness[k], run.levels[k] = found.objective, found.levels
            if found.levels and min(found.levels.values()) >= leximin.FULL:
                state.full_tiers.add(k)  # every community is at ~100%
            if found.complete and not stage.fuel_weighted:
                state.fixed_by_fairness.add(k)
        return found.outcome, found.objective, found.seconds, found.iterations
    out = ctx.solve(stage.cost)
    if out.status != "optimal" or out.x is None:
        return out, 0.0, out.seconds, out.iterations
    value = exact_dot(stage.cost, out.x)
    if stage.kind == "tier":
        served = exact_dot(problem.energy_weight[k], out.x)
        run.tier_optimum[k] = served
        if served >= _full(problem, k) * (1 - 1e-9):
            state.full_tiers.add(k)
        ctx.solver.add_row(problem.energy_weight[k], floor_fix(served), np.inf)
    if stage.kind == "weighted":
        for kk in (1, 2, 3):
            if np.any(problem.energy_weight[kk]):
                run.tier_optimum[kk] = exact_dot(problem.energy_weight[kk], out.x)
    if stage.kind != "tier" or stage.fuel_weighted:
        ctx.solver.add_row(stage.cost, floor_fix(value), np.inf)
    return out, value, out.seconds, out.iterations


def _finish(
    ctx: StageContext,
    run: StageRun,
    state: _Pass,
    tiebreak: str,
    units: list[tuple[bool, str]] | None,
    progress: Progress | None,
) -> StageRun:
    """The tie-break: (large models) the average served fraction, then the vertex."""
    problem, solver = ctx.problem, ctx.solver
    if progress:
        progress("tie-break", 0.95)
    if solver.is_mip and state.x_last is not None:
        ucols = problem.blocks["u"].cols()
        vals = np.round(state.x_last[ucols])
        solver.set_col_bounds(ucols, vals, vals)
        solver.set_integrality_continuous()
    run.tiebreak = "lp, vertex" if tiebreak == "lp" else "vertex"
    if tiebreak == "lp":
        out, value = lp_tiebreak(ctx)
        run.log.append(StageLog("tie-break (lp)", out.status, value, out.seconds, out.iterations))
        if out.status != "optimal" or out.x is None:
            return _partial_tiebreak(run, out, state.x_last)
        state.x_last = out.x
    units = units or [(False, "")] * len(problem.unit_pmax_t)
    out, value = vertex_tiebreak(ctx, units)
    run.log.append(StageLog("tie-break (vertex)", out.status, value, out.seconds, out.iterations))
    if out.status != "optimal" or out.x is None:
        return _partial_tiebreak(run, out, state.x_last)
    run.x = out.x
    run.status = "solved"
    return run


def _partial_tiebreak(run: StageRun, out: Outcome, x_last: np.ndarray | None) -> StageRun:
    run.status = "partial"
    run.reason = (
        f"the tie-break stage ended {out.status}; the plan meets every priority "
        "but who is shed among equals is not pinned down"
    )
    run.x = x_last
    return run


def _pin_tiers(ctx: StageContext, tiers: set[int], *, full: bool) -> None:
    """Served load of these tiers fixed at demand (full) or back to [0, demand]."""
    for k in tiers:
        cols = np.flatnonzero(ctx.problem.energy_weight[k])
        hi = ctx.problem.col_hi[cols]
        ctx.solver.set_col_bounds(cols, hi if full else np.zeros(len(cols)), hi)


def _finite(v: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(v), v, 0.0)


def _stop(run: StageRun, out: Outcome, name: str, x_last: np.ndarray | None) -> StageRun:
    if out.status == "infeasible":
        run.status = "infeasible"
        run.reason = f"no plan satisfies the hard limits (found at stage '{name}')"
    elif out.status in ("time_limit", "error") and x_last is not None:
        # every stage before this one holds: a plan that meets those priorities
        run.status = "partial"
        run.x = x_last
        why = (
            "time limit reached during"
            if out.status == "time_limit"
            else f"the solver failed ({out.detail or 'no answer'}) at"
        )
        run.reason = f"{why} stage '{name}'; the plan is the one from the stage before"
    elif out.status == "time_limit":
        run.status = "unsolved"
        run.reason = f"time limit reached during stage '{name}' before any plan was found"
    else:
        run.status = "unsolved"
        run.reason = f"the solver stopped with '{out.detail or out.status}' at stage '{name}'"
    return run
