"""Cross-check mode: the single-period economic DC OPF from the net's own cost data.

This is the one place where money appears, and only to check the planner's DC
model against pandapower's ``rundcopp`` on the same net: the same ``_pd2ppc``
conversion, the same ``makeBdc`` matrices, the same generator rows and cost
rows (``gencost``: polynomial up to quadratic, or piecewise linear), solved with
HiGHS (QP when any quadratic term is present). Tiers, fuel and the scenario's
own units are ignored here on purpose.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from planner.canonical import rnd
from planner.errors import ScenarioError
from planner.highs import Solver
from planner.network import bus_islands, dc_ppc, load_net, one_slack_per_island
from planner.network_arrays import branch_identities, branch_limits_mw
from planner.result import PlanResult
from planner.scenario import Scenario


def solve_cost(
    scenario: Scenario, *, net: Any = None, time_limit: float | None = None
) -> PlanResult:
    """Economic dispatch of the scenario's network at its own loads, one period."""
    t0 = time.perf_counter()
    spec = scenario.network
    work = copy.deepcopy(net) if net is not None else load_net(spec.case, spec.file)
    if work.poly_cost.empty and work.pwl_cost.empty:
        raise ScenarioError(
            "objective cost: the network has no cost data (poly_cost or pwl_cost)",
            hint="cost mode cross-checks pandapower's DC OPF; use a case with costs, e.g. case9",
        )
    if spec.islanded and len(work.ext_grid):
        work.ext_grid["in_service"] = False
        one_slack_per_island(work, bus_islands(work))
    ppc, ppci, mats = dc_ppc(work)
    lp = _CostLP(ppci, mats)
    # the scenario's [network] options, exactly as the planner applies them
    kinds, _ = branch_identities(work, ppc, ppci)
    lp.add_branch_limits(kinds, spec)
    lp.add_costs()
    A = sp.vstack([sp.csr_matrix(r) for r in lp.rows], format="csc")
    solver = Solver(A, lp.col_lo, lp.col_hi, np.concatenate(lp.lo), np.concatenate(lp.hi))
    if np.any(lp.q):
        solver.set_hessian(lp.q)
    solver.set_objective(lp.c, maximize=False)
    out = solver.solve(time_limit)
    seconds = time.perf_counter() - t0
    data: dict[str, Any] = {
        "format": "plurigrid-plan/1",
        "mode": "cost",
        "scenario": {"name": scenario.name},
        "network": spec.case or (spec.file.name if spec.file else None),
        "size": {"rows": int(A.shape[0]), "columns": int(lp.ncol), "nonzeros": int(A.nnz)},
    }
    if out.status != "optimal" or out.x is None:
        infeasible = out.status == "infeasible"
        reason = (
            "the economic DC OPF has no solution within the network's limits"
            if infeasible
            else f"solver stopped: {out.detail or out.status}"
        )
        return PlanResult(
            "infeasible" if infeasible else "unsolved", reason, data, {"solve": seconds}
        )
    names = _gen_names(work, work._pd2ppc_lookups, lp.ng)
    pg = out.x[lp.nb : lp.nb + lp.ng] * lp.base
    data["objective_cost"] = rnd(out.objective + lp.const, "value")
    data["units"] = [{"name": names[g], "p_mw": rnd(float(pg[g]), "mw")} for g in range(lp.ng)]
    data["generation_mw"] = rnd(float(pg.sum()), "mw")
    data["objective_exact"] = float(out.objective + lp.const)
    return PlanResult(
        "solved", "economic DC OPF solved (cross-check mode, no tiers)", data, {"solve": seconds}
    )


class _CostLP:
    """rundcopp's problem: angles, generator outputs (pu) and piecewise-cost epigraphs."""

    def __init__(self, ppci: Any, mats: tuple[Any, Any, Any, Any]) -> None:
        from pandapower.pypower.idx_bus import BUS_TYPE, GS, PD, REF, VA
        from pandapower.pypower.idx_cost import MODEL, PW_LINEAR
        from pandapower.pypower.idx_gen import GEN_BUS, PMAX, PMIN

        Bbus, self.Bf, pbusinj, self.pfinj = mats
        self.base = float(ppci["baseMVA"])
        self.bus, self.branch, gen = ppci["bus"], ppci["branch"], ppci["gen"]
        self.gencost = ppci["gencost"]
        nb, ng = self.bus.shape[0], gen.shape[0]
        self.nb, self.ng = nb, ng
        self.pwl_rows = [g for g in range(ng) if int(self.gencost[g, MODEL]) == PW_LINEAR]
        ny = len(self.pwl_rows)
        self.ncol = nb + ng + ny
        base = self.base
        self.col_lo = np.concatenate(
            [np.full(nb, -np.inf), gen[:, PMIN] / base, np.full(ny, -np.inf)]
        )
        self.col_hi = np.concatenate(
            [np.full(nb, np.inf), gen[:, PMAX] / base, np.full(ny, np.inf)]
        )
        refs = np.flatnonzero(self.bus[:, BUS_TYPE] == REF)
        self.col_lo[refs] = np.deg2rad(self.bus[refs, VA])
        self.col_hi[refs] = np.deg2rad(self.bus[refs, VA])
        gbus = np.real(gen[:, GEN_BUS]).astype(int)
        Cg = sp.csr_matrix((np.ones(ng), (gbus, np.arange(ng))), shape=(nb, ng))
        rhs = -np.asarray(pbusinj).ravel() - (self.bus[:, PD] + self.bus[:, GS]) / base
        self.rows: list[Any] = [sp.hstack([Bbus, -Cg, sp.csr_matrix((nb, ny))])]
        self.lo: list[np.ndarray] = [rhs]
        self.hi: list[np.ndarray] = [rhs]
        self.c = np.zeros(self.ncol)
        self.q = np.zeros(self.ncol)
        self.const = 0.0

    def add_branch_limits(self, kinds: list[str], spec: Any) -> None:
        from pandapower.pypower.idx_brch import RATE_A

        rate, _ = branch_limits_mw(np.real(self.branch[:, RATE_A]).astype(float), kinds, spec)
        lim = np.flatnonzero(np.isfinite(rate))
        if len(lim):
            pf = np.asarray(self.pfinj).ravel()[lim]
            self.rows.append(
                sp.hstack([self.Bf[lim], sp.csr_matrix((len(lim), self.ncol - self.nb))])
            )
            self.lo.append(-rate[lim] / self.base - pf)
            self.hi.append(rate[lim] / self.base - pf)

    def add_costs(self) -> None:
        """c2 P^2 + c1 P + c0 with P = base * x; piecewise linear through epigraph rows."""
        from pandapower.pypower.idx_cost import MODEL, NCOST, PW_LINEAR

        nb, ng, base, gencost = self.nb, self.ng, self.base, self.gencost
        for g in range(ng):
            if int(gencost[g, MODEL]) == PW_LINEAR:
                continue
            n = int(gencost[g, NCOST])
            if n > 3:
                raise ScenarioError(f"objective cost: generator row {g} has a cubic or higher cost")
            poly = list(gencost[g, NCOST + 1 : NCOST + 1 + n][::-1]) + [0.0] * 3  # c0, c1, c2
            self.const += poly[0]
            self.c[nb + g] += poly[1] * base
            self.q[nb + g] += 2.0 * poly[2] * base * base
        for j, g in enumerate(self.pwl_rows):
            n = int(gencost[g, NCOST])
            pts = gencost[g, NCOST + 1 : NCOST + 1 + 2 * n].reshape(n, 2)  # (MW, cost)
            self.c[nb + ng + j] = 1.0
            for a in range(n - 1):
                (x0, y0), (x1, y1) = pts[a], pts[a + 1]
                slope = (y1 - y0) / (x1 - x0) if x1 != x0 else 0.0
                # y >= y0 + slope * (P - x0)  ->  y - slope*base*x >= y0 - slope*x0
                self.rows.append(
                    sp.csr_matrix(
                        ([1.0, -slope * base], ([0, 0], [nb + ng + j, nb + g])),
                        shape=(1, self.ncol),
                    )
                )
                self.lo.append(np.array([y0 - slope * x0]))
                self.hi.append(np.array([np.inf]))


def _gen_names(net: Any, lookups: dict[str, Any], ng: int) -> list[str]:
    """Names of ppci generator rows, following pandapower's own lookups."""
    names = [f"gen row {g}" for g in range(ng)]
    for element in ("ext_grid", "gen", "sgen", "load", "storage"):
        lk = lookups.get(element)
        if lk is None or element not in net or not len(net[element]):
            continue
        lk = np.asarray(lk)
        for idx in net[element].index:
            if 0 <= idx < len(lk) and 0 <= lk[idx] < ng:
                names[int(lk[idx])] = f"{element} {idx}"
    return names
