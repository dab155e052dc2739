"""A restoration problem as plain data: buses, branches, units and load blocks.

Built from the planner's DC arrays (``planner.grid.Grid``), so buses joined by closed
switches are one bus here as in the plan, and every load and unit of the scenario is
accounted for: a block or unit no generation can ever reach is listed as such, never
dropped. Pure: no pandapower, no solver.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from planner.errors import ScenarioError
from planner.grid import Grid, Unit
from planner.scenario import Scenario

CRANKING_SHARE = 0.05  # default cranking power: 5 % of a unit's rating


@dataclass(frozen=True)
class RUnit:
    name: str
    bus: int  # internal bus
    p_max_mw: float
    black_start: bool
    cranking_mw: float
    step_mw: float  # the largest load step it accepts at once (block loading)


@dataclass(frozen=True)
class RBlock:
    name: str
    loads: tuple[str, ...]
    tier: int
    demand_mw: dict[int, float]  # internal bus -> MW (at the highest demand of the window)
    cold_factor: float
    cold_steps: int
    classes: tuple[str, ...]
    rows: tuple[int, ...] = ()  # net.load row of each load
    load_mw: tuple[float, ...] = ()  # MW of each load (at the highest demand of the window)

    @property
    def p_mw(self) -> float:
        return float(sum(self.demand_mw.values()))


@dataclass
class RestoreCase:
    n_bus: int
    bus_names: list[str]
    branch_from: np.ndarray
    branch_to: np.ndarray
    branch_rate_mw: np.ndarray  # inf: unlimited
    branch_names: list[str]
    fixed_mw: np.ndarray  # per bus, drawn once the bus is live (wards, shunts)
    units: list[RUnit]
    blocks: list[RBlock]
    steps: int
    step_minutes: float
    blocks_per_step: int
    reserve: float = 0.0  # share of the demand kept as spinning reserve (0.1 = 10 %)
    unreachable_blocks: list[str] = field(default_factory=list)
    idle_units: list[str] = field(default_factory=list)  # cannot take part, and why

    @cached_property
    def parts(self) -> np.ndarray:
        """Part number per bus over every branch (see ``reach_of``)."""
        return _parts(self)

    @property
    def step_hours(self) -> float:
        return self.step_minutes / 60.0


def build_case(scenario: Scenario, grid: Grid, steps: int | None = None) -> RestoreCase:
    """The restoration problem of ``scenario`` on its DC arrays (``steps`` overrides)."""
    spec = scenario.restore
    units, idle = _units(scenario, grid)
    blocks, unreachable = _blocks(scenario, grid, steps)
    case = RestoreCase(
        n_bus=grid.n_bus,
        bus_names=list(grid.bus_names),
        branch_from=np.asarray(grid.branch_from, dtype=int),
        branch_to=np.asarray(grid.branch_to, dtype=int),
        branch_rate_mw=np.minimum(np.asarray(grid.branch_rate_mw, dtype=float), transfer_mw(grid)),
        branch_names=list(grid.branch_names),
        fixed_mw=np.maximum(np.asarray(grid.fixed_demand_mw, dtype=float), 0.0),
        units=units,
        blocks=blocks,
        steps=int(steps or spec.steps or 1),
        step_minutes=spec.step_minutes,
        blocks_per_step=spec.blocks_per_step,
        reserve=spec.reserve_pct / 100.0,
        unreachable_blocks=unreachable,
        idle_units=idle,
    )
    _drop_unpowered(case)
    if not (steps or spec.steps):  # one step per block that can ever close, and three
        case.steps = usual_steps(case)
    return case


#: The largest angle across one branch the order may plan a flow for (see ``transfer_mw``).
#: Measured on case118-72h's greedy order (99 switching steps; main: AC inconclusive at
#: 52, tier-1 energy 11,112 MWh): 30 deg -> 45 inconclusive; 20 deg -> 19, tier 1
#: 10,844 MWh; 17.5 deg -> 1, 9,855 MWh; 15 deg -> 5, 7,922 MWh. A path of two or three
#: branches at 20 deg each stays under 60 deg; the island microgrid and three-bases
#: never reach it (their ratings are lower): their orders are unchanged.
MAX_ANGLE_DEG = 20.0


def transfer_mw(grid: Grid) -> np.ndarray:
    """Per branch, the most it carries in AC at ``MAX_ANGLE_DEG`` across it: V^2/X x
    sin(angle) at 1 pu. The order is a transport model: without this, a network whose
    ratings are placeholders (case118: 9,900 MW each) gets flows that no AC power flow
    carries (review 22c C2: in a DC power flow of the order's own set-points, the steps
    that did not converge had 40-137 deg across one line, the others 2-63 deg). Where
    the rating is lower it stays the limit; a branch without reactance has none."""
    b = np.abs(grid.Bf).max(axis=1)
    b = np.asarray(b.todense() if hasattr(b, "todense") else b, dtype=float).ravel()
    with np.errstate(invalid="ignore"):
        limit = grid.base_mva * b * math.sin(math.radians(MAX_ANGLE_DEG))
    return np.where(np.isfinite(limit) & (limit > 0), limit, np.inf)


def _never_cranked(case: RestoreCase) -> list[tuple[RUnit, float]]:
    """Units that are not black start whose cranking power no units that can start
    before them take in one step, with that room: they never start."""
    started = {id(u) for u in case.units if u.black_start}
    waiting = [u for u in case.units if id(u) not in started]
    room: dict[int, float] = {}
    changed = True
    while changed:
        changed = False
        for unit in waiting:
            reach = reach_of(case, unit.bus)
            room[id(unit)] = sum(
                u.step_mw for u in case.units if id(u) in started and u.bus in reach
            )
            if id(unit) not in started and unit.cranking_mw <= room[id(unit)] + 1e-9:
                started.add(id(unit))
                changed = True
    return [(u, room[id(u)]) for u in waiting if id(u) not in started]


def _drop_unpowered(case: RestoreCase) -> None:
    """Units and blocks in a part of the network with no black-start unit: nothing can
    ever energise them. The blocks are listed as unreachable, the units as idle, with
    the reason and what to do."""
    starters = {u.bus for u in case.units if u.black_start}
    if not starters:
        return  # nothing at all can start: the caller says so
    powered = set().union(*(reach_of(case, b) for b in sorted(starters)))
    for unit in [u for u in case.units if u.bus not in powered]:
        case.units.remove(unit)
        case.idle_units.append(
            f"{unit.name}: cannot start: no black-start unit can energise its bus "
            "(name one of its part of the network in [restore] black_start)"
        )
    for unit, room in _never_cranked(case):
        case.units.remove(unit)
        case.idle_units.append(
            f"{unit.name}: cannot start: its cranking power ({unit.cranking_mw:g} MW) is "
            f"more than the units that can start before it take in one step ({room:g} MW)"
        )
    for block in [b for b in case.blocks if not set(b.demand_mw) <= powered]:
        case.blocks.remove(block)
        case.unreachable_blocks.append(block.name)
    case.idle_units.sort()
    case.unreachable_blocks.sort()


def adjacency(case: RestoreCase, use: np.ndarray | None = None) -> dict[int, list[tuple[int, int]]]:
    """Bus -> [(neighbour bus, branch)], sorted, over the branches ``use`` marks (all when
    None): every search in the order walks the same lists, the same on every laptop."""
    adj: dict[int, list[tuple[int, int]]] = {}
    for k, (f, t) in enumerate(zip(case.branch_from, case.branch_to, strict=True)):
        if use is None or use[k]:
            adj.setdefault(int(f), []).append((int(t), k))
            adj.setdefault(int(t), []).append((int(f), k))
    for links in adj.values():
        links.sort()
    return adj


def reach_of(case: RestoreCase, bus: int) -> set[int]:
    """The buses joined to ``bus`` by branches (closed or not)."""
    part = case.parts
    return {int(b) for b in np.flatnonzero(part == part[bus])}


def _parts(case: RestoreCase) -> np.ndarray:
    """Part number per bus over every branch (closed or not): the network never changes
    during an order, so every reach question is a look-up in this."""
    out = np.full(case.n_bus, -1, dtype=int)
    adj = adjacency(case)
    for start in range(case.n_bus):
        if out[start] >= 0:
            continue
        out[start], todo = start, [start]
        while todo:
            for nxt, _ in adj.get(todo.pop(), ()):
                if out[nxt] < 0:
                    out[nxt] = start
                    todo.append(nxt)
    return out


def never_fit(case: RestoreCase) -> list[int]:
    """Blocks whose pickup (cold load included) is more than the steps of every unit that
    could ever reach them: no order can close them."""
    out = []
    for j, block in enumerate(case.blocks):
        reach = reach_of(case, next(iter(block.demand_mw)))
        room = sum(u.step_mw for u in case.units if u.bus in reach)
        if block.p_mw * (block.cold_factor if block.cold_steps else 1.0) > room + 1e-9:
            out.append(j)
    return out


def loading_cap(case: RestoreCase, p_max_mw: float) -> float:
    """The most a running unit carries: its rating less the spinning reserve, so every
    island keeps ``reserve`` of what it draws in spare rating."""
    return p_max_mw / (1.0 + case.reserve)


def usual_steps(case: RestoreCase) -> int:
    """The default horizon: a step for every block that can ever close, and three for
    units and paths."""
    n_blocks = len(case.blocks) - len(never_fit(case))
    return min(200, math.ceil(max(1, n_blocks) / case.blocks_per_step) + 3)


def _idle_reason(u: Unit) -> str | None:
    """Why a unit of the network takes no part in the order (None: it does)."""
    if u.role or u.element == "load":
        return "a battery or negative load rejoins once the island is stable, after the order"
    if u.curtailable:
        return "a PV/inverter unit rejoins once the island is stable, after the order"
    if not u.in_service:
        return "it is out of service in the network"
    if not u.reachable:
        return "its bus is not connected to the network"
    if not (u.p_max_mw > 0 and math.isfinite(u.p_max_mw)):
        return "it has no capacity (p_max_mw)"
    return None


def _resolve(scenario: Scenario, grid: Grid) -> None:
    """Unit names of ``[restore]`` that are not in [[generators]]: a unit of the network
    itself may be named (it takes part like any other), unless it cannot take part."""
    spec = scenario.restore
    mine = {u.name: u for u in grid.units}
    for name, key in spec.unresolved:
        where = spec.where.get(key) or f"{scenario.name}: field restore.{key}"
        if name not in mine:
            raise ScenarioError(f"{where}: no unit named {name!r} in the scenario or its network")
        why = _idle_reason(mine[name])
        if why:
            raise ScenarioError(f"{where}: {name!r} takes no part in the order: {why}")


def _units(scenario: Scenario, grid: Grid) -> tuple[list[RUnit], list[str]]:
    spec = scenario.restore
    _resolve(scenario, grid)
    named = set(spec.black_start or ())
    out: list[RUnit] = []
    idle: list[str] = []
    for u in grid.units:
        if u.role or u.element == "load":
            continue  # batteries and negative loads rejoin after the island is stable
        if u.curtailable:
            idle.append(f"{u.name}: PV/inverter, rejoins once the island is stable")
            continue
        if (
            not u.in_service
            or not u.reachable
            or not u.p_max_mw > 0
            or not math.isfinite(u.p_max_mw)
        ):
            idle.append(f"{u.name}: out of service, unreachable or without capacity")
            continue
        own = spec.units.get(u.name)
        if own is not None and own.black_start is not None:
            black = own.black_start
        elif spec.black_start is not None:  # written, even empty: only those named
            black = u.name in named
        else:
            black = u.element == "ext_grid" or bool(
                u.spec and (u.spec.fuelled or u.spec.element == "new")
            )
        pct = (own.block_load_pct if own and own.block_load_pct else None) or spec.block_load_pct
        crank = own.cranking_mw if own and own.cranking_mw is not None else None
        if crank is None:
            crank = 0.0 if black else CRANKING_SHARE * u.p_max_mw
        elif crank > u.p_max_mw:
            key = f"units.{u.name}.cranking_mw"
            where = spec.where.get(key) or f"{scenario.name}: field restore.{key}"
            raise ScenarioError(
                f"{where}: {crank:g} MW is "
                f"more than the unit's own rating ({u.p_max_mw:g} MW); cranking power is a "
                "small share of it"
            )
        out.append(RUnit(u.name, u.bus, u.p_max_mw, black, crank, pct / 100.0 * u.p_max_mw))
    out.sort(key=lambda r: r.name)
    return out, sorted(idle)


def _demand_factor(scenario: Scenario, profile: str | None, hours: float) -> float:
    """The highest profile value over the restoration window (at least its first hour)."""
    n = max(1, math.ceil(hours / scenario.horizon.hours_per_period))
    values = scenario.profile_values(profile, min(n, scenario.horizon.periods))
    return float(max(values)) if len(values) else 1.0


def _blocks(
    scenario: Scenario, grid: Grid, steps: int | None = None
) -> tuple[list[RBlock], list[str]]:
    """Load blocks at their highest demand over the whole horizon of the order (by
    default one step per load and three: never shorter than what the order can use)."""
    spec = scenario.restore
    declared = {ld.index: ld for ld in scenario.loads}
    horizon = steps or spec.steps or min(200, len(grid.loads) + 3)
    window_h = horizon * spec.step_minutes / 60.0
    rows: dict[str, tuple[int, float, int, str, int]] = {}  # name -> (bus, MW, tier, class, row)
    for nl in grid.loads:
        if not nl.in_service or nl.p_mw <= 0:
            continue
        d = declared.get(nl.index)
        tier = d.tier if d else scenario.policy.default_tier
        mw = nl.p_mw * _demand_factor(scenario, d.profile if d else None, window_h)
        rows[nl.name] = (nl.bus, mw, tier, spec.class_of(nl.name, tier), nl.index)
    groups = [(b.name, b.loads) for b in spec.blocks]
    grouped = {m for _, members in groups for m in members}
    groups += [(name, (name,)) for name in sorted(rows) if name not in grouped]
    blocks: list[RBlock] = []
    unreachable: list[str] = []
    for name, members in groups:
        present = [m for m in members if m in rows]
        if not present:
            continue
        if any(rows[m][0] < 0 for m in present):
            unreachable.append(name)
            continue
        blocks.append(_block(name, present, rows, spec.cold_load, spec.step_minutes))
    blocks.sort(key=lambda b: (b.tier, b.name))
    return blocks, sorted(unreachable)


def _block(
    name: str,
    members: list[str],
    rows: dict[str, tuple[int, float, int, str, int]],
    cold: dict[str, tuple[float, float]],
    step_minutes: float,
) -> RBlock:
    demand: dict[int, float] = {}
    for m in members:
        bus, mw = rows[m][0], rows[m][1]
        demand[bus] = demand.get(bus, 0.0) + mw
    classes = tuple(sorted({rows[m][3] for m in members}))
    tiers = {rows[m][2] for m in members}
    if len(tiers) > 1:
        raise ScenarioError(
            f"restore block {name!r} mixes tiers {sorted(tiers)}: a block is one tier"
        )
    factor = max(cold[c][0] for c in classes)
    minutes = max(cold[c][1] for c in classes)
    steps = math.ceil(minutes / step_minutes - 1e-9) if factor > 1.0 else 0
    return RBlock(
        name,
        tuple(members),
        tiers.pop(),
        demand,
        factor,
        steps,
        classes,
        rows=tuple(rows[m][4] for m in members),
        load_mw=tuple(rows[m][1] for m in members),
    )
