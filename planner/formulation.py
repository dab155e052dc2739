"""The multi-period LP, built as one sparse matrix (pure numpy/scipy).

Variables are laid out in blocks, each block period-major (column ``off + t*n + i``)::

    th  bus voltage angles (rad)                 n_bus  x T
    p   unit output (per unit on base_mva)       n_unit x T   (batteries: two units each)
    s   served load (per unit)                   n_load x T
    u   on-fraction of fuelled units, [0, 1]     n_on   x T   (binary with --commitment)
    L   tank level at the end of the period (kL) n_tank x T
    x   fuel sent on a route, departing (kL)     n_route x T
    E   battery state of charge (MWh)            n_battery x T
    z   fairness level per tier, [0, 1]          3
    f   spread floor copies, [0, 1]              (small models only)

Rows (``planner.model_rows``, ``planner.model_stores``): DC bus balance (or one per
island), branch limits, on/off links, tank balance, battery state of charge, reserve
margin, fairness rows (``served fraction of (tier, community) >= z``) and spread rows.

Large models (``form="shift"``, chosen automatically above ``LARGE_COLS``) leave the
angles out: one balance row per island and period, and the branch limits as shift
factors over ``p`` and ``s`` (``planner.shiftfactors``), added only when broken. On
case2869pegase over 24 h that is 48,243 columns and 168 rows plus ~400 limit rows,
against 117,590 columns and 198,032 rows with angles: the same optima, 10-15x faster.

A load no generation can reach is in the model with its demand and a served bound of 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from planner.grid import Grid
from planner.model_data import (
    LARGE_COLS,
    NetworkForm,
    PeriodData,
    energy_bound_mwh,
    island_labels,
    network_form,
    period_data,
)
from planner.model_rows import (
    BLOCK_ORDER,
    Block,
    Rows,
    add_balance,
    add_branch_limits,
    add_fairness,
    add_on_off,
    add_reserve,
    add_spread,
)
from planner.model_stores import add_batteries, add_tanks
from planner.scenario import Scenario
from planner.shiftfactors import ShiftFactors

__all__ = ["LARGE_COLS", "Block", "Problem", "build_problem", "island_labels"]
INF = np.inf


@dataclass
class Problem:
    """The LP in HiGHS-ready arrays plus the maps needed to read a solution back."""

    A: sp.csc_matrix
    row_lo: np.ndarray
    row_hi: np.ndarray
    col_lo: np.ndarray
    col_hi: np.ndarray
    integrality: np.ndarray  # 0 continuous, 1 integer
    blocks: dict[str, Block]
    rows: dict[str, tuple[int, int]]  # name -> (start, count)
    T: int
    hours: float
    base_mva: float
    demand_pu: np.ndarray  # n_load x T
    load_tier: np.ndarray
    load_comm: list[str]
    communities: dict[int, list[str]]
    energy_weight: dict[int, np.ndarray]  # tier -> cost vector of served energy (pu*h)
    end_fuel: np.ndarray  # cost vector: kL left at the end (site tanks and depots)
    on_units: np.ndarray  # unit indices that have an on/off variable
    unit_pmax_t: np.ndarray  # n_unit x T (MW)
    limited_branches: np.ndarray
    tank_keys: list[str]
    route_names: list[str]
    notes: list[str] = field(default_factory=list)
    copper: bool = False
    islands: np.ndarray | None = None
    spread_cols: dict[int, np.ndarray] = field(default_factory=dict)  # tier -> its f copies
    # branch limits as shift factors (rows built when broken); None: angles, or copper plate
    shift: ShiftFactors | None = None
    large: bool = False  # above LARGE_COLS columns in the angle formulation
    fair_rows: dict[int, list[tuple[str, int]]] = field(default_factory=dict)  # tier -> rows
    servable: np.ndarray | None = None  # n_load: some generation can reach it
    # tier -> per rank position, the loads the sites' preferences put there (see stage_list)
    pref_ranks: dict[int, list[np.ndarray]] = field(default_factory=dict)
    energy_bound_mwh: float = np.inf  # the most all units can deliver over the horizon
    fixed_energy_mwh: float = 0.0  # shunts and wards over the horizon (never shed)
    loss: float = 0.0  # the scenario's loss allowance

    @property
    def n_col(self) -> int:
        return self.A.shape[1]

    @property
    def n_row(self) -> int:
        return self.A.shape[0]


def build_problem(
    scenario: Scenario, grid: Grid, *, commitment: bool = False, form: str = "auto"
) -> Problem:
    """Assemble the tiered, fuel-coupled multi-period LP for a scenario and its grid.

    ``form`` is how the network enters: ``"angles"`` (bus angles, one balance row per
    bus, branch rows ``Bf th``), ``"shift"`` (one balance per island, branch limits as
    shift factors over the injections, added only when broken), or ``"auto"``: shift
    factors for large models (above ``LARGE_COLS`` columns with angles), angles below.
    Without any branch limit that can bind, both are a copper plate per island.
    """
    if form not in ("auto", "angles", "shift"):
        raise ValueError(f"form: must be auto, angles or shift, got {form!r}")
    data = period_data(scenario, grid, commitment)
    T = data.T
    n_other = (len(grid.units) + len(grid.loads) + len(data.on_units)) * T
    n_other += (len(data.tanks) + len(data.routes) + len(grid.batteries)) * T + 3
    netform = network_form(grid, data, form, n_other)
    blocks = _layout(grid, data, netform)
    col_lo, col_hi, integ = _bounds(grid, data, netform, blocks, commitment)
    rows = Rows(blocks)
    add_balance(rows, grid, data, netform)
    shift = add_branch_limits(rows, grid, data, netform)
    add_on_off(rows, grid, data)
    add_tanks(rows, scenario, grid, data)
    add_batteries(rows, grid, data)
    add_reserve(rows, grid, data, scenario.policy.reserve_margin)
    fair_rows = add_fairness(rows, data)
    spread_cols = add_spread(rows, data, netform)
    A, row_lo, row_hi = rows.matrix()
    notes = list(netform.notes)
    if shift is not None:
        notes.append(
            "branch limits as shift factors (the flow each injection causes), "
            "added to the model only when a stage breaks them"
        )
    energy_weight, communities = _tier_weights(data, blocks["s"], rows.ncol)
    pref_ranks = _pref_ranks(scenario, grid, data)
    end_fuel = np.zeros(rows.ncol)
    if data.tanks:
        end_fuel[blocks["L"].cols(T - 1)] = 1.0
    return Problem(
        A=A,
        row_lo=row_lo,
        row_hi=row_hi,
        col_lo=col_lo,
        col_hi=col_hi,
        integrality=integ,
        blocks=blocks,
        rows=rows.index,
        T=T,
        hours=data.hours,
        base_mva=data.base,
        demand_pu=data.demand_pu,
        load_tier=data.tier,
        load_comm=data.comm,
        communities=communities,
        energy_weight=energy_weight,
        end_fuel=end_fuel,
        on_units=data.on_units,
        unit_pmax_t=data.pmax_t,
        limited_branches=netform.limited,
        tank_keys=[t.key for t in data.tanks],
        route_names=[r.name for r in data.routes],
        notes=notes,
        copper=netform.copper,
        islands=netform.islands,
        spread_cols=spread_cols,
        shift=shift,
        large=netform.large,
        fair_rows=fair_rows,
        servable=data.servable,
        pref_ranks=pref_ranks,
        energy_bound_mwh=energy_bound_mwh(scenario, grid, data),
        fixed_energy_mwh=float(np.clip(grid.fixed_demand_mw, 0.0, None).sum()) * T * data.hours,
        loss=data.loss,
    )


def _layout(grid: Grid, data: PeriodData, form: NetworkForm) -> dict[str, Block]:
    n_th = 0 if form.copper or form.use_shift else grid.n_bus
    sizes = {
        "th": (n_th, data.T),
        "p": (len(grid.units), data.T),
        "s": (len(grid.loads), data.T),
        "u": (len(data.on_units), data.T),
        "L": (len(data.tanks), data.T),
        "x": (len(data.routes), data.T),
        "E": (len(grid.batteries), data.T),
        "z": (3, 1),
        "f": (form.n_f, 1),
    }
    blocks: dict[str, Block] = {}
    off = 0
    for name in BLOCK_ORDER:
        n, per = sizes[name]
        blocks[name] = Block(name, off, n, per)
        off += n * per
    return blocks


def _bounds(
    grid: Grid, data: PeriodData, form: NetworkForm, blocks: dict[str, Block], commitment: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Column bounds: reference angles fixed, units within limits, loads up to demand
    (0 where no generation can reach), tanks between reserve and capacity, trucks up to
    their capacity and only when they arrive within the horizon, batteries within limits."""
    T, base = data.T, data.base
    ncol = sum(b.size for b in blocks.values())
    lo, hi = np.zeros(ncol), np.zeros(ncol)
    integ = np.zeros(ncol, dtype=np.uint8)

    def put(name: str, low: np.ndarray | float, high: np.ndarray | float) -> None:
        b = blocks[name]
        lo[b.off : b.off + b.size] = low
        hi[b.off : b.off + b.size] = high

    th = blocks["th"]
    if th.n:
        ref_lo = np.full((T, th.n), -INF)
        ref_lo[:, grid.ref_buses] = grid.ref_angles
        ref_hi = np.full((T, th.n), INF)
        ref_hi[:, grid.ref_buses] = grid.ref_angles
        put("th", ref_lo.ravel(), ref_hi.ravel())
    pl = data.pmin_t / base
    if len(data.on_units):
        pl[data.on_units, :] = 0.0  # the minimum applies only when on (via u)
    put("p", pl.T.ravel(), (data.pmax_t / base).T.ravel())
    served_hi = data.demand_pu * data.servable.reshape(-1, 1)
    put("s", 0.0, served_hi.T.ravel())
    put("u", 0.0, 1.0)
    if commitment:
        integ[blocks["u"].cols()] = 1
    cap = np.array([t.capacity_litres for t in data.tanks]) / 1000.0
    res = np.array([t.reserve_litres for t in data.tanks]) / 1000.0
    put("L", np.tile(res, T), np.tile(cap, T))
    put("x", 0.0, _route_caps(data).ravel())
    put(
        "E",
        np.tile([b.e_min_mwh for b in grid.batteries], T),
        np.tile([b.e_max_mwh for b in grid.batteries], T),
    )
    put("z", 0.0, 1.0)
    put("f", 0.0, 1.0)
    return lo, hi, integ


def _route_caps(data: PeriodData) -> np.ndarray:
    """T x n_route: kL a route can carry per period; 0 when it would arrive too late."""
    nr = len(data.routes)
    xh = np.tile(np.array([r.litres_per_period for r in data.routes]) / 1000.0, (data.T, 1))
    if nr:
        lead = np.array([r.lead_periods for r in data.routes], dtype=int)
        arrives = np.arange(data.T).reshape(data.T, 1) + lead.reshape(1, nr)
        xh[arrives >= data.T] = 0.0
    return xh


def _tier_weights(
    data: PeriodData, sb: Block, ncol: int
) -> tuple[dict[int, np.ndarray], dict[int, list[str]]]:
    """Per tier: the cost vector of its served energy (pu*h), and its communities."""
    weights: dict[int, np.ndarray] = {}
    communities: dict[int, list[str]] = {}
    nl, T = len(data.comm), data.T
    for k in (1, 2, 3):
        idx_k = np.flatnonzero(data.tier == k)
        w = np.zeros(ncol)
        if len(idx_k):
            cols = (sb.off + np.arange(T).reshape(T, 1) * nl + idx_k.reshape(1, -1)).ravel()
            w[cols] = data.hours
        weights[k] = w
        communities[k] = sorted({data.comm[i] for i in idx_k})
    return weights, communities


def _pref_ranks(scenario: Scenario, grid: Grid, data: PeriodData) -> dict[int, list[np.ndarray]]:
    """Per tier and rank position, the loads the sites' preferences rank there. A load's
    position counts among the loads of its own tier in its site's order; the site's loads
    of that tier it did not name come last, together."""
    index = {ld.name: i for i, ld in enumerate(grid.loads)}
    buses = {s.name: set(s.buses) for s in scenario.sites}
    out: dict[int, list[list[int]]] = {}

    def place(k: int, pos: int, i: int) -> None:
        ranks = out.setdefault(k, [])
        while len(ranks) <= pos:
            ranks.append([])
        ranks[pos].append(i)

    for pref in sorted(scenario.preferences, key=lambda p: p.site):
        at_site = [
            i for i, ld in enumerate(grid.loads)
            if grid.load_bus.get(ld.index) in buses.get(pref.site, set())
        ]  # fmt: skip
        named = [index[n] for n in pref.rank if n in index]
        seen: dict[int, int] = {}
        for i in named:
            k = int(data.tier[i])
            place(k, seen.get(k, 0), i)
            seen[k] = seen.get(k, 0) + 1
        for i in at_site:
            k = int(data.tier[i])
            if i not in named and k in seen:
                place(k, seen[k], i)
    return {k: [np.array(sorted(r), dtype=int) for r in v] for k, v in out.items()}
