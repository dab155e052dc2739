"""Reading a scenario file: TOML in, a validated ``Scenario`` out, or a field-named error.

Loading is pure (stdlib only): every problem is a ``ScenarioError`` naming the
field, and the line when it can be found, so an operator can fix the file at
night without a traceback. Checks that need the network (does load 12 exist?)
happen when the network is loaded (``planner.network``), still before solving.
"""

from __future__ import annotations

import csv
import math
import tomllib
from pathlib import Path
from typing import Any

from planner.errors import ScenarioError
from planner.restore_spec import read_restore
from planner.scenario import (
    ELEMENTS,
    LIMIT_MODES,
    TIERS,
    Battery,
    Generator,
    Horizon,
    Load,
    NetworkSpec,
    Policy,
    Preference,
    Route,
    Scenario,
    Site,
    Tank,
)
from planner.scenario_reader import _Locator, _Reader

MAX_PERIODS = 10_000  # a year of hours is 8,784: more is a typo, and would not fit in memory


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; ``ScenarioError`` names the field and line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")  # a byte-order mark from Windows editors
    except OSError as e:
        raise ScenarioError(f"cannot read scenario file {p}: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise ScenarioError(f"{p.name}: not UTF-8 text ({e.reason})") from e
    return parse_scenario(text, name=p.name, base_dir=p.parent, source=p)


def parse_scenario(
    text: str,
    *,
    name: str = "scenario.toml",
    base_dir: Path | None = None,
    source: Path | None = None,
) -> Scenario:
    """Validate scenario TOML text (``base_dir`` resolves network and CSV paths)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{name}: not valid TOML: {e}") from e
    base = base_dir or Path(".")
    root = _Reader(data, "", _Locator(text), name)

    meta = root.sub("scenario", root.table("scenario", required=True))
    sc_name = meta.text("name", required=True)
    description = meta.text("description") or ""
    meta.finish()

    network = _read_network(root.sub("network", root.table("network", required=True)), base)
    horizon = _read_horizon(root.sub("horizon", root.table("horizon", required=True)))
    policy = _read_policy(root.sub("policy", root.table("policy")))
    profiles = _read_profiles(root.sub("profiles", root.table("profiles")), base)

    sites = _read_places(root)
    generators: list[Generator] = []
    not_in_order: dict[str, str] = {}  # names [restore.units] cannot take, and why
    for i, t in enumerate(root.tables("generators")):
        group = _read_generator(root.sub("generators", t, i), sites, profiles)
        generators.extend(group)
        not_in_order.update(_not_in_order(t.get("name"), group))
    _unique(root, "generators", [g.name for g in generators], "generator name")
    loads: list[Load] = []
    for i, t in enumerate(root.tables("loads")):
        loads.extend(_read_load(root.sub("loads", t, i), policy, profiles))
    _unique(root, "loads", [ld.name for ld in loads], "load name")
    _unique(root, "loads", [str(ld.index) for ld in loads], "load index (each net load once)")
    routes = [
        _read_route(root.sub("routes", t, i), sites) for i, t in enumerate(root.tables("routes"))
    ]
    _unique(root, "routes", [r.name for r in routes], "route name")
    batteries = [
        _read_battery(root.sub("storage", t, i)) for i, t in enumerate(root.tables("storage"))
    ]
    _unique(root, "storage", [b.name for b in batteries], "storage name")
    _unique(root, "storage", [str(b.index) for b in batteries], "storage index")
    restore = read_restore(
        root, [g.name for g in generators], {ld.name: ld.tier for ld in loads}, not_in_order
    )
    preferences = [
        _read_preference(root.sub("preferences", t, i), sites, loads)
        for i, t in enumerate(root.tables("preferences"))
    ]
    _unique(root, "preferences", [p.site for p in preferences], "site (one order per site)")
    root.finish()
    return Scenario(
        name=sc_name,
        description=description,
        network=network,
        horizon=horizon,
        policy=policy,
        sites=tuple(sites),
        generators=tuple(generators),
        loads=tuple(loads),
        routes=tuple(routes),
        profiles=profiles,
        source=source,
        batteries=tuple(batteries),
        restore=restore,
        preferences=tuple(preferences),
    )


def _read_preference(r: _Reader, sites: list[Site], loads: list[Load]) -> Preference:
    site = r.text("site", required=True)
    if site not in {s.name for s in sites if s.kind == "site"}:
        raise r.fail("site", f"no site named {site!r} in [[sites]]")
    rank = r._get("rank", None, True)
    names = {ld.name for ld in loads}
    if not isinstance(rank, list) or not rank or any(not isinstance(x, str) for x in rank):
        raise r.fail("rank", "must be a list of load names, most important first")
    for x in rank:
        if x not in names:
            raise r.fail("rank", f"no load named {x!r} in [[loads]]")
    if len(set(rank)) != len(rank):
        raise r.fail("rank", "names a load twice")
    r.finish()
    return Preference(site, tuple(rank))


def _read_places(root: _Reader) -> list[Site]:
    sites = [_read_site(root.sub("sites", t, i)) for i, t in enumerate(root.tables("sites"))]
    sites += [_read_depot(root.sub("depots", t, i)) for i, t in enumerate(root.tables("depots"))]
    _unique(root, "sites", [s.name for s in sites], "site/depot name")
    return sites


def _unique(root: _Reader, table: str, names: list[str], what: str) -> None:
    seen: set[str] = set()
    for i, n in enumerate(names):
        if n in seen:
            raise root.sub(table, {}, None).fail(None, f"duplicate {what} {n!r} (entry {i})")
        seen.add(n)


def _read_network(r: _Reader, base: Path) -> NetworkSpec:
    case = r.text("case")
    file = r.text("file")
    if (case is None) == (file is None):
        raise r.fail("case", 'give exactly one of case = "case118" or file = "grid.json"')
    spec = NetworkSpec(
        case=case,
        file=(base / file) if file else None,
        islanded=r.flag("islanded", False),
        branch_limits=r.choice("branch_limits", LIMIT_MODES, "enforce"),
        transformer_limits=r.choice("transformer_limits", LIMIT_MODES, "enforce"),
        limit_factor=r.num("limit_factor", 1.0, lo=0.0, lo_open=True, hi=10.0),
        loss_allowance=r.num("loss_allowance", 0.0, lo=0.0, hi=0.5),
    )
    r.finish()
    return spec


def _read_horizon(r: _Reader) -> Horizon:
    h = Horizon(
        periods=r.whole("periods", required=True, lo=1, hi=MAX_PERIODS),
        hours_per_period=r.num("hours_per_period", 1.0, lo=0.0, lo_open=True, hi=168.0),
        start=r.text("start"),
    )
    if h.start is not None:
        from datetime import datetime

        try:
            datetime.fromisoformat(h.start)
        except ValueError as e:
            raise r.fail(
                "start", f'must be an ISO time like "2025-09-14T06:00", got {h.start!r}'
            ) from e
    r.finish()
    return h


def _read_policy(r: _Reader) -> Policy:
    weights = r._get("tier_weights", [100.0, 10.0, 1.0], False)
    if (
        not isinstance(weights, list)
        or len(weights) != 3
        or any(isinstance(w, bool) or not isinstance(w, int | float) or w <= 0 for w in weights)
    ):
        raise r.fail("tier_weights", "must be three positive numbers, e.g. [100, 10, 1]")
    tier = r.whole("default_tier", 3, lo=1)
    if tier not in TIERS:
        raise r.fail("default_tier", "must be 1, 2 or 3")
    p = Policy(
        strict_tiers=r.flag("strict_tiers", True),
        fairness=r.flag("fairness", True),
        fuel_conservation_weight=r.num("fuel_conservation_weight", 0.0, lo=0.0),
        reserve_margin=r.num("reserve_margin", 0.0, lo=0.0, hi=1.0),
        tier_weights=(float(weights[0]), float(weights[1]), float(weights[2])),
        default_tier=tier,
        default_community=r.text("default_community", "general"),
    )
    r.finish()
    return p


def _read_profiles(r: _Reader, base: Path) -> dict[str, tuple[float, ...]]:
    out: dict[str, tuple[float, ...]] = {"flat": (1.0,)}
    for key in sorted(r.data):
        r.used.add(key)
        v = r.data[key]
        if isinstance(v, list):
            values = v
        elif isinstance(v, dict):
            sub = r.sub(key, v)
            csv_name = sub.text("csv", required=True)
            column = sub.text("column", required=True)
            sub.finish()
            values = _read_csv_column(base / csv_name, column, sub)
        else:
            raise r.fail(key, "must be a list of multipliers or { csv = ..., column = ... }")
        if not values or any(
            isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x) or x < 0
            for x in values
        ):
            raise r.fail(key, "must hold at least one multiplier, each a number >= 0")
        out[key] = tuple(float(x) for x in values)
    return out


def _read_csv_column(path: Path, column: str, r: _Reader) -> list[float]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except OSError as e:
        raise r.fail("csv", f"cannot read {path.name}: {e.strerror or e}") from e
    if not rows or column not in rows[0]:
        raise r.fail("column", f"{path.name} has no column {column!r}")
    values: list[float] = []
    for i, row in enumerate(rows, start=2):
        try:
            values.append(float(row[column]))
        except (TypeError, ValueError) as e:
            raise r.fail("column", f"{path.name} line {i}: {row[column]!r} is not a number") from e
    return values


def _read_tank(r: _Reader, site: str) -> Tank:
    cap = r.num("capacity_litres", required=True, lo=0.0, lo_open=True)
    init = r.num("initial_litres", required=True, lo=0.0)
    reserve = r.num("reserve_litres", 0.0, lo=0.0)
    if init > cap:
        raise r.fail("initial_litres", f"{init:g} L is more than capacity_litres {cap:g} L")
    if reserve > cap:
        raise r.fail("reserve_litres", f"{reserve:g} L is more than capacity_litres {cap:g} L")
    name = r.text("name", "main")
    if "/" in name:
        raise r.fail("name", "must not contain '/' (tanks are named site/tank)")
    t = Tank(
        name=name,
        site=site,
        fuel=r.text("fuel", "diesel"),
        capacity_litres=cap,
        initial_litres=init,
        reserve_litres=reserve,
    )
    r.finish()
    return t


def _read_site(r: _Reader) -> Site:
    name = r.text("name", required=True)
    if "/" in name:
        raise r.fail("name", "must not contain '/' (used in site/tank keys)")
    buses = r.int_or_list("buses") or []
    tanks = tuple(_read_tank(r.sub("tanks", t, i), name) for i, t in enumerate(r.tables("tanks")))
    if len({t.name for t in tanks}) != len(tanks):
        raise r.fail("tanks", "tank names must be unique within a site")
    r.finish()
    return Site(name=name, kind="site", buses=tuple(buses), tanks=tanks)


def _read_depot(r: _Reader) -> Site:
    name = r.text("name", required=True)
    if "/" in name:
        raise r.fail("name", "must not contain '/' (used in site/tank keys)")
    init = r.num("initial_litres", required=True, lo=0.0)
    cap = r.num("capacity_litres", max(init, 1.0), lo=0.0, lo_open=True)
    if init > cap:
        raise r.fail("initial_litres", f"{init:g} L is more than capacity_litres {cap:g} L")
    resupply_raw = r._get("resupply_litres", [], False)
    if isinstance(resupply_raw, int | float) and not isinstance(resupply_raw, bool):
        resupply_raw = [resupply_raw]
    if not isinstance(resupply_raw, list) or any(
        isinstance(x, bool) or not isinstance(x, int | float) or x < 0 for x in resupply_raw
    ):
        raise r.fail("resupply_litres", "must be litres per period (a number or a list, >= 0)")
    tank = Tank(
        name="stock",
        site=name,
        fuel=r.text("fuel", "diesel"),
        capacity_litres=cap,
        initial_litres=init,
        reserve_litres=r.num("reserve_litres", 0.0, lo=0.0),
    )
    r.finish()
    return Site(
        name=name,
        kind="depot",
        tanks=(tank,),
        resupply_litres=tuple(float(x) for x in resupply_raw),
    )


def _resolve_tank(r: _Reader, key: str, site: Site, tank: str | None, fuel: str) -> str:
    if tank is not None:
        match = [t for t in site.tanks if t.name == tank]
        if not match:
            raise r.fail(key, f"site {site.name!r} has no tank {tank!r}")
        if match[0].fuel != fuel:
            raise r.fail(key, f"tank {site.name}/{tank} holds {match[0].fuel}, not {fuel}")
        return tank
    match = [t for t in site.tanks if t.fuel == fuel]
    if len(match) != 1:
        what = "no" if not match else "more than one"
        raise r.fail(key, f"site {site.name!r} has {what} {fuel} tank; name it with {key} = ...")
    return match[0].name


def _read_generator(r: _Reader, sites: list[Site], profiles: dict[str, Any]) -> list[Generator]:
    name = r.text("name", required=True)
    element = r.choice("element", ELEMENTS, "new")
    indices = r.int_or_list("index")
    bus = r.whole("bus")
    site_name = r.text("site")
    fuel = r.text("fuel")
    tank = r.text("tank")
    profile = r.text("profile")
    kw = {
        "no_load_lph": r.num("no_load_lph", 0.0, lo=0.0),
        "lph_per_mw": r.num("lph_per_mw", 0.0, lo=0.0),
        "min_stable_mw": r.num("min_stable_mw", 0.0, lo=0.0),
        "p_max_mw": r.num("p_max_mw", None, lo=0.0),
        "p_min_mw": r.num("p_min_mw", None),
        "vm_pu": r.num("vm_pu", 1.0, lo=0.8, hi=1.2),
    }
    r.finish()
    _check_placement(r, element, indices, bus, kw["p_max_mw"])
    if kw["p_max_mw"] is not None and kw["min_stable_mw"] > kw["p_max_mw"]:
        raise r.fail("min_stable_mw", "is more than p_max_mw")
    if profile is not None and profile not in profiles:
        raise r.fail("profile", f"no profile {profile!r} in [profiles]")
    tank_name = _fuel_tank(r, sites, site_name, fuel, tank, kw["lph_per_mw"])
    out: list[Generator] = []
    for idx in indices if indices is not None else [None]:
        out.append(
            Generator(
                name=name if indices is None or len(indices) == 1 else f"{name}{idx}",
                site=site_name,
                element=element,
                index=idx,
                bus=bus,
                fuel=fuel,
                tank=tank_name,
                profile=profile,
                **kw,
            )
        )
    return out


def _not_in_order(group: Any, gens: list[Generator]) -> dict[str, str]:
    """Generator names a ``[restore.units]`` entry cannot name, and why."""
    out: dict[str, str] = {}
    for g in gens:
        if g.element == "sgen" and not g.fuelled:
            out[g.name] = "a PV/inverter unit rejoins once the island is stable, after the order"
    if len(gens) > 1 and isinstance(group, str):
        out[group] = out.get(gens[0].name) or (
            f"it names {len(gens)} generators ({gens[0].name} to {gens[-1].name}): name one of them"
        )
    return out


def _check_placement(
    r: _Reader, element: str, indices: list[int] | None, bus: int | None, p_max: float | None
) -> None:
    """A new unit has a bus and a rating; an existing one an index (and no bus)."""
    if element == "new":
        if bus is None:
            raise r.fail("bus", 'a new unit (element = "new") needs the bus it connects to')
        if p_max is None:
            raise r.fail("p_max_mw", "a new unit needs its rating in MW")
        if indices is not None:
            raise r.fail(
                "index", 'only existing units (element = "gen", "sgen", "ext_grid") have an index'
            )
        return
    if indices is None:
        raise r.fail("index", f"which {element}? give index = N (the row in net.{element})")
    if bus is not None:
        raise r.fail("bus", "an existing unit's bus comes from the network; drop bus =")


def _fuel_tank(
    r: _Reader,
    sites: list[Site],
    site_name: str | None,
    fuel: str | None,
    tank: str | None,
    lph_per_mw: float,
) -> str | None:
    """The tank a fuelled unit burns from (None for a unit without fuel)."""
    if fuel is None:
        if tank is not None:
            raise r.fail("tank", "give fuel = ... as well (a unit without fuel has no tank)")
        if site_name is not None and not any(s.name == site_name for s in sites):
            raise r.fail("site", f"no site named {site_name!r} in [[sites]]")
        return None
    if site_name is None:
        raise r.fail("site", "a fuelled unit needs the site whose tank feeds it")
    site = next((s for s in sites if s.name == site_name and s.kind == "site"), None)
    if site is None:
        raise r.fail("site", f"no site named {site_name!r} in [[sites]]")
    if lph_per_mw <= 0:
        raise r.fail("lph_per_mw", "a fuelled unit needs its fuel use per MW (litres per MWh)")
    return _resolve_tank(r, "tank", site, tank, fuel)


def _read_load(r: _Reader, policy: Policy, profiles: dict[str, Any]) -> list[Load]:
    indices = r.int_or_list("index", required=True)
    assert indices is not None
    name = r.text("name")
    tier = r.whole("tier", policy.default_tier, lo=1)
    if tier not in TIERS:
        raise r.fail("tier", f"must be 1 (life safety), 2 (essential) or 3 (general), got {tier}")
    community = r.text("community", policy.default_community)
    profile = r.text("profile")
    if profile is not None and profile not in profiles:
        raise r.fail("profile", f"no profile {profile!r} in [profiles]")
    r.finish()
    out = []
    for idx in indices:
        if name is None:
            n = f"load{idx}"
        elif len(indices) == 1:
            n = name
        else:
            n = f"{name}{idx}"
        out.append(Load(name=n, index=idx, tier=tier, community=community, profile=profile))
    return out


def _read_route(r: _Reader, sites: list[Site]) -> Route:
    name = r.text("name")
    source = r.text("from", required=True)
    target = r.text("to", required=True)
    fuel = r.text("fuel", "diesel")
    by_name = {s.name: s for s in sites}
    if source not in by_name:
        raise r.fail("from", f"no site or depot named {source!r}")
    if target not in by_name:
        raise r.fail("to", f"no site or depot named {target!r}")
    if source == target:
        raise r.fail("to", "a route must go to another place")
    per_trip = r.num("litres_per_trip", required=True, lo=0.0, lo_open=True)
    trips = r.num("trips_per_period", 1.0, lo=0.0)
    # a departure is 0 or at least this: by default half a truck (or all a period can carry)
    min_default = min(0.5 * per_trip, trips * per_trip)
    min_load = r.num("min_litres_per_trip", min_default, lo=0.0)
    if min_load > min(per_trip, trips * per_trip) + 1e-9:
        raise r.fail(
            "min_litres_per_trip",
            f"{min_load:g} L is more than a period can carry "
            f"({min(per_trip, trips * per_trip):g} L: litres_per_trip x trips_per_period)",
        )
    route = Route(
        name=name or f"{source}->{target}",
        source=source,
        target=target,
        fuel=fuel,
        litres_per_trip=per_trip,
        trips_per_period=trips,
        lead_periods=r.whole("lead_periods", 1, lo=0),
        source_tank=_resolve_tank(r, "from_tank", by_name[source], r.text("from_tank"), fuel),
        target_tank=_resolve_tank(r, "to_tank", by_name[target], r.text("to_tank"), fuel),
        min_litres_per_trip=min_load,
    )
    r.finish()
    return route


def shipped_scenarios(folder: Path) -> list[dict[str, Any]]:
    """The scenarios in ``folder`` (plurictl passes the shipped ones), each validated
    (errors shown, not raised). Here, not in ``planner.api``, so that listing them
    imports no numpy."""
    out = []
    for f in sorted(folder.glob("*.toml")):
        try:
            sc = load_scenario(f)
            out.append(
                {
                    "file": str(f),
                    "name": sc.name,
                    "description": sc.description,
                    "network": sc.network.case
                    or (sc.network.file.name if sc.network.file else None),
                    "periods": sc.horizon.periods,
                    "hours_per_period": sc.horizon.hours_per_period,
                    "sites": [s.name for s in sc.sites],
                    "loads": len(sc.loads),
                    "generators": len(sc.generators),
                    "valid": True,
                    "error": None,
                }
            )
        except ScenarioError as e:
            out.append({"file": str(f), "name": f.stem, "valid": False, "error": str(e)})
    return out


def _read_battery(r: _Reader) -> Battery:
    """A ``[[storage]]`` entry: a ``net.storage`` row and what its table cannot say."""
    index = r.whole("index", required=True, lo=0)
    name = r.text("name") or f"storage{index}"
    b = Battery(
        name=name,
        index=index,
        charge_efficiency=r.num("charge_efficiency", 0.95, lo=0.0, lo_open=True, hi=1.0),
        discharge_efficiency=r.num("discharge_efficiency", 0.95, lo=0.0, lo_open=True, hi=1.0),
        initial_percent=r.num("initial_percent", None, lo=0.0, hi=100.0),
        max_charge_mw=r.num("max_charge_mw", None, lo=0.0),
        max_discharge_mw=r.num("max_discharge_mw", None, lo=0.0),
    )
    r.finish()
    return b
