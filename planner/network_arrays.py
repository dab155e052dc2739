"""From a prepared pandapower net to the ``Grid`` arrays the LP is built from.

pandapower's DC conversion keeps only what a slack can reach; everything it drops is
kept here with ``bus = UNREACHABLE``, so every load, unit and battery of the input is
in the plan: loads no generation can reach are reported shed, units there at 0 MW.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import scipy.sparse as sp

from planner.errors import NetworkError
from planner.grid import UNREACHABLE, BatteryModel, Grid, NetLoad, Unit
from planner.network import dc_ppc, num
from planner.scenario import Generator, NetworkSpec, Scenario

BusMap = Callable[[int], int]


def extract_grid(scenario: Scenario, net: Any) -> Grid:
    """Run pandapower's own DC conversion and read the arrays the LP needs."""
    from pandapower.pypower.idx_brch import F_BUS, RATE_A, T_BUS
    from pandapower.pypower.idx_bus import BUS_TYPE, GS, PD, REF, VA

    work = copy.deepcopy(net)
    # Loads, static generators and batteries are modelled by the LP itself: keep them out of PD.
    work.load["p_mw"] = 0.0
    work.load["q_mvar"] = 0.0
    for table in ("sgen", "storage"):
        if table in work and len(work[table]):
            work[table]["p_mw"] = 0.0
    try:
        ppc, ppci, (Bbus, Bf, pbusinj, pfinj) = dc_ppc(work)
    except NetworkError as e:
        if "reference bus" not in str(e):
            raise
        return _dark_grid(scenario, net)  # no genset or grid connection anywhere
    bus, branch = ppci["bus"], ppci["branch"]
    nb = bus.shape[0]
    bus_lookup = np.asarray(work._pd2ppc_lookups["bus"])

    def ibus(pp_bus: int) -> int:
        i = int(bus_lookup[pp_bus]) if 0 <= pp_bus < len(bus_lookup) else -1
        return i if 0 <= i < nb else UNREACHABLE

    bus_names = _bus_names(work, bus_lookup, nb)
    kinds, indexes = branch_identities(work, ppc, ppci)
    fb = np.real(branch[:, F_BUS]).astype(int)
    tb = np.real(branch[:, T_BUS]).astype(int)
    rate = np.real(branch[:, RATE_A]).astype(float)
    rate_mw, relaxed = branch_limits_mw(rate, kinds, scenario.network)
    refs = np.flatnonzero(bus[:, BUS_TYPE] == REF)
    units, batteries = _units(scenario, net, ibus)
    loads = _loads(scenario, net, ibus)
    grid = Grid(
        base_mva=float(ppci["baseMVA"]),
        n_bus=nb,
        bus_names=bus_names,
        Bbus=sp.csr_matrix(Bbus),
        Bf=sp.csr_matrix(Bf),
        pbusinj=np.asarray(pbusinj, dtype=float).ravel(),
        pfinj=np.asarray(pfinj, dtype=float).ravel(),
        ref_buses=refs,
        ref_angles=np.deg2rad(bus[refs, VA].astype(float)),
        branch_rate_mw=rate_mw,
        branch_kind=kinds,
        branch_index=indexes,
        branch_names=branch_names(work, kinds, indexes, fb, tb, bus_names),
        branch_from=fb,
        branch_to=tb,
        fixed_demand_mw=(bus[:, PD] + bus[:, GS]).astype(float),  # ppci PD and GS are in MW
        units=units,
        loads=loads,
        batteries=batteries,
        load_bus={int(i): int(b) for i, b in zip(net.load.index, net.load.bus, strict=True)},
        unit_bus=_unit_buses(net),
        f_hz=net_f_hz(net),
    )
    grid.notes = _notes(grid, relaxed)
    return grid


def _dark_grid(scenario: Scenario, net: Any) -> Grid:
    """A network without any reference (no genset, no grid): nothing can be served."""

    def nowhere(pp_bus: int) -> int:
        return UNREACHABLE

    units, batteries = _units(scenario, net, nowhere)
    empty = sp.csr_matrix((0, 0))
    grid = Grid(
        base_mva=float(net.sn_mva) if float(net.sn_mva) > 0 else 1.0,
        n_bus=0,
        bus_names=[],
        Bbus=empty,
        Bf=empty,
        pbusinj=np.zeros(0),
        pfinj=np.zeros(0),
        ref_buses=np.zeros(0, dtype=int),
        ref_angles=np.zeros(0),
        branch_rate_mw=np.zeros(0),
        branch_kind=[],
        branch_index=np.zeros(0, dtype=int),
        branch_names=[],
        branch_from=np.zeros(0, dtype=int),
        branch_to=np.zeros(0, dtype=int),
        fixed_demand_mw=np.zeros(0),
        units=units,
        loads=_loads(scenario, net, nowhere),
        batteries=batteries,
        load_bus={int(i): int(b) for i, b in zip(net.load.index, net.load.bus, strict=True)},
        unit_bus=_unit_buses(net),
        f_hz=net_f_hz(net),
    )
    grid.notes = _notes(grid, 0)
    return grid


def net_f_hz(net: Any) -> float:
    """The network's nominal frequency (pandapower's ``f_hz``; 50 Hz when unset)."""
    return float(getattr(net, "f_hz", 50.0) or 50.0)


def _bus_names(work: Any, bus_lookup: np.ndarray, nb: int) -> list[str]:
    names: dict[int, str] = {}
    for pp_bus in work.bus.index:
        i = int(bus_lookup[pp_bus])
        if 0 <= i < nb and i not in names:
            name = work.bus.at[pp_bus, "name"]
            names[i] = str(name) if isinstance(name, str) and name.strip() else str(pp_bus)
    return [names.get(i, str(i)) for i in range(nb)]


def branch_identities(work: Any, ppc: Any, ppci: Any) -> tuple[list[str], np.ndarray]:
    """(element table, row) of every in-service ppci branch, from pandapower's lookups."""
    n_ppc_branch = ppc["branch"].shape[0]
    kinds = ["?"] * n_ppc_branch
    idxs = np.full(n_ppc_branch, -1)
    for kind, (f, t) in work._pd2ppc_lookups.get("branch", {}).items():
        table = work.get(kind, None)
        ids = list(table.index) if table is not None else list(range(t - f))
        per = (t - f) // max(len(ids), 1) if ids else 1
        for j in range(f, t):
            kinds[j] = kind
            k = (j - f) // max(per, 1)
            idxs[j] = ids[k] if k < len(ids) else j - f
    keep = np.asarray(ppci["internal"]["branch_is"], dtype=bool)
    return [k for k, m in zip(kinds, keep, strict=True) if m], idxs[keep]


def branch_names(
    work: Any,
    kinds: list[str],
    indexes: np.ndarray,
    fb: np.ndarray,
    tb: np.ndarray,
    bus_names: list[str],
) -> list[str]:
    """A branch is called by its own name (``tie-0-1``); unnamed ones ``line 3 (b2-b5)``."""
    own = []
    for k, i in zip(kinds, indexes, strict=True):
        table = work.get(k, None)
        name = None
        if table is not None and "name" in table.columns and int(i) in table.index:
            name = table.at[int(i), "name"]
        own.append(name.strip() if isinstance(name, str) and name.strip() else None)
    counts: dict[str, int] = {}
    for n in own:
        if n:
            counts[n] = counts.get(n, 0) + 1
    out = []
    for n, k, i, a, b in zip(own, kinds, indexes, fb, tb, strict=True):
        ends = f"{bus_names[a]}-{bus_names[b]}"
        if n and counts[n] == 1:
            out.append(n)
        else:
            out.append(f"{n or f'{k} {i}'} ({ends})")
    return out


def branch_limits_mw(
    rate: np.ndarray, kinds: list[str], spec: NetworkSpec
) -> tuple[np.ndarray, int]:
    """Ratings (MW, inf = unlimited) after the scenario's ``[network]`` options, and how
    many were relaxed. Shared by the planner and the cost cross-check."""
    limited = rate > 0
    if spec.branch_limits == "relax":
        limited[:] = False
    if spec.transformer_limits == "relax":
        limited &= np.array([not k.startswith("trafo") for k in kinds], dtype=bool)
    return np.where(limited, rate * spec.limit_factor, np.inf), int(np.sum((rate > 0) & ~limited))


def _name(row: Any, element: str, idx: Any) -> str:
    name = row.get("name") if hasattr(row, "get") else None
    if isinstance(name, str) and name.strip():
        return name.strip()
    return f"{element}{idx}"


def _loads(scenario: Scenario, net: Any, ibus: BusMap) -> list[NetLoad]:
    """Every non-negative load row; out of service ones with no demand, unreachable ones
    with their demand and ``bus = UNREACHABLE`` (they will be reported shed)."""
    declared = {ld.index: ld.name for ld in scenario.loads}
    out = []
    for idx in net.load.index:
        row = net.load.loc[idx]
        scale = num(row.get("scaling", 1.0), 1.0)
        p, q = num(row.p_mw, 0.0) * scale, num(row.q_mvar, 0.0) * scale
        if p < 0:
            continue  # a negative load is a curtailable injection (see _units)
        on = bool(row.in_service)
        name = declared.get(int(idx)) or _name(row, "load", idx)
        bus = ibus(int(row.bus)) if on else UNREACHABLE
        out.append(NetLoad(name, int(idx), bus, p if on else 0.0, q if on else 0.0, on))
    return out


def _units(scenario: Scenario, net: Any, ibus: BusMap) -> tuple[list[Unit], list[BatteryModel]]:
    """Every injection of the net: declared units with their specs, the rest at net limits."""
    declared = {(g.element, g.index): g for g in scenario.generators if g.element != "new"}
    new_units = {g.name: g for g in scenario.generators if g.element == "new"}
    units: list[Unit] = []
    for idx in net.ext_grid.index:
        row = net.ext_grid.loc[idx]
        lo = num(row.get("min_p_mw"), -math.inf)
        hi = num(row.get("max_p_mw"), math.inf)
        g = declared.get(("ext_grid", int(idx)))
        units.append(_unit(g, "ext_grid", int(idx), _at(row, ibus), lo, hi, row))
    for idx in net.gen.index:
        row = net.gen.loc[idx]
        name = row.get("name")
        g = new_units.get(name) if isinstance(name, str) else None
        g = g or declared.get(("gen", int(idx)))
        lo = num(row.get("min_p_mw"), 0.0)
        hi = num(row.get("max_p_mw"), max(num(row.p_mw, 0.0), 0.0))
        units.append(_unit(g, "gen", int(idx), _at(row, ibus), lo, hi, row))
    for idx in net.sgen.index:
        row = net.sgen.loc[idx]
        avail = max(num(row.p_mw, 0.0) * num(row.get("scaling", 1.0), 1.0), 0.0)
        g = declared.get(("sgen", int(idx)))
        units.append(_unit(g, "sgen", int(idx), _at(row, ibus), 0.0, avail, row, curtailable=True))
    for idx in net.load.index:
        row = net.load.loc[idx]
        p = num(row.p_mw, 0.0) * num(row.get("scaling", 1.0), 1.0)
        if p < 0:
            units.append(
                _unit(None, "load", int(idx), _at(row, ibus), 0.0, -p, row, curtailable=True)
            )
    batteries = _batteries(scenario, net, ibus, units)
    return units, batteries


def _at(row: Any, ibus: BusMap) -> int:
    """The internal bus of an element row; UNREACHABLE when out of service or dropped."""
    return ibus(int(row.bus)) if bool(row.in_service) else UNREACHABLE


def _unit(
    g: Generator | None,
    element: str,
    idx: int,
    bus: int,
    lo: float,
    hi: float,
    row: Any,
    *,
    curtailable: bool = False,
) -> Unit:
    if g is not None:
        hi = g.p_max_mw if g.p_max_mw is not None else hi
        lo = g.p_min_mw if g.p_min_mw is not None else lo
        if g.fuelled:
            lo = max(lo, 0.0)  # a genset's minimum is min_stable_mw, applied when it runs
    name = g.name if g is not None else _name(row, element, idx)
    on = bool(row.in_service)
    if bus == UNREACHABLE:
        lo, hi = 0.0, 0.0  # no island to serve: in the plan at 0 MW
    return Unit(name, element, idx, bus, lo, hi, g, curtailable, in_service=on)


def _batteries(scenario: Scenario, net: Any, ibus: BusMap, units: list[Unit]) -> list[BatteryModel]:
    """Each ``net.storage`` row as a charge unit, a discharge unit and a state of charge."""
    table = net.get("storage")
    if table is None or not len(table):
        return []
    specs = {b.index: b for b in scenario.batteries}
    out = []
    for idx in table.index:
        row = table.loc[idx]
        spec = specs.get(int(idx))
        e_max = num(row.get("max_e_mwh"), math.nan)
        if not e_max > 0:
            raise NetworkError(
                f"storage {idx}: max_e_mwh must be more than 0 MWh (the battery's energy)",
                hint="set it in the network file (net.storage.max_e_mwh)",
            )
        e_min = min(max(num(row.get("min_e_mwh"), 0.0), 0.0), e_max)
        pct = spec.initial_percent if spec and spec.initial_percent is not None else None
        pct = pct if pct is not None else num(row.get("soc_percent"), 50.0)
        charge_mw, discharge_mw = _battery_power(row, spec, e_max)
        bus = _at(row, ibus)
        name = spec.name if spec else _name(row, "storage", idx)
        charge = Unit(f"{name} (charge)", "storage", int(idx), bus, -charge_mw, 0.0, role="charge")
        discharge = Unit(
            f"{name} (discharge)", "storage", int(idx), bus, 0.0, discharge_mw, role="discharge"
        )
        for u in (charge, discharge):
            u.in_service = bool(row.in_service)
            if bus == UNREACHABLE:
                u.p_min_mw, u.p_max_mw = 0.0, 0.0
        units.extend([charge, discharge])
        out.append(
            BatteryModel(
                name=name,
                index=int(idx),
                bus=bus,
                e_min_mwh=e_min,
                e_max_mwh=e_max,
                e_start_mwh=min(max(e_max * pct / 100.0, e_min), e_max),
                charge_efficiency=spec.charge_efficiency if spec else 0.95,
                discharge_efficiency=spec.discharge_efficiency if spec else 0.95,
                charge_unit=len(units) - 2,
                discharge_unit=len(units) - 1,
                spec=spec,
            )
        )
    return out


def _battery_power(row: Any, spec: Any, e_max: float) -> tuple[float, float]:
    """Charge and discharge limits (MW): the scenario's, else the table's (``max_p_mw``,
    ``-min_p_mw``, else ``sn_mva``), else one hour to full (1C)."""
    rating = num(row.get("sn_mva"), e_max)
    charge = num(row.get("max_p_mw"), rating)
    discharge = -num(row.get("min_p_mw"), -rating)
    if spec is not None and spec.max_charge_mw is not None:
        charge = spec.max_charge_mw
    if spec is not None and spec.max_discharge_mw is not None:
        discharge = spec.max_discharge_mw
    return max(charge, 0.0), max(discharge, 0.0)


def _unit_buses(net: Any) -> dict[tuple[str, int], int]:
    out: dict[tuple[str, int], int] = {}
    for element in ("ext_grid", "gen", "sgen", "load", "storage"):
        table = net.get(element)
        if table is not None and len(table):
            out.update(
                {(element, int(i)): int(b) for i, b in zip(table.index, table.bus, strict=True)}
            )
    return out


def _notes(grid: Grid, relaxed: int) -> list[str]:
    notes = []
    if relaxed:
        notes.append(f"{relaxed} branch limits relaxed by the scenario")
    dark = [ld for ld in grid.loads if ld.in_service and not ld.reachable]
    if dark:
        mw = sum(ld.p_mw for ld in dark)
        notes.append(
            f"{len(dark)} loads ({mw:.4g} MW) are in islands no generation can reach: planned as shed"
        )
    idle = [u for u in grid.units if u.in_service and not u.reachable]
    if idle:
        notes.append(
            f"{len(idle)} units are in islands without a genset or grid connection "
            "(solar and batteries cannot run an island alone): planned at 0 MW"
        )
    return notes
