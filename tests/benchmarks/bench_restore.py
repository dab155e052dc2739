"""``plan restore`` benchmarks (issue 22): the island microgrid and case118 with 3
black-start units and 20 load blocks, AC checks included; the MILP's energy served over
the horizon against the greedy order computed in the same run (the MILP must serve at
least as much: that is asserted, the times are reported)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from planner.restore import restore
from planner.scenario_file import load_scenario, parse_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "field_guides" / "scenarios"


def case118_blocks(blocks: int = 20, black_start: int = 3) -> Any:
    """case118-72h with ``black_start`` units named and its loads in ``blocks`` blocks."""
    src = SCENARIOS / "case118-72h.toml"
    text = src.read_text()
    base = parse_scenario(text, base_dir=src.parent)
    by_tier: dict[int, list[str]] = {}
    for ld in base.loads:
        by_tier.setdefault(ld.tier, []).append(ld.name)
    units = [g for g in base.generators if g.element == "gen"][:black_start]
    named = ", ".join(f'"{g.name}"' for g in units)
    extra = f"\n[restore]\nblack_start = [{named}]\n"
    total = len(base.loads)
    for tier, names in sorted(by_tier.items()):
        size = math.ceil(len(names) / max(1, round(blocks * len(names) / total)))
        for i in range(0, len(names), size):
            members = ", ".join(f'"{n}"' for n in names[i : i + size])
            extra += f'\n[[restore.blocks]]\nname = "t{tier}-{i // size}"\nloads = [{members}]\n'
    return parse_scenario(text + extra, base_dir=src.parent)


def _bench(record: Callable[..., Any], label: str, scenario: Any, target: float) -> None:
    t0, c0 = time.perf_counter(), time.process_time()
    plan = restore(scenario)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    record("restore", f"{label}: wall", wall, "s", f"<= {target:g} s", wall <= target)
    record("restore", f"{label}: cpu", cpu, "s")
    record("restore", f"{label}: energy served, {plan['method']}", plan["energy_mwh"], "MWh")
    record("restore", f"{label}: energy served, greedy", plan["greedy_energy_mwh"], "MWh")
    record("restore", f"{label}: {plan['method']} over greedy", plan["gain_over_greedy_mwh"], "MWh", ">= 0",
           plan["gain_over_greedy_mwh"] >= 0)  # fmt: skip
    record("restore", f"{label}: AC violations", plan["ac_violations"], "count")
    assert plan["energy_mwh"] >= plan["greedy_energy_mwh"] - 1e-9


#: One ``plan restore`` in a fresh process, as the CLI runs it: its wall and CPU time,
#: the AC worker's CPU included (it is joined before ``restore`` returns).
_ONE_RUN = """
import json, resource, sys, time
from planner.restore import restore
from planner.scenario_file import load_scenario
sc = load_scenario(sys.argv[1])
t0, c0 = time.perf_counter(), time.process_time()
plan = restore(sc)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
plan["bench"] = {"wall": wall, "cpu": cpu, "worker_cpu": kids.ru_utime + kids.ru_stime}
json.dump(plan, sys.stdout)
"""


@pytest.mark.bench
@pytest.mark.timeout(600)
def test_restore_island_microgrid(record: Callable[..., Any], tmp_path: Path) -> None:
    """Two fresh processes on the same network cache: the first run on a laptop (the cache
    cold: pandapower is imported to build the network) and every run after it (the cache
    warm: pandapower's import and the net's reading overlap the MILP in the AC worker).
    The target (issue 22: <= 5 s) holds for both: a laptop's first plan counts too."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "PLURI_CACHE_DIR": str(tmp_path)}
    path = str(SCENARIOS / "island-microgrid.toml")
    plans = []
    for label in ("first run, network cache cold", "re-plan, network cache warm"):
        out = subprocess.run(
            [sys.executable, "-c", _ONE_RUN, path], env=env, capture_output=True, check=True
        )
        plan = json.loads(out.stdout)
        b = plan.pop("bench")
        name = f"island microgrid ({label})"
        record("restore", f"{name}: wall", b["wall"], "s", "<= 5 s", b["wall"] <= 5.0)
        record("restore", f"{name}: cpu, this process", b["cpu"], "s")
        record("restore", f"{name}: cpu, AC worker", b["worker_cpu"], "s")
        plans.append(plan)
    plan = plans[-1]
    record("restore", "island microgrid: energy served, milp", plan["energy_mwh"], "MWh")
    record("restore", "island microgrid: energy served, greedy", plan["greedy_energy_mwh"], "MWh")
    record("restore", "island microgrid: AC violations", plan["ac_violations"], "count")
    plans[0].pop("seconds"), plans[1].pop("seconds")
    assert plans[0] == plans[1]  # the worker changes no figure
    assert plan["energy_mwh"] >= plan["greedy_energy_mwh"] - 1e-9


@pytest.mark.bench
@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_restore_case118_3_black_start_20_blocks(record: Callable[..., Any]) -> None:
    _bench(record, "case118, 3 black start, 20 blocks", case118_blocks(), 30.0)


@pytest.mark.bench
@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_futures_case118_72h_against_one_plan_run(record: Callable[..., Any]) -> None:
    """4 futures (baseline, 24 h and 48 h reserve, max energy) against one `plan run`,
    both without the AC check, measured in the same process."""
    from planner.api import solve
    from planner.futures import run_futures

    sc = load_scenario(SCENARIOS / "case118-72h.toml")
    solve(sc, validate=False, periods=2)  # the network cache warm for both, as on a laptop
    c0 = time.process_time()
    one = solve(sc, validate=False)
    single = time.process_time() - c0
    c0 = time.process_time()
    data, _ = run_futures(sc, reserve_hours=(24.0, 48.0), max_energy=True, ac=False)
    four = time.process_time() - c0
    ratio = four / single
    record("futures", "case118 72h: one plan run (cpu)", single, "s")
    record("futures", f"case118 72h: {len(data['futures'])} futures (cpu)", four, "s")
    record("futures", "case118 72h: futures / one plan run", ratio, "x", "<= 4", ratio <= 4.0)
    assert one.status == "solved" and len(data["futures"]) == 4
