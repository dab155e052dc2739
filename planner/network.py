"""The pandapower edge: load a network, prepare it, and turn it into plain arrays (``Grid``).

Everything pandapower-specific lives here, in ``planner.network_arrays`` and in
``acflow``: the formulation only sees numpy/scipy data. The DC model is pandapower's own
(``_pd2ppc`` with ``rundcopp``'s options, then ``makeBdc``), so the planner and
pandapower's DC OPF agree on the same net. Known traps handled here, each measured on
real cases:

* a network in pieces is normal after a disaster: every island with a genset or a grid
  connection gets its own reference (its largest genset when it has no slack), so no
  island is dropped; an island without any has its loads reported shed;
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
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from planner.errors import NetworkError
from planner.grid import Grid, NetLoad, Unit  # noqa: F401  (re-exported for callers)
from planner.scenario import Scenario

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


class NetworkModel:
    """The prepared pandapower net (for AC validation) and its DC arrays.

    From the cache (``planner.netcache``) only the arrays are read; the net itself is
    loaded and prepared the first time something needs it (the AC check).
    """

    def __init__(
        self,
        net: Any,
        grid: Grid,
        ac_gen_index: dict[str, int],
        bus_island: dict[int, int] | None = None,
        loader: Callable[[], Any] | None = None,
    ) -> None:
        self._net = net
        self.grid = grid
        self.ac_gen_index = ac_gen_index  # unit name -> net.gen row, for units that became gens
        self.bus_island = bus_island or {}  # pandapower bus -> island
        self._loader = loader

    @property
    def net(self) -> Any:
        if self._net is None and self._loader is not None:
            self._net = self._loader()
        return self._net


#: Largest network file read (case2869pegase is 5 MB): a device or a wrong file is refused.
MAX_FILE_BYTES = 1 << 30


def file_bytes(file: Path | None) -> bytes | None:
    """A network file's bytes, read once for a whole run (cache key, DC arrays and the AC
    net all come from them); None for a built-in case. Errors name the file."""
    return None if file is None else _read(Path(file))


def _read(path: Path) -> bytes:
    if path.is_dir():
        raise NetworkError(f"network file {path} is a folder, not a pandapower JSON file")
    if not path.exists():
        raise NetworkError(
            f"network file {path} not found", hint="network.file is relative to the scenario file"
        )
    if not path.is_file():  # a pipe or a device: reading it could wait or fill memory
        raise NetworkError(f"network file {path} is not a regular file")
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise NetworkError(f"network file {path} is over 1 GiB: not a pandapower net")
        return path.read_bytes()
    except OSError as e:
        raise NetworkError(f"network file {path} cannot be read: {e.strerror or e}") from e


def load_net(case: str | None, file: Any = None, data: bytes | None = None) -> Any:
    """A pandapower net from a built-in case name or a pandapower JSON file (``data``: its
    bytes, when already read), read as pandapower reads it, without the work that changes
    nothing (``planner.netread``)."""
    from planner.netread import EmptyNets, import_pandapower, read_file

    import_pandapower()
    import pandapower.networks as pn

    with _quiet(), EmptyNets() as empty:
        if file is not None:
            path = Path(file)
            raw = data if data is not None else _read(path)
            try:
                return read_file(raw.decode("utf-8"), empty)
            except Exception as e:  # pandapower raises many kinds for a bad file
                raise NetworkError(f"network file {path} is not a pandapower JSON net: {e}") from e
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
        logging.getLogger("pandapower").setLevel(logging.CRITICAL)

    def __exit__(self, *exc: Any) -> None:
        logging.getLogger("pandapower").setLevel(self._level)
        self._w.__exit__(*exc)


def num(value: Any, default: float) -> float:
    """A float from a table cell; ``default`` for None, NaN and text."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return default
    return default if math.isnan(v) else v


def build_network(scenario: Scenario, net: Any | None = None) -> NetworkModel:
    """Prepare the scenario's net and extract its DC model; errors name the field.

    Without a ``net`` given, the arrays come from the local cache when it has them
    (``planner.netcache``), and go into it when it does not.
    """
    from planner import netcache
    from planner.network_arrays import extract_grid

    data = file_bytes(scenario.network.file) if net is None else None  # read once per run
    key = netcache.cache_key(scenario, data) if net is None else None
    hit = netcache.load(key) if key else None
    if hit is not None:
        grid, islands, ac_gen_index = hit
        netcache.attach_specs(grid, scenario)
        loader = lambda: prepared_net(scenario, data=data)[0]  # noqa: E731 - the same bytes
        return NetworkModel(None, grid, ac_gen_index, islands, loader)
    prepared, ac_gen_index, islands, notes = prepared_net(scenario, net, data=data)
    grid = extract_grid(scenario, prepared)
    grid.notes = sorted(set(grid.notes + notes))
    if key:
        netcache.store(key, grid, islands, ac_gen_index)
    return NetworkModel(prepared, grid, ac_gen_index, islands)


def prepared_net(
    scenario: Scenario, net: Any | None = None, *, data: bytes | None = None
) -> tuple[Any, dict[str, int], dict[int, int], list[str]]:
    """The scenario's net, checked against the scenario, with its units added and one
    reference per powered island: (net, AC gen rows, bus -> island, notes). ``data``: the
    network file's bytes when this run has read them already."""
    spec = scenario.network
    base = load_net(spec.case, spec.file, data) if net is None else copy.deepcopy(net)
    what = spec.case or (spec.file.name if spec.file else "network")
    check_references(scenario, base, what)
    prepared, ac_gen_index = prepare(scenario, base)
    islands = bus_islands(prepared)
    notes = one_slack_per_island(prepared, islands)
    return prepared, ac_gen_index, islands, notes


#: The tables the planner reads; each must be a table in the net (a file can hold anything).
TABLES = ("bus", "line", "trafo", "load", "sgen", "gen", "ext_grid", "storage")


def check_tables(net: Any, what: str) -> None:
    """Each table the planner reads is a table: a hand-edited file with ``"bus": null``
    gets a message naming the table, not an error from deep inside pandas."""
    import pandas as pd  # type: ignore[import-untyped]

    for name in TABLES:
        table = net.get(name) if hasattr(net, "get") else None
        if name == "bus" and table is None:
            raise NetworkError(f"{what} has no bus table: not a usable pandapower net")
        if table is not None and not isinstance(table, pd.DataFrame):
            raise NetworkError(
                f"{what}: its {name!r} table is a {type(table).__name__}, not a table "
                "(the file was edited or written by something else than pandapower)"
            )


def check_references(scenario: Scenario, net: Any, what: str) -> None:
    """Every bus, unit, load and battery the scenario names exists in the net."""
    check_tables(net, what)
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
    storage = net.get("storage")
    for i, bat in enumerate(scenario.batteries):
        if storage is None or bat.index not in storage.index:
            have = 0 if storage is None else len(storage)
            raise NetworkError(
                f"field storage[{i}].index: {what} has no storage {bat.index} (it has {have})"
            )


def _span(index: Any) -> str:
    values = list(index)
    if not values:
        return "none"
    return f"{min(values)}..{max(values)}"


def prepare(scenario: Scenario, net: Any) -> tuple[Any, dict[str, int]]:
    """The net with the scenario's units added, ratings filled in and islanding applied."""
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
        net.load["controllable"] = False
        for table in ("sgen", "storage"):
            if table in net and len(net[table]):
                net[table]["controllable"] = False
        if len(net.gen):
            net.gen["controllable"] = True
    return net, ac_gen_index


def bus_islands(net: Any) -> dict[int, int]:
    """The island of every in-service pandapower bus, over every in-service connection.

    Read from pandapower's own conversion (so switches, three-winding transformers and
    impedances connect exactly as pandapower sees them), before any island is dropped.
    """
    from pandapower.auxiliary import _init_rundcopp_options
    from pandapower.pd2ppc import _pd2ppc
    from pandapower.pypower.idx_brch import BR_STATUS, F_BUS, T_BUS
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    work = copy.deepcopy(net)
    if len(work.gen):  # any reference will do here: the conversion insists on one
        work.gen["slack"] = work.gen["slack"] | work.gen["in_service"].astype(bool)
    if not (work.ext_grid.in_service.astype(bool).any() or work.gen.slack.astype(bool).any()):
        return {}  # no genset or grid connection anywhere: every load is unreachable
    with _quiet():
        try:
            _init_rundcopp_options(
                work,
                check_connectivity=False,
                switch_rx_ratio=0.5,
                delta=1e-10,
                trafo3w_losses="hv",
            )
            ppc, _ = _pd2ppc(work)
        except Exception as e:
            raise NetworkError(f"pandapower could not convert the network: {e}") from e
    n = ppc["bus"].shape[0]
    live = np.real(ppc["branch"][:, BR_STATUS]) == 1
    f = np.real(ppc["branch"][live, F_BUS]).astype(int)
    t = np.real(ppc["branch"][live, T_BUS]).astype(int)
    labels = connected_components(coo_matrix((np.ones(len(f)), (f, t)), shape=(n, n)), False)[1]
    lookup = np.asarray(work._pd2ppc_lookups["bus"])
    out: dict[int, int] = {}
    for b, on in zip(net.bus.index, net.bus.in_service, strict=True):
        if bool(on) and 0 <= int(lookup[int(b)]) < n:
            out[int(b)] = int(labels[int(lookup[int(b)])])
    return out


def one_slack_per_island(net: Any, islands: dict[int, int]) -> list[str]:
    """Give every island with a genset but no slack its largest genset as the reference.

    pandapower keeps only islands reachable from a slack (and demotes all but one slack
    per island); without this, a second island with its own genset would vanish.
    """
    with_slack = {
        islands[int(b)]
        for b, on in zip(net.ext_grid.bus, net.ext_grid.in_service, strict=True)
        if bool(on) and int(b) in islands
    }
    gens = net.gen[net.gen.in_service.astype(bool)]
    with_slack |= {islands[int(b)] for b in gens.bus[gens.slack.astype(bool)] if int(b) in islands}
    best: dict[int, tuple[float, int]] = {}
    for idx, row in gens.iterrows():
        isl = islands.get(int(row.bus))
        if isl is None or isl in with_slack:
            continue
        cap = num(row.get("max_p_mw"), num(row.p_mw, 0.0))
        if isl not in best or (-cap, int(idx)) < (-best[isl][0], best[isl][1]):
            best[isl] = (cap, int(idx))
    for _, idx in sorted(best.values(), key=lambda v: v[1]):
        net.gen.at[idx, "slack"] = True
    powered = len(best) + len(with_slack)
    if powered > 1:
        return [f"the network is in {powered} powered islands, each planned with its own balance"]
    return []


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
