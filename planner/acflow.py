"""AC validation: apply each period's plan to the pandapower net and run AC power flow.

The plan comes from a DC model, which ignores reactive power, voltages and
losses. Every period is therefore re-checked with a full Newton-Raphson power
flow: served loads (reactive power shed with active power), curtailed static
generators and batteries written back, units off when the plan has them off, and in
every island the slack distributed over the running units in proportion to their
ratings (each island's largest running genset is its reference when it has no grid
connection). Every violation found is reported, none dropped. A network without any
branch (one bus) needs no power flow: each bus sits at its genset's set-point.
"""

from __future__ import annotations

import importlib.util
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from planner.acreport import period_report, summary
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
    net = model.net
    numba = numba_available() if use_numba is None else use_numba
    T = len(plan["periods"])
    limits = (_limits(net, "min_vm_pu", V_MIN_DEFAULT), _limits(net, "max_vm_pu", V_MAX_DEFAULT))
    base = (net.load.p_mw.to_numpy(copy=True), net.load.q_mvar.to_numpy(copy=True))
    branches = _has_branches(net)
    periods = []
    t0 = time.perf_counter()
    for t in range(T):
        _apply_loads(net, plan, t, base)
        _apply_storage(net, plan, t)
        running = _apply_units(net, plan, t)
        running += _idle_references(net, plan, t, model.bus_island, running)
        row: dict[str, Any] = {"period": t, "label": plan["periods"][t]["label"]}
        if not running:
            row.update(converged=None, note="no unit runs in this period: the network is dark")
        elif not branches:
            row.update(converged=True, **_no_branch_report(net, running, limits))
        else:
            several = _island_slacks(net, model.bus_island, running)
            row.update(_run(net, numba, limits, distributed=not several))
        periods.append(row)
        if progress:
            progress(t + 1, T)
    seconds = time.perf_counter() - t0
    return {"periods": periods, "summary": summary(periods), "seconds": seconds, "numba": numba}


def _limits(net: Any, col: str, default: float) -> np.ndarray:
    """Each bus's voltage limit, or ``default`` where it has none of its own: NaN, or the
    0.0 / 2.0 pu pandapower stores for a bus created without limits once the column exists."""
    if col in net.bus.columns:
        v = net.bus[col].to_numpy(dtype=float, na_value=np.nan)
        unset = np.isnan(v) | (v <= NO_MIN_PU) | (v >= NO_MAX_PU)
        return np.where(unset, default, v)
    return np.full(len(net.bus), default)


def _has_branches(net: Any) -> bool:
    for table in ("line", "trafo", "trafo3w", "impedance"):
        if table in net and len(net[table]) and bool(net[table].in_service.astype(bool).any()):
            return True
    return False


def _apply_loads(
    net: Any, plan: dict[str, Any], t: int, base: tuple[np.ndarray, np.ndarray]
) -> None:
    """Served MW per load, reactive power shed in the same proportion."""
    base_p, base_q = base
    pos = {int(i): j for j, i in enumerate(net.load.index)}
    p_new, q_new = base_p.copy(), base_q.copy()
    for ld in plan["loads"]:
        j = pos[ld["index"]]
        dem = ld["demand_mw"][t] or 0.0
        srv = ld["served_mw"][t] or 0.0
        frac = srv / dem if dem > 0 else 1.0
        scale = dem / base_p[j] if base_p[j] > 0 else 0.0
        p_new[j] = srv
        q_new[j] = base_q[j] * scale * frac
    net.load["p_mw"] = p_new
    net.load["q_mvar"] = q_new


def _apply_storage(net: Any, plan: dict[str, Any], t: int) -> None:
    """Batteries as pandapower has them: positive p_mw charges."""
    for b in plan.get("storage", []):
        net.storage.at[b["index"], "p_mw"] = -(b["net_mw"][t] or 0.0)
        net.storage.at[b["index"], "q_mvar"] = 0.0


def _apply_units(net: Any, plan: dict[str, Any], t: int) -> list[tuple[str, int, float]]:
    """Set-points and on/off of every unit; the running ones (element, row, rating)."""
    running = []
    for un in plan["units"]:
        mw = un["schedule_mw"][t] or 0.0
        el, idx, on = un["element"], un["index"], bool(un["running"][t])
        rating = float(un["p_max_mw"] or 0.0)
        if el == "sgen":
            net.sgen.at[idx, "p_mw"] = mw
        elif el == "load":
            net.load.at[idx, "p_mw"] = -mw
        elif el == "gen" and un.get("in_service", True):
            net.gen.at[idx, "p_mw"] = mw
            net.gen.at[idx, "in_service"] = on
            net.gen.at[idx, "slack_weight"] = rating if on else 0.0
            if on:
                running.append(("gen", idx, rating))
        elif el == "ext_grid" and un.get("in_service", True):
            unlimited = math.isinf(float(un["p_max_mw"] or math.inf))
            net.ext_grid.at[idx, "in_service"] = on or unlimited
            net.ext_grid.at[idx, "slack_weight"] = float(un["p_max_mw"] or 1.0) if on else 0.0
            if on:
                running.append(("ext_grid", idx, float(un["p_max_mw"] or 1.0)))
    return running


def _idle_references(
    net: Any,
    plan: dict[str, Any],
    t: int,
    bus_island: dict[int, int],
    running: list[tuple[str, int, float]],
) -> list[tuple[str, int, float]]:
    """Islands fed only by solar or a battery this period keep their largest genset
    connected at 0 MW as the voltage reference (an inverter alone cannot hold pandapower's
    island up); the plan has it off, so it burns nothing there."""
    powered = {bus_island.get(int(net[el].at[idx, "bus"])) for el, idx, _ in running}
    fed: set[int | None] = set()
    for un in plan["units"]:
        if un["element"] in ("sgen", "load") and (un["schedule_mw"][t] or 0.0) > 0:
            fed.add(bus_island.get(int(net[un["element"]].at[un["index"], "bus"])))
    for b in plan.get("storage", []):
        if abs(b["net_mw"][t] or 0.0) > 0:
            fed.add(bus_island.get(int(net.storage.at[b["index"], "bus"])))
    extra = []
    for un in sorted(plan["units"], key=lambda u: (-(u["p_max_mw"] or 0.0), u["index"])):
        if un["element"] != "gen" or not un.get("in_service", True):
            continue
        isl = bus_island.get(int(net.gen.at[un["index"], "bus"]))
        if isl in fed and isl not in powered:
            net.gen.at[un["index"], "in_service"] = True
            net.gen.at[un["index"], "p_mw"] = 0.0
            net.gen.at[un["index"], "slack_weight"] = 1.0
            extra.append(("gen", un["index"], float(un["p_max_mw"] or 0.0)))
            powered.add(isl)
    return extra


def _island_slacks(
    net: Any, bus_island: dict[int, int], running: list[tuple[str, int, float]]
) -> bool:
    """In every island without a running grid connection, its largest running genset
    is the reference (pandapower drops an island that has none). True when more than one
    island runs: pandapower distributes the slack within one island only, so each
    island's reference then takes its own losses."""
    live = {bus_island.get(int(net[el].at[idx, "bus"])) for el, idx, _ in running}
    if not len(net.gen):
        return len(live) > 1
    net.gen["slack"] = False
    grid_islands = {
        bus_island.get(int(net.ext_grid.at[idx, "bus"]))
        for el, idx, _ in running
        if el == "ext_grid"
    }
    best: dict[int | None, tuple[float, int]] = {}
    for el, idx, rating in running:
        if el != "gen":
            continue
        isl = bus_island.get(int(net.gen.at[idx, "bus"]))
        if isl in grid_islands:
            continue
        if isl not in best or (rating, -idx) > (best[isl][0], -best[isl][1]):
            best[isl] = (rating, idx)
    for _, idx in best.values():
        net.gen.at[idx, "slack"] = True
    return len(live) > 1


def _run(
    net: Any, numba: bool, limits: tuple[np.ndarray, np.ndarray], *, distributed: bool
) -> dict[str, Any]:
    import pandapower as pp

    row: dict[str, Any] = {}
    try:
        with _quiet():
            pp.runpp(
                net,
                algorithm="nr",
                init="dc",
                max_iteration=30,
                calculate_voltage_angles=True,
                distributed_slack=distributed,
                numba=numba,
            )
        converged = bool(net.converged)
    except Exception as e:  # pandapower raises LoadflowNotConverged and friends
        converged = False
        row["note"] = f"{type(e).__name__}: {e}"[:200]
    row["converged"] = converged
    if converged:
        row.update(period_report(net, *limits))
    return row


def _no_branch_report(
    net: Any, running: list[tuple[str, int, float]], limits: tuple[np.ndarray, np.ndarray]
) -> dict[str, Any]:
    """No branch: every energised bus is held at its genset's (or grid's) set-point."""
    vmin_lim, vmax_lim = limits
    pos = {int(b): i for i, b in enumerate(net.bus.index)}
    vm = np.full(len(net.bus), np.nan)
    for el, idx, _ in running:
        table = net.gen if el == "gen" else net.ext_grid
        vm[pos[int(table.at[idx, "bus"])]] = float(table.at[idx, "vm_pu"])
    live = ~np.isnan(vm)
    violations = [
        {
            "kind": kind,
            "element": f"bus {net.bus.index[i]}",
            "value": rnd(vm[i], "pu"),
            "limit": rnd(lim[i], "pu"),
        }
        for kind, broken, lim in (
            ("undervoltage", live & (vm < vmin_lim - 1e-6), vmin_lim),
            ("overvoltage", live & (vm > vmax_lim + 1e-6), vmax_lim),
        )
        for i in np.flatnonzero(broken)
    ]
    return {
        "v_min_pu": rnd(float(np.nanmin(vm)), "pu"),
        "v_max_pu": rnd(float(np.nanmax(vm)), "pu"),
        "losses_mw": 0.0,
        "violations": violations,
        "note": "no branch: each bus at its unit's voltage set-point, no power flow needed",
    }
