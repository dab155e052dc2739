"""Errors of the planner.

The planner imports no sibling package, so ``PlannerError`` is its own root
(plurictl handles it exactly like ``ledger.errors.PluriError``)::

    PlannerError            exit 10
    ├── ScenarioError       exit 10  scenario file invalid (names the field, and the line when known)
    │   └── NetworkError    exit 10  the network it names cannot be loaded or does not match
    ├── PlanFileError       exit 10  a plan JSON file (for explain/orders) is unreadable or not a plan
    ├── SolverError         exit 11  solver missing or crashed (infeasible is a result, not this)
    └── PartialPlanError    exit 11  a partial plan offered where a finished one is needed
"""

from __future__ import annotations


class PlannerError(Exception):
    exit_code: int = 10
    exit_meaning = "planner input invalid: scenario file or network"
    exit_fix = "the message names the field"
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint


class ScenarioError(PlannerError):
    exit_code = 10


class NetworkError(ScenarioError):
    exit_code = 10


class PlanFileError(PlannerError):
    exit_code = 10


class SolverError(PlannerError):
    exit_code = 11
    exit_meaning = (
        "plan not solved: infeasible, unsolved (time limit, solver failure), or partial (only"
        " some stages finished: the plan is still written and shown, `--propose` refuses it"
        " without `--allow-partial`)"
    )
    exit_fix = "read the reason printed with the result"


class PartialPlanError(SolverError):
    """Only some stages of the plan finished: the partial plan is shown, not proposed."""
