"""A solved LP vector read back as arrays in plan units (MW, litres, MWh), by element.

``Solution`` is what every part of the plan (``planner.result_parts``,
``planner.shed``) is read from; it holds no rounding (that happens when the plan is
written) and imports no solver.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from planner.formulation import Problem
from planner.grid import Grid
from planner.scenario import Scenario

TOL_MW = 1e-4  # below this a unit is off / a load is not shed


def period_label(scenario: Scenario, t: int) -> str:
    """'2025-09-14 06:00' when the horizon has a start, else 'h6' (hours from start)."""
    hours = t * scenario.horizon.hours_per_period
    if scenario.horizon.start:
        try:
            start = datetime.fromisoformat(scenario.horizon.start)
        except ValueError:
            return f"h{hours:g}"
        return (start + timedelta(hours=hours)).strftime("%Y-%m-%d %H:%M")
    return f"h{hours:g}"


@dataclass
class Solution:
    scenario: Scenario
    grid: Grid
    problem: Problem
    x: np.ndarray
    p: np.ndarray  # n_unit x T, MW
    s: np.ndarray  # n_load x T, MW served
    d: np.ndarray  # n_load x T, MW demand
    L: np.ndarray  # n_tank x T, litres at the end of each period
    xs: np.ndarray  # n_route x T, litres departing
    u: np.ndarray  # n_on x T, on-fractions
    E: np.ndarray  # n_battery x T, MWh stored at the end of each period
    labels: list[str]
    unit_fuel: np.ndarray  # n_unit x T, litres burned

    @property
    def T(self) -> int:
        return self.problem.T

    @property
    def hours(self) -> float:
        return self.problem.hours

    def site_of_bus(self) -> dict[int, str]:
        out: dict[int, str] = {}
        for site in self.scenario.sites:
            for b in site.buses:
                out.setdefault(b, site.name)
        return out


def read_solution(scenario: Scenario, grid: Grid, problem: Problem, x: np.ndarray) -> Solution:
    """The solver's vector as per-element arrays in MW, litres and MWh."""
    B = problem.blocks

    def block(name: str) -> np.ndarray:
        b = B[name]
        return x[b.off : b.off + b.size].reshape(b.T, b.n).T if b.n else np.zeros((0, b.T))

    base = problem.base_mva
    p = block("p") * base
    u = block("u")
    sol = Solution(
        scenario=scenario,
        grid=grid,
        problem=problem,
        x=x,
        p=p,
        s=block("s") * base,
        d=problem.demand_pu * base,
        L=block("L") * 1000.0,
        xs=block("x") * 1000.0,
        u=u,
        E=block("E"),
        labels=[period_label(scenario, t) for t in range(problem.T)],
        unit_fuel=_unit_fuel(grid, problem, p, u),
    )
    return sol


def _unit_fuel(grid: Grid, problem: Problem, p: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Litres burned per unit and period, by the fuel curve the LP used."""
    h = problem.hours
    on_pos = {int(i): j for j, i in enumerate(problem.on_units)}
    fuel = np.zeros(p.shape)
    for i, un in enumerate(grid.units):
        g = un.spec
        if g is None or not g.fuelled:
            continue
        if i in on_pos:
            fuel[i] = h * (g.no_load_lph * u[on_pos[i]] + g.lph_per_mw * p[i])
        else:
            per_mw = g.lph_per_mw + (g.no_load_lph / un.p_max_mw if un.p_max_mw > 0 else 0.0)
            fuel[i] = h * per_mw * p[i]
    return fuel
