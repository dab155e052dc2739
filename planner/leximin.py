"""Lexicographic max-min (leximin): raise the worst-off, fix it, raise the next, ...

Between communities of a tier (``fairness``): maximise the level ``z`` that every
community not yet fixed is served at (as a fraction of its energy demand). The
communities that cannot go above ``z`` without another dropping below it are *blocked*:
they are exactly those whose fairness row has a non-zero dual value (LP duality: with
duals ``y_c >= 0`` summing to 1, every plan keeping the others at ``z`` has
``sum y_c fraction_c <= z``). They are fixed at ``z`` and the rest go round again, so
no community can gain without a worse-off one losing. A round fixes at least one
community, so there are at most as many rounds as communities. Where duals are not
available (unit commitment is a MIP), each community is probed instead.

Between the load-hours of a tier (``spread``): the same, over every load and hour, with
one floor ``f`` (chained copies, see ``planner.model_data``). A round there costs as
much as a stage (case118, 72 h: 0.7 s), so further rounds run only while the floor
says little (below ``SPREAD_LOW``: some load-hours cannot be served at all, say before
the first delivery), at most ``SPREAD_ROUNDS``; the rest keep the last floor and the
tie-break serves them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from planner.fixing import exact_dot, floor_fraction
from planner.formulation import Problem
from planner.highs import Outcome
from planner.model_data import SERVABLE_PU
from planner.stage_context import StageContext

DUAL_TOL = 1e-6  # a row with a dual above this is blocked (the duals sum to 1)
FULL = 1.0 - 1e-9  # a level this close to 1 is "served in full"
LOAD_SLACK = 1e-6  # per unit: a fixed load-hour floor stays this far below (10x HiGHS tolerance)
SPREAD_ROUNDS = 4
SPREAD_LOW = 0.05  # a spread floor below this (5%) is raised again for the rest


@dataclass
class Levels:
    """What a leximin stage found: the level of each community (or the spread floors)."""

    outcome: Outcome | None = None
    levels: dict[str, float] = field(default_factory=dict)
    rounds: int = 0
    objective: float = 0.0  # the first (worst-off) level
    seconds: float = 0.0  # in the solver, every round
    iterations: int = 0
    complete: bool = False  # every community (load-hour) fixed at its level

    def count(self, out: Outcome) -> None:
        self.outcome, self.rounds = out, self.rounds + 1
        self.seconds += out.seconds
        self.iterations += out.iterations


def _unit(n: int, i: int) -> np.ndarray:
    c = np.zeros(n)
    c[i] = 1.0
    return c


def communities(ctx: StageContext, k: int) -> Levels:
    """Leximin over the communities of tier k; their rows end fixed at their levels."""
    problem, solver = ctx.problem, ctx.solver
    z_col = problem.blocks["z"].off + k - 1
    rows = {c: int(ctx.row_map[r]) for c, r in problem.fair_rows.get(k, [])}
    free = sorted(rows)
    found = Levels()
    cost = _unit(problem.n_col, z_col)
    while free:
        solver.set_col_bounds(np.array([z_col]), np.array([0.0]), np.array([1.0]))
        out = ctx.solve(cost, level=True)
        found.count(out)
        if out.status != "optimal" or out.x is None:
            return found
        z = float(out.x[z_col])
        if found.rounds == 1:
            found.objective = z
        blocked = free if z >= FULL else _blocked(ctx, out, free, rows, z_col, z)
        floor = floor_fraction(z)
        found.levels.update(dict.fromkeys(blocked, z))
        if len(blocked) == len(free):
            # the rest end together: z stays in their rows, held at their level
            solver.set_col_bounds(np.array([z_col]), np.array([floor]), np.array([1.0]))
            found.complete = True
            return found
        for c in blocked:  # fixed on their own: z leaves their rows
            solver.h.changeCoeff(rows[c], z_col, 0.0)
            solver.h.changeRowBounds(rows[c], floor, np.inf)
            solver.modified = True
        free = [c for c in free if c not in blocked]
    found.complete = True
    return found


def _blocked(
    ctx: StageContext, out: Outcome, free: list[str], rows: dict[str, int], z_col: int, z: float
) -> list[str]:
    """The free communities that cannot rise above z: non-zero duals, else probed."""
    if out.row_dual is not None and not ctx.solver.is_mip:
        hit = [c for c in free if abs(float(out.row_dual[rows[c]])) > DUAL_TOL]
        if hit:
            return hit
    return _probe(ctx, free, rows, z_col, z)


def _probe(
    ctx: StageContext, free: list[str], rows: dict[str, int], z_col: int, z: float
) -> list[str]:
    """Without usable duals: a community is blocked if, with every free community held
    at z, its own served fraction cannot exceed z (one solve per community)."""
    solver = ctx.solver
    solver.set_col_bounds(np.array([z_col]), np.array([floor_fraction(z)]), np.array([1.0]))
    lp = solver.h.getLp()
    blocked = []
    for c in free:
        cost = _row_vector(lp, rows[c], ctx.problem.n_col)
        cost[z_col] = 0.0
        out = ctx.solve(cost)
        if out.status != "optimal" or out.x is None or exact_dot(cost, out.x) <= z + 1e-6:
            blocked.append(c)
    return blocked or list(free)


def _row_vector(lp: object, row: int, n: int) -> np.ndarray:
    """One row of the solver's (column-wise) matrix as a dense vector."""
    a = lp.a_matrix_  # type: ignore[attr-defined]
    start, index, value = np.asarray(a.start_), np.asarray(a.index_), np.asarray(a.value_)
    out = np.zeros(n)
    hit = np.flatnonzero(index == row)
    cols = np.searchsorted(start, hit, side="right") - 1
    out[cols] = value[hit]
    return out


def spread_columns(problem: Problem, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The served-load columns of tier k's spread rows, and their demand, in row order."""
    d = problem.demand_pu.T.ravel()
    live = np.flatnonzero(_servable_flat(problem) & (np.tile(problem.load_tier, problem.T) == k))
    return problem.blocks["s"].off + live, d[live]


def _servable_flat(problem: Problem) -> np.ndarray:
    d = problem.demand_pu.T.ravel()
    ok = problem.servable if problem.servable is not None else np.ones(len(problem.load_tier), bool)
    return (d > SERVABLE_PU) & np.tile(ok, problem.T)


def spread(ctx: StageContext, k: int) -> Levels:
    """Leximin over the servable load-hours of tier k. Its rows join the model for this
    stage only; fixed levels become lower bounds on served load and the rows leave."""
    problem, solver = ctx.problem, ctx.solver
    csr = problem.A.tocsr()
    added = {}
    for name in (f"spread{k}", f"spread{k}_link"):
        if name in problem.rows:
            start, count = problem.rows[name]
            sl = slice(start, start + count)
            added[name] = solver.add_rows(csr[sl], problem.row_lo[sl], problem.row_hi[sl])
    cols, demand = spread_columns(problem, k)
    copies = problem.spread_cols[k]
    cost = _unit(problem.n_col, int(copies[0]))
    free = np.arange(len(cols))
    current = added[f"spread{k}"].copy()  # each load-hour's row (rows move up on deletes)
    ranked = [i for r in problem.pref_ranks.get(k, []) for i in r]
    if ranked:  # a site's preference, not the spread, orders its own loads
        nl = len(problem.load_tier)
        mine = np.flatnonzero(np.isin((cols - problem.blocks["s"].off) % nl, ranked))
        if len(mine):
            gone = np.sort(current[mine])
            solver.delete_rows(gone)
            free = np.setdiff1d(free, mine)
            current[free] -= np.searchsorted(gone, current[free])
    found = Levels()
    while len(free):
        out = ctx.solve(cost)
        found.count(out)
        if out.status != "optimal" or out.x is None:
            return found
        f = float(out.x[copies[0]])
        if found.rounds == 1:
            found.objective = f
        last = f >= SPREAD_LOW or found.rounds >= SPREAD_ROUNDS or out.row_dual is None
        if last or out.row_dual is None:  # (a missing dual already made this the last round)
            blocked = free
        else:
            blocked = free[np.abs(out.row_dual[current[free]]) > DUAL_TOL]
        if not len(blocked):
            blocked = free
        _fix_load_hours(ctx, cols[blocked], demand[blocked], floor_fraction(f))
        gone = np.sort(current[blocked])
        solver.delete_rows(gone)
        free = np.setdiff1d(free, blocked)
        current[free] -= np.searchsorted(gone, current[free])
        found.levels[f"round {found.rounds}"] = f
    links = added.get(f"spread{k}_link")
    if links is not None:  # every spread row (all before the links) has left by now
        solver.delete_rows(links - len(cols))
    solver.set_col_bounds(copies, np.zeros(len(copies)), np.zeros(len(copies)))
    return found


def _fix_load_hours(ctx: StageContext, cols: np.ndarray, demand: np.ndarray, floor: float) -> None:
    """Served load >= floor x demand, as column bounds (the projection of the rows).

    Less ``LOAD_SLACK`` each: the solver met each row only to its feasibility tolerance
    (1e-7), and hundreds of load-hours each fixed a hair above what the plan found add up
    to energy that is not there (a tier at a level of ~1e-7 made every later stage
    infeasible: the README's island-microgrid run with 1,200 L at north)."""
    hi = ctx.problem.col_hi[cols]
    lo = np.minimum(np.maximum(ctx.problem.col_lo[cols], floor * demand - LOAD_SLACK), hi)
    ctx.solver.set_col_bounds(cols, lo, hi)
