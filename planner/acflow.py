"""AC validation: apply each period's plan to the pandapower net and run AC power flow.

The plan comes from a DC model, which ignores reactive power, voltages and
losses. Every period is therefore re-checked with a full Newton-Raphson power
flow: served loads (reactive power shed with active power), curtailed static
generators written back, units off when the plan has them off, and the slack
distributed over the running units in proportion to their ratings. Every
violation found is reported, none dropped.
"""

from __future__ import annotations

import importlib.util
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from planner.canonical import rnd
from planner.network import NetworkModel, _quiet

V_MIN_DEFAULT = 0.9
V_MAX_DEFAULT = 1.1
NO_MIN_PU, NO_MAX_PU = 0.0, 2.0  # pandapower's fill for a bus created without limits


def numba_available() -> bool:
    """pandapower warns and runs slower without numba; we pass numba only when present."""
    return importlib.util.find_spec("numba") is not None


def validate_ac(
    model: NetworkModel,
    plan: dict[str, Any],
    *,
    progress: Callable[[int, int], None] | None = None,
    use_numba: bool | None = None,
) -> dict[str, Any]:
    """Run one AC power flow per period; return the per-period report and a summary."""
    import pandapower as pp

    net = model.net
    grid = model.grid
    numba = numba_available() if use_numba is None else use_numba
    T = len(plan["periods"])
    load_rows = {ld["index"]: ld for ld in plan["loads"]}
    base_p = net.load.p_mw.to_numpy(copy=True)
    base_q = net.load.q_mvar.to_numpy(copy=True)
    load_pos = {int(i): j for j, i in enumerate(net.load.index)}
    vmin_lim = _limits(net, "min_vm_pu", V_MIN_DEFAULT)
    vmax_lim = _limits(net, "max_vm_pu", V_MAX_DEFAULT)
    units = plan["units"]
    slack_candidates = []
    periods = []
    t0 = time.perf_counter()
    for t in range(T):
        work = net  # modified in place, restored per period by rewriting every value
        p_new = base_p.copy()
        q_new = base_q.copy()
        for idx, ld in load_rows.items():
            j = load_pos[idx]
            dem = ld["demand_mw"][t] or 0.0
            srv = ld["served_mw"][t] or 0.0
            frac = srv / dem if dem > 0 else 1.0
            scale = dem / base_p[j] if base_p[j] > 0 else 0.0
            p_new[j] = srv
            q_new[j] = base_q[j] * scale * frac
        work.load["p_mw"] = p_new
        work.load["q_mvar"] = q_new
        running_cap = []
        for un in units:
            mw = un["schedule_mw"][t] or 0.0
            el, idx = un["element"], un["index"]
            on = bool(un["running"][t])
            if el == "sgen":
                work.sgen.at[idx, "p_mw"] = mw
            elif el == "load":
                work.load.at[idx, "p_mw"] = -mw
            elif el == "gen":
                work.gen.at[idx, "p_mw"] = mw
                work.gen.at[idx, "in_service"] = on
                work.gen.at[idx, "slack_weight"] = float(un["p_max_mw"] or 0.0) if on else 0.0
                if on:
                    running_cap.append(("gen", idx, float(un["p_max_mw"] or 0.0)))
            elif el == "ext_grid":
                work.ext_grid.at[idx, "in_service"] = on or math.isinf(
                    float(un["p_max_mw"] or math.inf)
                )
                work.ext_grid.at[idx, "slack_weight"] = float(un["p_max_mw"] or 1.0) if on else 0.0
                if on:
                    running_cap.append(("ext_grid", idx, float(un["p_max_mw"] or 1.0)))
        slack_candidates.append(len(running_cap))
        row: dict[str, Any] = {"period": t, "label": plan["periods"][t]["label"]}
        if not running_cap:
            row.update(converged=None, note="no unit runs in this period: the network is dark")
            periods.append(row)
            continue
        if len(work.gen):
            work.gen["slack"] = False
            gens_on = [c for c in running_cap if c[0] == "gen"]
            if not bool(work.ext_grid.in_service.any()) and gens_on:
                big = max(gens_on, key=lambda c: (c[2], -c[1]))
                work.gen.at[big[1], "slack"] = True
        try:
            with _quiet():
                pp.runpp(
                    work,
                    algorithm="nr",
                    init="dc",
                    max_iteration=30,
                    calculate_voltage_angles=True,
                    distributed_slack=True,
                    numba=numba,
                )
            converged = bool(work.converged)
        except Exception as e:  # pandapower raises LoadflowNotConverged and friends
            converged = False
            row["note"] = f"{type(e).__name__}: {e}"[:200]
        row["converged"] = converged
        if converged:
            row.update(_period_report(work, vmin_lim, vmax_lim))
        periods.append(row)
        if progress:
            progress(t + 1, T)
    seconds = time.perf_counter() - t0
    del grid
    return {"periods": periods, "summary": _summary(periods), "seconds": seconds, "numba": numba}


def _limits(net: Any, col: str, default: float) -> np.ndarray:
    """Each bus's voltage limit, or ``default`` where it has none of its own: NaN, or the
    0.0 / 2.0 pu pandapower stores for a bus created without limits once the column exists."""
    if col in net.bus.columns:
        v = net.bus[col].to_numpy(dtype=float, na_value=np.nan)
        unset = np.isnan(v) | (v <= NO_MIN_PU) | (v >= NO_MAX_PU)
        return np.where(unset, default, v)
    return np.full(len(net.bus), default)


def _period_report(net: Any, vmin_lim: np.ndarray, vmax_lim: np.ndarray) -> dict[str, Any]:
    vm = net.res_bus.vm_pu.to_numpy(dtype=float)
    live = ~np.isnan(vm)
    bus_ids = net.bus.index.to_numpy()
    violations: list[dict[str, Any]] = []
    for kind, broken, lim in (
        ("undervoltage", live & (vm < vmin_lim - 1e-6), vmin_lim),
        ("overvoltage", live & (vm > vmax_lim + 1e-6), vmax_lim),
    ):
        violations.extend(
            {
                "kind": kind,
                "element": f"bus {bus_ids[i]}",
                "value": rnd(vm[i], "pu"),
                "limit": rnd(lim[i], "pu"),
            }
            for i in np.flatnonzero(broken)
        )
    worst: dict[str, Any] = {}
    for table, res, label in (
        ("line", "res_line", "line"),
        ("trafo", "res_trafo", "transformer"),
        ("trafo3w", "res_trafo3w", "transformer"),
    ):
        if not len(net[table]) or not len(net[res]):
            continue
        loading = net[res].loading_percent.to_numpy(dtype=float)
        limit = (
            net[table].max_loading_percent.to_numpy(dtype=float)
            if "max_loading_percent" in net[table].columns
            else np.full(len(loading), 100.0)
        )
        limit = np.where(np.isnan(limit), 100.0, limit)
        ok = ~np.isnan(loading)
        if ok.any():
            j = int(np.nanargmax(np.where(ok, loading, -np.inf)))
            key = f"worst_{label}"
            if key not in worst or loading[j] > worst[key]["loading_pct"]:
                worst[key] = {
                    "element": f"{table} {net[table].index[j]}",
                    "loading_pct": rnd(loading[j], "pct"),
                }
        for j in np.flatnonzero(ok & (loading > limit + 1e-6)):
            violations.append(
                {
                    "kind": f"{label} overload",
                    "element": f"{table} {net[table].index[j]}",
                    "value": rnd(loading[j], "pct"),
                    "limit": rnd(limit[j], "pct"),
                }
            )
    gen_p = float(net.res_gen.p_mw.sum()) if len(net.gen) else 0.0
    gen_p += float(net.res_ext_grid.p_mw.sum()) if len(net.ext_grid) else 0.0
    gen_p += float(net.res_sgen.p_mw.sum()) if len(net.sgen) else 0.0
    load_p = float(net.res_load.p_mw.sum()) if len(net.load) else 0.0
    return {
        "v_min_pu": rnd(float(np.nanmin(vm)), "pu"),
        "v_max_pu": rnd(float(np.nanmax(vm)), "pu"),
        "losses_mw": rnd(gen_p - load_p, "mw"),
        **worst,
        "violations": violations,
    }


def _summary(periods: list[dict[str, Any]]) -> dict[str, Any]:
    conv = [p for p in periods if p.get("converged")]
    failed = [p["period"] for p in periods if p.get("converged") is False]
    dark = [p["period"] for p in periods if p.get("converged") is None]
    kinds: dict[str, int] = {}
    for p in conv:
        for v in p["violations"]:
            kinds[v["kind"]] = kinds.get(v["kind"], 0) + 1
    with_v = [p["period"] for p in conv if p["violations"]]
    worst_line = max(
        (p["worst_line"] for p in conv if "worst_line" in p),
        key=lambda w: w["loading_pct"],
        default=None,
    )
    worst_tr = max(
        (p["worst_transformer"] for p in conv if "worst_transformer" in p),
        key=lambda w: w["loading_pct"],
        default=None,
    )
    return {
        "periods": len(periods),
        "converged": len(conv),
        "not_converged": failed,
        "dark": dark,
        "periods_with_violations": with_v,
        "violations_by_kind": dict(sorted(kinds.items())),
        "v_min_pu": min((p["v_min_pu"] for p in conv), default=None),
        "v_max_pu": max((p["v_max_pu"] for p in conv), default=None),
        "worst_line": worst_line,
        "worst_transformer": worst_tr,
        "ok": not failed and not with_v,
    }
