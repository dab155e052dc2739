"""Reading a solution back into a plan: schedules, fuel, shed loads, and why.

``extract`` turns the solver's vector into plain, rounded data; ``PlanResult``
carries it with the timings and the AC validation. ``PlanResult.to_json()`` is
canonical (see ``planner.canonical``): timings are kept out of it so the same
scenario gives the same plan hash on every laptop.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from planner import result_parts as parts
from planner.canonical import plan_hash
from planner.formulation import Problem
from planner.grid import Grid
from planner.scenario import Scenario
from planner.shed import binding_branches, shed_entries
from planner.solution import TOL_MW, period_label, read_solution
from planner.stages import StageRun

__all__ = ["FORMAT", "TOL_MW", "PlanResult", "extract", "period_label"]

FORMAT = "plurigrid-plan/1"


@dataclass
class PlanResult:
    """The outcome of ``planner.api.solve``: a plan, or a status and a reason."""

    status: str  # solved | partial | infeasible | unsolved
    reason: str
    data: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    size: dict[str, int] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)  # not part of the plan JSON

    @property
    def ok(self) -> bool:
        return self.status == "solved"

    def to_json(self) -> dict[str, Any]:
        """The canonical plan (sorted keys when serialised, rounded floats, with its hash)."""
        body = dict(self.data)
        body["status"] = self.status
        body["reason"] = self.reason
        body.pop("plan_hash", None)
        body["plan_hash"] = plan_hash(body)
        return body


def extract(scenario: Scenario, grid: Grid, problem: Problem, run: StageRun) -> dict[str, Any]:
    """The plan as plain rounded data (no status: the caller adds it)."""
    assert run.x is not None
    sol = read_solution(scenario, grid, problem, run.x)
    load_rows = parts.loads(sol)
    tiers, communities = parts.tiers_and_communities(sol, run)
    tank_rows = parts.tanks(sol)
    return {
        "summary": parts.summary(sol, load_rows, tank_rows),
        "tiers": tiers,
        "communities": communities,
        "periods": parts.periods(sol),
        "loads": load_rows,
        "units": parts.units(sol),
        "storage": parts.storage(sol),
        "tanks": tank_rows,
        "sites": parts.sites(sol, tank_rows),
        "transfers": parts.transfers(sol),
        "shed": shed_entries(sol, run, load_rows),
        "binding_branches": binding_branches(sol),
        **(
            {"preferences": [
                {"site": p.site, "rank": list(p.rank), "by": p.by} for p in scenario.preferences
            ]}
            if scenario.preferences
            else {}
        ),
    }  # fmt: skip
