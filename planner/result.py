"""Reading a solution back into a plan: schedules, fuel, shed loads, and why.

``extract`` turns the solver's vector into plain, rounded data; ``PlanResult``
carries it with the timings and the AC validation. ``PlanResult.to_json()`` is
canonical (see ``planner.canonical``): timings are kept out of it so the same
scenario gives the same plan hash on every laptop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from planner.canonical import plan_hash, rnd, rnd_list
from planner.formulation import Problem
from planner.network import Grid
from planner.scenario import Scenario
from planner.stages import StageRun

FORMAT = "plurigrid-plan/1"
TOL_MW = 1e-4  # below this a unit is off / a load is not shed


@dataclass
class PlanResult:
    """The outcome of ``planner.api.solve``: a plan, or a status and a reason."""

    status: str  # solved | partial | infeasible | unsolved
    reason: str
    data: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    size: dict[str, int] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)  # not part of the plan JSON

    @property
    def ok(self) -> bool:
        return self.status == "solved"

    def to_json(self) -> dict[str, Any]:
        """The canonical plan (sorted keys when serialised, rounded floats, with its hash)."""
        body = dict(self.data)
        body["status"] = self.status
        body["reason"] = self.reason
        body.pop("plan_hash", None)
        body["plan_hash"] = plan_hash(body)
        return body


def period_label(scenario: Scenario, t: int) -> str:
    """'2025-09-14 06:00' when the horizon has a start, else 'h6' (hours from start)."""
    hours = t * scenario.horizon.hours_per_period
    if scenario.horizon.start:
        try:
            start = datetime.fromisoformat(scenario.horizon.start)
        except ValueError:
            return f"h{hours:g}"
        return (start + timedelta(hours=hours)).strftime("%Y-%m-%d %H:%M")
    return f"h{hours:g}"


def _site_of_bus(scenario: Scenario) -> dict[int, str]:
    out: dict[int, str] = {}
    for s in scenario.sites:
        for b in s.buses:
            out.setdefault(b, s.name)
    return out


def extract(
    scenario: Scenario, grid: Grid, problem: Problem, run: StageRun, net: Any = None
) -> dict[str, Any]:
    """The plan as plain rounded data (no status: the caller adds it)."""
    x = run.x
    assert x is not None
    T, h, base = problem.T, problem.hours, problem.base_mva
    B = problem.blocks

    def block(name: str) -> np.ndarray:
        b = B[name]
        return x[b.off : b.off + b.size].reshape(b.T, b.n).T if b.n else np.zeros((0, b.T))

    p = block("p") * base  # n_unit x T, MW
    s = block("s") * base
    L = block("L") * 1000.0  # litres
    xs = block("x") * 1000.0
    u = block("u")
    d = problem.demand_pu * base
    labels = [period_label(scenario, t) for t in range(T)]
    bus_site = _site_of_bus(scenario)
    pp_bus_of_load = {}
    if net is not None:
        pp_bus_of_load = {int(i): int(b) for i, b in zip(net.load.index, net.load.bus, strict=True)}

    # ---- loads, tiers, communities -------------------------------------------------
    loads = []
    for i, ld in enumerate(grid.loads):
        dem = float(d[i].sum() * h)
        srv = float(s[i].sum() * h)
        pp_bus = pp_bus_of_load.get(ld.index)
        shed_periods = [t for t in range(T) if d[i, t] - s[i, t] > TOL_MW]
        loads.append(
            {
                "name": ld.name,
                "index": ld.index,
                "bus": pp_bus,
                "site": bus_site.get(pp_bus) if pp_bus is not None else None,
                "tier": int(problem.load_tier[i]),
                "community": problem.load_comm[i],
                "demand_mwh": rnd(dem, "mwh"),
                "served_mwh": rnd(srv, "mwh"),
                "served_pct": rnd(100.0 * srv / dem if dem > 0 else 100.0, "pct"),
                "served_mw": rnd_list(s[i], "mw"),
                "demand_mw": rnd_list(d[i], "mw"),
                "shed_periods": shed_periods,
            }
        )
    tiers = []
    communities = []
    for k in (1, 2, 3):
        idx = np.flatnonzero(problem.load_tier == k)
        if not len(idx):
            continue
        dem = float(d[idx].sum() * h)
        srv = float(s[idx].sum() * h)
        per_t = [
            rnd(100.0 * s[idx, t].sum() / d[idx, t].sum() if d[idx, t].sum() > 0 else 100.0, "pct")
            for t in range(T)
        ]
        tiers.append(
            {
                "tier": k,
                "demand_mwh": rnd(dem, "mwh"),
                "served_mwh": rnd(srv, "mwh"),
                "served_pct": rnd(100.0 * srv / dem if dem > 0 else 100.0, "pct"),
                "served_pct_by_period": per_t,
                "community_floor_pct": rnd(100.0 * run.fairness[k], "pct")
                if k in run.fairness
                else None,
                "hourly_floor_pct": rnd(100.0 * run.spread[k], "pct") if k in run.spread else None,
            }
        )
        for c in problem.communities[k]:
            m = np.array([i for i in idx if problem.load_comm[i] == c], dtype=int)
            cd = float(d[m].sum() * h)
            cs = float(s[m].sum() * h)
            communities.append(
                {
                    "tier": k,
                    "community": c,
                    "loads": len(m),
                    "demand_mwh": rnd(cd, "mwh"),
                    "served_mwh": rnd(cs, "mwh"),
                    "served_pct": rnd(100.0 * cs / cd if cd > 0 else 100.0, "pct"),
                    "served_pct_by_period": [
                        rnd(
                            100.0 * s[m, t].sum() / d[m, t].sum() if d[m, t].sum() > 0 else 100.0,
                            "pct",
                        )
                        for t in range(T)
                    ],
                }
            )

    # ---- units -----------------------------------------------------------------------
    on_pos = {int(i): j for j, i in enumerate(problem.on_units)}
    units = []
    unit_fuel = np.zeros((len(grid.units), T))
    for i, un in enumerate(grid.units):
        g = un.spec
        running = [bool(p[i, t] > TOL_MW) for t in range(T)]
        if i in on_pos:
            running = [bool(u[on_pos[i], t] > 0.5) for t in range(T)]
        if g is not None and g.fuelled:
            if i in on_pos:
                unit_fuel[i] = h * (g.no_load_lph * u[on_pos[i]] + g.lph_per_mw * p[i])
            else:
                per_mw = g.lph_per_mw + (g.no_load_lph / un.p_max_mw if un.p_max_mw > 0 else 0.0)
                unit_fuel[i] = h * per_mw * p[i]
        unit_bus = None
        if net is not None and un.element in ("gen", "sgen", "ext_grid", "load"):
            unit_bus = int(net[un.element].at[un.index, "bus"])
        units.append(
            {
                "name": un.name,
                "element": un.element,
                "index": un.index,
                "bus": unit_bus,
                "site": g.site if g is not None and g.site else bus_site.get(unit_bus),
                "fuel": g.fuel if g is not None else None,
                "tank": f"{g.site}/{g.tank}" if g is not None and g.fuelled else None,
                "p_max_mw": rnd(un.p_max_mw, "mw"),
                "schedule_mw": rnd_list(p[i], "mw"),
                "running": running,
                "energy_mwh": rnd(float(p[i].sum() * h), "mwh"),
                "fuel_litres": rnd(float(unit_fuel[i].sum()), "litres"),
                "curtailable": un.curtailable,
                "available_mw": rnd_list(problem.unit_pmax_t[i], "mw") if un.curtailable else None,
            }
        )

    # ---- tanks, sites, transfers -------------------------------------------------------
    tanks = []
    for k, t in enumerate(scenario.tanks):
        level = L[k]
        burn = np.zeros(T)
        for i, un in enumerate(grid.units):
            g = un.spec
            if g is not None and g.fuelled and f"{g.site}/{g.tank}" == t.key:
                burn += unit_fuel[i]
        out = [t_ for t_ in range(T) if level[t_] <= t.reserve_litres + 0.5]
        runs_out = out[0] if out else None
        tanks.append(
            {
                "key": t.key,
                "site": t.site,
                "tank": t.name,
                "fuel": t.fuel,
                "capacity_litres": rnd(t.capacity_litres, "litres"),
                "reserve_litres": rnd(t.reserve_litres, "litres"),
                "start_litres": rnd(t.initial_litres, "litres"),
                "end_litres": rnd(float(level[-1]), "litres")
                if T
                else rnd(t.initial_litres, "litres"),
                "level_litres": rnd_list(level, "litres"),
                "burn_litres": rnd_list(burn, "litres"),
                "runs_out_period": runs_out,
                "runs_out_at": period_label(scenario, runs_out + 1)
                if runs_out is not None
                else None,
            }
        )
    transfers = []
    for r_i, r in enumerate(scenario.routes):
        for t in range(T):
            v = float(xs[r_i, t])
            if v <= 0.5:
                continue
            trips = int(np.ceil(v / r.litres_per_trip - 1e-6))
            transfers.append(
                {
                    "route": r.name,
                    "from": f"{r.source}/{r.source_tank}",
                    "to": f"{r.target}/{r.target_tank}",
                    "fuel": r.fuel,
                    "depart_period": t,
                    "arrive_period": t + r.lead_periods,
                    "depart_at": labels[t],
                    "litres": rnd(v, "litres"),
                    "trips": trips,
                }
            )
    sites = []
    for st in scenario.sites:
        keys = [t.key for t in st.tanks]
        rows = [tk for tk in tanks if tk["key"] in keys]
        start = sum(t.initial_litres for t in st.tanks)
        level = L[[problem.tank_keys.index(k) for k in keys]].sum(axis=0) if keys else np.zeros(T)
        outs = [tk["runs_out_period"] for tk in rows if tk["runs_out_period"] is not None]
        sites.append(
            {
                "name": st.name,
                "kind": st.kind,
                "tanks": keys,
                "start_litres": rnd(start, "litres"),
                "end_litres": rnd(float(level[-1]) if T else start, "litres"),
                "level_litres": rnd_list(level, "litres"),
                "runs_out_period": min(outs) if outs else None,
                "runs_out_at": period_label(scenario, min(outs) + 1) if outs else None,
            }
        )

    # ---- summary and periods ------------------------------------------------------------
    tot_d = float(d.sum() * h)
    tot_s = float(s.sum() * h)
    periods = []
    for t in range(T):
        row: dict[str, Any] = {
            "period": t,
            "label": labels[t],
            "demand_mw": rnd(float(d[:, t].sum()), "mw"),
            "served_mw": rnd(float(s[:, t].sum()), "mw"),
            "generation_mw": rnd(float(p[:, t].sum()), "mw"),
            "fuel_burn_litres": rnd(float(unit_fuel[:, t].sum()), "litres"),
        }
        for k in (1, 2, 3):
            idx = np.flatnonzero(problem.load_tier == k)
            if len(idx):
                dk = d[idx, t].sum()
                row[f"tier{k}_served_pct"] = rnd(
                    100.0 * s[idx, t].sum() / dk if dk > 0 else 100.0, "pct"
                )
        periods.append(row)
    shed = _shed_entries(scenario, grid, problem, run, loads, p, s, d, L, xs, labels)
    summary = {
        "demand_mwh": rnd(tot_d, "mwh"),
        "served_mwh": rnd(tot_s, "mwh"),
        "shed_mwh": rnd(tot_d - tot_s, "mwh"),
        "served_pct": rnd(100.0 * tot_s / tot_d if tot_d > 0 else 100.0, "pct"),
        "fuel_start_litres": rnd(sum(t.initial_litres for t in scenario.tanks), "litres"),
        "fuel_end_litres": rnd(float(L[:, -1].sum()) if len(L) and T else 0.0, "litres"),
        "fuel_burned_litres": rnd(float(unit_fuel.sum()), "litres"),
        "loads_shed": sum(1 for ld in loads if ld["shed_periods"]),
        "first_tank_empty_at": min(
            (tk["runs_out_at"] for tk in tanks if tk["runs_out_at"] is not None), default=None
        ),
    }
    return {
        "summary": summary,
        "tiers": tiers,
        "communities": communities,
        "periods": periods,
        "loads": loads,
        "units": units,
        "tanks": tanks,
        "sites": sites,
        "transfers": transfers,
        "shed": shed,
        "binding_branches": _binding_branches(grid, problem, x, labels),
    }


def _binding_branches(
    grid: Grid, problem: Problem, x: np.ndarray, labels: list[str]
) -> list[dict[str, Any]]:
    """Branches at their limit, per period (for explain and the AC comparison)."""
    if problem.copper or not len(problem.limited_branches):
        return []
    if problem.shift is not None:
        flows = problem.shift.flows_mw(x, problem.base_mva)  # T x n_lim
    else:
        th = x[problem.blocks["th"].off : problem.blocks["th"].off + problem.blocks["th"].size]
        th = th.reshape(problem.T, grid.n_bus)
        Bf = grid.Bf[problem.limited_branches]
        flows = (Bf @ th.T).T + grid.pfinj[problem.limited_branches]  # T x n_lim (pu)
        flows *= problem.base_mva
    rate = grid.branch_rate_mw[problem.limited_branches]
    out = []
    for j, br in enumerate(problem.limited_branches):
        at = np.flatnonzero(np.abs(flows[:, j]) >= rate[j] * (1 - 1e-5) - 1e-6)
        if len(at):
            out.append(
                {
                    "branch": grid.branch_names[br],
                    "rating_mw": rnd(float(rate[j]), "mw"),
                    "periods": [int(t) for t in at],
                }
            )
    return out


def _shed_entries(
    scenario: Scenario,
    grid: Grid,
    problem: Problem,
    run: StageRun,
    loads: list[dict[str, Any]],
    p: np.ndarray,
    s: np.ndarray,
    d: np.ndarray,
    L: np.ndarray,
    xs: np.ndarray,
    labels: list[str],
) -> list[dict[str, Any]]:
    """Every shed load with the reasons read off the plan's binding limits."""
    T = problem.T
    islands = problem.islands if problem.islands is not None else np.zeros(grid.n_bus, dtype=int)
    unit_island = np.array([islands[un.bus] for un in grid.units], dtype=int)
    spare = problem.unit_pmax_t - p  # MW, inf for unlimited units
    tanks = list(scenario.tanks)
    empty = np.array(
        [[L[k, t] <= tk.reserve_litres + 0.5 for t in range(T)] for k, tk in enumerate(tanks)]
    ).reshape(len(tanks), T)
    tank_of_unit = {}
    for i, un in enumerate(grid.units):
        g = un.spec
        if g is not None and g.fuelled:
            tank_of_unit[i] = problem.tank_keys.index(f"{g.site}/{g.tank}")
    binding = _binding_branches(grid, problem, run.x, labels)  # type: ignore[arg-type]
    branch_periods = {b["branch"]: set(b["periods"]) for b in binding}
    route_full = []
    for r_i, r in enumerate(scenario.routes):
        cap = r.trips_per_period * r.litres_per_trip
        route_full.append({t for t in range(T) if xs[r_i, t] >= cap - 0.5 and cap > 0})
    out = []
    cache: dict[tuple[int, int], tuple[bool, bool, set[str]]] = {}
    for i, ld in enumerate(loads):
        periods = ld["shed_periods"]
        if not periods:
            continue
        isl = islands[grid.loads[i].bus]
        causes: dict[str, dict[str, Any]] = {}
        for t in periods:
            key = (int(isl), t)
            if key not in cache:
                in_isl = unit_island == isl
                has_spare = bool(np.any(spare[in_isl, t] > TOL_MW))
                fuelled_spare = [
                    int(j)
                    for j in np.flatnonzero(in_isl & (spare[:, t] > TOL_MW))
                    if int(j) in tank_of_unit
                ]
                dry = bool(fuelled_spare) and all(
                    empty[tank_of_unit[j], t:].any() for j in fuelled_spare
                )
                cache[key] = (
                    has_spare,
                    dry,
                    {problem.tank_keys[tank_of_unit[j]] for j in fuelled_spare},
                )
            has_spare, dry, tanks_here = cache[key]
            if not has_spare:
                c = causes.setdefault("generation capacity", {"periods": []})
                c["periods"].append(t)
            elif dry:
                c = causes.setdefault("fuel", {"periods": [], "tanks": set()})
                c["periods"].append(t)
                c["tanks"].update(tanks_here)
            lines = [b for b, ps in branch_periods.items() if t in ps]
            if lines:
                c = causes.setdefault("line limit", {"periods": [], "branches": set()})
                c["periods"].append(t)
                c["branches"].update(lines)
        if "fuel" in causes:
            tanks_hit = causes["fuel"]["tanks"]
            full = sorted(
                {
                    scenario.routes[r].name
                    for r in range(len(scenario.routes))
                    if route_full[r]
                    and any(
                        f"{scenario.routes[r].target}/{scenario.routes[r].target_tank}" == tk
                        for tk in tanks_hit
                    )
                }
            )
            if full:
                causes["transfer capacity"] = {"routes": full}
        higher = [k for k in (1, 2, 3) if k < ld["tier"]]
        if higher:
            causes["priority"] = {"note": f"tiers {', '.join(map(str, higher))} were served first"}
        k = ld["tier"]
        if k in run.fairness and run.fairness[k] < 1.0:
            causes["fair share"] = {
                "note": f"tier {k} communities share the shortfall; none is below "
                f"{100 * run.fairness[k]:.2f}% of its demand"
            }
        shed_mwh = float((d[i] - s[i]).sum() * problem.hours)
        out.append(
            {
                "load": ld["name"],
                "tier": ld["tier"],
                "community": ld["community"],
                "site": ld["site"],
                "shed_mwh": rnd(shed_mwh, "mwh"),
                "served_pct": ld["served_pct"],
                "periods": _ranges(periods),
                "causes": {
                    name: {
                        key: (
                            sorted(v)
                            if isinstance(v, set)
                            else _ranges(v)
                            if key == "periods"
                            else v
                        )
                        for key, v in info.items()
                    }
                    for name, info in sorted(causes.items())
                },
            }
        )
    return out


def _ranges(periods: list[int]) -> list[list[int]]:
    """[3,4,5,9] -> [[3,5],[9,9]]: compact period lists for humans and hashes."""
    out: list[list[int]] = []
    for t in sorted(periods):
        if out and t == out[-1][1] + 1:
            out[-1][1] = t
        else:
            out.append([t, t])
    return out
