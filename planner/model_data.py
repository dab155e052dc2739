"""What the LP is built from, per period: demand, tiers, unit limits, and how the network
enters (angles, shift factors or a copper plate per island). Pure numpy/scipy.

Every per-period quantity is ``n x T`` (element-major); the LP's blocks are
period-major (column ``off + t*n + i``), so they are read with ``.T.ravel()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from planner.grid import Grid
from planner.scenario import Route, Scenario, Tank

# Above this many columns (in the angle formulation) a model is "large": no spread stage,
# and the angles give way to shift factors (measured on case2869pegase)
LARGE_COLS = 30_000
SPREAD_CHUNK = 64  # load-hours per copy of a spread floor variable
SERVABLE_PU = 1e-12  # below this a load-hour has nothing to serve


@dataclass
class PeriodData:
    """Demand, tiers and unit limits over the horizon, plus the fuel network."""

    T: int
    hours: float
    base: float
    loss: float
    demand_mw: np.ndarray  # n_load x T
    servable: np.ndarray  # n_load: reachable by some generation
    tier: np.ndarray  # n_load
    comm: list[str]
    pmax_t: np.ndarray  # n_unit x T (MW)
    pmin_t: np.ndarray
    on_units: np.ndarray
    tanks: list[Tank]
    routes: list[Route]

    @property
    def demand_pu(self) -> np.ndarray:
        return self.demand_mw / self.base

    @property
    def tank_pos(self) -> dict[str, int]:
        return {t.key: i for i, t in enumerate(self.tanks)}

    @property
    def servable_flat(self) -> np.ndarray:
        """Period-major load-hours with something to serve that can be served."""
        d = self.demand_pu.T.ravel()
        return (d > SERVABLE_PU) & np.tile(self.servable, self.T)


def period_data(scenario: Scenario, grid: Grid, commitment: bool) -> PeriodData:
    """Profiles applied to every load and unit, tiers and communities resolved."""
    T = scenario.horizon.periods
    pol = scenario.policy
    declared = {ld.index: ld for ld in scenario.loads}
    nl, nu = len(grid.loads), len(grid.units)
    load_profile = np.array(
        [
            scenario.profile_values(declared[ld.index].profile if ld.index in declared else None)
            for ld in grid.loads
        ]
    ).reshape(nl, T)
    demand_mw = np.array([ld.p_mw for ld in grid.loads]).reshape(nl, 1) * load_profile
    tier = np.array(
        [
            declared[ld.index].tier if ld.index in declared else pol.default_tier
            for ld in grid.loads
        ],
        dtype=int,
    )
    comm = [
        declared[ld.index].community if ld.index in declared else pol.default_community
        for ld in grid.loads
    ]
    unit_profile = np.array(
        [scenario.profile_values(u.spec.profile if u.spec else None) for u in grid.units]
    ).reshape(nu, T)
    pmax_t = np.array([u.p_max_mw for u in grid.units]).reshape(nu, 1) * unit_profile
    pmin_t = np.array([u.p_min_mw for u in grid.units]).reshape(nu, 1) * np.ones((1, T))
    return PeriodData(
        T=T,
        hours=scenario.horizon.hours_per_period,
        base=grid.base_mva,
        loss=scenario.network.loss_allowance,
        demand_mw=demand_mw,
        servable=np.array([ld.reachable for ld in grid.loads], dtype=bool),
        tier=tier,
        comm=comm,
        pmax_t=pmax_t,
        pmin_t=pmin_t,
        on_units=_on_units(grid, commitment or pol.reserve_margin > 0, commitment),
        tanks=list(scenario.tanks),
        routes=list(scenario.routes),
    )


def _on_units(grid: Grid, need_on: bool, commitment: bool) -> np.ndarray:
    """Units with an on/off variable: only for unit commitment or a spinning reserve.

    In the LP relaxation the cheapest on-fraction is always p / pmax (more only burns
    fuel, and min stable load can then never bind), so no-load fuel becomes a/pmax per MW.
    """
    return np.array(
        [
            i
            for i, u in enumerate(grid.units)
            if need_on
            and u.spec is not None
            and u.spec.fuelled
            and u.reachable
            and (u.spec.no_load_lph > 0 or u.spec.min_stable_mw > 0 or commitment)
        ],
        dtype=int,
    )


@dataclass
class NetworkForm:
    """How the network enters the LP, decided before the columns are laid out."""

    limited: np.ndarray  # branch rows whose limit can bind
    islands: np.ndarray  # island of every internal bus
    copper: bool  # no limit can bind: one balance per island and period
    use_shift: bool  # limits as shift factors over the injections (no angles)
    large: bool
    spread_chunks: dict[int, np.ndarray] = field(default_factory=dict)  # tier -> load-hours
    n_f: int = 0
    notes: list[str] = field(default_factory=list)


def network_form(grid: Grid, data: PeriodData, form: str, n_other_cols: int) -> NetworkForm:
    """Which branch limits can bind, and angles, shift factors or a copper plate.

    ``n_other_cols``: columns besides angles and spread floors (what decides "large",
    the same for every form).
    """
    T = data.T
    limited = np.flatnonzero(np.isfinite(grid.branch_rate_mw))
    notes: list[str] = []
    bound = flow_bound_mw(grid, data.pmax_t, data.pmin_t, data.demand_mw * (1.0 + data.loss))
    if bound is not None and len(limited):
        can_bind = grid.branch_rate_mw[limited] < bound
        if not can_bind.all():
            notes.append(
                f"{int((~can_bind).sum())} branch limits can never bind (rating >= {bound:.0f} MW, "
                "the most any flow can carry) and were left out"
            )
        limited = limited[can_bind]
    islands = island_labels(grid)
    copper = len(limited) == 0
    if copper:
        notes.append("no branch limit can bind: one power balance per island and period")
    chunks, n_f = _spread_chunks(data)
    large = (0 if copper else grid.n_bus * T) + n_other_cols + n_f > LARGE_COLS
    use_shift = (
        not copper
        and (form == "shift" or (form == "auto" and large))
        and one_reference_per_island(grid, islands)
    )
    if large and use_shift:  # no spread stage on large models (see planner.stages): no rows
        chunks, n_f = {}, 0
    return NetworkForm(limited, islands, copper, use_shift, large, chunks, n_f, notes)


def _spread_chunks(data: PeriodData) -> tuple[dict[int, np.ndarray], int]:
    """Load-hours of each tier with servable demand, and the spread floor copies they need.

    One copy of f_tier per chunk of SPREAD_CHUNK load-hours, chained by equalities: a
    single f column in every load-hour row would be a dense column, which ruins interior
    point (measured: 19 s of 48 s on case2869pegase, 8 periods).
    """
    live = data.servable_flat
    tier_flat = np.tile(data.tier, data.T)
    chunks: dict[int, np.ndarray] = {}
    n_f = 0
    for k in (1, 2, 3):
        live_k = np.flatnonzero(live & (tier_flat == k))
        if len(live_k):
            chunks[k] = live_k
            n_f += -(-len(live_k) // SPREAD_CHUNK)
    return chunks, n_f


def one_reference_per_island(grid: Grid, islands: np.ndarray) -> bool:
    """Shift factors need exactly one fixed angle per island (else the angles stay)."""
    n_isl = int(islands.max()) + 1 if len(islands) else 0
    per = np.bincount(islands[np.asarray(grid.ref_buses, dtype=int)], minlength=n_isl)
    return bool(np.all(per == 1))


def island_labels(grid: Grid) -> np.ndarray:
    """Connected component of each bus over in-service branches."""
    from scipy.sparse.csgraph import connected_components

    nb = grid.n_bus
    adj = sp.csr_matrix(
        (np.ones(len(grid.branch_from)), (grid.branch_from, grid.branch_to)), shape=(nb, nb)
    )
    return connected_components(adj, directed=False)[1].astype(int)


def flow_bound_mw(
    grid: Grid, pmax_t: np.ndarray, pmin_t: np.ndarray, demand_mw: np.ndarray
) -> float | None:
    """The most MW any branch can carry, or None when no such bound can be proven.

    A DC flow with positive branch susceptances and no phase shifters is a
    potential flow: it decomposes into paths from sources to sinks, so no branch
    carries more than the total injection of all sources, which equals the total
    withdrawal of all sinks. Ratings above that are inert and their rows can be
    dropped without changing the optimum.
    """
    if np.any(np.abs(grid.pfinj) > 1e-12) or np.any(np.abs(grid.pbusinj) > 1e-12):
        return None
    Bf = grid.Bf.tocsr()
    n = Bf.shape[0]
    if n == 0:
        return None
    # the from-end coefficient is +b; a negative one means series compensation (x < 0)
    diag = np.asarray(Bf[np.arange(n), grid.branch_from]).ravel()
    if np.any(diag <= 0):
        return None
    fixed = grid.fixed_demand_mw
    supply = np.clip(pmax_t, 0, None).sum(axis=0) + np.clip(-fixed, 0, None).sum()
    sink = (
        demand_mw.sum(axis=0)
        + np.clip(fixed, 0, None).sum()
        + np.clip(-pmin_t, 0, None).sum(axis=0)
    )
    per_period = np.minimum(supply, sink)
    if not np.all(np.isfinite(per_period)):
        return None
    return float(per_period.max())


def energy_bound_mwh(scenario: Scenario, grid: Grid, data: PeriodData) -> float:
    """The most energy all units together can deliver over the horizon (MWh): a cheap
    upper bound (every fuelled unit at its best fuel rate on all the fuel there is;
    batteries give back at most what they start with). Used to skip a plan attempt that
    cannot succeed (the stages' optimistic pin of the higher tiers)."""
    h = data.hours
    fuel_litres = sum(max(t.initial_litres - t.reserve_litres, 0.0) for t in data.tanks)
    for site in scenario.sites:
        if site.resupply_litres:
            fuel_litres += sum(
                site.resupply_litres[t % len(site.resupply_litres)] for t in range(data.T)
            )
    free = fuelled = 0.0
    best_rate = np.inf
    for i, u in enumerate(grid.units):
        if not u.reachable or u.role:
            continue
        cap = float(np.clip(data.pmax_t[i], 0.0, None).sum()) * h
        if u.spec is not None and u.spec.fuelled:
            fuelled += cap
            best_rate = min(best_rate, u.spec.lph_per_mw)
        else:
            free += cap
    from_fuel = min(fuelled, fuel_litres / best_rate) if best_rate > 0 else fuelled
    stored = sum(max(b.e_start_mwh - b.e_min_mwh, 0.0) for b in grid.batteries if b.bus >= 0)
    return free + from_fuel + stored
