"""The last stages: among plans that are equally good for every priority, pick one.

``vertex`` (the default, every model): minimise a fixed generic cost over what is
left. A generic cost has a single optimal vertex, so the plan does not depend on the
path the solver took to get there: two laptops that reach the same optimal face land
on the same point. The cost also says what is preferred among ties: serve the largest
fractions of demand (1 / demand per MW served), run less, send fewer litres and send
them earlier, keep batteries idle rather than charging and discharging at once, use PV
before a genset. ``lp`` (on request) first maximises the average served fraction over
every load and hour as a stage of its own, then the vertex.
"""

from __future__ import annotations

import numpy as np

from planner.fixing import exact_dot, floor_fix, generic
from planner.formulation import Problem
from planner.highs import Outcome
from planner.stage_context import StageContext

GENERIC_WEIGHT = 1e-3  # the generic part of each cost: breaks every tie, decides none


def lp_costs(problem: Problem) -> np.ndarray:
    """Maximise the average served fraction over every load-hour with demand."""
    sb = problem.blocks["s"]
    d = problem.demand_pu.T.ravel()
    pos = np.flatnonzero(d > 1e-12)
    cost = np.zeros(problem.n_col)
    cost[sb.off + pos] = 1.0 / d[pos]
    return cost / max(len(pos), 1)


def vertex_costs(problem: Problem, units: list[tuple[bool, str]]) -> np.ndarray:
    """The generic cost (minimised) of the final stage.

    ``units``: (curtailable, battery role) of each unit, in the order of the ``p`` block.
    The generic part of a column's cost depends on what the column is (its block, element
    and period), not on where it sits, so the angle and shift-factor forms of a model
    end at the same vertex.
    """
    n, T = problem.n_col, problem.T
    cost = np.zeros(n)
    b = problem.blocks
    per_unit = np.array([_unit_cost(c, role) for c, role in units], dtype=float)
    cost[b["p"].cols()] = np.tile(per_unit, T)
    cost[b["s"].cols()] = -_served_weights(problem)
    cost[b["u"].cols()] = 1.0
    x = b["x"]
    if x.n:
        t = np.repeat(np.arange(T), x.n)
        cost[x.cols()] = 1.0 + 0.5 * t / max(T, 1)
    for salt, name in enumerate(("p", "s", "u", "x")):
        cols = b[name].cols()
        cost[cols] += np.sign(cost[cols]) * GENERIC_WEIGHT * generic(len(cols), salt)
    return cost


def _served_weights(problem: Problem) -> np.ndarray:
    """Per load-hour: 1 / demand, scaled to a mean of 1 (serve the largest fractions)."""
    d = problem.demand_pu.T.ravel()
    pos = d > 1e-12
    w = np.ones(len(d))
    if pos.any():
        inv = 1.0 / d[pos]
        w[pos] = inv / float(np.mean(inv))
    return w


def _unit_cost(curtailable: bool, role: str) -> float:
    if role == "charge":
        return -1.0  # its output is minus the charging power: less charging
    if role == "discharge":
        return 1.0
    return 0.5 if curtailable else 1.0


def lp_tiebreak(ctx: StageContext) -> tuple[Outcome, float]:
    """The average-fraction stage; its optimum is fixed like any other stage's."""
    cost = lp_costs(ctx.problem)
    out = ctx.solve(cost)
    value = exact_dot(cost, out.x) if out.status == "optimal" and out.x is not None else 0.0
    if out.status == "optimal":
        ctx.solver.add_row(cost, floor_fix(value), np.inf)
    return out, value


def vertex_tiebreak(ctx: StageContext, units: list[tuple[bool, str]]) -> tuple[Outcome, float]:
    """Minimise the generic cost: the plan is the face's single optimal vertex."""
    cost = vertex_costs(ctx.problem, units)
    if ctx.solver.method not in ("simplex",):
        ctx.solver.h.setOptionValue("run_crossover", "on")  # a vertex, not an interior point
    out = ctx.solve(cost, maximize=False)
    value = exact_dot(cost, out.x) if out.status == "optimal" and out.x is not None else 0.0
    return out, value
