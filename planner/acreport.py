"""What one AC power flow says about a period, and what all periods say together."""

from __future__ import annotations

from typing import Any

import numpy as np

from planner.canonical import rnd


def element_name(net: Any, table: str, idx: Any) -> str:
    """A branch by its own name (``tie-0-1``), else ``line 3``."""
    name = net[table].at[idx, "name"] if "name" in net[table].columns else None
    return name.strip() if isinstance(name, str) and name.strip() else f"{table} {idx}"


def period_report(net: Any, vmin_lim: np.ndarray, vmax_lim: np.ndarray) -> dict[str, Any]:
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
            top = int(np.nanargmax(np.where(ok, loading, -np.inf)))
            key = f"worst_{label}"
            if key not in worst or loading[top] > worst[key]["loading_pct"]:
                worst[key] = {
                    "element": element_name(net, table, net[table].index[top]),
                    "loading_pct": rnd(loading[top], "pct"),
                }
        for j in np.flatnonzero(ok & (loading > limit + 1e-6)):
            violations.append(
                {
                    "kind": f"{label} overload",
                    "element": element_name(net, table, net[table].index[j]),
                    "value": rnd(loading[j], "pct"),
                    "limit": rnd(limit[j], "pct"),
                }
            )
    gen_p = float(net.res_gen.p_mw.sum()) if len(net.gen) else 0.0
    gen_p += float(net.res_ext_grid.p_mw.sum()) if len(net.ext_grid) else 0.0
    gen_p += float(net.res_sgen.p_mw.sum()) if len(net.sgen) else 0.0
    load_p = float(net.res_load.p_mw.sum()) if len(net.load) else 0.0
    if "storage" in net and len(net.storage) and "res_storage" in net:
        load_p += float(net.res_storage.p_mw.sum())  # charging draws power like a load
    return {
        "v_min_pu": rnd(float(np.nanmin(vm)), "pu"),
        "v_max_pu": rnd(float(np.nanmax(vm)), "pu"),
        "losses_mw": rnd(gen_p - load_p, "mw"),
        **worst,
        "violations": violations,
    }


def summary(periods: list[dict[str, Any]]) -> dict[str, Any]:
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
