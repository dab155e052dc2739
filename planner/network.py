"""The pandapower edge: load a network and turn it into plain arrays (``Grid``).

Everything pandapower-specific lives here and in ``acflow``: the formulation only
sees numpy/scipy data. The DC model is pandapower's own (``_pd2ppc`` with
``rundcopp``'s options, then ``makeBdc``), so the planner and pandapower's DC OPF
agree on the same net. Known traps handled here, each measured on real cases:

* ``ext_grid`` limits come from the net's tables, never the internal +-1e9 MW;
* branch rating 0 means unlimited;
* static generators and negative loads are curtailable injections, not folded
  into demand (that makes a shedding LP infeasible);
* generator rows follow ``net._pd2ppc_lookups``, never table order.
"""

from __future__ import annotations

import copy
import logging
import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from planner.errors import NetworkError
from planner.scenario import Generator, Scenario

BUILTIN_CASES = (
    "case4gs",
    "case5",
    "case6ww",
    "case9",
    "case14",
    "case24_ieee_rts",
    "case30",
    "case33bw",
    "case39",
    "case57",
    "case89pegase",
    "case118",
    "case145",
    "case300",
    "case1354pegase",
    "case2869pegase",
    "cigre_mv",
    "cigre_lv",
    "mv_oberrhein",
)


@dataclass
class Unit:
    """One dispatchable injection in the LP: a genset, an ext_grid, PV, a negative load."""

    name: str
    element: str  # gen | sgen | ext_grid | load (negative load)
    index: int
    bus: int  # internal (ppci) bus
    p_min_mw: float
    p_max_mw: float
    spec: Generator | None = None  # the scenario's entry, None for undeclared units
    curtailable: bool = False  # sgen / negative load: 0..available


@dataclass
class NetLoad:
    name: str
    index: int
    bus: int
    p_mw: float
    q_mvar: float


@dataclass
class Grid:
    """The DC network as arrays (per unit on ``base_mva``), ready for the formulation."""

    base_mva: float
    n_bus: int
    bus_names: list[str]
    Bbus: sp.csr_matrix
    Bf: sp.csr_matrix
    pbusinj: np.ndarray
    pfinj: np.ndarray
    ref_buses: np.ndarray
    ref_angles: np.ndarray
    branch_rate_mw: np.ndarray  # inf = unlimited
    branch_kind: list[str]
    branch_index: np.ndarray
    branch_names: list[str]
    branch_from: np.ndarray
    branch_to: np.ndarray
    fixed_demand_mw: np.ndarray  # per bus: wards, shunt conductance (never shed)
    units: list[Unit]
    loads: list[NetLoad]
    notes: list[str] = field(default_factory=list)


@dataclass
class NetworkModel:
    """The prepared pandapower net (for AC validation) and its DC arrays."""

    net: Any
    grid: Grid
    ac_gen_index: dict[str, int]  # unit name -> net.gen row, for units that became gens


def load_net(case: str | None, file: Any = None) -> Any:
    """A pandapower net from a built-in case name or a pandapower JSON file."""
    import pandapower as pp
    import pandapower.networks as pn

    with _quiet():
        if file is not None:
            try:
                return pp.from_json(str(file))
            except FileNotFoundError as e:
                raise NetworkError(f"network file {file} not found") from e
            except Exception as e:  # pandapower raises many kinds for a bad file
                raise NetworkError(f"network file {file} is not a pandapower JSON net: {e}") from e
        if case == "cigre_mv":
            return pn.create_cigre_network_mv(with_der="pv_wind")
        if case == "cigre_lv":
            return pn.create_cigre_network_lv()
        if case not in BUILTIN_CASES or not hasattr(pn, str(case)):
            raise NetworkError(
                f"network.case: unknown case {case!r}",
                hint="built-in cases: " + ", ".join(BUILTIN_CASES),
            )
        return getattr(pn, str(case))()


class _quiet:
    """Silence pandapower's logging and warnings chatter around a call."""

    def __enter__(self) -> None:
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore")
        self._level = logging.getLogger("pandapower").level
        logging.getLogger("pandapower").setLevel(logging.ERROR)

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("pandapower").setLevel(self._level)
        self._w.__exit__(*exc)


def _num(value: Any, default: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return default
    return default if math.isnan(v) else v


def build_network(scenario: Scenario, net: Any | None = None) -> NetworkModel:
    """Prepare the scenario's net and extract its DC model; errors name the field."""
    spec = scenario.network
    base = load_net(spec.case, spec.file) if net is None else copy.deepcopy(net)
    what = spec.case or (spec.file.name if spec.file else "network")
    _check_references(scenario, base, what)
    prepared, ac_gen_index = _prepare(scenario, base)
    grid = _extract(scenario, prepared, ac_gen_index)
    return NetworkModel(net=prepared, grid=grid, ac_gen_index=ac_gen_index)


def _check_references(scenario: Scenario, net: Any, what: str) -> None:
    for i, g in enumerate(scenario.generators):
        if g.element == "new":
            if g.bus not in net.bus.index:
                raise NetworkError(f"field generators[{i}].bus: {what} has no bus {g.bus}")
            continue
        table = net[g.element]
        if g.index not in table.index:
            raise NetworkError(
                f"field generators[{i}].index: {what} has no {g.element} {g.index} "
                f"(it has {len(table)}: {_span(table.index)})"
            )
    for i, ld in enumerate(scenario.loads):
        if ld.index not in net.load.index:
            raise NetworkError(
                f"field loads[{i}].index: {what} has no load {ld.index} "
                f"(it has {len(net.load)}: {_span(net.load.index)})"
            )
        if float(net.load.at[ld.index, "p_mw"]) < 0:
            raise NetworkError(
                f"field loads[{i}].index: load {ld.index} is negative (a generator in disguise); "
                "the planner treats negative loads as curtailable injections, not as tiered loads"
            )
    for s in scenario.sites:
        for b in s.buses:
            if b not in net.bus.index:
                raise NetworkError(f"field sites ({s.name}).buses: {what} has no bus {b}")


def _span(index: Any) -> str:
    values = list(index)
    if not values:
        return "none"
    return f"{min(values)}..{max(values)}"


def _prepare(scenario: Scenario, net: Any) -> tuple[Any, dict[str, int]]:
    """A copy of the net with the scenario's units added and islanding applied."""
    import pandapower as pp

    spec = scenario.network
    ac_gen_index: dict[str, int] = {}
    with _quiet():
        for g in scenario.generators:
            if g.element == "new":
                idx = pp.create_gen(
                    net,
                    bus=g.bus,
                    p_mw=0.0,
                    vm_pu=g.vm_pu,
                    name=g.name,
                    min_p_mw=g.p_min_mw if g.p_min_mw is not None else 0.0,
                    max_p_mw=g.p_max_mw,
                    min_q_mvar=-0.75 * float(g.p_max_mw or 0.0),
                    max_q_mvar=0.75 * float(g.p_max_mw or 0.0),
                    controllable=True,
                )
                ac_gen_index[g.name] = int(idx)
            elif g.element == "gen":
                ac_gen_index[g.name] = int(g.index)  # type: ignore[arg-type]
        # No max_loading_percent means the rating itself (100%): pandapower would
        # otherwise treat the branch as unlimited in its DC OPF conversion.
        for table in ("line", "trafo", "trafo3w"):
            if len(net[table]):
                if "max_loading_percent" not in net[table].columns:
                    net[table]["max_loading_percent"] = 100.0
                net[table]["max_loading_percent"] = net[table]["max_loading_percent"].fillna(100.0)
        if spec.islanded and len(net.ext_grid):
            net.ext_grid["in_service"] = False
        if "controllable" not in net.load.columns:
            net.load["controllable"] = False
        net.load["controllable"] = False
        if len(net.sgen):
            net.sgen["controllable"] = False
        if len(net.gen):
            net.gen["controllable"] = True
        has_slack = bool(net.ext_grid.in_service.any()) or bool(
            len(net.gen) and (net.gen.slack & net.gen.in_service).any()
        )
        if not has_slack:
            live = net.gen[net.gen.in_service]
            if not len(live):
                raise NetworkError(
                    "network.islanded: an islanded network needs at least one generator "
                    '(add [[generators]] with element = "new")'
                )
            cap = live.max_p_mw.fillna(live.p_mw)
            net.gen.loc[cap.idxmax(), "slack"] = True
    return net, ac_gen_index


def dc_ppc(work: Any) -> tuple[Any, Any, tuple[Any, Any, Any, Any]]:
    """pandapower's own DC conversion with ``rundcopp``'s options, as the planner and the
    cost cross-check both need it: ``(ppc, ppci, (Bbus, Bf, Pbusinj, Pfinj))``."""
    from pandapower.auxiliary import _init_rundcopp_options
    from pandapower.pd2ppc import _pd2ppc
    from pandapower.pypower.makeBdc import makeBdc

    with _quiet():
        try:
            _init_rundcopp_options(
                work, check_connectivity=True, switch_rx_ratio=0.5, delta=1e-10, trafo3w_losses="hv"
            )
            ppc, ppci = _pd2ppc(work)
        except Exception as e:
            raise NetworkError(f"pandapower could not convert the network: {e}") from e
        Bbus, Bf, pbusinj, pfinj = makeBdc(ppci["bus"], ppci["branch"])[:4]
    return ppc, ppci, (Bbus, Bf, pbusinj, pfinj)


def _extract(scenario: Scenario, net: Any, ac_gen_index: dict[str, int]) -> Grid:
    """Run pandapower's own DC conversion and read the arrays the LP needs."""
    from pandapower.pypower.idx_brch import F_BUS, RATE_A, T_BUS
    from pandapower.pypower.idx_bus import BUS_TYPE, GS, PD, REF, VA

    work = copy.deepcopy(net)
    # Loads and static generators are modelled by the LP itself: keep them out of PD.
    work.load["p_mw"] = 0.0
    work.load["q_mvar"] = 0.0
    if len(work.sgen):
        work.sgen["p_mw"] = 0.0
    ppc, ppci, (Bbus, Bf, pbusinj, pfinj) = dc_ppc(work)
    base_mva = float(ppci["baseMVA"])
    bus = ppci["bus"]
    branch = ppci["branch"]
    nb = bus.shape[0]
    lookups = work._pd2ppc_lookups
    bus_lookup = np.asarray(lookups["bus"])

    # Branch identities: ppc rows per element type, then filtered to ppci's in-service rows.
    n_ppc_branch = ppc["branch"].shape[0]
    kinds = ["?"] * n_ppc_branch
    idxs = np.full(n_ppc_branch, -1)
    for kind, (f, t) in lookups.get("branch", {}).items():
        table = work.get(kind, None)
        ids = list(table.index) if table is not None else list(range(t - f))
        per = (t - f) // max(len(ids), 1) if ids else 1
        for j in range(f, t):
            kinds[j] = kind
            k = (j - f) // max(per, 1)
            idxs[j] = ids[k] if k < len(ids) else j - f
    keep = np.asarray(ppci["internal"]["branch_is"], dtype=bool)
    branch_kind = [k for k, m in zip(kinds, keep, strict=True) if m]
    branch_index = idxs[keep]
    rate = np.real(branch[:, RATE_A]).astype(float)
    spec = scenario.network
    limited = rate > 0
    if spec.branch_limits == "relax":
        limited[:] = False
    if spec.transformer_limits == "relax":
        limited &= np.array([not k.startswith("trafo") for k in branch_kind], dtype=bool)
    rate_mw = np.where(limited, rate * spec.limit_factor, np.inf)

    inv_bus = {}
    for pp_bus, i in zip(work.bus.index, bus_lookup[work.bus.index], strict=True):
        if 0 <= i < nb and i not in inv_bus:
            inv_bus[int(i)] = str(work.bus.at[pp_bus, "name"] or pp_bus)
    bus_names = [inv_bus.get(i, str(i)) for i in range(nb)]
    fb = np.real(branch[:, F_BUS]).astype(int)
    tb = np.real(branch[:, T_BUS]).astype(int)
    branch_names = [
        f"{k} {i} ({bus_names[a]}-{bus_names[b]})"
        for k, i, a, b in zip(branch_kind, branch_index, fb, tb, strict=True)
    ]

    refs = np.flatnonzero(bus[:, BUS_TYPE] == REF)
    fixed = (bus[:, PD] + bus[:, GS]).astype(float)

    def ibus(pp_bus: int) -> int:
        i = int(bus_lookup[pp_bus])
        return i if 0 <= i < nb else -1

    units = _units(scenario, net, ibus)
    declared_names = {ld.index: ld.name for ld in scenario.loads}
    loads = []
    for idx in net.load.index:
        row = net.load.loc[idx]
        if not bool(row.in_service) or ibus(int(row.bus)) < 0:
            continue
        p = _num(row.p_mw, 0.0) * _num(row.get("scaling", 1.0), 1.0)
        q = _num(row.q_mvar, 0.0) * _num(row.get("scaling", 1.0), 1.0)
        if p < 0:
            continue  # a negative load is a curtailable injection (see _units)
        name = declared_names.get(int(idx)) or _name(row, "load", idx)
        loads.append(NetLoad(name, int(idx), ibus(int(row.bus)), p, q))
    notes = []
    relaxed = int(np.sum((rate > 0) & ~limited))
    if relaxed:
        notes.append(f"{relaxed} branch limits relaxed by the scenario")
    return Grid(
        base_mva=base_mva,
        n_bus=nb,
        bus_names=bus_names,
        Bbus=sp.csr_matrix(Bbus),
        Bf=sp.csr_matrix(Bf),
        pbusinj=np.asarray(pbusinj, dtype=float).ravel(),
        pfinj=np.asarray(pfinj, dtype=float).ravel(),
        ref_buses=refs,
        ref_angles=np.deg2rad(bus[refs, VA].astype(float)),
        branch_rate_mw=rate_mw,
        branch_kind=branch_kind,
        branch_index=branch_index,
        branch_names=branch_names,
        branch_from=fb,
        branch_to=tb,
        fixed_demand_mw=fixed,  # ppci PD and GS are in MW
        units=units,
        loads=loads,
        notes=notes,
    )


def _name(row: Any, element: str, idx: Any) -> str:
    name = row.get("name") if hasattr(row, "get") else None
    if isinstance(name, str) and name.strip():
        return name.strip()
    return f"{element}{idx}"


def _units(scenario: Scenario, net: Any, ibus: Any) -> list[Unit]:
    """Every in-service injection: declared units with their specs, the rest at net limits."""
    declared = {(g.element, g.index): g for g in scenario.generators if g.element != "new"}
    new_units = {g.name: g for g in scenario.generators if g.element == "new"}
    units: list[Unit] = []
    for idx in net.ext_grid.index:
        row = net.ext_grid.loc[idx]
        if not bool(row.in_service) or ibus(int(row.bus)) < 0:
            continue
        g = declared.get(("ext_grid", int(idx)))
        lo = _num(row.get("min_p_mw"), -math.inf)
        hi = _num(row.get("max_p_mw"), math.inf)
        units.append(_unit(g, "ext_grid", int(idx), ibus(int(row.bus)), lo, hi, row))
    for idx in net.gen.index:
        row = net.gen.loc[idx]
        if not bool(row.in_service) or ibus(int(row.bus)) < 0:
            continue
        name = row.get("name")
        g = new_units.get(name) if isinstance(name, str) else None
        if g is None:
            g = declared.get(("gen", int(idx)))
        p = _num(row.p_mw, 0.0)
        lo = _num(row.get("min_p_mw"), 0.0)
        hi = _num(row.get("max_p_mw"), max(p, 0.0))
        units.append(_unit(g, "gen", int(idx), ibus(int(row.bus)), lo, hi, row))
    for idx in net.sgen.index:
        row = net.sgen.loc[idx]
        if not bool(row.in_service) or ibus(int(row.bus)) < 0:
            continue
        g = declared.get(("sgen", int(idx)))
        avail = max(_num(row.p_mw, 0.0) * _num(row.get("scaling", 1.0), 1.0), 0.0)
        u = _unit(g, "sgen", int(idx), ibus(int(row.bus)), 0.0, avail, row)
        u.curtailable = True
        units.append(u)
    for idx in net.load.index:
        row = net.load.loc[idx]
        p = _num(row.p_mw, 0.0) * _num(row.get("scaling", 1.0), 1.0)
        if p >= 0 or not bool(row.in_service) or ibus(int(row.bus)) < 0:
            continue
        units.append(
            Unit(_name(row, "load", idx), "load", int(idx), ibus(int(row.bus)), 0.0, -p, None, True)
        )
    return units


def _unit(
    g: Generator | None, element: str, idx: int, bus: int, lo: float, hi: float, row: Any
) -> Unit:
    if g is not None:
        if g.p_max_mw is not None:
            hi = g.p_max_mw
        if g.p_min_mw is not None:
            lo = g.p_min_mw
        if g.fuelled:
            lo = max(lo, 0.0)  # a genset's minimum is min_stable_mw, applied when it runs
        name = g.name
    else:
        name = _name(row, element, idx)
    return Unit(name, element, idx, bus, lo, hi, g)
