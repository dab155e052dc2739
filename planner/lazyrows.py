"""Branch limits added only when a stage's solution breaks them (large networks).

On case2869pegase over 24 hours, 97,224 of the LP's 198,032 rows are branch limits
and about 80 of them are tight at the optimum. The stages therefore start without
them; after each solve the flows of every limited branch are checked, the broken
limits join the model and the stage is solved again (warm-started dual simplex),
until none is broken. A stage's optimum is then the optimum of the full model: it is
feasible there, and no better plan exists there because the model it was found in
is a relaxation of the full one. Rows once added stay in for every later stage.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from planner.formulation import Problem
from planner.highs import Outcome, Solver

VIOLATION_TOL = 1e-7  # pu, HiGHS's own primal feasibility tolerance
MAX_ROUNDS = 50  # a safety net: then every remaining limit is added at once


class LazyBranches:
    """The full model's branch rows, and which of them the solver holds."""

    def __init__(self, problem: Problem) -> None:
        start, count = problem.rows["branch"]
        sl = slice(start, start + count)
        self.rows = sp.csr_matrix(problem.A.tocsr()[sl])
        self.lo = problem.row_lo[sl]
        self.hi = problem.row_hi[sl]
        self.added = np.zeros(count, dtype=bool)
        self.rounds = 0

    @property
    def n_added(self) -> int:
        return int(self.added.sum())

    def broken(self, x: np.ndarray) -> np.ndarray:
        """Indices of branch rows not yet in the model that x breaks."""
        flow = self.rows @ x
        bad = (flow > self.hi + VIOLATION_TOL) | (flow < self.lo - VIOLATION_TOL)
        return np.flatnonzero(bad & ~self.added)

    def add(self, solver: Solver, idx: np.ndarray) -> None:
        idx = np.sort(idx)
        solver.add_rows(self.rows[idx], self.lo[idx], self.hi[idx])
        solver.modified = True
        self.added[idx] = True

    def add_all(self, solver: Solver) -> None:
        """Every remaining limit (before a step whose answer depends on all rows)."""
        self.add(solver, np.flatnonzero(~self.added))


def solve_lazily(solver: Solver, lazy: LazyBranches | None, time_left: float | None) -> Outcome:
    """Solve, add broken branch limits, re-solve until none is broken."""
    out = solver.solve(time_left)
    if lazy is None:
        return out
    budget = time_left
    seconds, iterations = out.seconds, out.iterations
    rounds = 0
    while out.status == "optimal" and out.x is not None:
        bad = lazy.broken(out.x)
        if not len(bad):
            break
        rounds += 1
        lazy.add(solver, bad if rounds < MAX_ROUNDS else np.flatnonzero(~lazy.added))
        out = solver.solve(None if budget is None else max(budget - seconds, 0.01))
        seconds += out.seconds
        iterations += out.iterations
    lazy.rounds += rounds
    out.seconds, out.iterations = seconds, iterations
    return out
