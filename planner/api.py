"""The planner's stable surface: what plurictl and the ledger side call.

    load_scenario(path) -> Scenario
    solve(scenario, *, periods, commitment, objective, time_limit, progress) -> PlanResult
    scenario_hash(scenario) -> str        plan_hash(plan_json) -> str
    orders(plan_json) -> list[dict]       explain(plan_json, load=..., site=...) -> dict
    shipped_scenarios() -> list[dict]     read_plan(path) -> dict
    validation_report(scenario, path) -> dict   (what `plan validate` reports)

Everything returns plain data; nothing prints. Infeasible or unsolved plans are
``PlanResult`` values with a status and a reason, never exceptions.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from planner.canonical import blake_hex, canonical_bytes, plan_hash
from planner.errors import PlanFileError, ScenarioError
from planner.explain import explain
from planner.orders import orders
from planner.result import FORMAT, PlanResult
from planner.scenario import Scenario
from planner.scenario_file import load_scenario, parse_scenario, shipped_scenarios
from planner.validation import validation_report

__all__ = [
    "PlanResult",
    "Scenario",
    "explain",
    "load_scenario",
    "orders",
    "parse_scenario",
    "plan_hash",
    "read_plan",
    "scenario_hash",
    "shipped_scenarios",
    "solve",
    "validation_report",
]

PLANNER_VERSION = "3"  # 3: islands, leximin, vertex tie-break, batteries, trip minimum
# "infeasible, because": a courtesy, never longer than this (case2869pegase: 4 hours
# diagnose in 20 s, 24 hours did not finish in 120 s)
DIAGNOSE_SECONDS = 60.0

# progress(stage, message, fraction): stage is "build", "solve", "validate" or "done"
Progress = Callable[[str, str, float], None]


def scenario_hash(scenario: Scenario) -> str:
    """blake2b-256 of the scenario's resolved content (not its path): same on every laptop."""
    data = dataclasses.asdict(scenario)
    data.pop("source", None)
    data.pop("restore", None)  # restoration settings never change an allocation plan
    if not data.get("preferences"):
        data.pop("preferences", None)  # plans made before preferences keep their hash
    net = data["network"]
    f = scenario.network.file
    if f is not None:
        try:
            net["file"] = {"name": f.name, "blake2b": blake_hex(f.read_bytes())}
        except OSError as e:
            raise ScenarioError(f"network.file: cannot read {f}: {e.strerror or e}") from e
    data["profiles"] = {k: list(v) for k, v in sorted(scenario.profiles.items())}
    data["planner_version"] = PLANNER_VERSION
    return blake_hex(canonical_bytes(_plain(data)))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return value.name
    if isinstance(value, float) and value != value:
        return None
    return value


def _solver_version() -> str:
    from planner.highs import new_highs

    try:
        return f"HiGHS {new_highs().version()}"
    except Exception:  # pragma: no cover - an old highspy without version()
        return "HiGHS"


def solve(
    scenario: Scenario,
    *,
    periods: int | None = None,
    commitment: bool = False,
    objective: str = "tiers",
    time_limit: float | None = None,
    progress: Progress | None = None,
    validate: bool = True,
    method: str = "auto",
    tiebreak: str = "auto",
    net: Any = None,
    start: str | None = None,
) -> PlanResult:
    """Plan a scenario: build the LP, solve the stages, extract, check with AC power flow.

    ``objective="cost"`` is the cross-check against pandapower's DC OPF (one period,
    the net's own cost data). ``net`` lets a caller pass an already loaded
    pandapower net (benchmarks; the scenario's network section still applies).
    ``start`` dates the plan from another first period (ISO time; labels and orders).
    """
    if objective not in ("tiers", "cost"):
        raise ScenarioError(f"objective: must be 'tiers' or 'cost', got {objective!r}")
    original = scenario  # the recipe names the scenario as given, plus the options
    if periods is not None:
        scenario = scenario.with_periods(periods)
    if start is not None:
        scenario = scenario.with_start(start)
    if time_limit is not None and time_limit <= 0:
        raise ScenarioError("time_limit: must be more than 0 seconds")
    say = progress or (lambda stage, message, fraction: None)
    if objective == "cost":
        return _solve_cost(scenario, net, time_limit, say)
    return _solve_tiers(
        original,
        scenario,
        net,
        say,
        commitment=commitment,
        time_limit=time_limit,
        validate=validate,
        method=method,
        tiebreak=tiebreak,
    )


def _solve_cost(
    scenario: Scenario, net: Any, time_limit: float | None, say: Progress
) -> PlanResult:
    from planner.costmode import solve_cost

    say("solve", "economic DC OPF (cross-check)", 0.0)
    res = solve_cost(scenario, net=net, time_limit=time_limit)
    res.data["recipe"] = _recipe(
        scenario, periods=1, commitment=False, objective="cost", method="simplex", tiebreak="none"
    )
    say("done", res.status, 1.0)
    return res


def _solve_tiers(
    original: Scenario,
    scenario: Scenario,
    net: Any,
    say: Progress,
    *,
    commitment: bool,
    time_limit: float | None,
    validate: bool,
    method: str,
    tiebreak: str,
) -> PlanResult:
    """The planner proper: network, LP, stages, trips, extraction, AC check."""
    from planner.stages import run_stages
    from planner.trips import consolidate

    timings: dict[str, float] = {}
    model, problem, chosen = _build(scenario, net, say, commitment, method, timings)
    size = {"rows": problem.n_row, "columns": problem.n_col, "nonzeros": int(problem.A.nnz)}
    t2 = time.perf_counter()
    run = run_stages(
        problem,
        scenario.policy,
        method=chosen,
        time_limit=time_limit,
        progress=lambda name, fraction: say("solve", name, fraction),
        tiebreak=tiebreak,
        fuel_weight_pu=scenario.policy.fuel_conservation_weight / model.grid.base_mva,
        units=[(u.curtailable, u.role) for u in model.grid.units],
    )
    timings["solve"] = time.perf_counter() - t2
    trip_notes: list[str] = []
    if run.x is not None:
        run.x, trip_notes = consolidate(problem, scenario, run.x)
    data = _plan_header(original, scenario, problem, run, model, size, commitment, chosen)
    data["notes"] = sorted(set(data["notes"] + trip_notes))
    if run.x is None:
        data["reason_detail"] = (
            _infeasible_detail(problem, model, scenario) if run.status == "infeasible" else None
        )
        say("done", run.status, 1.0)
        reason = run.reason
        if data.get("reason_detail"):
            reason = f"{reason}: {data['reason_detail']['summary']}"
        return PlanResult(run.status, reason, data, timings, size, _stage_seconds(run))
    return _planned(scenario, model, problem, run, data, timings, size, validate, say)


def _build(
    scenario: Scenario,
    net: Any,
    say: Progress,
    commitment: bool,
    method: str,
    timings: dict[str, float],
) -> tuple[Any, Any, str]:
    """(network model, LP, solver method): the network and the LP, timed."""
    from planner.formulation import build_problem
    from planner.highs import new_highs
    from planner.network import build_network
    from planner.stages import LAZY_MAX_COLS

    t0 = time.perf_counter()
    say("build", "loading the network", 0.0)
    model = build_network(scenario, net=net)
    timings["network"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    say("build", "building the LP", 0.5)
    # interior point restarts cold after every batch of added rows: it keeps the angles
    form = "angles" if method not in ("auto", "simplex") else "auto"
    problem = build_problem(scenario, model.grid, commitment=commitment, form=form)
    timings["build"] = time.perf_counter() - t1
    # Dual simplex on small models (warm-started stage after stage) and on large ones, whose
    # branch limits join lazily as shift factors (planner.lazyrows: rows added to a solved
    # model suit simplex, not interior point). Interior point only for a large angle model
    # above LAZY_MAX_COLS (shift factors unavailable), where simplex grows too slow.
    chosen = method
    if method == "auto":
        chosen = "simplex" if problem.shift is not None or problem.n_col <= LAZY_MAX_COLS else "ipm"
    new_highs()  # keep HiGHS's banner off stdout before anything else prints
    return model, problem, chosen


def _planned(
    scenario: Scenario,
    model: Any,
    problem: Any,
    run: Any,
    data: dict[str, Any],
    timings: dict[str, float],
    size: dict[str, int],
    validate: bool,
    say: Progress,
) -> PlanResult:
    """A plan: extracted, checked with AC power flow (unless told not to)."""
    from planner.result import extract

    t3 = time.perf_counter()
    data.update(extract(scenario, model.grid, problem, run))
    timings["extract"] = time.perf_counter() - t3
    data["ac"] = None
    if validate:
        t4 = time.perf_counter()
        data["ac"] = _validate(model, data, say)
        timings["validate"] = time.perf_counter() - t4
    reason = run.reason or _solved_reason(data)
    say("done", run.status, 1.0)
    return PlanResult(run.status, reason, data, timings, size, _stage_seconds(run))


def _stage_seconds(run: Any) -> dict[str, float]:
    return {f"{s.name}": s.seconds for s in run.log}


def _validate(model: Any, data: dict[str, Any], say: Progress) -> dict[str, Any]:
    from planner.acflow import validate_ac

    say("validate", "AC power flow per period", 0.0)
    ac = validate_ac(
        model,
        data,
        progress=lambda done, total: say("validate", f"AC power flow {done}/{total}", done / total),
    )
    return {"summary": ac["summary"], "periods": ac["periods"]}


def _plan_header(
    original: Scenario,
    scenario: Scenario,
    problem: Any,
    run: Any,
    model: Any,
    size: dict[str, int],
    commitment: bool,
    method: str,
) -> dict[str, Any]:
    """Everything a plan says before its schedules: what was planned, how, and notes."""
    recipe = _recipe(
        original,
        periods=scenario.horizon.periods,
        commitment=commitment,
        objective="tiers",
        method=method,
        tiebreak=run.tiebreak,
        network=_network_form(problem),
        start=scenario.horizon.start if scenario.horizon.start != original.horizon.start else None,
    )
    return {
        "format": FORMAT,
        "mode": "tiers",
        "scenario": {
            "name": scenario.name,
            "description": scenario.description,
            "periods": scenario.horizon.periods,
            "hours_per_period": scenario.horizon.hours_per_period,
            "start": scenario.horizon.start,
            "network": scenario.network.case
            or (scenario.network.file.name if scenario.network.file else None),
        },
        "recipe": recipe,
        "stages": [
            {"name": s.name, "status": s.status, "objective": _r(s.objective)} for s in run.log
        ],
        "notes": sorted(set(model.grid.notes + problem.notes + _lazy_note(run, problem))),
        "size": size,
    }


def _lazy_note(run: Any, problem: Any) -> list[str]:
    if run.lazy_rows is None:
        return []
    total = run.lazy.total
    return [
        f"branch limits were added when broken: {run.lazy_rows} of {total} rows were needed "
        "(the others never bind in any stage)"
    ]


def _r(v: float) -> float | None:
    from planner.canonical import rnd

    return rnd(v, "value")


def _solved_reason(data: dict[str, Any]) -> str:
    s = data["summary"]
    if s["shed_mwh"] and s["shed_mwh"] > 0:
        return f"solved: {s['served_pct']}% of demand served, {s['loads_shed']} loads shed at times"
    return "solved: all demand served"


def _recipe(
    scenario: Scenario,
    *,
    periods: int,
    commitment: bool,
    objective: str,
    method: str,
    tiebreak: str,
    network: str | None = None,
    start: str | None = None,
) -> dict[str, Any]:
    """How to re-run this plan exactly (the ledger stores it next to the plan hash)."""
    options: dict[str, Any] = {"periods": periods, "commitment": commitment, "objective": objective}
    if start is not None:
        options["start"] = start
    return {
        "scenario_hash": scenario_hash(scenario),
        "scenario_name": scenario.name,
        "options": options,
        "planner_version": PLANNER_VERSION,
        "solver": _solver_version(),
        "method": method,
        "tiebreak": tiebreak,
        "network": network,
    }


def _network_form(problem: Any) -> str:
    if problem.copper:
        return "copper plate"
    return "shift factors" if problem.shift is not None else "angles"


def _infeasible_detail(problem: Any, model: Any, scenario: Scenario) -> dict[str, Any] | None:
    from planner.diagnose import diagnose_infeasible

    try:
        return diagnose_infeasible(problem, model.grid, scenario, time_limit=DIAGNOSE_SECONDS)
    except Exception as e:  # the diagnosis is a courtesy; never hide the status
        return {"summary": f"(could not diagnose: {type(e).__name__})", "items": []}


def read_plan(path: str | Path) -> dict[str, Any]:
    """A plan JSON written by ``plurictl plan run --out``; checked for its format and hash."""
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise PlanFileError(f"cannot read plan file {p}: {e.strerror or e}") from e
    except ValueError as e:
        raise PlanFileError(f"{p.name} is not JSON: {e}") from e
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise PlanFileError(f'{p.name} is not a plan (no "format": "{FORMAT}")')
    if data.get("plan_hash") != plan_hash(data):
        raise PlanFileError(
            f"{p.name}: plan_hash does not match its content (edited or damaged)",
            hint="re-run the scenario to get a fresh plan",
        )
    return data
