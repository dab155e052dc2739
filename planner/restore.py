"""``plan restore``: the order in which to bring a dead network back, checked step by step.

Greedy order first (the baseline), then the MILP from it (``planner.restore_milp``: it
can only serve as much or more), then an AC power flow on every step that changes
something (``planner.restore_ac``). The result is a plain dict, the same on every
laptop for the same scenario: its ``id`` is the hash of its content.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from planner.api import scenario_hash
from planner.canonical import blake_hex, canonical_bytes, rnd
from planner.errors import ScenarioError
from planner.restore_case import (
    MAX_ANGLE_DEG,
    RestoreCase,
    build_case,
    loading_cap,
    reach_of,
    usual_steps,
)
from planner.restore_greedy import Schedule, block_demand, greedy, islands, truncated
from planner.restore_spec import UnitRestore
from planner.scenario import Scenario

RESTORE_FORMAT = 1
#: Above this many on/off decisions the exact order would take minutes on a field laptop:
#: the exact part is shortened, or the greedy order is given, and says so (``method``).
MILP_MAX_BINARIES = 6_000
#: Nor on a network over this many decisions per step, however short the horizon:
#: measured, case118 (575 per step) takes 100-160 s for 10 exact steps.
MILP_MAX_PER_STEP = 300
Progress = Callable[[str, str, float], None]


def restore(
    scenario: Scenario,
    *,
    steps: int | None = None,
    ac: bool = True,
    progress: Progress | None = None,
    model: Any = None,
) -> dict[str, Any]:
    """The restoration order of ``scenario`` (see the module text)."""
    from planner import restore_worker
    from planner.network import build_network

    say = progress or (lambda stage, msg, frac: None)
    t0 = time.perf_counter()
    say("network", "reading the network", 0.0)
    model = model or build_network(scenario)
    # the AC check's pandapower import and net reading overlap the MILP in a worker; on
    # a first run (the net loaded here) the worker shares the steps with this process
    worker = restore_worker.AcWorker(model) if ac and restore_worker.wanted(model) else None
    try:
        out = _restore(scenario, model, steps, ac, say, worker)
    finally:
        if worker is not None:
            worker.close()
    out["seconds"] = round(time.perf_counter() - t0, 2)
    say("done", "done", 1.0)
    return out


def _restore(
    scenario: Scenario, model: Any, steps: int | None, ac: bool, say: Progress, worker: Any
) -> dict[str, Any]:
    case = build_case(scenario, model.grid, steps)
    _check(case, scenario)
    say("greedy", "greedy order (the baseline)", 0.1)
    base = greedy(case)
    sch, proven, method, exact, decisions = _order(case, base, say)
    if not sch.y[-1].any():  # an order that restores nothing is no order
        first = case.blocks[0].name  # highest tier first
        raise ScenarioError(
            f"restore: no block can be restored in {case.steps} steps; {first}: "
            + _why_not(case, sch, first)
        )
    acts = action_steps(case, sch)
    report: dict[int, dict[str, Any]] = {}
    if ac:
        report, f_hz = _ac_check(model, case, sch, acts, say, worker)
    else:
        f_hz = model.grid.f_hz  # kept with the arrays: no pandapower for --no-ac
    out = _result(scenario, case, sch, base, acts, report, proven, f_hz)
    out["method"] = method
    out["exact_steps"] = exact
    out["decisions"] = decisions
    return out


def _ac_check(
    model: Any, case: RestoreCase, sch: Schedule, acts: list[int], say: Progress, worker: Any
) -> tuple[dict[int, dict[str, Any]], float]:
    """(AC report per step, the net's frequency): from the worker when it has them,
    else computed here (the same ``Checker``)."""
    from planner.restore_ac import Checker

    def tick(i: int, n: int) -> None:
        say("ac", f"AC power flow, step {i} of {n}", 0.6 + 0.4 * i / max(n, 1))

    if worker is not None and worker.shares:
        return _shared_check(model, case, sch, acts, tick, worker)
    got = worker.check(case, sch, acts, tick) if worker is not None else None
    if got is not None:
        return got
    checker = Checker(model)
    return checker.run(case, sch, acts, progress=tick), checker.f_hz


def _shared_check(
    model: Any,
    case: RestoreCase,
    sch: Schedule,
    acts: list[int],
    tick: Callable[[int, int], None],
    worker: Any,
) -> tuple[dict[int, dict[str, Any]], float]:
    """Every other step checked by the worker, the rest here, at the same time; the
    worker's steps are checked here too when it cannot give them. The same reports as
    one ``Checker`` over every step (each step's report depends on that step alone)."""
    from planner.restore_ac import Checker
    from planner.restore_worker import FLOOR_S, SLOWER

    theirs, mine = acts[1::2], acts[0::2]
    sent = worker.send(case, sch, theirs)
    done = [0, 0]

    def count(side: int) -> Callable[[int, int], None]:
        def one(i: int, n: int) -> None:
            done[side] = i
            tick(sum(done), len(acts))

        return one

    checker = Checker(model)
    started = time.perf_counter()
    reports = checker.run(case, sch, mine, progress=count(0))
    silent = max(FLOOR_S, SLOWER * (time.perf_counter() - started))  # it has the net already
    got = worker.receive(count(1), silent) if sent else None
    reports |= got[0] if got is not None else checker.run(case, sch, theirs, progress=count(1))
    return {s: reports[s] for s in acts}, checker.f_hz


_NO = UnitRestore()


def _order(
    case: RestoreCase, base: Schedule, say: Progress
) -> tuple[Schedule, bool, str, int, int]:
    """(schedule, proven optimal, method, exact steps, decisions): the MILP over the first steps, up to the
    default horizon (one step per block, + 3: after it, blocks rarely still wait); the
    greedy order continues it to the end of a longer horizon. When the default horizon
    is over the decision limit, the greedy order alone. Never worse for any tier, in
    order, than the greedy order alone."""
    from planner import restore_milp

    per_step = 2 * case.n_bus + len(case.branch_from) + len(case.units) + len(case.blocks)
    window = min(case.steps, usual_steps(case))
    decisions = window * per_step
    if decisions > MILP_MAX_BINARIES or per_step > MILP_MAX_PER_STEP:
        return base, False, "greedy", 0, decisions  # measured: case118, 10 steps take 100 s
    say("milp", f"restoration order (MILP, HiGHS, {window} steps)", 0.2)
    solved = restore_milp.solve(replace(case, steps=window), truncated(base, window))
    if window == case.steps:
        return solved.schedule, solved.proven, "milp", window, decisions
    say("greedy", "greedy order after the exact steps", 0.5)
    sch = greedy(case, prefix=solved.schedule)
    if _tiers(case, sch) < _tiers(case, base):
        return base, False, "greedy", 0, decisions
    return sch, False, "milp+greedy", window, decisions


def _tiers(case: RestoreCase, sch: Schedule) -> tuple[float, ...]:
    """Energy served per tier, tier 1 first (rounded so that noise does not decide)."""
    return tuple(round(sch.tier_energy(case, t), 6) for t in sorted({b.tier for b in case.blocks}))


def _check(case: RestoreCase, scenario: Scenario) -> None:
    if not any(u.black_start for u in case.units):
        spec = scenario.restore
        off = [n for n in spec.black_start or () if (spec.units.get(n) or _NO).black_start is False]
        where = f"{scenario.name}: restore"
        if spec.black_start == ():
            why = "[restore] black_start = [] names none"
            where = spec.where.get("black_start", where)
        elif off:
            why = f"[restore.units.{off[0]}] black_start = false overrides [restore] black_start"
            where = spec.where.get(f"units.{off[0]}.black_start", where)
        else:
            why = "no unit is named in [restore] black_start and no genset qualifies by default"
        raise ScenarioError(
            f"{where}: no unit can black start ({why}), so nothing can be energised",
            hint='name one in [restore] black_start = ["genset"] (see restoration.md)',
        )
    if not case.blocks:
        raise ScenarioError("restore: no load that generation can reach: nothing to restore")


def action_steps(case: RestoreCase, sch: Schedule) -> list[int]:
    """Steps where something is switched (the rest only wait)."""
    out = []
    for s in range(case.steps):
        prev = [a[s - 1] if s else np.zeros_like(a[0]) for a in (sch.x, sch.z, sch.u, sch.y)]
        if any(np.any(a[s] & ~p) for a, p in zip((sch.x, sch.z, sch.u, sch.y), prev, strict=True)):
            out.append(s)
    return out


def _new(arr: np.ndarray, s: int) -> np.ndarray:
    return np.flatnonzero(arr[s] & ~(arr[s - 1] if s else np.zeros_like(arr[s])))


def _step(case: RestoreCase, sch: Schedule, s: int, ac: dict[str, Any] | None) -> dict[str, Any]:
    started = [case.units[g] for g in _new(sch.u, s)]
    picked = [case.blocks[j] for j in _new(sch.y, s)]
    demand = block_demand(case, sch.y, s) + case.fixed_mw * sch.x[s]
    for g in _new(sch.u, s):
        if not case.units[g].black_start:
            demand[case.units[g].bus] += case.units[g].cranking_mw
    running = [
        g
        for g, u in enumerate(case.units)
        if sch.u[s, g] and (u.black_start or (s and sch.u[s - 1, g]))
    ]
    online = sum(case.units[g].p_max_mw for g in running)
    served = sum(b.p_mw for j, b in enumerate(case.blocks) if sch.y[s, j])
    return {
        "step": s + 1,
        "minute": rnd(s * case.step_minutes, "mw"),
        "energises": [case.bus_names[b] for b in _new(sch.x, s)],
        **_switching(case, sch, s),
        "starts": [
            {"unit": u.name, "black_start": u.black_start, "cranking_mw": rnd(u.cranking_mw, "mw")}
            for u in started
        ],
        "picks_up": [
            {
                "block": b.name,
                "loads": list(b.loads),
                "tier": b.tier,
                "mw": rnd(b.p_mw, "mw"),
                "cold_load_mw": rnd(b.p_mw * (b.cold_factor if b.cold_steps else 1.0), "mw"),
            }
            for b in picked
        ],
        "served_mw": rnd(served, "mw"),
        "demand_mw": rnd(float(demand.sum()), "mw"),
        "online_mw": rnd(online, "mw"),
        "margin_mw": rnd(_island_margin(case, sch, s, running, demand), "mw"),
        "islands": len({int(i) for i in islands(case, sch.x[s], sch.z[s]) if i >= 0}),
        "units_mw": {case.units[g].name: rnd(float(sch.p[s, g]), "mw") for g in running},
        "ac": ac,
    }


def _switching(case: RestoreCase, sch: Schedule, s: int) -> dict[str, list[str]]:
    """The branches closed in step ``s`` in an order a crew can follow (each closure
    energises a dead bus from a live one, then those between live buses), and which of
    them join two live islands (``joins``: two free-running sets are paralleled there,
    so only with a synchronism check) or close a loop in one island (``loops``)."""
    live: set[int] = {int(b) for b in np.flatnonzero(sch.x[s - 1])} if s else set()
    live |= {case.units[g].bus for g in _new(sch.u, s) if case.units[g].black_start}
    parent = list(range(case.n_bus))

    def find(b: int) -> int:
        while parent[b] != b:
            parent[b] = parent[parent[b]]
            b = parent[b]
        return b

    for kk in np.flatnonzero(sch.z[s - 1]) if s else []:
        parent[find(int(case.branch_from[kk]))] = find(int(case.branch_to[kk]))
    pending = [int(k) for k in _new(sch.z, s)]
    order: list[int] = []
    joins: list[int] = []
    loops: list[int] = []
    while pending:
        ends = {k: (int(case.branch_from[k]), int(case.branch_to[k])) for k in pending}
        k = next((k for k in pending if (ends[k][0] in live) != (ends[k][1] in live)), pending[0])
        f, t = ends[k]
        if f in live and t in live:
            (joins if find(f) != find(t) else loops).append(k)
        live |= {f, t}
        parent[find(f)] = find(t)
        order.append(k)
        pending.remove(k)
    name = case.branch_names
    return {
        "closes": [name[k] for k in order],
        "joins": [name[k] for k in joins],
        "loops": [name[k] for k in loops],
    }


def _island_margin(
    case: RestoreCase, sch: Schedule, s: int, running: list[int], demand: np.ndarray
) -> float:
    """The smallest margin of any live island: rating of its running units less what it
    draws (a spare unit in another island cannot take this island's load)."""
    isl = islands(case, sch.x[s], sch.z[s])
    online: dict[int, float] = {}
    drawn: dict[int, float] = {}
    for g in running:
        i = int(isl[case.units[g].bus])
        online[i] = online.get(i, 0.0) + case.units[g].p_max_mw
    for b in np.flatnonzero(sch.x[s]):
        drawn[int(isl[b])] = drawn.get(int(isl[b]), 0.0) + float(demand[b])
    keys = set(online) | set(drawn)
    return min((online.get(i, 0.0) - drawn.get(i, 0.0) for i in keys), default=0.0)


def _result(
    scenario: Scenario,
    case: RestoreCase,
    sch: Schedule,
    base: Schedule,
    acts: list[int],
    report: dict[int, dict[str, Any]],
    proven: bool,
    f_hz: float,
) -> dict[str, Any]:
    steps = [_step(case, sch, s, report.get(s)) for s in acts]
    served = [
        rnd(sum(b.p_mw for j, b in enumerate(case.blocks) if sch.y[s, j]), "mw")
        for s in range(case.steps)
    ]
    total = sum(b.p_mw for b in case.blocks)
    energy, greedy_energy = sch.energy_mwh(case), base.energy_mwh(case)
    never = [b.name for j, b in enumerate(case.blocks) if not sch.y[-1, j]]
    body: dict[str, Any] = {
        "format": RESTORE_FORMAT,
        "scenario": scenario.name,
        "scenario_hash": scenario_hash(scenario),
        "f_hz": f_hz,
        "step_minutes": case.step_minutes,
        "hold_minutes": scenario.restore.hold_minutes,
        "reserve_pct": scenario.restore.reserve_pct,
        "horizon_steps": case.steps,
        "units": [
            {
                "name": u.name,
                "p_max_mw": rnd(u.p_max_mw, "mw"),
                "black_start": u.black_start,
                "step_mw": rnd(u.step_mw, "mw"),
                "cranking_mw": rnd(u.cranking_mw, "mw"),
            }
            for u in case.units
        ],
        "steps": steps,
        "served_mw_by_step": served,
        "demand_mw": rnd(total, "mw"),
        "energy_mwh": rnd(energy, "mwh"),
        "energy_mwh_by_tier": {
            str(t): rnd(sch.tier_energy(case, t), "mwh")
            for t in sorted({b.tier for b in case.blocks})
        },
        "greedy_energy_mwh": rnd(greedy_energy, "mwh"),
        "gain_over_greedy_mwh": rnd(energy - greedy_energy, "mwh"),
        "not_restored": never,
        "why_not_restored": {name: _why_not(case, sch, name) for name in never},
        "unreachable": case.unreachable_blocks,
        "idle_units": case.idle_units,
        "proven_optimal": proven,
        "ac_violations": sum(len((r or {}).get("violations", [])) for r in report.values()),
        "ac_failed_steps": [
            s + 1 for s, r in sorted(report.items()) if r.get("converged") is False
        ],
    }
    body["id"] = "r-" + blake_hex(canonical_bytes(body))[:16]
    return body


def _why_not(case: RestoreCase, sch: Schedule, name: str) -> str:
    """Why a block is not restored: the first of these that holds."""
    block = next(b for b in case.blocks if b.name == name)
    surge = block.p_mw * (block.cold_factor if block.cold_steps else 1.0)
    reach = reach_of(case, next(iter(block.demand_mw)))
    units = [u for u in case.units if u.bus in reach]  # only these can reach it
    step = sum(u.step_mw for u in units)
    rating = sum(u.p_max_mw for u in units)
    if surge > step + 1e-9:
        return (
            f"its pickup ({surge:g} MW with cold load) is more than the units that can reach it "
            f"take in one step ({step:g} MW): split it ([[restore.blocks]]) or raise "
            "block_load_pct"
        )
    if surge * (1.0 + case.reserve) > rating + 1e-9:
        return (
            f"it needs more than the rating of the units that can reach it ({rating:g} MW) "
            "with the spinning reserve"
        )
    last = case.steps - 1
    running = [g for g, u in enumerate(case.units) if u.bus in reach and sch.u[last, g]]
    online = sum(case.units[g].p_max_mw for g in running)
    drawn = float(sum((block_demand(case, sch.y, last) + case.fixed_mw * sch.x[last])[list(reach)]))
    if online < (1.0 + case.reserve) * (drawn + surge) - 1e-9:
        return (
            f"the units running at the end ({online:g} MW) cannot carry it beside the "
            f"{drawn:g} MW restored before it, with the spinning reserve (tiers first)"
        )
    into = _into_mw(case, block)
    if surge > into + 1e-9:
        return (
            f"the branches to it and the units on its bus carry at most {round(into, 2):g} MW "
            f"(a branch's rating, or what it carries in AC at {MAX_ANGLE_DEG:g} deg across "
            "it): it needs a unit nearer to it, or splitting"
        )
    return (
        f"the horizon ({case.steps} steps) ended before its turn: there was room for it at "
        "the end; a longer horizon (--steps) restores more"
    )


def _into_mw(case: RestoreCase, block: Any) -> float:
    """The most that can reach a block's buses: its own buses' units, and the limits of
    the branches joining them to the rest."""
    buses = set(block.demand_mw)
    local = sum(loading_cap(case, u.p_max_mw) for u in case.units if u.bus in buses)
    ends = zip(case.branch_from, case.branch_to, case.branch_rate_mw, strict=True)
    return local + sum(float(r) for f, t, r in ends if (int(f) in buses) != (int(t) in buses))
