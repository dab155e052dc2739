"""The solver edge: one HiGHS instance (highspy) kept across lexicographic stages.

Keeping the instance lets each stage change the objective, add one fixing row
and re-solve from the previous basis (simplex warm start), which is what makes
six or seven stages cost little more than one. Solver statuses become plain
strings; nothing here raises for an infeasible model (that is a result).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from planner.errors import SolverError

if TYPE_CHECKING:
    import highspy

_BANNER_DONE = False


@contextlib.contextmanager
def _no_c_stdout() -> Iterator[None]:
    """HiGHS prints a banner from C++ on first use; keep it off stdout (--json must stay clean)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def new_highs() -> highspy.Highs:
    """A silent ``highspy.Highs``; ``SolverError`` if highspy is missing."""
    global _BANNER_DONE
    try:
        import highspy
    except ImportError as e:  # pragma: no cover - a dependency
        raise SolverError("highspy is not installed", hint="pip install 'highspy>=1.7,<2'") from e
    if _BANNER_DONE:
        h = highspy.Highs()
    else:
        with _no_c_stdout():
            h = highspy.Highs()
        _BANNER_DONE = True
    h.setOptionValue("output_flag", False)
    return h


@dataclass
class Outcome:
    status: str  # optimal | infeasible | unbounded | time_limit | error
    objective: float
    x: np.ndarray | None
    row_dual: np.ndarray | None
    col_dual: np.ndarray | None
    seconds: float
    iterations: int
    detail: str = ""


STATUS = {
    "kOptimal": "optimal",
    "kInfeasible": "infeasible",
    "kUnboundedOrInfeasible": "infeasible",
    "kUnbounded": "unbounded",
    "kTimeLimit": "time_limit",
    "kIterationLimit": "time_limit",
    "kInterrupt": "interrupted",
    "kHighsInterrupt": "interrupted",
    "kModelEmpty": "optimal",
}


class Solver:
    """A model loaded once; stages change its objective and add fixing rows."""

    def __init__(
        self,
        A: sp.csc_matrix,
        col_lo: np.ndarray,
        col_hi: np.ndarray,
        row_lo: np.ndarray,
        row_hi: np.ndarray,
        integrality: np.ndarray | None = None,
        *,
        method: str = "simplex",
        threads: int = 1,
    ) -> None:
        import highspy

        self.hs = highspy
        self.h = new_highs()
        self.method = method
        self.n_col = A.shape[1]
        self.is_mip = integrality is not None and bool(np.any(integrality))
        lp = highspy.HighsLp()
        lp.num_col_ = A.shape[1]
        lp.num_row_ = A.shape[0]
        lp.col_cost_ = np.zeros(A.shape[1])
        lp.col_lower_ = np.asarray(col_lo, dtype=float)
        lp.col_upper_ = np.asarray(col_hi, dtype=float)
        lp.row_lower_ = np.asarray(row_lo, dtype=float)
        lp.row_upper_ = np.asarray(row_hi, dtype=float)
        A = sp.csc_matrix(A)
        A.sort_indices()
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = A.indptr.astype(np.int32)
        lp.a_matrix_.index_ = A.indices.astype(np.int32)
        lp.a_matrix_.value_ = A.data.astype(float)
        lp.a_matrix_.num_col_ = A.shape[1]
        lp.a_matrix_.num_row_ = A.shape[0]
        if self.is_mip:
            assert integrality is not None
            lp.integrality_ = [
                highspy.HighsVarType.kInteger if v else highspy.HighsVarType.kContinuous
                for v in integrality
            ]
        st = self.h.passModel(lp)
        if st == highspy.HighsStatus.kError:
            raise SolverError("HiGHS rejected the model (a bug in the formulation)")
        self._options(threads)
        self._hessian = False
        self.modified = False  # True once a stage optimum has been fixed

    def _options(self, threads: int) -> None:
        set_ = self.h.setOptionValue
        set_("threads", threads)
        set_("random_seed", 0)
        if self.method == "ipm":
            set_("solver", "ipx")
            set_("run_crossover", "off")
        elif self.method == "ipm-crossover":
            set_("solver", "ipx")
            set_("run_crossover", "on")
        elif self.method == "hipo":
            set_("solver", "hipo")
            set_("run_crossover", "off")
        else:
            set_("solver", "simplex")
            set_("simplex_strategy", 1)  # dual: measured fastest across warm-started stages
        if self.is_mip:
            set_("mip_rel_gap", 1e-6)
            set_("solver", "choose")

    def option(self, name: str) -> Any:
        """An option's value (older highspy returns (status, value))."""
        value = self.h.getOptionValue(name)
        return value[1] if isinstance(value, tuple) else value

    def set_objective(self, cost: np.ndarray, *, maximize: bool = True) -> None:
        self.h.changeColsCost(
            self.n_col, np.arange(self.n_col, dtype=np.int32), np.asarray(cost, float)
        )
        sense = self.hs.ObjSense.kMaximize if maximize else self.hs.ObjSense.kMinimize
        self.h.changeObjectiveSense(sense)

    def set_hessian(self, diag: np.ndarray) -> None:
        """A diagonal quadratic term (0.5 x'Qx, minimised); zeros are left out."""
        nz = np.flatnonzero(diag)
        hess = self.hs.HighsHessian()
        hess.dim_ = self.n_col
        hess.format_ = self.hs.HessianFormat.kTriangular
        counts = np.zeros(self.n_col + 1, dtype=np.int32)
        counts[nz + 1] = 1
        hess.start_ = np.cumsum(counts).astype(np.int32)
        hess.index_ = nz.astype(np.int32)
        hess.value_ = np.asarray(diag[nz], dtype=float)
        self.h.passHessian(hess)
        self._hessian = True

    def clear_hessian(self) -> None:
        if self._hessian:
            hess = self.hs.HighsHessian()
            hess.dim_ = 0
            self.h.passHessian(hess)
            self._hessian = False

    def add_row(self, cost: np.ndarray, lo: float, hi: float) -> None:
        self.modified = True
        nz = np.flatnonzero(cost)
        self.h.addRow(lo, hi, len(nz), nz.astype(np.int32), np.asarray(cost[nz], float))

    @property
    def n_row(self) -> int:
        return int(self.h.getNumRow())

    def add_rows(self, rows: sp.spmatrix, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Append rows (any sparse matrix over all columns); returns their indices."""
        first = self.n_row
        m = sp.csr_matrix(rows)
        m.sort_indices()
        if m.shape[0]:
            self.h.addRows(
                m.shape[0],
                np.asarray(lo, float),
                np.asarray(hi, float),
                m.nnz,
                m.indptr.astype(np.int32),
                m.indices.astype(np.int32),
                m.data.astype(float),
            )
        return np.arange(first, first + m.shape[0])

    def delete_rows(self, rows: np.ndarray) -> None:
        """Remove rows by index (later rows move up)."""
        rows = np.asarray(rows, dtype=np.int32)
        if len(rows):
            self.modified = True
            self.h.deleteRows(len(rows), rows)

    def set_col_bounds(self, cols: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> None:
        cols = np.asarray(cols, dtype=np.int32)
        self.modified = True
        if len(cols):
            self.h.changeColsBounds(len(cols), cols, np.asarray(lo, float), np.asarray(hi, float))

    def set_integrality_continuous(self) -> None:
        """Drop integrality (binaries already fixed by bounds) so an LP/QP can follow."""
        if self.is_mip:
            kinds = [self.hs.HighsVarType.kContinuous] * self.n_col
            cols = np.arange(self.n_col, dtype=np.int32)
            # highspy takes the list of enum values; its stub asks for a uint8 array
            self.h.changeColsIntegrality(self.n_col, cols, kinds)  # type: ignore[arg-type]
            self.is_mip = False
            self._options(int(self.option("threads")))

    def set_method(self, method: str) -> None:
        self.method = method
        self._options(int(self.option("threads")))

    def solve_interior(self, time_limit: float | None = None) -> Outcome:
        """Interior point with crossover from a clean start (no basis, no factorisation
        kept), then simplex again for every later solve, from the vertex it ends at."""
        self.h.clearSolver()
        self.h.setOptionValue("solver", "ipx")
        self.h.setOptionValue("run_crossover", "on")
        try:
            return self.solve(time_limit)
        finally:
            self._options(int(self.option("threads")))

    def solve(self, time_limit: float | None = None) -> Outcome:
        # HiGHS compares its time limit with its run clock, which adds up over every run
        # of this instance (measured, highspy 1.16): the budget starts from where it is
        limit = self.h.getRunTime() + float(time_limit) if time_limit else float("inf")
        self.h.setOptionValue("time_limit", limit)
        t0 = time.perf_counter()
        try:
            self.h.run()
        except Exception as e:  # pragma: no cover - HiGHS crashed
            raise SolverError(f"HiGHS failed: {e}") from e
        ms = self.h.getModelStatus()
        name = str(ms).split(".")[-1]
        status = STATUS.get(name, "error")
        if status == "error" and self.method == "ipm" and not self.is_mip:
            # IPX without crossover sometimes stops 'imprecise': finish with crossover once.
            self.h.setOptionValue("run_crossover", "on")
            self.h.run()
            self.h.setOptionValue("run_crossover", "off")
            ms = self.h.getModelStatus()
            status = STATUS.get(str(ms).split(".")[-1], "error")
        if status == "infeasible" and self.modified:
            # Presolve can misjudge a model whose earlier optimum was fixed to within
            # tolerances (measured on case118); confirm without it before saying so
            # (and leave it as it was: the every-tier path keeps it off for memory).
            before = self.option("presolve")
            self.h.setOptionValue("presolve", "off")
            self.h.run()
            self.h.setOptionValue("presolve", before)
            ms = self.h.getModelStatus()
            status = STATUS.get(str(ms).split(".")[-1], "error")
        dt = time.perf_counter() - t0
        info = self.h.getInfo()
        iters = (
            int(info.simplex_iteration_count)
            + int(info.ipm_iteration_count)
            + int(info.qp_iteration_count)
        )
        if status != "optimal":
            x = None
            if status == "time_limit" and int(info.primal_solution_status) >= 1:
                x = np.asarray(self.h.getSolution().col_value)
            return Outcome(
                status, float("nan"), x, None, None, dt, iters, self.h.modelStatusToString(ms)
            )
        sol = self.h.getSolution()
        x = np.asarray(sol.col_value, dtype=float)
        rd = np.asarray(sol.row_dual, dtype=float) if sol.dual_valid else None
        cd = np.asarray(sol.col_dual, dtype=float) if sol.dual_valid else None
        return Outcome(
            status, float(self.h.getInfo().objective_function_value), x, rd, cd, dt, iters
        )
