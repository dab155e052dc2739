"""The sections of a plan, each read from a ``Solution`` and rounded for the plan JSON.

Every load and unit of the input has its row, reachable or not: sums of demand in the
plan equal the sums in the input.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from planner.canonical import rnd, rnd_list
from planner.solution import TOL_MW, Solution, period_label


def _pct(served: float, demand: float) -> float | None:
    return rnd(100.0 * served / demand if demand > 0 else 100.0, "pct")


def loads(sol: Solution) -> list[dict[str, Any]]:
    site_of = sol.site_of_bus()
    out = []
    for i, ld in enumerate(sol.grid.loads):
        dem = float(sol.d[i].sum() * sol.hours)
        srv = float(sol.s[i].sum() * sol.hours)
        pp_bus = sol.grid.load_bus.get(ld.index)
        out.append(
            {
                "name": ld.name,
                "index": ld.index,
                "bus": pp_bus,
                "site": site_of.get(pp_bus) if pp_bus is not None else None,
                "tier": int(sol.problem.load_tier[i]),
                "community": sol.problem.load_comm[i],
                "reachable": ld.reachable or not ld.in_service,
                "in_service": ld.in_service,
                "demand_mwh": rnd(dem, "mwh"),
                "served_mwh": rnd(srv, "mwh"),
                "served_pct": _pct(srv, dem),
                "served_mw": rnd_list(sol.s[i], "mw"),
                "demand_mw": rnd_list(sol.d[i], "mw"),
                "shed_periods": [t for t in range(sol.T) if sol.d[i, t] - sol.s[i, t] > TOL_MW],
            }
        )
    return out


def tiers_and_communities(
    sol: Solution, run: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    tiers, communities = [], []
    d, s, h, problem = sol.d, sol.s, sol.hours, sol.problem
    for k in (1, 2, 3):
        idx = np.flatnonzero(problem.load_tier == k)
        if not len(idx):
            continue
        tiers.append(
            {
                "tier": k,
                "demand_mwh": rnd(float(d[idx].sum() * h), "mwh"),
                "served_mwh": rnd(float(s[idx].sum() * h), "mwh"),
                "served_pct": _pct(float(s[idx].sum()), float(d[idx].sum())),
                "served_pct_by_period": [
                    _pct(float(s[idx, t].sum()), float(d[idx, t].sum())) for t in range(sol.T)
                ],
                "community_floor_pct": rnd(100.0 * run.fairness[k], "pct")
                if k in run.fairness
                else None,
                "hourly_floor_pct": rnd(100.0 * run.spread[k], "pct") if k in run.spread else None,
            }
        )
        levels = run.levels.get(k, {})
        for c in problem.communities[k]:
            m = np.array([i for i in idx if problem.load_comm[i] == c], dtype=int)
            communities.append(
                {
                    "tier": k,
                    "community": c,
                    "loads": len(m),
                    "demand_mwh": rnd(float(d[m].sum() * h), "mwh"),
                    "served_mwh": rnd(float(s[m].sum() * h), "mwh"),
                    "served_pct": _pct(float(s[m].sum()), float(d[m].sum())),
                    "fair_level_pct": rnd(100.0 * levels[c], "pct") if c in levels else None,
                    "served_pct_by_period": [
                        _pct(float(s[m, t].sum()), float(d[m, t].sum())) for t in range(sol.T)
                    ],
                }
            )
    return tiers, communities


def units(sol: Solution) -> list[dict[str, Any]]:
    """Every unit but the battery halves (those are in ``storage``)."""
    site_of = sol.site_of_bus()
    on_pos = {int(i): j for j, i in enumerate(sol.problem.on_units)}
    out = []
    for i, un in enumerate(sol.grid.units):
        if un.element == "storage":
            continue
        g = un.spec
        running = [bool(sol.p[i, t] > TOL_MW) for t in range(sol.T)]
        if i in on_pos:
            running = [bool(sol.u[on_pos[i], t] > 0.5) for t in range(sol.T)]
        unit_bus = sol.grid.unit_bus.get((un.element, un.index))
        out.append(
            {
                "name": un.name,
                "element": un.element,
                "index": un.index,
                "bus": unit_bus,
                "site": g.site
                if g is not None and g.site
                else site_of.get(unit_bus)
                if unit_bus is not None
                else None,
                "fuel": g.fuel if g is not None else None,
                "tank": f"{g.site}/{g.tank}" if g is not None and g.fuelled else None,
                "p_max_mw": rnd(un.p_max_mw, "mw"),
                "reachable": un.reachable or not un.in_service,
                "in_service": un.in_service,
                "schedule_mw": rnd_list(sol.p[i], "mw"),
                "running": running,
                "energy_mwh": rnd(float(sol.p[i].sum() * sol.hours), "mwh"),
                "fuel_litres": rnd(float(sol.unit_fuel[i].sum()), "litres"),
                "curtailable": un.curtailable,
                "available_mw": rnd_list(sol.problem.unit_pmax_t[i], "mw")
                if un.curtailable
                else None,
            }
        )
    return out


def storage(sol: Solution) -> list[dict[str, Any]]:
    """Each battery: net output per period (+ discharging, - charging) and its charge."""
    site_of = sol.site_of_bus()
    out = []
    for j, b in enumerate(sol.grid.batteries):
        net = sol.p[b.charge_unit] + sol.p[b.discharge_unit]
        bus = sol.grid.unit_bus.get(("storage", b.index))
        out.append(
            {
                "name": b.name,
                "index": b.index,
                "bus": bus,
                "site": site_of.get(bus) if bus is not None else None,
                "reachable": b.bus >= 0,
                "capacity_mwh": rnd(b.e_max_mwh, "mwh"),
                "start_mwh": rnd(b.e_start_mwh, "mwh"),
                "end_mwh": rnd(float(sol.E[j, -1]) if sol.T else b.e_start_mwh, "mwh"),
                "net_mw": rnd_list(net, "mw"),
                "charge_mw": rnd_list(-sol.p[b.charge_unit], "mw"),
                "discharge_mw": rnd_list(sol.p[b.discharge_unit], "mw"),
                "stored_mwh": rnd_list(sol.E[j], "mwh"),
                "charge_efficiency": b.charge_efficiency,
                "discharge_efficiency": b.discharge_efficiency,
            }
        )
    return out


def tanks(sol: Solution) -> list[dict[str, Any]]:
    out = []
    for k, t in enumerate(sol.scenario.tanks):
        level = sol.L[k]
        burn = np.zeros(sol.T)
        for i, un in enumerate(sol.grid.units):
            g = un.spec
            if g is not None and g.fuelled and f"{g.site}/{g.tank}" == t.key:
                burn += sol.unit_fuel[i]
        low = [t_ for t_ in range(sol.T) if level[t_] <= t.reserve_litres + 0.5]
        runs_out = low[0] if low else None
        out.append(
            {
                "key": t.key,
                "site": t.site,
                "tank": t.name,
                "fuel": t.fuel,
                "capacity_litres": rnd(t.capacity_litres, "litres"),
                "reserve_litres": rnd(t.reserve_litres, "litres"),
                "start_litres": rnd(t.initial_litres, "litres"),
                "end_litres": rnd(float(level[-1]) if sol.T else t.initial_litres, "litres"),
                "level_litres": rnd_list(level, "litres"),
                "burn_litres": rnd_list(burn, "litres"),
                "runs_out_period": runs_out,
                "runs_out_at": period_label(sol.scenario, runs_out + 1)
                if runs_out is not None
                else None,
            }
        )
    return out


def transfers(sol: Solution) -> list[dict[str, Any]]:
    out = []
    for r_i, r in enumerate(sol.scenario.routes):
        for t in range(sol.T):
            v = float(sol.xs[r_i, t])
            if v <= 0.5:
                continue
            out.append(
                {
                    "route": r.name,
                    "from": f"{r.source}/{r.source_tank}",
                    "to": f"{r.target}/{r.target_tank}",
                    "fuel": r.fuel,
                    "depart_period": t,
                    "arrive_period": t + r.lead_periods,
                    "depart_at": sol.labels[t],
                    "arrive_at": period_label(sol.scenario, t + r.lead_periods),
                    "litres": rnd(v, "litres"),
                    "trips": int(np.ceil(v / r.litres_per_trip - 1e-6)),
                    "min_litres_per_trip": rnd(r.min_litres_per_trip, "litres"),
                }
            )
    return out


def sites(sol: Solution, tank_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    keys_all = sol.problem.tank_keys
    for st in sol.scenario.sites:
        keys = [t.key for t in st.tanks]
        rows = [tk for tk in tank_rows if tk["key"] in keys]
        start = sum(t.initial_litres for t in st.tanks)
        level = sol.L[[keys_all.index(k) for k in keys]].sum(axis=0) if keys else np.zeros(sol.T)
        outs = [tk["runs_out_period"] for tk in rows if tk["runs_out_period"] is not None]
        out.append(
            {
                "name": st.name,
                "kind": st.kind,
                "tanks": keys,
                "start_litres": rnd(start, "litres"),
                "end_litres": rnd(float(level[-1]) if sol.T else start, "litres"),
                "level_litres": rnd_list(level, "litres"),
                "runs_out_period": min(outs) if outs else None,
                "runs_out_at": period_label(sol.scenario, min(outs) + 1) if outs else None,
            }
        )
    return out


def periods(sol: Solution) -> list[dict[str, Any]]:
    out = []
    tier_idx = {k: np.flatnonzero(sol.problem.load_tier == k) for k in (1, 2, 3)}
    gen = [i for i, u in enumerate(sol.grid.units) if u.element != "storage"]
    for t in range(sol.T):
        row: dict[str, Any] = {
            "period": t,
            "label": sol.labels[t],
            "demand_mw": rnd(float(sol.d[:, t].sum()), "mw"),
            "served_mw": rnd(float(sol.s[:, t].sum()), "mw"),
            "generation_mw": rnd(float(sol.p[gen, t].sum()), "mw"),
            "fuel_burn_litres": rnd(float(sol.unit_fuel[:, t].sum()), "litres"),
        }
        for k, idx in tier_idx.items():
            if len(idx):
                row[f"tier{k}_served_pct"] = _pct(
                    float(sol.s[idx, t].sum()), float(sol.d[idx, t].sum())
                )
        out.append(row)
    return out


def summary(
    sol: Solution, load_rows: list[dict[str, Any]], tank_rows: list[dict[str, Any]]
) -> dict[str, Any]:
    tot_d = float(sol.d.sum() * sol.hours)
    tot_s = float(sol.s.sum() * sol.hours)
    return {
        "demand_mwh": rnd(tot_d, "mwh"),
        "served_mwh": rnd(tot_s, "mwh"),
        "shed_mwh": rnd(tot_d - tot_s, "mwh"),
        "served_pct": _pct(tot_s, tot_d),
        "fuel_start_litres": rnd(sum(t.initial_litres for t in sol.scenario.tanks), "litres"),
        "fuel_end_litres": rnd(
            float(sol.L[:, -1].sum()) if len(sol.L) and sol.T else 0.0, "litres"
        ),
        "fuel_burned_litres": rnd(float(sol.unit_fuel.sum()), "litres"),
        "loads_shed": sum(1 for ld in load_rows if ld["shed_periods"]),
        "loads_unreachable": sum(1 for ld in load_rows if not ld["reachable"]),
        "first_tank_empty_at": min(
            (tk["runs_out_at"] for tk in tank_rows if tk["runs_out_at"] is not None), default=None
        ),
    }
