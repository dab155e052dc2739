"""Every step of a restoration order checked with a pandapower AC power flow.

The order comes from a transport model (active power and branch limits only). Each step
is applied to the prepared pandapower net as it would be in the field: open branches out
of service, closed blocks at their demand of that step (cold-load pickup included, the
reactive power scaled with it), units off until started, PV and batteries off, one
voltage reference per live island (its largest running black-start unit), every other
running unit at the MW of the order. Then a
Newton-Raphson power flow: voltage and loading limits, every violation reported.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

from planner.acflow import V_MAX_DEFAULT, V_MIN_DEFAULT, _limits, _run, numba_available
from planner.restore_case import RestoreCase
from planner.restore_greedy import Schedule


def check_steps(
    model: Any,
    case: RestoreCase,
    sch: Schedule,
    steps: list[int],
    *,
    progress: Callable[[int, int], None] | None = None,
) -> dict[int, dict[str, Any]]:
    """AC report per step index in ``steps``."""
    return Checker(model).run(case, sch, steps, progress=progress)


class Checker:
    """The net copy the steps are applied to, made ready before the order is known (the
    worker process of ``planner.restore_worker`` does this while the MILP runs)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.net = net = copy.deepcopy(model.net)
        self.f_hz = float(getattr(net, "f_hz", 50.0) or 50.0)
        self.numba = numba_available()
        self.limits = (
            _limits(net, "min_vm_pu", V_MIN_DEFAULT),
            _limits(net, "max_vm_pu", V_MAX_DEFAULT),
        )
        self.base = (net.load.p_mw.to_numpy(copy=True), net.load.q_mvar.to_numpy(copy=True))
        for table in ("sgen", "storage"):
            if table in net and len(net[table]):
                net[table]["in_service"] = False

    def run(
        self,
        case: RestoreCase,
        sch: Schedule,
        steps: list[int],
        *,
        progress: Callable[[int, int], None] | None = None,
    ) -> dict[int, dict[str, Any]]:
        """AC report per step index in ``steps``."""
        net, model = self.net, self.model
        load_block = _load_blocks(case)
        out: dict[int, dict[str, Any]] = {}
        for n, s in enumerate(steps):
            _apply_branches(net, model.grid, sch.z[s])
            _apply_blocks(net, case, sch, s, self.base, load_block)
            refs = _apply_units(net, model, case, sch, s)
            if not refs:
                out[s] = {"converged": None, "note": "nothing runs yet: the network is dark"}
            else:
                report = _run(net, self.numba, self.limits, distributed=False)
                out[s] = _flag_losses(net, report)
            if progress:
                progress(n + 1, len(steps))
        return out


#: Losses above this share of the load mean the flow found is not one to switch by (a
#: real network in restoration loses a few per cent): reported as a violation.
LOSS_SHARE = 0.10


def _flag_losses(net: Any, report: dict[str, Any]) -> dict[str, Any]:
    if not report.get("converged"):
        return report
    drawn = float(net.load.p_mw[net.load.in_service].sum())
    losses = float(report.get("losses_mw") or 0.0)
    if drawn > 0 and losses > LOSS_SHARE * drawn:
        report.setdefault("violations", []).append(
            {
                "element": "network",
                "kind": "losses",
                "limit": round(LOSS_SHARE * drawn, 4),
                "value": round(losses, 4),
            }
        )
    return report


def _load_blocks(case: RestoreCase) -> dict[int, tuple[int, int]]:
    """net.load row -> (block position, position in the block)."""
    out: dict[int, tuple[int, int]] = {}
    for j, block in enumerate(case.blocks):
        for m, row in enumerate(block.rows):
            out[row] = (j, m)
    return out


def _apply_branches(net: Any, grid: Any, closed: np.ndarray) -> None:
    for k, (kind, idx) in enumerate(zip(grid.branch_kind, grid.branch_index, strict=True)):
        if kind in ("line", "trafo") and int(idx) in net[kind].index:
            net[kind].at[int(idx), "in_service"] = bool(closed[k])


def _apply_blocks(
    net: Any,
    case: RestoreCase,
    sch: Schedule,
    s: int,
    base: tuple[np.ndarray, np.ndarray],
    load_block: dict[int, tuple[int, int]],
) -> None:
    """Closed blocks at their MW of step ``s`` (cold-load pickup included), the rest off."""
    base_p, base_q = base
    cold = np.ones(len(case.blocks))
    for j, block in enumerate(case.blocks):
        if block.cold_steps and sch.y[s, j]:
            back = s - block.cold_steps
            cold[j] = block.cold_factor if back < 0 or not sch.y[back, j] else 1.0
    for pos, row in enumerate(net.load.index):
        j, member = load_block.get(int(row), (-1, -1))
        on = j >= 0 and bool(sch.y[s, j])
        net.load.at[row, "in_service"] = on
        if on:
            mw = case.blocks[j].load_mw[member] * cold[j]
            net.load.at[row, "scaling"] = 1.0
            net.load.at[row, "p_mw"] = mw
            net.load.at[row, "q_mvar"] = base_q[pos] * mw / base_p[pos] if base_p[pos] > 0 else 0.0


def _apply_units(net: Any, model: Any, case: RestoreCase, sch: Schedule, s: int) -> int:
    """Set-points and on/off of every unit; the number of voltage references."""
    by_name = {u.name: g for g, u in enumerate(case.units)}
    refs = 0
    if len(net.gen):
        net.gen["slack"] = False
    leaders = _references(case, sch, s)
    for unit in model.grid.units:
        if unit.element not in ("gen", "ext_grid") or not unit.in_service:
            continue
        g = by_name.get(unit.name)
        on = g is not None and bool(sch.u[s, g])
        table = net[unit.element]
        table.at[unit.index, "in_service"] = on
        if not on:
            continue
        assert g is not None
        lead = g in leaders
        if unit.element == "gen":
            table.at[unit.index, "p_mw"] = float(sch.p[s, g])
            table.at[unit.index, "slack"] = lead
        refs += int(lead)
    return refs


def _references(case: RestoreCase, sch: Schedule, s: int) -> set[int]:
    """One voltage and frequency reference per live island: its largest running
    black-start unit (by name on a tie). Every other unit gives the MW of the order, so
    the power flow carries the flows the crews will see, not an even split between
    several references."""
    from planner.restore_greedy import islands

    isl = islands(case, sch.x[s], sch.z[s])
    best: dict[int, tuple[float, str, int]] = {}
    for g, unit in enumerate(case.units):
        if not (sch.u[s, g] and unit.black_start) or isl[unit.bus] < 0:
            continue
        key = (-unit.p_max_mw, unit.name, g)
        island = int(isl[unit.bus])
        if island not in best or key < best[island]:
            best[island] = key
    return {key[2] for key in best.values()}
