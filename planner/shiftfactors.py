"""Branch flows as linear functions of the injections (DC shift factors), row by row.

In the DC model the bus angles are fixed by the injections: with each island's
reference bus held at its angle, ``th_n = B_nn^-1 (P_n - B_nr th_r)``, and a branch
flow ``Bf th + Pfinj`` becomes ``h_l . P_n + c_l`` with ``h_l = B_nn^-T Bf_ln``: one
sparse solve per branch (the power transfer distribution factors of that branch).
Once every island balances (one row per island and period), the angles and the
bus-balance rows can leave the LP: what is left per period is one balance row per
island plus the branch limits that bind.

The factors of a branch are dense (every injection moves every flow a little), so
the full set of limit rows would be far too large to hold (case2869pegase: 4,051
limited branches x ~2,000 injections x 24 periods). They are therefore only ever
built for the limits a stage breaks (``planner.lazyrows``); checking every flow of a
plan costs one sparse triangular solve per period.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from planner.grid import Grid


def injection_maps(grid: Grid, loss: float) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Bus x unit and bus x load incidence: injections (pu) = Cu p - Cl s (+ constants).

    A load with a loss allowance draws ``(1 + loss)`` times what it is served. Units and
    loads no generation can reach are at no bus (their columns are bounded to 0).
    """
    nb, nu, nl = grid.n_bus, len(grid.units), len(grid.loads)
    ui = np.array([i for i, u in enumerate(grid.units) if u.reachable], dtype=int)
    li = np.array([i for i, ld in enumerate(grid.loads) if ld.reachable], dtype=int)
    ub = np.array([grid.units[i].bus for i in ui], dtype=int)
    lb = np.array([grid.loads[i].bus for i in li], dtype=int)
    Cu = sp.csr_matrix((np.ones(len(ui)), (ub, ui)), shape=(nb, nu))
    Cl = sp.csr_matrix((np.full(len(li), 1.0 + loss), (lb, li)), shape=(nb, nl))
    return Cu, Cl


class ShiftFactors:
    """The limited branches' flows and limit rows over the LP's ``p`` and ``s`` columns.

    Limit rows are indexed period-major, ``t * n_limited + j``, like the branch rows of
    the angle formulation, so both forms share ``planner.lazyrows``.
    """

    def __init__(
        self,
        grid: Grid,
        limited: np.ndarray,
        *,
        T: int,
        p_off: int,
        s_off: int,
        loss: float,
    ) -> None:
        nb = grid.n_bus
        self.T = T
        self.limited = limited
        self.n_lim = len(limited)
        self.p_off, self.s_off = p_off, s_off
        self.nu, self.nl = len(grid.units), len(grid.loads)
        ref = np.zeros(nb, dtype=bool)
        ref[grid.ref_buses] = True
        self.nonref = np.flatnonzero(~ref)
        B = sp.csc_matrix(grid.Bbus)
        self.lu = splu(sp.csc_matrix(B[self.nonref][:, self.nonref]))
        Bf = sp.csr_matrix(grid.Bf[limited])
        self.Bf_n = sp.csr_matrix(Bf[:, self.nonref])
        th_r = np.zeros(nb)
        th_r[grid.ref_buses] = grid.ref_angles
        # injections (pu, per bus) = Cu p - Cl s + c0; the constant part: fixed demand and
        # the phase shifters' bus injections, moved to the injection side
        self.Cu, self.Cl = injection_maps(grid, loss)
        c0 = -(grid.fixed_demand_mw / grid.base_mva) - grid.pbusinj
        # the reference angles enter the non-reference rows as B_nr th_r
        ref_push = (B @ th_r)[self.nonref]
        th0 = self.lu.solve(c0[self.nonref] - ref_push)
        # the flow each limited branch carries at zero p and s (reference angles,
        # fixed demand, phase shifters): limits on the variable part are shifted by it
        self.const = self.Bf_n @ th0 + (Bf @ th_r) + grid.pfinj[limited]
        self.rate = grid.branch_rate_mw[limited] / grid.base_mva
        self.lo = np.tile(-self.rate - self.const, T)
        self.hi = np.tile(self.rate - self.const, T)
        self._h: dict[int, np.ndarray] = {}

    @property
    def n_rows(self) -> int:
        return self.n_lim * self.T

    def values(self, x: np.ndarray) -> np.ndarray:
        """The variable part of every limited flow (pu), period-major like the rows."""
        if not self.n_lim:
            return np.zeros(0)
        p = x[self.p_off : self.p_off + self.nu * self.T].reshape(self.T, self.nu)
        s = x[self.s_off : self.s_off + self.nl * self.T].reshape(self.T, self.nl)
        inj = self.Cu @ p.T - self.Cl @ s.T  # n_bus x T
        th = self.lu.solve(np.ascontiguousarray(inj[self.nonref]))
        th = th.reshape(len(self.nonref), self.T)
        return np.asarray((self.Bf_n @ th).T).ravel()

    def flows_mw(self, x: np.ndarray, base_mva: float) -> np.ndarray:
        """T x n_limited flows in MW."""
        v = self.values(x).reshape(self.T, self.n_lim) + self.const
        return v * base_mva

    def _factors(self, branches: np.ndarray) -> np.ndarray:
        """h_l over every bus (zero at reference buses), one row per branch."""
        todo = [int(j) for j in np.unique(branches) if int(j) not in self._h]
        if todo:
            rhs = self.Bf_n[todo].toarray().T  # n_nonref x k
            sol = self.lu.solve(np.ascontiguousarray(rhs), trans="T")
            sol = sol.reshape(len(self.nonref), len(todo))
            nb = self.Cu.shape[0]
            for c, j in enumerate(todo):
                h = np.zeros(nb)
                h[self.nonref] = sol[:, c]
                self._h[j] = h
        return np.array([self._h[int(j)] for j in branches]).reshape(len(branches), -1)

    def rows(self, idx: np.ndarray, n_col: int) -> sp.csr_matrix:
        """The limit rows ``idx`` (period-major) over all ``n_col`` LP columns."""
        idx = np.asarray(idx, dtype=int)
        t, j = np.divmod(idx, self.n_lim)
        H = self._factors(j)  # k x n_bus
        on_p = np.asarray(self.Cu.T @ H.T).T  # k x nu
        on_s = -np.asarray(self.Cl.T @ H.T).T  # k x nl
        k = len(idx)
        r = np.repeat(np.arange(k), self.nu)
        c = (self.p_off + t * self.nu).repeat(self.nu) + np.tile(np.arange(self.nu), k)
        r2 = np.repeat(np.arange(k), self.nl)
        c2 = (self.s_off + t * self.nl).repeat(self.nl) + np.tile(np.arange(self.nl), k)
        vals = np.concatenate([on_p.ravel(), on_s.ravel()])
        rows = np.concatenate([r, r2])
        cols = np.concatenate([c, c2])
        keep = vals != 0.0
        return sp.csr_matrix((vals[keep], (rows[keep], cols[keep])), shape=(k, n_col))
