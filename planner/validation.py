"""What ``plurictl plan validate`` reports: a scenario checked with its network, unsolved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from planner.scenario import Scenario


def validation_report(sc: Scenario, file: Path) -> dict[str, Any]:
    """Load ``sc``'s network (raises ``ScenarioError``/``NetworkError`` if they do not
    match) and describe both: sizes, tiers declared, loads no generation can reach."""
    from planner.api import scenario_hash
    from planner.network import build_network

    grid = build_network(sc).grid
    in_service = [ld for ld in grid.loads if ld.in_service]
    return {
        "file": str(file),
        "valid": True,
        "name": sc.name,
        "scenario_hash": scenario_hash(sc),
        "network": sc.network.case or (sc.network.file.name if sc.network.file else None),
        "buses": grid.n_bus,
        "branches": len(grid.branch_names),
        "limited_branches": int(sum(1 for r in grid.branch_rate_mw if r != float("inf"))),
        "islands": len(grid.ref_buses),
        "periods": sc.horizon.periods,
        "hours_per_period": sc.horizon.hours_per_period,
        "sites": [
            {"name": s.name, "kind": s.kind, "tanks": [t.key for t in s.tanks]} for s in sc.sites
        ],
        "fuel_types": list(sc.fuel_types),
        "units": sum(1 for u in grid.units if u.element != "storage"),
        "fuelled_units": sum(1 for u in grid.units if u.spec is not None and u.spec.fuelled),
        "batteries": len(grid.batteries),
        "loads": len(grid.loads),
        "declared_loads_by_tier": {k: sum(1 for ld in sc.loads if ld.tier == k) for k in (1, 2, 3)},
        "undeclared_loads": len({ld.index for ld in grid.loads} - {ld.index for ld in sc.loads}),
        "unreachable_loads": [ld.name for ld in in_service if not ld.reachable],
        "notes": grid.notes,
    }
