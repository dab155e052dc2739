"""Why a load is shed: the limits that bind in its shed hours, read off the plan.

Causes, in the words ``plan explain`` turns into sentences: ``no generation can reach
it`` (its island has no genset or grid connection), ``generation capacity`` (every unit
in its island is at full output), ``fuel`` (the units with spare capacity sit on tanks
that run down to their reserve), ``transfer capacity`` (the trucks into those tanks
were full), ``line limit`` (branches at their rating), and the policy reasons
``priority`` and ``fair share``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from planner.canonical import rnd
from planner.solution import TOL_MW, Solution

UNREACHABLE_CAUSE = "no generation can reach it"


def binding_branches(sol: Solution) -> list[dict[str, Any]]:
    """Branches at their limit, per period (for explain and the AC comparison)."""
    problem, grid = sol.problem, sol.grid
    if problem.copper or not len(problem.limited_branches):
        return []
    if problem.shift is not None:
        flows = problem.shift.flows_mw(sol.x, problem.base_mva)  # T x n_lim
    else:
        th = sol.x[problem.blocks["th"].off : problem.blocks["th"].off + problem.blocks["th"].size]
        th = th.reshape(problem.T, grid.n_bus)
        Bf = grid.Bf[problem.limited_branches]
        flows = (Bf @ th.T).T + grid.pfinj[problem.limited_branches]  # T x n_lim (pu)
        flows = np.asarray(flows) * problem.base_mva
    rate = grid.branch_rate_mw[problem.limited_branches]
    out = []
    for j, br in enumerate(problem.limited_branches):
        at = np.flatnonzero(np.abs(flows[:, j]) >= rate[j] * (1 - 1e-5) - 1e-6)
        if len(at):
            out.append(
                {
                    "branch": grid.branch_names[br],
                    "rating_mw": rnd(float(rate[j]), "mw"),
                    "periods": [int(t) for t in at],
                }
            )
    return out


class _Island:
    """Per (island, period): is there spare capacity, is it all on tanks that run dry."""

    def __init__(self, sol: Solution) -> None:
        self.sol = sol
        grid, problem = sol.grid, sol.problem
        islands = (
            problem.islands if problem.islands is not None else np.zeros(grid.n_bus, dtype=int)
        )
        self.islands = islands
        self.unit_island = np.array(
            [islands[un.bus] if un.reachable else -1 for un in grid.units], dtype=int
        )
        self.spare = problem.unit_pmax_t - sol.p
        tanks = sol.scenario.tanks
        self.empty = np.array(
            [
                [sol.L[k, t] <= tk.reserve_litres + 0.5 for t in range(sol.T)]
                for k, tk in enumerate(tanks)
            ]
        ).reshape(len(tanks), sol.T)
        self.tank_of_unit = {
            i: problem.tank_keys.index(f"{un.spec.site}/{un.spec.tank}")
            for i, un in enumerate(grid.units)
            if un.spec is not None and un.spec.fuelled
        }
        self.cache: dict[tuple[int, int], tuple[bool, bool, set[str]]] = {}

    def at(self, isl: int, t: int) -> tuple[bool, bool, set[str]]:
        """(has spare capacity, all of it runs dry, the tanks behind it)."""
        key = (isl, t)
        if key not in self.cache:
            in_isl = self.unit_island == isl
            has_spare = bool(np.any(self.spare[in_isl, t] > TOL_MW))
            fuelled = [
                int(j)
                for j in np.flatnonzero(in_isl & (self.spare[:, t] > TOL_MW))
                if int(j) in self.tank_of_unit
            ]
            dry = bool(fuelled) and all(self.empty[self.tank_of_unit[j], t:].any() for j in fuelled)
            tanks = {self.sol.problem.tank_keys[self.tank_of_unit[j]] for j in fuelled}
            self.cache[key] = (has_spare, dry, tanks)
        return self.cache[key]


def shed_entries(sol: Solution, run: Any, loads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every shed load with the reasons read off the plan's binding limits."""
    islands = _Island(sol)
    present = {int(k) for k in np.unique(sol.problem.load_tier)}
    branch_periods = {b["branch"]: set(b["periods"]) for b in binding_branches(sol)}
    out = []
    for i, ld in enumerate(loads):
        periods = ld["shed_periods"]
        if not periods:
            continue
        if not sol.grid.loads[i].reachable:
            causes = {UNREACHABLE_CAUSE: {"periods": periods}}
        else:
            causes = _limit_causes(sol, islands, i, periods, branch_periods)
            causes.update(_policy_causes(run, ld["tier"], present))
        out.append(
            {
                "load": ld["name"],
                "tier": ld["tier"],
                "community": ld["community"],
                "site": ld["site"],
                "shed_mwh": rnd(float((sol.d[i] - sol.s[i]).sum() * sol.hours), "mwh"),
                "served_pct": ld["served_pct"],
                "periods": ranges(periods),
                "causes": {name: _plain(info) for name, info in sorted(causes.items())},
            }
        )
    return out


def _limit_causes(
    sol: Solution,
    islands: _Island,
    i: int,
    periods: list[int],
    branch_periods: dict[str, set[int]],
) -> dict[str, dict[str, Any]]:
    isl = int(islands.islands[sol.grid.loads[i].bus])
    causes: dict[str, dict[str, Any]] = {}
    for t in periods:
        has_spare, dry, tanks_here = islands.at(isl, t)
        if not has_spare:
            causes.setdefault("generation capacity", {"periods": []})["periods"].append(t)
        elif dry:
            c = causes.setdefault("fuel", {"periods": [], "tanks": set()})
            c["periods"].append(t)
            c["tanks"].update(tanks_here)
        lines = [b for b, ps in branch_periods.items() if t in ps]
        if lines:
            c = causes.setdefault("line limit", {"periods": [], "branches": set()})
            c["periods"].append(t)
            c["branches"].update(lines)
    if "fuel" in causes:
        full = _full_routes(sol, causes["fuel"]["tanks"])
        if full:
            causes["transfer capacity"] = {"routes": full}
    return causes


def _full_routes(sol: Solution, tanks_hit: set[str]) -> list[str]:
    """Routes into those tanks that ran at capacity at some point."""
    names = set()
    for r_i, r in enumerate(sol.scenario.routes):
        cap = r.litres_per_period
        if cap <= 0 or f"{r.target}/{r.target_tank}" not in tanks_hit:
            continue
        if any(sol.xs[r_i, t] >= cap - 0.5 for t in range(sol.T)):
            names.add(r.name)
    return sorted(names)


def _policy_causes(run: Any, tier: int, present: set[int]) -> dict[str, dict[str, Any]]:
    causes: dict[str, dict[str, Any]] = {}
    higher = [k for k in (1, 2, 3) if k < tier and k in present]
    if higher:
        causes["priority"] = {"note": f"tiers {', '.join(map(str, higher))} were served first"}
    if tier in run.fairness and run.fairness[tier] < 1.0:
        causes["fair share"] = {
            "note": f"tier {tier} communities share the shortfall (leximin); none is below "
            f"{100 * run.fairness[tier]:.2f}% of its demand"
        }
    return causes


def _plain(info: dict[str, Any]) -> dict[str, Any]:
    return {
        key: (sorted(v) if isinstance(v, set) else ranges(v) if key == "periods" else v)
        for key, v in info.items()
    }


def ranges(periods: list[int]) -> list[list[int]]:
    """[3,4,5,9] -> [[3,5],[9,9]]: compact period lists for humans and hashes."""
    out: list[list[int]] = []
    for t in sorted(periods):
        if out and t == out[-1][1] + 1:
            out[-1][1] = t
        else:
            out.append([t, t])
    return out
