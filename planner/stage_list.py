"""Which stages a plan goes through, in order, and what each maximises."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.formulation import Problem
from planner.scenario import Policy


@dataclass
class Stage:
    name: str
    kind: str  # fair | tier | pref | spread | weighted | fuel
    tier: int  # 0 for stages over every tier
    cost: np.ndarray  # maximised (fair and spread stages set their own)
    fuel_weighted: bool = False  # the lowest tier's stages also value fuel kept


def stage_list(problem: Problem, policy: Policy, fuel_weight_pu: float) -> list[Stage]:
    """Strict tiers: per tier fairness, served energy, spread; else one weighted stage and
    fairness per tier. Then the fuel kept. (The tie-break follows every list.)"""
    none = np.zeros(0)
    tiers = [k for k in (1, 2, 3) if np.any(problem.energy_weight[k])]
    fair = [k for k in tiers if policy.fairness and len(problem.fair_rows.get(k, [])) > 1]
    out: list[Stage] = []
    if policy.strict_tiers:
        for k in tiers:
            cost = problem.energy_weight[k].copy()
            weighted = k == tiers[-1] and fuel_weight_pu > 0
            fairness = [Stage(f"tier {k} fairness", "fair", k, none, weighted)] if k in fair else []
            if weighted:
                # how much of the lowest tier is worth its fuel is decided first, then
                # shared fairly (leximin alone would leave nothing to trade)
                cost = cost + fuel_weight_pu * problem.end_fuel
                out += [Stage(f"tier {k} served", "tier", k, cost, weighted), *fairness]
            else:
                out += [*fairness, Stage(f"tier {k} served", "tier", k, cost)]
            if k in problem.spread_cols and not problem.large:
                out.append(Stage(f"tier {k} spread", "spread", k, none))
            out += _preference_stages(problem, k)
    elif tiers:
        w = policy.tier_weights
        cost = (
            sum(w[k - 1] * problem.energy_weight[k] for k in tiers)
            + fuel_weight_pu * problem.end_fuel
        )
        out.append(Stage("tiers weighted", "weighted", 0, np.asarray(cost, dtype=float)))
        out += [Stage(f"tier {k} fairness", "fair", k, none) for k in fair]
    if np.any(problem.end_fuel):
        out.append(Stage("fuel kept", "fuel", 0, problem.end_fuel.copy()))
    return out


def _preference_stages(problem: Problem, k: int) -> list[Stage]:
    """The sites' preferences in tier k: the loads ranked first at their sites get as much
    as they can (with the tier's energy and fairness fixed), then those ranked second..."""
    out = []
    sb, nl = problem.blocks["s"], len(problem.load_tier)
    for pos, loads in enumerate(problem.pref_ranks.get(k, [])):
        if len(loads) == 0:
            continue
        cost = np.zeros(problem.n_col)
        cols = (sb.off + np.arange(problem.T).reshape(-1, 1) * nl + loads.reshape(1, -1)).ravel()
        cost[cols] = problem.hours
        out.append(Stage(f"tier {k} preference {pos + 1}", "pref", k, cost))
    return out
