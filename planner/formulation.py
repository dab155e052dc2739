"""The multi-period LP, built as one sparse matrix (pure numpy/scipy).

Variables are laid out in blocks, each block period-major (column ``off + t*n + i``)::

    th  bus voltage angles (rad)                 n_bus  x T
    p   unit output (per unit on base_mva)       n_unit x T
    s   served load (per unit)                   n_load x T
    u   on-fraction of fuelled units, [0, 1]     n_on   x T   (binary with --commitment)
    L   tank level at the end of the period (kL) n_tank x T
    x   fuel sent on a route, departing (kL)     n_route x T
    z   fairness floor per tier, [0, 1]          3

Rows: DC bus balance (``Bbus th - Cu p + Cl (1+loss) s = -Pbusinj - fixed``),
branch limits (``|Bf th + Pfinj| <= rate``), on/off links (``msl u <= p <= pmax u``),
tank balance (level carried over, minus burn, plus arrivals after the lead time,
minus departures), reserve margin, and fairness rows (``E_tier,community >= z D``).

Large models (``form="shift"``, chosen automatically above ``LARGE_COLS``) leave the
angles out: one balance row per island and period, and the branch limits as shift
factors over ``p`` and ``s`` (``planner.shiftfactors``), added only when broken. On
case2869pegase over 24 h that is 48,243 columns and 168 rows plus ~400 limit rows,
against 117,590 columns and 198,032 rows with angles: the same optima, 10-15x faster.

Every per-period block is identical, so it is built once and repeated with
``kron(I_T, block)``; no Python loop runs over elements and periods together.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from planner.network import Grid
from planner.scenario import Scenario
from planner.shiftfactors import ShiftFactors, injection_maps

INF = np.inf
# Above this many columns (in the angle formulation) a model is "large": no spread stage,
# an LP tie-break, and the angles give way to shift factors (measured on case2869pegase)
LARGE_COLS = 30_000
SPREAD_CHUNK = 64  # load-hours per copy of a spread floor variable


@dataclass
class Block:
    name: str
    off: int
    n: int  # per period (or total for z)
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

    @property
    def n_col(self) -> int:
        return self.A.shape[1]

    @property
    def n_row(self) -> int:
        return self.A.shape[0]


def _kron_periods(block: sp.spmatrix, T: int) -> sp.csr_matrix:
    """The same per-period block on the diagonal T times (period-major on both sides)."""
    return sp.kron(sp.identity(T, format="csr"), block, format="csr")


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
    T = scenario.horizon.periods
    h = scenario.horizon.hours_per_period
    base = grid.base_mva
    nb = grid.n_bus
    units = grid.units
    nu = len(units)
    loads_by_index = {ld.index: ld for ld in scenario.loads}
    net_loads = grid.loads
    nl = len(net_loads)
    pol = scenario.policy
    loss = scenario.network.loss_allowance

    # ---- per-period data (vectorised over periods via profile matrices) ----------------
    load_profile = np.array(
        [
            scenario.profile_values(
                loads_by_index[ld.index].profile if ld.index in loads_by_index else None
            )
            for ld in net_loads
        ]
    ).reshape(nl, T)
    demand_mw = np.array([ld.p_mw for ld in net_loads]).reshape(nl, 1) * load_profile
    demand_pu = demand_mw / base
    tier = np.array(
        [
            loads_by_index[ld.index].tier if ld.index in loads_by_index else pol.default_tier
            for ld in net_loads
        ],
        dtype=int,
    )
    comm = [
        loads_by_index[ld.index].community if ld.index in loads_by_index else pol.default_community
        for ld in net_loads
    ]
    unit_profile = np.array(
        [scenario.profile_values(u.spec.profile if u.spec else None) for u in units]
    ).reshape(nu, T)
    pmax_t = np.array([u.p_max_mw for u in units]).reshape(nu, 1) * unit_profile
    pmin_t = np.array([u.p_min_mw for u in units]).reshape(nu, 1) * np.ones((1, T))
    # On/off variables are needed only for unit commitment or a spinning reserve: in the
    # LP relaxation the cheapest on-fraction is always p / pmax (more only burns fuel,
    # and min stable load can then never bind), so no-load fuel becomes a/pmax per MW.
    need_on = commitment or pol.reserve_margin > 0
    on_units = np.array(
        [
            i
            for i, u in enumerate(units)
            if need_on
            and u.spec is not None
            and u.spec.fuelled
            and (u.spec.no_load_lph > 0 or u.spec.min_stable_mw > 0 or commitment)
        ],
        dtype=int,
    )
    n_on = len(on_units)
    tanks = list(scenario.tanks)
    nk = len(tanks)
    tank_pos = {t.key: i for i, t in enumerate(tanks)}
    routes = list(scenario.routes)
    nr = len(routes)

    # ---- which branch limits can bind; without any, the network is a copper plate ------
    limited = np.flatnonzero(np.isfinite(grid.branch_rate_mw))
    notes: list[str] = []
    bound = _flow_bound_mw(grid, pmax_t, pmin_t, demand_mw * (1.0 + loss))
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

    # Spread floors: one copy of f_tier per chunk of SPREAD_CHUNK load-hours, chained by
    # equalities. A single f column in every load-hour row would be a dense column,
    # which ruins interior point (measured: 19 s of 48 s on case2869pegase, 8 periods).
    d_flat = demand_pu.T.ravel()  # period-major, like the s block
    tier_flat = np.tile(tier, T)
    spread_chunks: dict[int, np.ndarray] = {}
    n_f = 0
    for k in (1, 2, 3):
        live_k = np.flatnonzero((d_flat > 1e-12) & (tier_flat == k))
        if len(live_k):
            spread_chunks[k] = live_k
            n_f += -(-len(live_k) // SPREAD_CHUNK)

    # columns without shift factors: what decides "large" (the same for every form)
    angle_cols = (0 if copper else nb * T) + (nu + nl + n_on + nk + nr) * T + 3 + n_f
    large = angle_cols > LARGE_COLS
    use_shift = (
        not copper
        and (form == "shift" or (form == "auto" and large))
        and _one_reference_per_island(grid, islands)
    )
    if large and use_shift:  # no spread stage on large models (see planner.stages): no rows
        spread_chunks, n_f = {}, 0
    n_th = 0 if copper or use_shift else nb

    # ---- blocks -------------------------------------------------------------------------
    blocks: dict[str, Block] = {}
    off = 0
    for name, n, per in (
        ("th", n_th, T),
        ("p", nu, T),
        ("s", nl, T),
        ("u", n_on, T),
        ("L", nk, T),
        ("x", nr, T),
        ("z", 3, 1),
        ("f", n_f, 1),
    ):
        blocks[name] = Block(name, off, n, per)
        off += n * per
    ncol = off
    col_lo = np.zeros(ncol)
    col_hi = np.zeros(ncol)
    integ = np.zeros(ncol, dtype=np.uint8)

    th, pb, sb, ub, Lb, xb, zb, fb = (blocks[k] for k in ("th", "p", "s", "u", "L", "x", "z", "f"))
    col_lo[th.off : th.off + th.size] = -INF
    col_hi[th.off : th.off + th.size] = INF
    if n_th:
        ref_lo = col_lo[th.off : th.off + th.size].reshape(T, nb)
        ref_hi = col_hi[th.off : th.off + th.size].reshape(T, nb)
        ref_lo[:, grid.ref_buses] = grid.ref_angles
        ref_hi[:, grid.ref_buses] = grid.ref_angles
    pl = pmin_t / base
    ph = pmax_t / base
    if n_on:
        pl[on_units, :] = 0.0  # the minimum applies only when on (via u)
    col_lo[pb.off : pb.off + pb.size] = pl.T.ravel()
    col_hi[pb.off : pb.off + pb.size] = ph.T.ravel()
    col_lo[sb.off : sb.off + sb.size] = 0.0
    col_hi[sb.off : sb.off + sb.size] = demand_pu.T.ravel()
    col_hi[ub.off : ub.off + ub.size] = 1.0
    if commitment:
        integ[ub.off : ub.off + ub.size] = 1
    cap = np.array([t.capacity_litres for t in tanks]) / 1000.0
    res = np.array([t.reserve_litres for t in tanks]) / 1000.0
    col_lo[Lb.off : Lb.off + Lb.size] = np.tile(res, T)
    col_hi[Lb.off : Lb.off + Lb.size] = np.tile(cap, T)
    xcap = np.array([r.trips_per_period * r.litres_per_trip for r in routes]) / 1000.0
    lead = np.array([r.lead_periods for r in routes], dtype=int)
    xh = np.tile(xcap, (T, 1))  # T x nr
    if nr:
        arrives = np.arange(T).reshape(T, 1) + lead.reshape(1, nr)
        xh[arrives >= T] = 0.0  # would arrive after the horizon: not planned
    col_hi[xb.off : xb.off + xb.size] = xh.ravel()
    col_hi[zb.off : zb.off + 3] = 1.0
    col_hi[fb.off : fb.off + n_f] = 1.0

    parts_rows: list[sp.spmatrix] = []
    lo_parts: list[np.ndarray] = []
    hi_parts: list[np.ndarray] = []
    rows: dict[str, tuple[int, int]] = {}
    nrow = 0

    def add(name: str, mat: sp.spmatrix, lo: np.ndarray, hi: np.ndarray) -> None:
        nonlocal nrow
        rows[name] = (nrow, mat.shape[0])
        parts_rows.append(sp.csr_matrix(mat))
        lo_parts.append(np.asarray(lo, dtype=float))
        hi_parts.append(np.asarray(hi, dtype=float))
        nrow += mat.shape[0]

    def place(blocks_mats: dict[str, sp.spmatrix], nrows: int) -> sp.csr_matrix:
        """Columns of each named block side by side, zero elsewhere."""
        cols = []
        for name in ("th", "p", "s", "u", "L", "x", "z", "f"):
            b = blocks[name]
            if name in blocks_mats:
                cols.append(sp.csr_matrix(blocks_mats[name]))
            else:
                cols.append(sp.csr_matrix((nrows, b.size)))
        return sp.hstack(cols, format="csr")

    # 1. bus balance ------------------------------------------------------------------
    Cu, Cl = injection_maps(grid, loss)
    rhs = -(grid.pbusinj.reshape(1, nb) + (grid.fixed_demand_mw / base).reshape(1, nb)) * np.ones(
        (T, 1)
    )
    if copper or use_shift:
        # Bbus is a Laplacian: its columns sum to zero over an island, so the bus rows
        # of an island add up to one balance row with theta gone (with shift factors the
        # angles follow from the injections, and the branch limits carry the network).
        n_isl = int(islands.max()) + 1 if nb else 0
        S = sp.csr_matrix((np.ones(nb), (islands, np.arange(nb))), shape=(n_isl, nb))
        rhs_i = rhs @ S.T.toarray()
        add(
            "balance",
            place({"p": _kron_periods(-(S @ Cu), T), "s": _kron_periods(S @ Cl, T)}, n_isl * T),
            rhs_i.ravel(),
            rhs_i.ravel(),
        )
    else:
        add(
            "balance",
            place(
                {
                    "th": _kron_periods(grid.Bbus, T),
                    "p": _kron_periods(-Cu, T),
                    "s": _kron_periods(Cl, T),
                },
                nb * T,
            ),
            rhs.ravel(),
            rhs.ravel(),
        )

    # 2. branch limits (only those that could ever bind) -------------------------------
    shift_f = None
    if use_shift:
        shift_f = ShiftFactors(grid, limited, T=T, p_off=pb.off, s_off=sb.off, loss=loss)
        notes.append(
            "branch limits as shift factors (the flow each injection causes), "
            "added to the model only when a stage breaks them"
        )
    elif len(limited):
        Bf = grid.Bf[limited]
        rate = grid.branch_rate_mw[limited] / base
        pf = grid.pfinj[limited]
        lo = np.tile(-rate - pf, T)
        hi = np.tile(rate - pf, T)
        add("branch", place({"th": _kron_periods(Bf, T)}, len(limited) * T), lo, hi)

    # 3. on/off links: p - pmax u <= 0 ; p - msl u >= 0 ------------------------------------
    if n_on:
        sel = sp.csr_matrix((np.ones(n_on), (np.arange(n_on), on_units)), shape=(n_on, nu))
        pmax_on = ph[on_units, :]  # n_on x T, per unit
        msl = np.array([units[i].spec.min_stable_mw for i in on_units]) / base  # type: ignore[union-attr]
        diag_pmax = sp.diags(pmax_on.T.ravel())
        add(
            "on_max",
            place({"p": _kron_periods(sel, T), "u": -diag_pmax}, n_on * T),
            np.full(n_on * T, -INF),
            np.zeros(n_on * T),
        )
        if np.any(msl > 0):
            keep = np.flatnonzero(msl > 0)
            sel2 = sel[keep]
            m = sp.csr_matrix((-msl[keep], (np.arange(len(keep)), keep)), shape=(len(keep), n_on))
            add(
                "on_min",
                place({"p": _kron_periods(sel2, T), "u": _kron_periods(m, T)}, len(keep) * T),
                np.zeros(len(keep) * T),
                np.full(len(keep) * T, INF),
            )

    # 4. tank balance ------------------------------------------------------------------
    if nk:
        # burn (kL per period) = h * (a * u + b * P_MW) / 1000
        b_rows, b_cols, b_vals = [], [], []
        a_rows, a_cols, a_vals = [], [], []
        on_pos = {int(i): j for j, i in enumerate(on_units)}
        for i, u in enumerate(units):
            g = u.spec
            if g is None or not g.fuelled:
                continue
            k = tank_pos[f"{g.site}/{g.tank}"]
            b_rows.append(k)
            b_cols.append(i)
            per_mw = g.lph_per_mw
            if i not in on_pos and g.no_load_lph > 0 and u.p_max_mw > 0:
                per_mw += g.no_load_lph / u.p_max_mw
            b_vals.append(h * per_mw * base / 1000.0)
            if i in on_pos and g.no_load_lph > 0:
                a_rows.append(k)
                a_cols.append(on_pos[i])
                a_vals.append(h * g.no_load_lph / 1000.0)
        burn_p = sp.csr_matrix((b_vals, (b_rows, b_cols)), shape=(nk, nu))
        burn_u = sp.csr_matrix((a_vals, (a_rows, a_cols)), shape=(nk, n_on))
        # level_t - level_{t-1}
        shift = sp.eye(T, k=-1, format="csr")
        dL = sp.kron(sp.identity(T) - shift, sp.identity(nk), format="csr")
        mats: dict[str, sp.spmatrix] = {"p": _kron_periods(burn_p, T), "L": dL}
        if n_on:
            mats["u"] = _kron_periods(burn_u, T)
        if nr:
            out = sp.csr_matrix(
                (
                    np.ones(nr),
                    ([tank_pos[f"{r.source}/{r.source_tank}"] for r in routes], np.arange(nr)),
                ),
                shape=(nk, nr),
            )
            inn = sp.csr_matrix(
                (
                    np.ones(nr),
                    ([tank_pos[f"{r.target}/{r.target_tank}"] for r in routes], np.arange(nr)),
                ),
                shape=(nk, nr),
            )
            X = _kron_periods(out, T).tolil()
            # arrivals: x_{r, t - lead_r} enters the target's balance at period t
            for lag in sorted(set(lead.tolist())):
                if lag >= T:
                    continue  # such shipments would arrive after the horizon (bounded to 0)
                mask = (lead == lag).astype(float)
                inn_lag = inn @ sp.diags(mask)
                X = X - sp.kron(sp.eye(T, k=-lag, format="csr"), inn_lag, format="lil")
            mats["x"] = sp.csr_matrix(X)
        resupply = np.zeros((T, nk))
        for s in scenario.sites:
            if s.resupply_litres:
                k = tank_pos[s.tanks[0].key]
                resupply[:, k] = [
                    s.resupply_litres[t % len(s.resupply_litres)] / 1000.0 for t in range(T)
                ]
        rhs_k = resupply.copy()
        rhs_k[0, :] += np.array([t.initial_litres for t in tanks]) / 1000.0
        add("tank", place(mats, nk * T), rhs_k.ravel(), rhs_k.ravel())

    # 5. reserve margin: spare running capacity >= margin * served ------------------------
    if pol.reserve_margin > 0:
        ones_u = sp.csr_matrix(np.ones((1, nu)))
        mats = {
            "p": _kron_periods(-ones_u, T),
            "s": _kron_periods(sp.csr_matrix(-pol.reserve_margin * np.ones((1, nl))), T),
        }
        fixed_cap = ph.copy()
        if n_on:
            fixed_cap[on_units, :] = 0.0
            mats["u"] = sp.diags(ph[on_units, :].T.ravel())
            mats["u"] = sp.csr_matrix(
                sp.kron(sp.identity(T), sp.csr_matrix(np.ones((1, n_on))), format="csr")
                @ sp.diags(ph[on_units, :].T.ravel())
            )
        finite = np.where(np.isfinite(fixed_cap), fixed_cap, 1e6)
        add("reserve", place(mats, T), -finite.sum(axis=0), np.full(T, INF))

    # 6. fairness rows: energy served to (tier, community) >= z_tier * its demand ----------
    communities: dict[int, list[str]] = {}
    energy_weight: dict[int, np.ndarray] = {}
    fr, fc, fv, flo = [], [], [], []
    r = 0
    for k in (1, 2, 3):
        idx_k = np.flatnonzero(tier == k)
        w = np.zeros(ncol)
        if len(idx_k):
            cols = (sb.off + np.arange(T).reshape(T, 1) * nl + idx_k.reshape(1, -1)).ravel()
            w[cols] = h
        energy_weight[k] = w
        names = sorted({comm[i] for i in idx_k})
        communities[k] = names
        for c in names:
            members = np.array([i for i in idx_k if comm[i] == c], dtype=int)
            D = h * demand_pu[members, :].sum()
            if D <= 0:
                continue
            cols = (sb.off + np.arange(T).reshape(T, 1) * nl + members.reshape(1, -1)).ravel()
            fr.extend([r] * len(cols))
            fc.extend(cols.tolist())
            fv.extend([h / D] * len(cols))  # normalised: served fraction >= z
            fr.append(r)
            fc.append(zb.off + k - 1)
            fv.append(-1.0)
            flo.append(0.0)
            r += 1
    if r:
        F = sp.csr_matrix((fv, (fr, fc)), shape=(r, ncol))
        add("fair", F, np.array(flo), np.full(r, INF))

    # 7. spread rows: every load-hour of a tier gets at least f_tier of its demand ---------
    spread_cols: dict[int, np.ndarray] = {}
    f_next = fb.off
    for k, live_k in spread_chunks.items():
        n_live = len(live_k)
        n_chunks = -(-n_live // SPREAD_CHUNK)
        copies = f_next + np.arange(n_chunks)
        spread_cols[k] = copies
        chunk_of = copies[np.arange(n_live) // SPREAD_CHUNK]
        S = sp.csr_matrix(
            (
                np.concatenate([np.ones(n_live), -d_flat[live_k]]),
                (np.tile(np.arange(n_live), 2), np.concatenate([sb.off + live_k, chunk_of])),
            ),
            shape=(n_live, ncol),
        )
        add(f"spread{k}", S, np.zeros(n_live), np.full(n_live, INF))
        if n_chunks > 1:
            link = sp.csr_matrix(
                (
                    np.concatenate([np.ones(n_chunks - 1), -np.ones(n_chunks - 1)]),
                    (
                        np.tile(np.arange(n_chunks - 1), 2),
                        np.concatenate([copies[:-1], copies[1:]]),
                    ),
                ),
                shape=(n_chunks - 1, ncol),
            )
            add(f"spread{k}_link", link, np.zeros(n_chunks - 1), np.zeros(n_chunks - 1))
        f_next += n_chunks

    A = sp.vstack(parts_rows, format="csc") if parts_rows else sp.csc_matrix((0, ncol))
    end_fuel = np.zeros(ncol)
    if nk:
        end_fuel[Lb.cols(T - 1)] = 1.0
    return Problem(
        A=A,
        row_lo=np.concatenate(lo_parts) if lo_parts else np.zeros(0),
        row_hi=np.concatenate(hi_parts) if hi_parts else np.zeros(0),
        col_lo=col_lo,
        col_hi=col_hi,
        integrality=integ,
        blocks=blocks,
        rows=rows,
        T=T,
        hours=h,
        base_mva=base,
        demand_pu=demand_pu,
        load_tier=tier,
        load_comm=comm,
        communities=communities,
        energy_weight=energy_weight,
        end_fuel=end_fuel,
        on_units=on_units,
        unit_pmax_t=pmax_t,
        limited_branches=limited,
        tank_keys=[t.key for t in tanks],
        route_names=[r_.name for r_ in routes],
        notes=notes,
        copper=copper,
        islands=islands,
        spread_cols=spread_cols,
        shift=shift_f,
        large=large,
    )


def _one_reference_per_island(grid: Grid, islands: np.ndarray) -> bool:
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


def _flow_bound_mw(
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
