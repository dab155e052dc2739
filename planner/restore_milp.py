"""The restoration ordering MILP (HiGHS), in the spirit of PowerModelsRestoration's ROP.

Per step ``s`` and item: a bus is live (``x``), a branch closed (``z``), a unit online
(``u``), a load block picked up (``y``) — each once on, on for good — with unit MW
``p``, branch MW ``f`` (a transport model with the branch limits) and a connectivity
commodity ``h``/``src`` that makes every live bus reachable, over closed branches, from
a running black-start unit in the same step. Rules:

* a black-start unit starts on its own and energises its bus; any other unit starts only
  once its bus was live the step before, draws its cranking power in the step it
  starts and gives power only from the next step;
* a unit takes at most its block-loading step more than the step before;
* block loading at the instant of closing: what is picked up in a step (the new blocks
  with their cold load, cranking, newly live buses) is carried by the units running in
  the same island, each taking at most its step (a second transport flow ``e``/``q``
  over the closed branches): an earlier block's cold load decaying in the same step is
  never counted as room, because it decays over minutes and the pickup is at once;
* a block draws its cold-load factor times its demand for its first steps;
* at most ``blocks_per_step`` new blocks per step;
* spinning reserve, in every island: each unit carries at most its rating / (1 +
  ``reserve``), so the units of an island are rated ``reserve`` above what it draws
  (a spare unit in another island cannot pick up a trip here).

The objective is priority-weighted energy served, tier by tier (tier 1 is maximised
first, then fixed; then tier 2; ...; then as few items switched as possible). Limits
are in branch-and-bound nodes, not seconds, so every laptop finds the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from planner.errors import SolverError
from planner.highs import Solver
from planner.restore_case import RestoreCase, loading_cap, never_fit
from planner.restore_greedy import Schedule

NODE_LIMIT = 20_000
REL_GAP = 1e-4  # of each tier's energy: a few kWh on a town, never a block step


@dataclass
class Layout:
    S: int
    nb: int
    nk: int
    ng: int
    nl: int

    def __post_init__(self) -> None:
        sizes = [self.nb, self.nk, self.ng, self.nl, self.ng, self.nk, self.nk, self.nb]
        sizes += [self.nk, self.ng]
        self.off = np.r_[0, np.cumsum(sizes)] * self.S
        self.n = int(self.off[-1])

    def col(self, var: int, i: int | np.ndarray, s: int | np.ndarray) -> np.ndarray:
        """Column of variable ``var`` (0 x, 1 z, 2 u, 3 y, 4 p, 5 f, 6 h, 7 src, 8 e, 9 q)."""
        return np.asarray(self.off[var] + np.asarray(i) * self.S + np.asarray(s), dtype=int)


class _Rows:
    def __init__(self) -> None:
        self.r: list[int] = []
        self.c: list[int] = []
        self.v: list[float] = []
        self.lo: list[float] = []
        self.hi: list[float] = []

    def add(self, cols: list[Any], vals: list[float], lo: float, hi: float) -> None:
        row = len(self.lo)
        self.r.extend([row] * len(cols))
        self.c.extend(int(c) for c in cols)
        self.v.extend(vals)
        self.lo.append(lo)
        self.hi.append(hi)


@dataclass
class Solved:
    schedule: Schedule
    tier_energy: dict[int, float]
    proven: bool  # every stage finished within the node limit


def build(
    case: RestoreCase,
) -> tuple[Layout, sp.csc_matrix, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The model: (layout, A, col_lo, col_hi, row_lo, row_hi, integrality)."""
    L = Layout(case.steps, case.n_bus, len(case.branch_from), len(case.units), len(case.blocks))
    big = float(sum(u.p_max_mw for u in case.units)) + 1.0
    lo, hi = np.zeros(L.n), np.ones(L.n)
    integ = np.zeros(L.n, dtype=bool)
    integ[: L.off[4]] = True
    rows = _Rows()
    _monotone(L, rows)
    _topology(case, L, rows, lo, hi, big)
    _units(case, L, rows, lo, hi)
    _balance(case, L, rows)
    _blocks(case, L, rows)
    for j in never_fit(case):
        hi[L.col(3, j, np.arange(L.S))] = 0.0
    _pickup(case, L, rows, lo, hi, sum(u.step_mw for u in case.units))
    if case.reserve > 0:
        _reserve(case, L, rows)
    a = sp.csc_matrix((rows.v, (rows.r, rows.c)), shape=(len(rows.lo), L.n))
    return L, a, lo, hi, np.array(rows.lo), np.array(rows.hi), integ


def _monotone(L: Layout, rows: _Rows) -> None:
    for var, count in ((0, L.nb), (1, L.nk), (2, L.ng), (3, L.nl)):
        for i in range(count):
            for s in range(1, L.S):
                rows.add([L.col(var, i, s), L.col(var, i, s - 1)], [1.0, -1.0], 0.0, np.inf)


def _topology(
    case: RestoreCase, L: Layout, rows: _Rows, lo: np.ndarray, hi: np.ndarray, big: float
) -> None:
    nb = float(L.nb)
    rate = np.where(np.isfinite(case.branch_rate_mw), case.branch_rate_mw, big)
    for k in range(L.nk):
        f, t = int(case.branch_from[k]), int(case.branch_to[k])
        for s in range(L.S):
            zk = L.col(1, k, s)
            rows.add([zk, L.col(0, f, s)], [1.0, -1.0], -np.inf, 0.0)
            rows.add([zk, L.col(0, t, s)], [1.0, -1.0], -np.inf, 0.0)
            for var, cap in ((5, rate[k]), (6, nb)):
                c = L.col(var, k, s)
                lo[c], hi[c] = -cap, cap
                rows.add([c, zk], [1.0, -cap], -np.inf, 0.0)
                rows.add([c, zk], [1.0, cap], 0.0, np.inf)
    sources: dict[int, list[int]] = {}
    for g, unit in enumerate(case.units):
        if unit.black_start:
            sources.setdefault(unit.bus, []).append(g)
    for b in range(L.nb):
        into = np.flatnonzero(case.branch_to == b)
        out = np.flatnonzero(case.branch_from == b)
        for s in range(L.S):
            src = L.col(7, b, s)
            hi[src] = nb if b in sources else 0.0
            cols = [*L.col(6, into, s), *L.col(6, out, s), src, L.col(0, b, s)]
            vals = [1.0] * len(into) + [-1.0] * len(out) + [1.0, -1.0]
            rows.add(cols, vals, 0.0, 0.0)
            gs = np.array(sources.get(b, []), dtype=int)
            if len(gs):
                rows.add([src, *L.col(2, gs, s)], [1.0] + [-nb] * len(gs), -np.inf, 0.0)
            # a live bus hosts a running black-start unit or has a closed branch (cuts)
            adj = np.r_[into, out]
            cols = [L.col(0, b, s), *L.col(1, adj, s), *L.col(2, gs, s)]
            rows.add(cols, [1.0] + [-1.0] * (len(adj) + len(gs)), -np.inf, 0.0)


def _units(case: RestoreCase, L: Layout, rows: _Rows, lo: np.ndarray, hi: np.ndarray) -> None:
    for g, unit in enumerate(case.units):
        top = loading_cap(case, unit.p_max_mw)
        for s in range(L.S):
            u, p = L.col(2, g, s), L.col(4, g, s)
            hi[p] = top
            if unit.black_start:
                rows.add([u, L.col(0, unit.bus, s)], [1.0, -1.0], -np.inf, 0.0)
                rows.add([p, u], [1.0, -top], -np.inf, 0.0)
            elif s == 0:
                hi[u] = hi[p] = 0.0
            else:
                rows.add([u, L.col(0, unit.bus, s - 1)], [1.0, -1.0], -np.inf, 0.0)
                rows.add([p, L.col(2, g, s - 1)], [1.0, -top], -np.inf, 0.0)
            if s == 0:
                hi[p] = min(hi[p], unit.step_mw)
            else:
                rows.add([p, L.col(4, g, s - 1)], [1.0, -1.0], -np.inf, unit.step_mw)


def _balance(case: RestoreCase, L: Layout, rows: _Rows) -> None:
    for b in range(L.nb):
        gens = [g for g, u in enumerate(case.units) if u.bus == b]
        into = np.flatnonzero(case.branch_to == b)
        out = np.flatnonzero(case.branch_from == b)
        for s in range(L.S):
            cols = [*L.col(4, np.array(gens, dtype=int), s), *L.col(5, into, s)]
            vals = [1.0] * len(gens) + [1.0] * len(into)
            cols += list(L.col(5, out, s))
            vals += [-1.0] * len(out)
            cols.append(L.col(0, b, s))
            vals.append(-float(case.fixed_mw[b]))
            for g in gens:
                unit = case.units[g]
                if not unit.black_start and unit.cranking_mw > 0:
                    cols.append(L.col(2, g, s))
                    vals.append(-unit.cranking_mw)
                    if s:
                        cols.append(L.col(2, g, s - 1))
                        vals.append(unit.cranking_mw)
            for j, block in enumerate(case.blocks):
                mw = block.demand_mw.get(b, 0.0)
                if mw <= 0:
                    continue
                cols.append(L.col(3, j, s))
                vals.append(-mw * (block.cold_factor if block.cold_steps else 1.0))
                back = s - block.cold_steps
                if block.cold_steps and back >= 0:
                    cols.append(L.col(3, j, back))
                    vals.append(mw * (block.cold_factor - 1.0))
            rows.add(cols, vals, 0.0, 0.0)


def _demand(case: RestoreCase, L: Layout, s: int) -> tuple[list[Any], list[float]]:
    """Columns and coefficients of everything drawn at step ``s`` (MW): fixed demand of
    live buses, blocks with their cold-load pickup, cranking of units starting."""
    cols: list[Any] = [L.col(0, b, s) for b in range(L.nb) if case.fixed_mw[b] > 0]
    vals = [float(case.fixed_mw[b]) for b in range(L.nb) if case.fixed_mw[b] > 0]
    for j, block in enumerate(case.blocks):
        mw = block.p_mw
        cols.append(L.col(3, j, s))
        vals.append(mw * (block.cold_factor if block.cold_steps else 1.0))
        back = s - block.cold_steps
        if block.cold_steps and back >= 0:
            cols.append(L.col(3, j, back))
            vals.append(-mw * (block.cold_factor - 1.0))
    for g, unit in enumerate(case.units):
        if not unit.black_start and unit.cranking_mw > 0:
            cols.append(L.col(2, g, s))
            vals.append(unit.cranking_mw)
            if s:
                cols.append(L.col(2, g, s - 1))
                vals.append(-unit.cranking_mw)
    return cols, vals


def _pickup(
    case: RestoreCase, L: Layout, rows: _Rows, lo: np.ndarray, hi: np.ndarray, big: float
) -> None:
    """What closes in a step is carried at once by the running units of its island
    (``big``: all the units' steps, the most any branch can carry of it)."""
    for k in range(L.nk):
        for s in range(L.S):
            e, zk = L.col(8, k, s), L.col(1, k, s)
            lo[e], hi[e] = -big, big
            rows.add([e, zk], [1.0, -big], -np.inf, 0.0)
            rows.add([e, zk], [1.0, big], 0.0, np.inf)
    for g, unit in enumerate(case.units):
        for s in range(L.S):
            q = L.col(9, g, s)
            hi[q] = unit.step_mw
            if unit.black_start:
                rows.add([q, L.col(2, g, s)], [1.0, -unit.step_mw], -np.inf, 0.0)
            elif s == 0:
                hi[q] = 0.0
            else:
                rows.add([q, L.col(2, g, s - 1)], [1.0, -unit.step_mw], -np.inf, 0.0)
    for b in range(L.nb):
        for s in range(L.S):
            cols, vals = _new_at_bus(case, L, b, s)
            into = np.flatnonzero(case.branch_to == b)
            out = np.flatnonzero(case.branch_from == b)
            gens = np.array([g for g, u in enumerate(case.units) if u.bus == b], dtype=int)
            cols += [*L.col(9, gens, s), *L.col(8, into, s), *L.col(8, out, s)]
            vals += [1.0] * len(gens) + [1.0] * len(into) + [-1.0] * len(out)
            rows.add(cols, vals, 0.0, 0.0)


def _new_at_bus(case: RestoreCase, L: Layout, b: int, s: int) -> tuple[list[Any], list[float]]:
    """Minus the MW picked up at bus ``b`` in step ``s``: blocks closing (cold), units
    cranking, the bus's fixed demand when it turns live."""
    cols: list[Any] = []
    vals: list[float] = []

    def new(var: int, i: int, mw: float) -> None:
        cols.append(L.col(var, i, s))
        vals.append(-mw)
        if s:
            cols.append(L.col(var, i, s - 1))
            vals.append(mw)

    if case.fixed_mw[b] > 0:
        new(0, b, float(case.fixed_mw[b]))
    for j, block in enumerate(case.blocks):
        mw = block.demand_mw.get(b, 0.0)
        if mw > 0:
            new(3, j, mw * (block.cold_factor if block.cold_steps else 1.0))
    for g, unit in enumerate(case.units):
        if unit.bus == b and not unit.black_start and unit.cranking_mw > 0:
            new(2, g, unit.cranking_mw)
    return cols, vals


def _reserve(case: RestoreCase, L: Layout, rows: _Rows) -> None:
    """Spinning reserve: the rating of the units giving power stays ``reserve`` above the
    demand of the step (a running black-start unit gives from its start step, any other
    from the step after)."""
    for s in range(L.S):
        cols, vals = _demand(case, L, s)
        vals = [-(1.0 + case.reserve) * v for v in vals]
        for g, unit in enumerate(case.units):
            if unit.black_start:
                cols.append(L.col(2, g, s))
            elif s:
                cols.append(L.col(2, g, s - 1))
            else:
                continue
            vals.append(unit.p_max_mw)
        rows.add(cols, vals, 0.0, np.inf)


def _blocks(case: RestoreCase, L: Layout, rows: _Rows) -> None:
    for j, block in enumerate(case.blocks):
        for s in range(L.S):
            for b in block.demand_mw:
                rows.add([L.col(3, j, s), L.col(0, b, s)], [1.0, -1.0], -np.inf, 0.0)
    if L.nl:
        for s in range(L.S):
            cols = list(L.col(3, np.arange(L.nl), s))
            vals = [1.0] * L.nl
            if s:
                cols += list(L.col(3, np.arange(L.nl), s - 1))
                vals += [-1.0] * L.nl
            rows.add(cols, vals, -np.inf, float(case.blocks_per_step))


def solve(case: RestoreCase, start: Schedule | None = None) -> Solved:
    """Tier by tier, from ``start`` (the greedy order) when given."""
    L, a, lo, hi, rlo, rhi, integ = build(case)
    solver = Solver(a, lo, hi, rlo, rhi, integ)
    solver.h.setOptionValue("mip_max_nodes", NODE_LIMIT)
    solver.h.setOptionValue("mip_rel_gap", REL_GAP)
    if start is not None:
        _start(solver, L, start)  # HiGHS keeps it as its first incumbent
    x_best: np.ndarray | None = None
    tiers = sorted({b.tier for b in case.blocks})
    energy: dict[int, float] = {}
    proven = True
    for tier in tiers:
        cost = np.zeros(L.n)
        for j, block in enumerate(case.blocks):
            if block.tier == tier:
                cost[L.col(3, j, np.arange(L.S))] = block.p_mw * case.step_hours
        x_best, ok = _stage(solver, cost, x_best, maximize=True)
        proven = proven and ok
        energy[tier] = float(cost @ x_best)
        solver.add_row(cost, energy[tier] - 1e-6 * max(1.0, energy[tier]), np.inf)
        solver.modified = True
    assert x_best is not None  # there is at least one block (checked by the caller)
    # then, with the blocks and units as chosen, as few buses live and branches closed
    keep = np.arange(L.off[2], L.off[4])
    solver.set_col_bounds(keep, np.round(x_best[keep]), np.round(x_best[keep]))
    tidy = np.zeros(L.n)
    tidy[: L.off[2]] = 1.0
    x_best, ok = _stage(solver, tidy, x_best, maximize=False)
    return Solved(_schedule(case, L, x_best), energy, proven and ok)


def _stage(
    solver: Solver, cost: np.ndarray, x_prev: np.ndarray | None, *, maximize: bool
) -> tuple[np.ndarray, bool]:
    solver.set_objective(cost, maximize=maximize)
    if x_prev is not None:
        solver.h.setSolution(solver.n_col, np.arange(solver.n_col, dtype=np.int32), x_prev)
    out = solver.solve()
    if out.x is None and int(solver.h.getInfo().primal_solution_status) >= 1:
        # stopped by the node limit (HiGHS says kSolutionLimit): keep its best solution
        out.x = np.asarray(solver.h.getSolution().col_value, dtype=float)
    if out.x is None:
        if x_prev is not None:
            return x_prev, False
        raise SolverError(f"restoration order: HiGHS stopped ({out.status}: {out.detail})")
    x = np.asarray(out.x, dtype=float)
    if abs(cost @ x - out.objective) > 1e-6 * max(1.0, abs(out.objective)):
        # measured (highspy 1.x): when presolve alone solves a model given a start, the
        # solution it returns can be the start, not the optimum it reports; solve again
        # without the start
        solver.h.clearSolver()
        out = solver.solve()
        if out.x is not None and abs(cost @ out.x - out.objective) <= 1e-6 * max(
            1.0, abs(out.objective)
        ):
            x = np.asarray(out.x, dtype=float)
    if x_prev is not None and (cost @ x < cost @ x_prev - 1e-9) == maximize:
        x = x_prev  # never worse than where it started
    return x, out.status == "optimal"


def _start(solver: Solver, L: Layout, start: Schedule) -> None:
    """A full solution from the greedy order: HiGHS completes the flows with an LP."""
    idx: list[np.ndarray] = []
    val: list[np.ndarray] = []
    for var, arr in ((0, start.x), (1, start.z), (2, start.u), (3, start.y)):
        n = arr.shape[1]
        if not n:
            continue
        ii, ss = np.meshgrid(np.arange(n), np.arange(L.S))
        idx.append(L.col(var, ii.ravel(), ss.ravel()))
        val.append(arr.ravel().astype(float))
    if not idx:
        return
    cols = np.concatenate(idx).astype(np.int32)
    solver.h.setSolution(len(cols), cols, np.concatenate(val))


def _schedule(case: RestoreCase, L: Layout, x: np.ndarray) -> Schedule:
    def grid(var: int, n: int) -> np.ndarray:
        if not n:
            return np.zeros((L.S, 0))
        ii, ss = np.meshgrid(np.arange(n), np.arange(L.S))
        return x[L.col(var, ii.ravel(), ss.ravel())].reshape(L.S, n)

    r = np.round
    return Schedule(
        r(grid(0, L.nb)) > 0.5, r(grid(1, L.nk)) > 0.5, r(grid(2, L.ng)) > 0.5,
        r(grid(3, L.nl)) > 0.5, np.clip(grid(4, L.ng), 0.0, None),
    )  # fmt: skip
