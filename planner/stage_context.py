"""One HiGHS model kept across the lexicographic stages, with its clock and lazy limits.

``StageContext`` is what every stage works on: the solver (rows of the problem, minus
those that join later), the branch limits still outside it (``LazyBranches``), where
each problem row sits in the solver, and the time left.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from planner.formulation import Problem
from planner.highs import Outcome, Solver
from planner.lazyrows import LazyBranches, solve_lazily

# Large models normally plan through shift factors (no angles; dual simplex, limits added
# when broken). Only a large model that keeps its angles uses this: up to this size dual
# simplex with lazy angle rows, above it interior point on the full model (case2869pegase
# with angles: 24 h, 117,590 columns, 41 s lazy vs 89 s IPM; 72 h, 352,761 columns: over
# 900 s lazy vs 339 s IPM)
LAZY_MAX_COLS = 200_000
PRIMAL_WALK = 1  # primal simplex iterations a row before interior point takes a level over
DEVEX = 1  # HiGHS's dual simplex pricing (simplex_dual_edge_weight_strategy)


@dataclass
class StageContext:
    problem: Problem
    solver: Solver
    lazy: LazyBranches | None
    row_map: np.ndarray  # problem row -> solver row (-1: not in the solver from the start)
    deadline: float | None
    primal_stages: bool = False  # a new objective starts with primal simplex (see run_stages)

    def remaining(self) -> float | None:
        if self.deadline is None:
            return None
        return max(self.deadline - time.perf_counter(), 0.01)

    def solve(self, cost: np.ndarray, *, maximize: bool = True, level: bool = False) -> Outcome:
        """Set the objective and solve, adding broken branch limits until none is.
        ``level``: a fairness level (on the every-tier path, see ``_primal_walk``)."""
        self.solver.set_objective(cost, maximize=maximize)
        if self.lazy is not None and self.problem.shift is None:
            # angle rows: a cold start each stage was measured faster than warm for a new
            # objective; with shift factors warm is faster (case2869pegase 72 h: 22 s vs 49 s)
            self.solver.h.clearSolver()
        if not self.primal_stages:
            return solve_lazily(self.solver, self.lazy, self.remaining())
        walk = functools.partial(self._primal_walk, cap=level)
        return solve_lazily(self.solver, self.lazy, self.remaining(), walk)

    def _primal_walk(self, time_left: float | None, *, cap: bool) -> Outcome:
        """The first solve for a new objective on the every-tier path: the last plan is
        still feasible, so primal simplex goes on from it; the limits added after it
        break that plan, which dual simplex repairs.

        A fairness level can lie far from the last plan: there (``cap``) a walk longer
        than ``PRIMAL_WALK`` iterations a row is cut short and interior point with
        crossover solves afresh (case2869pegase 72 h, tiers 1-2 short: tier 2's level
        took primal simplex 74,067 iterations, 88 s; interior point 10 s). Its plan
        breaks more limits than a walk's, which dual simplex repairs as usual (Devex, 37 s
        there; steepest edge took 1.6 s but left a vertex the tie-break then took over
        130 s from). Not for other stages: on the tie-break's degenerate optimal face
        interior point was measured to fail."""
        solver, h = self.solver, self.solver.h
        no_limit = solver.option("simplex_iteration_limit")
        h.setOptionValue("simplex_strategy", 4)
        if cap:
            h.setOptionValue("simplex_iteration_limit", PRIMAL_WALK * solver.n_row)
        try:
            walk = solver.solve(time_left)
            cut = h.getModelStatus() == solver.hs.HighsModelStatus.kIterationLimit
        finally:
            h.setOptionValue("simplex_iteration_limit", no_limit)
            h.setOptionValue("simplex_strategy", 1)
        if not cut:
            return walk
        left = None if time_left is None else max(time_left - walk.seconds, 0.01)
        out = solver.solve_interior(left)
        out.seconds += walk.seconds
        out.iterations += walk.iterations
        return out


def spread_row_names(problem: Problem) -> list[str]:
    return [name for name in problem.rows if name.startswith("spread")]


def open_context(
    problem: Problem,
    *,
    method: str,
    lazy_branches: bool | None,
    deadline: float | None,
    preload: np.ndarray | None = None,
) -> StageContext:
    """A solver holding every row but the spread rows (which join for their own stage)
    and the branch limits that are added when broken (shift factors, or lazy angle rows).

    ``preload``: branch limit rows known to be needed (from an earlier attempt).
    """
    if lazy_branches is None:
        lazy_branches = problem.large and method == "simplex"
    lazy = None
    if problem.shift is not None or (lazy_branches and "branch" in problem.rows):
        lazy = LazyBranches(problem)
    keep = np.ones(problem.n_row, dtype=bool)
    # The spread rows (one per load-hour) join the model only for their own stage: the
    # other stages never need them, and once a spread level is fixed they become plain
    # lower bounds on served load (measured: the tie-break 7x faster without them).
    for name in spread_row_names(problem):
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
    if lazy is not None and method == "simplex":
        # Devex pricing: dual steepest-edge weights are recomputed from scratch after
        # rows are added, one solve per row (measured: 10 s per round on case2869pegase;
        # with shift factors over 72 h the tie-break took 180 s instead of 4 s)
        solver.h.setOptionValue("simplex_dual_edge_weight_strategy", DEVEX)
    if lazy is not None and preload is not None and preload.any():
        lazy.add(solver, np.flatnonzero(preload))
    row_map = np.where(keep, np.cumsum(keep) - 1, -1)
    return StageContext(problem, solver, lazy, row_map, deadline)
