"""Lexicographic stages: tiers first, then fairness, then fuel, then one tie-break.

Why sequential solves and not weights: the exchange rate between tiers in a
network LP (how much tier-2 load one MW of tier-1 shedding can free) is set by
line-flow sensitivities and fuel curves, so no weight can be proven to dominate
in advance. Each stage therefore solves its own objective and then fixes it
(to within ``REL_TOL`` relative, fractions to ``FRACTION_TOL``) before the next:

1. for each tier 1, 2, 3 in turn:
   a. fairness (if on and the tier has more than one community): maximise the
      smallest served fraction among the tier's communities (``z_tier``), fix it;
   b. maximise the tier's served energy, fix it;
   c. spread: maximise the smallest served fraction over every load and hour of
      the tier (``f_tier``), fix it — shortfall rolls over everyone;
2. fuel: maximise the fuel left in every tank and depot at the end, fix it;
3. tie-break: the analytic centre of the remaining optimal face (interior point
   without crossover or presolve, zero objective). It is unique and depends on
   the model only, not on the path the earlier stages took, which is what makes
   the plan deterministic; it lies away from every bound, so equal units share
   and equal loads are shed alike. (HiGHS's active-set QP was tried for a
   strictly convex tie-break and cycles on degenerate faces even on 2-bus
   cases; ``tiebreak="qp"`` keeps it available for experiments.)

Shortcut: every tier but the lowest is first pinned at full demand and the
lowest tier's stages run directly; only if that is infeasible are all stages run.
Tiers that turn out fully served skip their later stages.
With ``strict_tiers = false`` step 1b is one weighted stage over all tiers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from planner.formulation import Problem
from planner.highs import Outcome, Solver
from planner.lazyrows import LazyBranches, solve_lazily
from planner.scenario import Policy

# Large models normally plan through shift factors (no angles; dual simplex, limits added
# when broken). Only a large model that keeps its angles (an island with more than one
# fixed angle) uses this: up to this size dual simplex with lazy angle rows, above it
# interior point on the full model (case2869pegase with angles: 24 h, 117,590 columns,
# 41 s lazy vs 89 s IPM; 72 h, 352,761 columns: over 900 s lazy vs 339 s IPM)
LAZY_MAX_COLS = 200_000
REL_TOL = 1e-6  # fixing tolerance of a stage's optimum, relative to max(1, |optimum|)
FRACTION_TOL = 1e-7  # fixing tolerance of a served fraction (z, f)


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
    duals: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # stage -> row/col duals
    tier_optimum: dict[int, float] = field(default_factory=dict)
    fairness: dict[int, float] = field(default_factory=dict)
    spread: dict[int, float] = field(default_factory=dict)
    method: str = "simplex"
    tiebreak: str = "qp"
    lazy: LazyBranches | None = None  # branch limits added lazily (None: all in from the start)

    @property
    def lazy_rows(self) -> int | None:
        """How many branch rows the lazy stages needed (None: the full model was used)."""
        return None if self.lazy is None else self.lazy.n_added


Progress = Callable[[str, float], None]


def _fix_tol(value: float) -> float:
    return REL_TOL * max(1.0, abs(value))


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
) -> StageRun:
    """Solve the lexicographic sequence on one HiGHS instance.

    ``lazy_branches`` (default: simplex on large models) starts without branch limits
    and adds the ones a stage breaks (``planner.lazyrows``). Shift-factor limits
    (``problem.shift``) are always added that way.
    """
    t_start = time.perf_counter()
    if tiebreak == "auto":
        tiebreak = "lp" if problem.large or problem.shift is not None else "center"
    if problem.shift is not None and tiebreak in ("qp", "center"):
        raise ValueError("the centring and QP tie-breaks need every branch row: use angles")
    if lazy_branches is None:
        lazy_branches = problem.large and method == "simplex"
    lazy = None
    if problem.shift is not None or (lazy_branches and "branch" in problem.rows):
        lazy = LazyBranches(problem)
    # The spread rows (one per load-hour) join the model only for their own stage: the
    # other stages never need them, and once a spread optimum is fixed they become plain
    # lower bounds on served load (measured: the centring step 7x faster without them).
    # Not for interior point on the full large model: without them its stages were measured
    # slower there (case2869pegase 72 h: 403 s and 1.4 GB against 339 s and 0.93 GB).
    keep = np.ones(problem.n_row, dtype=bool)
    strip_spread = lazy is not None or not problem.large
    for name in _spread_row_names(problem) if strip_spread else []:
        start, count = problem.rows[name]
        keep[start : start + count] = False
    if lazy is not None and "branch" in problem.rows:
        start, count = problem.rows["branch"]
        keep[start : start + count] = False
    A = problem.A if keep.all() else sp.csc_matrix(problem.A.tocsr()[keep])
    solver = Solver(
        A,
        problem.col_lo,
        problem.col_hi,
        problem.row_lo[keep],
        problem.row_hi[keep],
        problem.integrality,
        method=method,
    )
    run = StageRun(status="unsolved", reason="", x=None, method=method, lazy=lazy)
    if lazy is not None and method == "simplex":
        # Devex pricing: dual steepest-edge weights are recomputed from scratch after
        # rows are added, one solve per row (measured: 10 s per round on case2869pegase;
        # with shift factors over 72 h the tie-break took 180 s instead of 4 s)
        solver.h.setOptionValue("simplex_dual_edge_weight_strategy", 1)
    z_off = problem.blocks["z"].off
    tiers = [k for k in (1, 2, 3) if np.any(problem.energy_weight[k])]
    last_tier = tiers[-1] if tiers else None
    plan: list[tuple[str, np.ndarray, str, int]] = []  # (name, cost, kind, tier)
    for k in tiers:
        if policy.strict_tiers:
            if policy.fairness and len(problem.communities[k]) > 1:
                plan.append((f"tier {k} fairness", _unit(problem.n_col, z_off + k - 1), "fair", k))
            cost = problem.energy_weight[k].copy()
            if k == last_tier and fuel_weight_pu > 0:
                cost = cost + fuel_weight_pu * problem.end_fuel
            plan.append((f"tier {k} served", cost, "tier", k))
            if k in problem.spread_cols and not problem.large:
                first = int(problem.spread_cols[k][0])
                plan.append((f"tier {k} spread", _unit(problem.n_col, first), "spread", k))
    if not policy.strict_tiers and tiers:
        w = policy.tier_weights
        cost = (
            sum(w[k - 1] * problem.energy_weight[k] for k in tiers)
            + fuel_weight_pu * problem.end_fuel
        )
        plan.append(("tiers weighted", cost, "weighted", 0))
        if policy.fairness:
            for k in tiers:
                if len(problem.communities[k]) > 1:
                    plan.append(
                        (f"tier {k} fairness", _unit(problem.n_col, z_off + k - 1), "fair", k)
                    )
    if np.any(problem.end_fuel):
        plan.append(("fuel kept", problem.end_fuel.copy(), "fuel", 0))

    def remaining() -> float | None:
        if time_limit is None:
            return None
        return max(time_limit - (time.perf_counter() - t_start), 0.01)

    x_last: np.ndarray | None = None
    full_tiers: set[int] = set()
    # Optimism: most often every tier but the lowest can be served in full. Pin those
    # loads at their demand and go straight to the lowest tier's stages; if that is
    # infeasible, undo and run every stage (one wasted solve instead of 2 per tier).
    optimistic: set[int] = set(tiers[:-1]) if policy.strict_tiers and len(tiers) > 1 else set()
    if optimistic:
        _pin_tiers(solver, problem, optimistic, full=True)
    i = -1
    while i + 1 < len(plan):
        i += 1
        name, cost, kind, k = plan[i]
        if k in optimistic:
            if kind == "tier":
                run.tier_optimum[k] = float(problem.energy_weight[k] @ _finite(problem.col_hi))
                run.fairness[k] = 1.0
                run.log.append(
                    StageLog(name, "skipped (served in full)", run.tier_optimum[k], 0.0, 0)
                )
            continue
        if kind == "spread" and (k in full_tiers or run.tier_optimum.get(k, 1.0) <= 1e-12):
            continue
        if kind == "tier" and k in full_tiers:
            run.tier_optimum[k] = float(problem.energy_weight[k] @ _finite(problem.col_hi))
            run.log.append(
                StageLog(name, "skipped (tier fully served)", run.tier_optimum[k], 0.0, 0)
            )
            continue
        if progress:
            progress(name, i / (len(plan) + 1))
        spread_rows = _add_spread_rows(solver, problem, k) if kind == "spread" else None
        solver.set_objective(cost, maximize=True)
        if lazy is not None and problem.shift is None:
            # angle rows: a cold start each stage was measured faster than warm for a new
            # objective; with shift factors warm is faster (case2869pegase 72 h: 22 s vs 49 s)
            solver.h.clearSolver()
        out = solve_lazily(solver, lazy, remaining())
        run.log.append(StageLog(name, out.status, out.objective, out.seconds, out.iterations))
        if out.status == "infeasible" and optimistic:
            run.log[-1].status = "infeasible with higher tiers in full: staging every tier"
            _pin_tiers(solver, problem, optimistic, full=False)
            # start over from scratch: a warm start from the infeasible model was seen to
            # report the relaxed model infeasible at once (case2869pegase, shift factors)
            solver.h.clearSolver()
            if problem.shift is not None:
                # and without presolve: on the unpinned model it peaks far above the rest
                # (case2869pegase, tiers 1-2 short: 72 h 2.4 GB -> 0.8 GB; 24 h 1.3 -> 0.36
                # GB, 18 s -> 25 s)
                solver.h.setOptionValue("presolve", "off")
            for kk in optimistic:
                run.tier_optimum.pop(kk, None)
                run.fairness.pop(kk, None)
            optimistic = set()
            i = -1
            continue
        if out.status != "optimal":
            return _stop(run, out, name, x_last, i)
        x_last = out.x
        run.duals[name] = {"row": out.row_dual, "col": out.col_dual}  # type: ignore[dict-item]
        if kind == "spread":
            assert spread_rows is not None
            f = out.objective
            _fix_spread(solver, problem, k, max(f - FRACTION_TOL, 0.0), spread_rows)
            run.spread[k] = f
        elif kind == "fair":
            z = out.objective
            lo = max(z - FRACTION_TOL, 0.0)
            solver.set_col_bounds(np.array([z_off + k - 1]), np.array([lo]), np.array([1.0]))
            run.fairness[k] = z
            if z >= 1.0 - 1e-9:
                full_tiers.add(k)  # the floor row already holds every community at ~100%
        elif kind == "tier":
            full = float(problem.energy_weight[k] @ _finite(problem.col_hi))
            served = float(problem.energy_weight[k] @ out.x)
            run.tier_optimum[k] = served
            if served >= full * (1 - 1e-9):
                full_tiers.add(k)
            solver.add_row(problem.energy_weight[k], served - _fix_tol(served), np.inf)
            if fuel_weight_pu > 0 and k == last_tier:
                solver.add_row(cost, out.objective - _fix_tol(out.objective), np.inf)
        else:
            solver.add_row(cost, out.objective - _fix_tol(out.objective), np.inf)
            if kind == "weighted":
                for kk in tiers:
                    run.tier_optimum[kk] = float(problem.energy_weight[kk] @ out.x)
    if not plan:
        solver.set_objective(np.zeros(problem.n_col))
        out = solve_lazily(solver, lazy, remaining())
        run.log.append(
            StageLog("feasibility", out.status, out.objective, out.seconds, out.iterations)
        )
        if out.status != "optimal":
            return _stop(run, out, "feasibility", None, 0)
        x_last = out.x

    # ---- tie-break -----------------------------------------------------------------
    if progress:
        progress("tie-break", len(plan) / (len(plan) + 1))
    if solver.is_mip and x_last is not None:
        ucols = problem.blocks["u"].cols()
        vals = np.round(x_last[ucols])
        solver.set_col_bounds(ucols, vals, vals)
        solver.set_integrality_continuous()
    diag, lin = tiebreak_terms(problem)
    n_quad = int(np.count_nonzero(diag))
    if lazy is not None and tiebreak in ("qp", "center"):
        lazy.add_all(solver)  # the centre depends on every row, binding or not
    use_qp = tiebreak == "qp"
    run.tiebreak = "qp" if use_qp else "lp"
    out = None
    if use_qp:
        solver.set_hessian(diag)
        solver.set_objective(lin, maximize=False)
        # Start the QP cold, from HiGHS's own initial point, not from the last stage's
        # basis: its iterates then depend on the model only, not on the LP solver path.
        solver.h.clearSolver()
        # HiGHS's active-set QP can cycle at a degenerate optimum (seen on 2-bus cases):
        # cap its iterations and accept the last (always feasible) iterate if it stops there.
        solver.h.setOptionValue("qp_iteration_limit", max(2000, 4 * n_quad))
        # the stage fixes hold to 1e-6 relative; the QP's own check must not be stricter
        solver.h.setOptionValue("primal_feasibility_tolerance", 1e-6)
        out = solver.solve(remaining())
        if out.status in ("time_limit", "error"):
            x_try = np.asarray(solver.h.getSolution().col_value)
            if len(x_try) == problem.n_col and _feasible(problem, solver, x_try):
                out.x = x_try
            else:
                out.x = None
        if out.status in ("time_limit", "error") and out.x is not None:
            out.status = "optimal"
            run.tiebreak = "qp (iteration cap)"
        solver.clear_hessian()
        if out.status != "optimal":
            run.log.append(
                StageLog("tie-break (qp)", out.status, out.objective, out.seconds, out.iterations)
            )
            run.tiebreak = "lp"
    if tiebreak == "center":
        run.tiebreak = "center"
        out = _center_tiebreak(solver, problem, remaining)
        if out.status != "optimal":
            run.log.append(
                StageLog(
                    "tie-break (center)", out.status, out.objective, out.seconds, out.iterations
                )
            )
            run.tiebreak = "lp"
            solver.set_method(method)
            solver.h.setOptionValue("presolve", "choose")
    if out is None or out.status != "optimal":
        if lazy is not None and problem.shift is None:
            solver.h.clearSolver()
        out = _lp_tiebreak(solver, problem, remaining, lazy)
    run.log.append(
        StageLog(
            f"tie-break ({run.tiebreak})", out.status, out.objective, out.seconds, out.iterations
        )
    )
    if out.status != "optimal" or out.x is None:
        run.status = "partial"
        run.reason = (
            f"the tie-break stage ended {out.status}; the plan meets every priority "
            "but who is shed among equals is not pinned down"
        )
        run.x = x_last
        return run
    run.x = out.x
    run.status = "solved"
    return run


def _spread_row_names(problem: Problem) -> list[str]:
    return [name for name in problem.rows if name.startswith("spread")]


def _spread_live_cols(problem: Problem, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The served-load columns of tier k with demand, and their demand (as in the rows)."""
    d = problem.demand_pu.T.ravel()
    live = np.flatnonzero((d > 1e-12) & (np.tile(problem.load_tier, problem.T) == k))
    return problem.blocks["s"].off + live, d[live]


def _add_spread_rows(solver: Solver, problem: Problem, k: int) -> np.ndarray:
    """Put tier k's spread rows (and their chain links) into the model for its stage."""
    csr = problem.A.tocsr()
    added = []
    for name in (f"spread{k}", f"spread{k}_link"):
        if name in problem.rows:
            start, count = problem.rows[name]
            sl = slice(start, start + count)
            added.append(solver.add_rows(csr[sl], problem.row_lo[sl], problem.row_hi[sl]))
    return np.concatenate(added) if added else np.zeros(0, dtype=int)


def _fix_spread(solver: Solver, problem: Problem, k: int, floor: float, rows: np.ndarray) -> None:
    """Fix a spread optimum as bounds: every load-hour of tier k served >= floor x demand.

    Exactly the projection of ``s >= f d, f >= floor`` onto the served loads, so the
    feasible plans are unchanged; the rows and the f copies then leave the model.
    """
    cols, d = _spread_live_cols(problem, k)
    hi = problem.col_hi[cols]
    lo = np.minimum(np.maximum(problem.col_lo[cols], floor * d), hi)
    solver.set_col_bounds(cols, lo, hi)
    solver.delete_rows(rows)
    copies = problem.spread_cols[k]
    solver.set_col_bounds(copies, np.zeros(len(copies)), np.zeros(len(copies)))


def _pin_tiers(solver: Solver, problem: Problem, tiers: set[int], *, full: bool) -> None:
    """Served load of these tiers fixed at demand (full) or back to [0, demand]."""
    for k in tiers:
        cols = np.flatnonzero(problem.energy_weight[k])
        hi = problem.col_hi[cols]
        solver.set_col_bounds(cols, hi if full else np.zeros(len(cols)), hi)


def _finite(v: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(v), v, 0.0)


def _feasible(problem: Problem, solver: Solver, x: np.ndarray) -> bool:
    """Is x within the model's bounds and rows (including the stage fixes) to 1e-6?"""
    lp = solver.h.getLp()
    lo, hi = np.asarray(lp.col_lower_), np.asarray(lp.col_upper_)
    if np.any(x < lo - 1e-5) or np.any(x > hi + 1e-5):
        return False
    act = np.asarray(solver.h.getSolution().row_value)
    rlo, rhi = np.asarray(lp.row_lower_), np.asarray(lp.row_upper_)
    scale = 1e-5 * np.maximum(1.0, np.abs(act))
    return bool(np.all(act >= rlo - scale) and np.all(act <= rhi + scale))


def _unit(n: int, i: int) -> np.ndarray:
    c = np.zeros(n)
    c[i] = 1.0
    return c


def tiebreak_terms(problem: Problem) -> tuple[np.ndarray, np.ndarray]:
    """Diagonal Q and linear c of the strictly convex tie-break (minimised).

    Served load: sum (d - s)^2 / d  -> shortfall proportional to demand.
    Unit output: eps * sum p^2 / pmax -> output shared in proportion to ratings.
    On-fractions and transfers: eps * sum v^2 -> the least running and the
    smoothest trucking among equal plans.
    """
    n = problem.n_col
    diag = np.zeros(n)
    lin = np.zeros(n)
    sb = problem.blocks["s"]
    d = problem.demand_pu.T.ravel()  # period-major like the block
    pos = d > 1e-12
    cols = sb.off + np.arange(sb.size)
    diag[cols[pos]] = 2.0 / d[pos]
    lin[cols[pos]] = -2.0
    eps = 1e-3
    pb = problem.blocks["p"]
    pmax = (problem.unit_pmax_t.T.ravel()) / problem.base_mva
    pcols = pb.off + np.arange(pb.size)
    ok = np.isfinite(pmax) & (pmax > 1e-12)
    diag[pcols[ok]] = 2.0 * eps / pmax[ok]
    diag[pcols[~ok & (problem.col_hi[pcols] > problem.col_lo[pcols])]] = 2.0 * eps * 1e-3
    for name in ("u", "x"):
        b = problem.blocks[name]
        diag[b.off : b.off + b.size] = 2.0 * eps
    return diag, lin


def _center_tiebreak(
    solver: Solver, problem: Problem, remaining: Callable[[], float | None]
) -> Outcome:
    """The analytic centre of the optimal face: IPM without crossover, zero objective."""
    solver.set_objective(np.zeros(problem.n_col), maximize=False)
    solver.h.clearSolver()
    solver.h.setOptionValue("solver", "ipx")
    solver.h.setOptionValue("run_crossover", "off")
    solver.h.setOptionValue("ipm_optimality_tolerance", 1e-10)
    # no presolve: its reductions depend on round-off in the fixed optima, and the
    # centre of a reduced model is not the centre of the model (measured: litres apart)
    solver.h.setOptionValue("presolve", "off")
    return solver.solve(remaining())


def _lp_tiebreak(
    solver: Solver,
    problem: Problem,
    remaining: Callable[[], float | None],
    lazy: LazyBranches | None = None,
) -> Outcome:
    """Large models: maximise the average served fraction over every load and hour.

    Cheaper than the centring step but not unique in general: ties can remain, so
    the plan is reproducible on the same solver path only (documented).
    """
    n = problem.n_col
    sb = problem.blocks["s"]
    d = problem.demand_pu.T.ravel()
    pos = np.flatnonzero(d > 1e-12)
    cost = np.zeros(n)
    cost[sb.off + pos] = 1.0 / d[pos]
    solver.set_objective(cost / max(len(pos), 1), maximize=True)
    return solve_lazily(solver, lazy, remaining())


def _stop(run: StageRun, out: Outcome, name: str, x_last: np.ndarray | None, i: int) -> StageRun:
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
