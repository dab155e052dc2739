"""'Infeasible, because ...': which hard limits would have to give, and by how much.

Loads can always be shed, so an infeasible plan means a hard limit cannot be met
at all: a unit's minimum output with nowhere to send it, a branch limit that the
must-run flows exceed, a tank that starts below its reserve, fixed demand
(shunts, wards) beyond what can be generated. HiGHS's feasibility relaxation
finds the smallest weighted set of violations; this module names them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from planner.canonical import rnd
from planner.formulation import Problem
from planner.grid import Grid
from planner.highs import Solver
from planner.lazyrows import LazyBranches
from planner.scenario import Scenario

MAX_ITEMS = 20


def describe_row(
    problem: Problem, grid: Grid, scenario: Scenario, i: int, lazy_order: list[int] | None = None
) -> tuple[str, str, int]:
    """(kind, element, period) of a constraint row (``lazy_order``: shift-factor limit
    rows appended after the model's own, in the order they were added)."""
    if lazy_order and i >= problem.n_row and i - problem.n_row < len(lazy_order):
        t, b = divmod(lazy_order[i - problem.n_row], len(problem.limited_branches))
        return "branch limit", grid.branch_names[problem.limited_branches[b]], t
    for name, (start, count) in problem.rows.items():
        if start <= i < start + count:
            j = i - start
            if name == "balance":
                per = count // problem.T
                t, b = divmod(j, per)
                per_island = problem.copper or problem.shift is not None
                where = f"island {b}" if per_island else f"bus {grid.bus_names[b]}"
                return "power balance", where, t
            if name == "branch":
                per = len(problem.limited_branches)
                t, b = divmod(j, per)
                return "branch limit", grid.branch_names[problem.limited_branches[b]], t
            if name == "tank":
                per = len(problem.tank_keys)
                t, k = divmod(j, per)
                return "fuel balance", problem.tank_keys[k], t
            if name == "battery":
                per = len(grid.batteries)
                t, k = divmod(j, per)
                return "battery charge balance", grid.batteries[k].name, t
            return name, f"row {j}", -1
    return "fixing row", "an earlier stage's optimum", -1


def describe_col(problem: Problem, grid: Grid, i: int) -> tuple[str, str, int]:
    for name, b in problem.blocks.items():
        if b.off <= i < b.off + b.size and b.n:
            t, k = divmod(i - b.off, b.n)
            if name == "p":
                return "unit output limit", grid.units[k].name, t
            if name == "L":
                return "tank level limit (reserve or capacity)", problem.tank_keys[k], t
            if name == "th":
                return "reference angle", grid.bus_names[k], t
            if name == "x":
                return "route capacity", problem.route_names[k], t
            return name, str(k), t
    return "variable", str(i), -1


def diagnose_infeasible(
    problem: Problem, grid: Grid, scenario: Scenario, *, time_limit: float | None = None
) -> dict[str, Any]:
    """The limits HiGHS had to relax to find any plan, largest first.

    With shift factors the branch limits are not rows of the model: the relaxation is
    solved without them, the limits its answer breaks are added, and it is solved again
    until none is broken (as the stages do).
    """
    solver = Solver(problem.A, problem.col_lo, problem.col_hi, problem.row_lo, problem.row_hi)
    if time_limit is not None:  # (HiGHS's run clock adds up over the rounds below)
        solver.h.setOptionValue("time_limit", float(time_limit))
    found = _relax(problem, solver)
    if found is None:
        within = f" within {time_limit:.0f} s" if time_limit is not None else ""
        return {
            "summary": f"(could not diagnose{within}: try a shorter horizon with --periods)",
            "items": [],
        }
    x, act, order = found
    items = _items(problem, grid, scenario, solver, x, act, order)
    items.sort(key=lambda it: (-it[0], it[1]["limit"], it[1]["element"], it[1]["period"]))
    return _report([it[1] for it in items])


def _penalties(problem: Problem, n_row: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What may give, and at what price: unit limits, tank levels, routes and branch limits
    (1) and, as a last resort, a bus balance (10: "power from nowhere"). Serving more than
    demand, angles and the stage variables may not (negative penalty = fixed). A fuel
    balance gives a little more cheaply the later it is, so a tank that cannot hold a
    delivery is named in the period the delivery comes, not an earlier one."""
    n = problem.n_col
    lower = np.full(n, -1.0)
    upper = np.full(n, -1.0)
    for name in ("p", "L", "x"):
        b = problem.blocks[name]
        lower[b.off : b.off + b.size] = 1.0
        upper[b.off : b.off + b.size] = 1.0
    rhs = np.ones(n_row)
    if "balance" in problem.rows:
        start, count = problem.rows["balance"]
        rhs[start : start + count] = 10.0
    if "tank" in problem.rows:
        start, count = problem.rows["tank"]
        t = np.arange(count) // max(len(problem.tank_keys), 1)
        rhs[start : start + count] = 1.0 + 1e-3 * (problem.T - 1 - t) / max(problem.T, 1)
    return lower, upper, rhs


def _relax(problem: Problem, solver: Solver) -> tuple[np.ndarray, np.ndarray, list[int]] | None:
    """HiGHS's feasibility relaxation (with shift-factor limits added until none breaks)."""
    lazy = LazyBranches(problem) if problem.shift is not None else None
    order: list[int] = []
    n = problem.n_col
    while True:
        lower, upper, rhs = _penalties(problem, solver.n_row)
        status = solver.h.feasibilityRelaxation(1.0, 1.0, 1.0, lower, upper, rhs)
        sol = solver.h.getSolution()
        if status != solver.hs.HighsStatus.kOk or len(sol.col_value) != n:
            return None
        x = np.asarray(sol.col_value)
        bad = lazy.broken(x) if lazy is not None else np.zeros(0, dtype=int)
        if not len(bad):
            return x, np.asarray(sol.row_value), order
        lazy.add(solver, bad)  # type: ignore[union-attr]
        order.extend(int(j) for j in np.sort(bad))


FUEL_ROW_SENSE = {"low": "excess", "high": "short"}  # a tank row below its rhs: fuel vanishes


def _items(
    problem: Problem,
    grid: Grid,
    scenario: Scenario,
    solver: Solver,
    x: np.ndarray,
    act: np.ndarray,
    order: list[int],
) -> list[tuple[float, dict[str, Any]]]:
    lp = solver.h.getLp()
    row_lo, row_hi = np.asarray(lp.row_lower_), np.asarray(lp.row_upper_)
    items: list[tuple[float, dict[str, Any]]] = []
    tol = 1e-6

    def item(by: float, kind: str, where: str, t: int, litres: bool, direction: str | None) -> None:
        scale = 1000.0 if litres else problem.base_mva  # kL -> litres, pu -> MW
        entry = {"limit": kind, "element": where, "period": t, "by": rnd(by * scale, "mw")}
        entry |= {"unit": "litres" if litres else "MW", "direction": direction}
        items.append((float(by * scale), entry))

    below, above = np.maximum(row_lo - act, 0), np.maximum(act - row_hi, 0)
    for i in np.flatnonzero(below + above > tol):
        kind, where, t = describe_row(problem, grid, scenario, int(i), order)
        fuel = kind == "fuel balance"
        sense = FUEL_ROW_SENSE["low" if below[i] > tol else "high"] if fuel else None
        item(below[i] + above[i], kind, where, t, fuel, sense)
    low, high = np.maximum(problem.col_lo - x, 0), np.maximum(x - problem.col_hi, 0)
    low, high = np.where(np.isfinite(low), low, 0), np.where(np.isfinite(high), high, 0)
    for i in np.flatnonzero(low + high > tol):
        kind, where, t = describe_col(problem, grid, int(i))
        fuel = kind.startswith(("tank", "route"))
        sense = ("excess" if high[i] > tol else "short") if kind.startswith("tank") else None
        item(low[i] + high[i], kind, where, t, fuel, sense)
    return items


def _report(items: list[dict[str, Any]]) -> dict[str, Any]:
    listed = items[:MAX_ITEMS]
    if not listed:
        return {
            "summary": "HiGHS reports infeasible but no single limit could be named",
            "items": [],
        }
    kinds: dict[str, int] = {}
    for it in items:
        kinds[it["limit"]] = kinds.get(it["limit"], 0) + 1
    top = listed[0]
    when = f" in period {top['period']}" if top["period"] >= 0 else ""
    summary = (
        f"{top['limit']} of {top['element']}{when}: {amount(top)}"
        f" ({len(items)} limits in conflict: "
        + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        + ")"
    )
    return {
        "summary": summary,
        "items": listed,
        "count": len(items),
        "by_kind": dict(sorted(kinds.items())),
    }


def amount(item: dict[str, Any]) -> str:
    """'short by 700 litres', 'excess of 300 litres (more than the tank can hold)', ..."""
    if item.get("direction") == "excess":
        return f"excess of {item['by']} {item['unit']} (more than the tank can hold)"
    if item.get("direction") == "short":
        return f"short by {item['by']} {item['unit']}"
    return f"would have to give by {item['by']} {item['unit']}"
