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

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

from planner.formulation import Problem
from planner.highs import Outcome, Solver

VIOLATION_TOL = 1e-7  # pu, HiGHS's own primal feasibility tolerance
MAX_ROUNDS = 50  # a safety net: then every remaining limit is added at once (angle rows;
# shift-factor rows are too dense for that, and every round adds at least one new row of
# a finite set, so the loop ends anyway)


class LazyBranches:
    """The full model's branch rows, and which of them the solver holds.

    Two sources: the angle formulation's explicit rows (``Bf th``), or, when the angles
    have left the model, rows built on demand from shift factors
    (``planner.shiftfactors``), which are dense and never built all at once.
    """

    def __init__(self, problem: Problem) -> None:
        self.shift = problem.shift
        self.n_col = problem.n_col
        if self.shift is not None:
            self.rows = None
            self.lo, self.hi = self.shift.lo, self.shift.hi
            count = self.shift.n_rows
        else:
            start, count = problem.rows["branch"]
            sl = slice(start, start + count)
            self.rows = sp.csr_matrix(problem.A.tocsr()[sl])
            self.lo = problem.row_lo[sl]
            self.hi = problem.row_hi[sl]
        self.added = np.zeros(count, dtype=bool)
        self.rounds = 0

    @property
    def total(self) -> int:
        return len(self.added)

    @property
    def n_added(self) -> int:
        return int(self.added.sum())

    def broken(self, x: np.ndarray) -> np.ndarray:
        """Indices of branch rows not yet in the model that x breaks."""
        flow = self.shift.values(x) if self.shift is not None else self.rows @ x
        bad = (flow > self.hi + VIOLATION_TOL) | (flow < self.lo - VIOLATION_TOL)
        return np.flatnonzero(bad & ~self.added)

    def add(self, solver: Solver, idx: np.ndarray) -> None:
        idx = np.sort(idx)
        if self.shift is not None:
            mat = self.shift.rows(idx, self.n_col)
        else:
            assert self.rows is not None  # built whenever there are no shift factors
            mat = self.rows[idx]
        solver.add_rows(mat, self.lo[idx], self.hi[idx])
        solver.modified = True
        self.added[idx] = True

    def add_all(self, solver: Solver) -> None:
        """Every remaining limit (before a step whose answer depends on all rows)."""
        if self.shift is not None:
            raise ValueError("shift-factor limit rows are dense: they are never all added")
        self.add(solver, np.flatnonzero(~self.added))


def solve_lazily(
    solver: Solver,
    lazy: LazyBranches | None,
    time_left: float | None,
    first: Callable[[float | None], Outcome] | None = None,
) -> Outcome:
    """Solve, add broken branch limits, re-solve until none is broken (``first`` makes
    the first solve, given the time left; the re-solves are ``solver.solve``)."""
    out = first(time_left) if first is not None else solver.solve(time_left)
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
        if rounds >= MAX_ROUNDS and lazy.shift is None:
            bad = np.flatnonzero(~lazy.added)
        lazy.add(solver, bad)
        out = solver.solve(None if budget is None else max(budget - seconds, 0.01))
        seconds += out.seconds
        iterations += out.iterations
    lazy.rounds += rounds
    out.seconds, out.iterations = seconds, iterations
    return out
