"""Rows that carry energy over time: fuel tanks (with trucks) and batteries.

Tank balance, every tank and period (kL): level carried over, minus burn, plus
arrivals after the lead time, minus departures, plus resupply. Battery state of
charge, every battery and period (MWh): carried over, plus charge x efficiency,
minus discharge / efficiency; the charge and discharge sides are two units of the
LP (``planner.grid.BatteryModel``), so power balance and shift factors see them
like any other injection.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from planner.grid import Grid
from planner.model_data import PeriodData
from planner.model_rows import Rows, kron_periods
from planner.scenario import Scenario


def add_tanks(rows: Rows, scenario: Scenario, grid: Grid, data: PeriodData) -> None:
    """``L_t - L_{t-1} + burn + departures - arrivals = resupply`` (+ the start at t = 0)."""
    nk, T = len(data.tanks), data.T
    if not nk:
        return
    burn_p, burn_u = _burn_maps(grid, data)
    dL = sp.kron(sp.identity(T) - sp.eye(T, k=-1, format="csr"), sp.identity(nk), format="csr")
    mats: dict[str, sp.spmatrix] = {"p": kron_periods(burn_p, T), "L": dL}
    if len(data.on_units):
        mats["u"] = kron_periods(burn_u, T)
    if data.routes:
        mats["x"] = _transfer_map(data)
    pos = data.tank_pos
    resupply = np.zeros((T, nk))
    for s in scenario.sites:
        if s.resupply_litres:
            k = pos[s.tanks[0].key]
            resupply[:, k] = [
                s.resupply_litres[t % len(s.resupply_litres)] / 1000.0 for t in range(T)
            ]
    resupply[0, :] += np.array([t.initial_litres for t in data.tanks]) / 1000.0
    rows.add("tank", rows.place(mats, nk * T), resupply.ravel(), resupply.ravel())


def _burn_maps(grid: Grid, data: PeriodData) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Tank x unit and tank x on-variable burn (kL per period per pu, per on-fraction):
    litres/hour = no_load_lph (when on) + lph_per_mw x MW."""
    nk, nu, h = len(data.tanks), len(grid.units), data.hours
    pos = data.tank_pos
    on_pos = {int(i): j for j, i in enumerate(data.on_units)}
    b_rows, b_cols, b_vals = [], [], []
    a_rows, a_cols, a_vals = [], [], []
    for i, u in enumerate(grid.units):
        g = u.spec
        if g is None or not g.fuelled:
            continue
        k = pos[f"{g.site}/{g.tank}"]
        per_mw = g.lph_per_mw
        if i not in on_pos and g.no_load_lph > 0 and u.p_max_mw > 0:
            per_mw += g.no_load_lph / u.p_max_mw
        b_rows.append(k)
        b_cols.append(i)
        b_vals.append(h * per_mw * data.base / 1000.0)
        if i in on_pos and g.no_load_lph > 0:
            a_rows.append(k)
            a_cols.append(on_pos[i])
            a_vals.append(h * g.no_load_lph / 1000.0)
    burn_p = sp.csr_matrix((b_vals, (b_rows, b_cols)), shape=(nk, nu))
    burn_u = sp.csr_matrix((a_vals, (a_rows, a_cols)), shape=(nk, len(data.on_units)))
    return burn_p, burn_u


def _transfer_map(data: PeriodData) -> sp.csr_matrix:
    """Departures leave the source tank at t; arrivals enter the target at t + lead."""
    nk, nr, T = len(data.tanks), len(data.routes), data.T
    pos = data.tank_pos
    src = [pos[f"{r.source}/{r.source_tank}"] for r in data.routes]
    dst = [pos[f"{r.target}/{r.target_tank}"] for r in data.routes]
    out = sp.csr_matrix((np.ones(nr), (src, np.arange(nr))), shape=(nk, nr))
    inn = sp.csr_matrix((np.ones(nr), (dst, np.arange(nr))), shape=(nk, nr))
    lead = np.array([r.lead_periods for r in data.routes], dtype=int)
    X = kron_periods(out, T)
    for lag in sorted(set(lead.tolist())):
        if lag >= T:
            continue  # such shipments would arrive after the horizon (bounded to 0)
        inn_lag = inn @ sp.diags((lead == lag).astype(float))
        X = X - sp.kron(sp.eye(T, k=-lag, format="csr"), inn_lag, format="csr")
    return sp.csr_matrix(X)


def add_batteries(rows: Rows, grid: Grid, data: PeriodData) -> None:
    """``E_t - E_{t-1} = h (eta_c charge - discharge / eta_d)`` in MWh (E_-1 = the start).

    The charge unit's output is minus the charging power, so its coefficient is
    ``+eta_c h base``; the discharge unit's is ``+h base / eta_d``.
    """
    bats, T, nu = grid.batteries, data.T, len(grid.units)
    nbat = len(bats)
    if not nbat:
        return
    coef_rows, coef_cols, coef_vals = [], [], []
    for j, b in enumerate(bats):
        coef_rows += [j, j]
        coef_cols += [b.charge_unit, b.discharge_unit]
        coef_vals += [
            b.charge_efficiency * data.hours * data.base,
            data.hours * data.base / b.discharge_efficiency,
        ]
    P = sp.csr_matrix((coef_vals, (coef_rows, coef_cols)), shape=(nbat, nu))
    dE = sp.kron(sp.identity(T) - sp.eye(T, k=-1, format="csr"), sp.identity(nbat), format="csr")
    rhs = np.zeros((T, nbat))
    rhs[0, :] = [b.e_start_mwh for b in bats]
    mats = {"p": kron_periods(P, T), "E": dE}
    rows.add("battery", rows.place(mats, nbat * T), rhs.ravel(), rhs.ravel())
