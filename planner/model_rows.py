"""The LP's constraint rows, one builder per kind (pure numpy/scipy).

Every per-period block is identical, so it is built once and repeated with
``kron(I_T, block)``; no Python loop runs over elements and periods together.
Right-hand sides are computed with sparse products and elementwise numpy only
(never a dense BLAS product, whose rounding depends on the number of threads).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from planner.grid import Grid
from planner.model_data import SPREAD_CHUNK, NetworkForm, PeriodData
from planner.shiftfactors import ShiftFactors, injection_maps

INF = np.inf
BLOCK_ORDER = ("th", "p", "s", "u", "L", "x", "E", "z", "f")


@dataclass
class Block:
    name: str
    off: int
    n: int  # per period (or total for z and f)
    T: int

    def cols(self, t: int | None = None) -> np.ndarray:
        if t is None:
            return np.arange(self.off, self.off + self.n * self.T)
        return np.arange(self.off + t * self.n, self.off + (t + 1) * self.n)

    def col(self, i: int, t: int) -> int:
        return self.off + t * self.n + i

    @property
    def size(self) -> int:
        return self.n * self.T


def kron_periods(block: sp.spmatrix, T: int) -> sp.csr_matrix:
    """The same per-period block on the diagonal T times (period-major on both sides)."""
    return sp.kron(sp.identity(T, format="csr"), block, format="csr")


class Rows:
    """Rows appended in order; each named range is remembered for the stages and diagnosis."""

    def __init__(self, blocks: dict[str, Block]) -> None:
        self.blocks = blocks
        self.ncol = sum(b.size for b in blocks.values())
        self.parts: list[sp.csr_matrix] = []
        self.lo: list[np.ndarray] = []
        self.hi: list[np.ndarray] = []
        self.index: dict[str, tuple[int, int]] = {}
        self.n = 0

    def add(self, name: str, mat: sp.spmatrix, lo: np.ndarray, hi: np.ndarray) -> int:
        """Append rows; returns the first row's index."""
        first = self.n
        self.index[name] = (first, mat.shape[0])
        self.parts.append(sp.csr_matrix(mat))
        self.lo.append(np.asarray(lo, dtype=float))
        self.hi.append(np.asarray(hi, dtype=float))
        self.n += mat.shape[0]
        return first

    def place(self, mats: dict[str, sp.spmatrix], nrows: int) -> sp.csr_matrix:
        """Columns of each named block side by side, zero elsewhere."""
        cols = []
        for name in BLOCK_ORDER:
            b = self.blocks[name]
            cols.append(
                sp.csr_matrix(mats[name]) if name in mats else sp.csr_matrix((nrows, b.size))
            )
        return sp.hstack(cols, format="csr")

    def matrix(self) -> tuple[sp.csc_matrix, np.ndarray, np.ndarray]:
        if not self.parts:
            return sp.csc_matrix((0, self.ncol)), np.zeros(0), np.zeros(0)
        return sp.vstack(self.parts, format="csc"), np.concatenate(self.lo), np.concatenate(self.hi)


def add_balance(rows: Rows, grid: Grid, data: PeriodData, form: NetworkForm) -> None:
    """Bus balance ``Bbus th - Cu p + Cl (1+loss) s = -Pbusinj - fixed``, or one row per island.

    Bbus is a Laplacian: its columns sum to zero over an island, so the bus rows of an
    island add up to one balance row with theta gone (with shift factors the angles
    follow from the injections, and the branch limits carry the network).
    """
    T, nb = data.T, grid.n_bus
    Cu, Cl = injection_maps(grid, data.loss)
    rhs_bus = -(grid.pbusinj + grid.fixed_demand_mw / data.base)
    if form.copper or form.use_shift:
        n_isl = int(form.islands.max()) + 1 if nb else 0
        S = sp.csr_matrix((np.ones(nb), (form.islands, np.arange(nb))), shape=(n_isl, nb))
        rhs = np.tile(S @ rhs_bus, T)  # a sparse sum in a fixed order
        mats = {"p": kron_periods(-(S @ Cu), T), "s": kron_periods(S @ Cl, T)}
        rows.add("balance", rows.place(mats, n_isl * T), rhs, rhs)
        return
    rhs = np.tile(rhs_bus, T)
    mats = {
        "th": kron_periods(grid.Bbus, T),
        "p": kron_periods(-Cu, T),
        "s": kron_periods(Cl, T),
    }
    rows.add("balance", rows.place(mats, nb * T), rhs, rhs)


def add_branch_limits(
    rows: Rows, grid: Grid, data: PeriodData, form: NetworkForm
) -> ShiftFactors | None:
    """Branch limits that could ever bind: rows over the angles, or shift factors (rows
    built only when a stage breaks them, see ``planner.lazyrows``)."""
    limited = form.limited
    if form.use_shift:
        b = rows.blocks
        return ShiftFactors(
            grid, limited, T=data.T, p_off=b["p"].off, s_off=b["s"].off, loss=data.loss
        )
    if len(limited):
        rate = grid.branch_rate_mw[limited] / data.base
        pf = grid.pfinj[limited]
        lo, hi = np.tile(-rate - pf, data.T), np.tile(rate - pf, data.T)
        mat = rows.place({"th": kron_periods(grid.Bf[limited], data.T)}, len(limited) * data.T)
        rows.add("branch", mat, lo, hi)
    return None


def add_on_off(rows: Rows, grid: Grid, data: PeriodData) -> None:
    """On/off links: ``p - pmax u <= 0`` and ``p - msl u >= 0``."""
    on, T, nu = data.on_units, data.T, len(grid.units)
    n_on = len(on)
    if not n_on:
        return
    sel = sp.csr_matrix((np.ones(n_on), (np.arange(n_on), on)), shape=(n_on, nu))
    pmax_on = data.pmax_t[on, :] / data.base
    rows.add(
        "on_max",
        rows.place({"p": kron_periods(sel, T), "u": -sp.diags(pmax_on.T.ravel())}, n_on * T),
        np.full(n_on * T, -INF),
        np.zeros(n_on * T),
    )
    msl = np.array([grid.units[i].spec.min_stable_mw for i in on]) / data.base
    keep = np.flatnonzero(msl > 0)
    if len(keep):
        m = sp.csr_matrix((-msl[keep], (np.arange(len(keep)), keep)), shape=(len(keep), n_on))
        mats = {"p": kron_periods(sel[keep], T), "u": kron_periods(m, T)}
        n = len(keep) * T
        rows.add("on_min", rows.place(mats, n), np.zeros(n), np.full(n, INF))


def add_reserve(rows: Rows, grid: Grid, data: PeriodData, margin: float) -> None:
    """Spare running capacity >= margin x served load, every period."""
    if margin <= 0:
        return
    T, nu, nl, on = data.T, len(grid.units), len(grid.loads), data.on_units
    ph = data.pmax_t / data.base
    mats = {
        "p": kron_periods(-sp.csr_matrix(np.ones((1, nu))), T),
        "s": kron_periods(sp.csr_matrix(-margin * np.ones((1, nl))), T),
    }
    fixed_cap = ph.copy()
    if len(on):
        fixed_cap[on, :] = 0.0
        mats["u"] = sp.csr_matrix(
            kron_periods(sp.csr_matrix(np.ones((1, len(on)))), T) @ sp.diags(ph[on, :].T.ravel())
        )
    finite = np.where(np.isfinite(fixed_cap), fixed_cap, 1e6)
    rows.add("reserve", rows.place(mats, T), -finite.sum(axis=0), np.full(T, INF))


def add_fairness(rows: Rows, data: PeriodData) -> dict[int, list[tuple[str, int]]]:
    """Energy served to each (tier, community) >= z_tier x its demand (normalised rows:
    served fraction - z >= 0). Demand counts every load, reachable or not: a community
    with a dark clinic is worse off, and the leximin stages see it."""
    T, h, nl = data.T, data.hours, len(data.comm)
    s_off, z_off = rows.blocks["s"].off, rows.blocks["z"].off
    d = data.demand_pu
    fr: list[int] = []
    fc: list[int] = []
    fv: list[float] = []
    where: dict[int, list[tuple[str, int]]] = {}
    r = 0
    for k in (1, 2, 3):
        idx_k = np.flatnonzero(data.tier == k)
        for c in sorted({data.comm[i] for i in idx_k}):
            members = np.array([i for i in idx_k if data.comm[i] == c], dtype=int)
            D = h * float(d[members, :].sum())
            if D <= 0:
                continue
            cols = (s_off + np.arange(T).reshape(T, 1) * nl + members.reshape(1, -1)).ravel()
            fr.extend([r] * (len(cols) + 1))
            fc.extend([*cols.tolist(), z_off + k - 1])
            fv.extend([h / D] * len(cols) + [-1.0])
            where.setdefault(k, []).append((c, r))
            r += 1
    if r:
        first = rows.add(
            "fair",
            sp.csr_matrix((fv, (fr, fc)), shape=(r, rows.ncol)),
            np.zeros(r),
            np.full(r, INF),
        )
        where = {k: [(c, first + i) for c, i in v] for k, v in where.items()}
    return where


def add_spread(rows: Rows, data: PeriodData, form: NetworkForm) -> dict[int, np.ndarray]:
    """Every servable load-hour of a tier gets at least f_tier of its demand (chunked f)."""
    d_flat = data.demand_pu.T.ravel()
    s_off = rows.blocks["s"].off
    f_next = rows.blocks["f"].off
    spread_cols: dict[int, np.ndarray] = {}
    for k, live_k in form.spread_chunks.items():
        n_live = len(live_k)
        n_chunks = -(-n_live // SPREAD_CHUNK)
        copies = f_next + np.arange(n_chunks)
        spread_cols[k] = copies
        chunk_of = copies[np.arange(n_live) // SPREAD_CHUNK]
        S = sp.csr_matrix(
            (
                np.concatenate([np.ones(n_live), -d_flat[live_k]]),
                (np.tile(np.arange(n_live), 2), np.concatenate([s_off + live_k, chunk_of])),
            ),
            shape=(n_live, rows.ncol),
        )
        rows.add(f"spread{k}", S, np.zeros(n_live), np.full(n_live, INF))
        if n_chunks > 1:
            ones = np.ones(n_chunks - 1)
            link = sp.csr_matrix(
                (
                    np.concatenate([ones, -ones]),
                    (
                        np.tile(np.arange(n_chunks - 1), 2),
                        np.concatenate([copies[:-1], copies[1:]]),
                    ),
                ),
                shape=(n_chunks - 1, rows.ncol),
            )
            rows.add(f"spread{k}_link", link, np.zeros(n_chunks - 1), np.zeros(n_chunks - 1))
        f_next += n_chunks
    return spread_cols
