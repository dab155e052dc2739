"""Planner benchmarks (``make bench``): one table, with pandapower's baseline measured in the same run.

* case118, 72 periods, fuel-coupled: build + solve + extract, against 72 sequential
  ``pandapower.rundcopp`` calls on the same net (loads scaled per period the same way);
* AC validation of 72 periods on case118, with and without numba when it is installed;
* case2869pegase (transformer limits relaxed as pandapower's own OPF needs) for 24 and
  72 periods: size (rows, columns, non-zeros of the shift-factor model; the limit rows
  it needed are in the note), time split, peak memory (also ``slow``); and, for
  comparison only, 24 periods with bus angles (the formulation before shift factors;
  stopped at 120 s and not asserted: the planner does not use it).

* case118 72 h end to end from the CLI (in this process, pandapower imported as for the
  baseline): network loading included, with the network cache off and on;
* case2869pegase with fuel for 30% of demand (tiers 1-2 short, every stage, leximin
  fairness between 8 communities per tier) for 24 and 72 periods.

Targets from issues 10 and 15 are printed next to the numbers; they are reported, not
asserted, because speed depends on the machine (2 shared cores here). The ``cpu`` column
is this process's CPU time for the same span: with other work on the machine, the wall
clock says more about the neighbours than about the planner.
"""

from __future__ import annotations

import resource
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from planner.api import load_scenario, parse_scenario, solve

from .scenario_gen import DAILY, fuelled_case_toml

SCENARIOS = Path(__file__).resolve().parents[2] / "field_guides" / "scenarios"
ROWS: list[dict[str, Any]] = []
TIME_LIMIT = {24: 900.0, 72: 900.0}  # seconds for the whole staged solve; status says if hit
BASELINE_CPU = [0.0]  # CPU seconds of the last baseline loop (the machine is shared)
ANGLES_LIMIT = 120.0  # the bus-angle comparison row: informational, bounded


@pytest.fixture(scope="module", autouse=True)
def _table() -> Iterator[None]:
    yield
    if not ROWS:
        return
    print("\n\nplanner benchmarks (seconds; 2 shared cores)")
    head = f"{'case':<34} {'rows':>8} {'cols':>8} {'nnz':>9} {'build':>6} {'solve':>7} {'extract':>7} {'total':>7} {'cpu':>7} {'baseline':>9} {'ratio':>6} {'peak MB':>8}  note"
    print(head)
    print("-" * len(head))
    for r in ROWS:
        print(
            f"{r['case']:<34} {r.get('rows', ''):>8} {r.get('cols', ''):>8} {r.get('nnz', ''):>9} "
            f"{_f(r.get('build')):>6} {_f(r.get('solve')):>7} {_f(r.get('extract')):>7} {_f(r.get('total')):>7} "
            f"{_f(r.get('cpu')):>7} {_f(r.get('baseline')):>9} {_f(r.get('ratio'), 2):>6} {_f(r.get('peak_mb'), 0):>8}  {r.get('note', '')}"
        )


def _f(v: float | None, digits: int = 2) -> str:
    return "" if v is None else f"{v:.{digits}f}"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _quiet_net(case: str) -> Any:
    import pandapower.networks as pn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(pn, case)()


def _rundcopp_loop(net: Any, profile: list[float], periods: int) -> float:
    """The baseline: one pandapower DC OPF per period, loads scaled like the planner's."""
    import pandapower as pp

    base = net.load.p_mw.to_numpy(copy=True)
    t0, c0 = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t in range(periods):
            net.load["p_mw"] = base * profile[t % len(profile)]
            pp.rundcopp(net)
    net.load["p_mw"] = base
    BASELINE_CPU[0] = time.process_time() - c0
    return time.perf_counter() - t0


def _row(
    case: str,
    res: Any,
    *,
    baseline: float | None = None,
    note: str = "",
    cpu: float | None = None,
) -> dict[str, Any]:
    t = res.timings
    total = t.get("network", 0) + t.get("build", 0) + t.get("solve", 0) + t.get("extract", 0)
    row = {
        "case": case,
        "rows": res.size.get("rows"),
        "cols": res.size.get("columns"),
        "nnz": res.size.get("nonzeros"),
        "build": t.get("network", 0) + t.get("build", 0),
        "solve": t.get("solve"),
        "extract": t.get("extract"),
        "total": total,
        "cpu": cpu,
        "baseline": baseline,
        "ratio": total / baseline if baseline else None,
        "peak_mb": _peak_mb(),
        "note": note,
    }
    ROWS.append(row)
    return row


@pytest.mark.bench
def test_case118_72h_against_72_rundcopp() -> None:
    net = _quiet_net("case118")
    baseline = _rundcopp_loop(net, DAILY, 72)
    sc = load_scenario(SCENARIOS / "case118-72h.toml")
    solve(sc, periods=2, validate=False, net=net)  # warm imports, not timed
    c0 = time.process_time()
    res = solve(sc, validate=False, net=net)
    cpu = time.process_time() - c0
    assert res.status == "solved", res.reason
    stages = ", ".join(f"{k} {v:.2f}" for k, v in res.stage_seconds.items() if v > 0)
    row = _row(
        "case118 72h (all stages)",
        res,
        baseline=baseline,
        cpu=cpu,
        note=f"target ratio <= 0.33; CPU ratio {cpu / BASELINE_CPU[0]:.2f}; {stages}",
    )
    print(f"\ncase118 72h: {row['total']:.2f} s vs 72 x rundcopp {baseline:.2f} s")


#: Runs of each end-to-end variant (and of its baseline): the best is reported, as timeit
#: does, because on shared cores one run measures the neighbours as much as the planner.
BEST_OF = 3


@pytest.mark.bench
def test_case118_72h_end_to_end_from_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``plurictl plan run case118-72h.toml --no-ac --json`` in this process (pandapower is
    imported, as for the baseline), network loading included: with the network cache off,
    filling an empty cache (a laptop's first plan), and re-planning from it. Each variant
    and the baseline run BEST_OF times; the best of each is compared."""
    from click.testing import CliRunner

    from plurictl.cli import cli

    net = _quiet_net("case118")
    walls, cpus = [], []
    for _ in range(BEST_OF):
        walls.append(_rundcopp_loop(net, DAILY, 72))
        cpus.append(BASELINE_CPU[0])
    baseline, BASELINE_CPU[0] = min(walls), min(cpus)
    args = ["plan", "run", str(SCENARIOS / "case118-72h.toml"), "--no-ac", "--json"]
    runner = CliRunner()
    runner.invoke(cli, [*args[:3], "--periods", "2", "--no-ac", "--json"])  # warm imports
    runs: dict[str, list[tuple[float, float]]] = {}
    for i in range(BEST_OF):
        for label, cache in (
            ("cache off", "off"),
            ("filling the cache", str(tmp_path / f"cache-{i}")),  # empty each time
            ("re-plan, cache", str(tmp_path / f"cache-{i}")),
        ):
            monkeypatch.setenv("PLURI_CACHE_DIR", cache)
            t0, c0 = time.perf_counter(), time.process_time()
            r = runner.invoke(cli, args, catch_exceptions=False)
            runs.setdefault(label, []).append((time.perf_counter() - t0, time.process_time() - c0))
            assert r.exit_code == 0, r.output
    for label, timed in runs.items():
        total, cpu = min(w for w, _ in timed), min(c for _, c in timed)
        ROWS.append(
            {
                "case": f"case118 72h CLI end to end ({label})",
                "total": total,
                "cpu": cpu,
                "baseline": baseline,
                "ratio": total / baseline,
                "peak_mb": _peak_mb(),
                "note": f"target ratio <= 0.33 (network loading included); best of {BEST_OF} "
                f"(runs {', '.join(f'{w:.2f}' for w, _ in timed)} s); "
                f"CPU ratio {cpu / BASELINE_CPU[0]:.2f} (baseline CPU {BASELINE_CPU[0]:.2f} s)",
            }
        )


@pytest.mark.bench
def test_case118_72h_single_fuel_coupled_lp() -> None:
    """The same LP solved once (tier-weighted objective): what one horizon-wide solve costs."""
    from planner.formulation import build_problem
    from planner.highs import Solver
    from planner.network import build_network

    net = _quiet_net("case118")
    baseline = _rundcopp_loop(net, DAILY, 72)
    sc = load_scenario(SCENARIOS / "case118-72h.toml")
    t0 = time.perf_counter()
    model = build_network(sc, net=net)
    problem = build_problem(sc, model.grid)
    t1 = time.perf_counter()
    solver = Solver(problem.A, problem.col_lo, problem.col_hi, problem.row_lo, problem.row_hi)
    w = sc.policy.tier_weights
    solver.set_objective(sum(w[k - 1] * problem.energy_weight[k] for k in (1, 2, 3)))
    out = solver.solve()
    t2 = time.perf_counter()
    assert out.status == "optimal"
    _model_row(
        "case118 72h (one LP, weighted)",
        problem,
        (t0, t1, t2),
        baseline=baseline,
        note="a single fuel-coupled solve, for scale",
    )


def _model_row(
    case: str,
    problem: Any,
    marks: tuple[float, float, float],
    *,
    note: str,
    baseline: float | None = None,
) -> None:
    """A row for a model built and solved here directly (marks: start, built, solved)."""
    t0, t1, t2 = marks
    ROWS.append(
        {
            "case": case,
            "rows": problem.n_row,
            "cols": problem.n_col,
            "nnz": problem.A.nnz,
            "build": t1 - t0,
            "solve": t2 - t1,
            "total": t2 - t0,
            "baseline": baseline,
            "ratio": (t2 - t0) / baseline if baseline else None,
            "peak_mb": _peak_mb(),
            "note": note,
        }
    )


@pytest.mark.bench
def test_ac_validation_case118_72_periods() -> None:
    from planner.acflow import numba_available, validate_ac
    from planner.network import build_network

    sc = load_scenario(SCENARIOS / "case118-72h.toml")
    net = _quiet_net("case118")
    plan = solve(sc, validate=False, net=net).to_json()
    modes = [False] + ([True] if numba_available() else [])
    for use_numba in modes:
        model = build_network(sc, net=net)
        if use_numba:
            validate_ac(
                model, {**plan, "periods": plan["periods"][:2]}, use_numba=True
            )  # JIT warm-up
            model = build_network(sc, net=net)
        ac = validate_ac(model, plan, use_numba=use_numba)
        ROWS.append(
            {
                "case": f"AC check case118 72 periods ({'numba' if use_numba else 'no numba'})",
                "total": ac["seconds"],
                "peak_mb": _peak_mb(),
                "note": f"{ac['summary']['converged']}/72 converged",
            }
        )
    if not numba_available():
        ROWS.append({"case": "AC check with numba", "note": "numba not installed: not measured"})


def _pegase(periods: int) -> None:
    net = _quiet_net("case2869pegase")
    sc = parse_scenario(fuelled_case_toml(net, "case2869pegase", periods, relax_trafos=True))
    c0 = time.process_time()
    res = solve(sc, validate=False, net=net, time_limit=TIME_LIMIT[periods])
    cpu = time.process_time() - c0
    stages = ", ".join(f"{k} {v:.1f}" for k, v in res.stage_seconds.items() if v > 0)
    target = 20 if periods == 24 else 60
    plan = res.to_json()
    lazy = [n.split(":")[1].split("(")[0].strip() for n in plan["notes"] if "added when" in n]
    _row(
        f"case2869pegase {periods}h (all stages)",
        res,
        note=f"{res.status}; target <= {target} s; {plan['recipe']['method']}; {stages}"
        + (f"; lazy branch limits: {lazy[0]}" if lazy else ""),
        cpu=cpu,
    )
    assert res.status in ("solved", "partial"), res.reason
    if periods == 24:
        from planner.acflow import validate_ac
        from planner.network import build_network

        ac = validate_ac(build_network(sc, net=net), res.to_json(), use_numba=False)
        a = ac["summary"]
        ROWS.append(
            {
                "case": "AC check case2869pegase 24 periods",
                "total": ac["seconds"],
                "peak_mb": _peak_mb(),
                "note": f"{a['converged']}/24 converged; violations {a['violations_by_kind']}; "
                f"worst trafo {a['worst_transformer']}",
            }
        )


@pytest.mark.bench
@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_case2869pegase_24_periods() -> None:
    _pegase(24)


@pytest.mark.bench
@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_case2869pegase_24_periods_with_angles() -> None:
    """The same plan through bus angles and lazy angle rows: what shift factors replaced."""
    from planner.formulation import build_problem
    from planner.network import build_network
    from planner.stages import run_stages

    net = _quiet_net("case2869pegase")
    sc = parse_scenario(fuelled_case_toml(net, "case2869pegase", 24, relax_trafos=True))
    t0 = time.perf_counter()
    grid = build_network(sc, net=net).grid
    problem = build_problem(sc, grid, form="angles")
    t1 = time.perf_counter()
    run = run_stages(problem, sc.policy, method="simplex", tiebreak="lp", time_limit=ANGLES_LIMIT)
    t2 = time.perf_counter()
    stages = ", ".join(f"{s.name} {s.seconds:.1f}" for s in run.log if s.seconds > 0)
    _model_row(
        "case2869pegase 24h with angles",
        problem,
        (t0, t1, t2),
        note=f"{run.status} (comparison only, time limit {ANGLES_LIMIT:g} s); "
        f"lazy angle rows {run.lazy_rows}; {stages}",
    )
    # No assertion on the outcome: the planner does not use this formulation, the row
    # only shows what shift factors replaced (it may well end at its time limit).


def _tiers_short(periods: int, target: float) -> None:
    """Fuel for 30% of demand and no must-run units: tiers 1-2 cannot all be served, so
    the optimistic pin fails and every tier's stages run (the slow path), each tier's
    fairness leximin over its 8 communities."""
    net = _quiet_net("case2869pegase")
    net.gen["min_p_mw"] = 0.0
    toml = fuelled_case_toml(net, "case2869pegase", periods, relax_trafos=True, fuel_share=0.3)
    c0 = time.process_time()
    res = solve(parse_scenario(toml), validate=False, net=net, time_limit=900.0)
    cpu = time.process_time() - c0
    stages = ", ".join(f"{k} {v:.1f}" for k, v in res.stage_seconds.items() if v > 0)
    plan = res.to_json()
    tiers = ", ".join(f"tier {t['tier']} {t['served_pct']}%" for t in plan.get("tiers", []))
    levels = sorted(
        {c["fair_level_pct"] for c in plan.get("communities", []) if c["fair_level_pct"]}
    )
    _row(
        f"case2869pegase {periods}h, tiers 1-2 short",
        res,
        note=f"{res.status}; target <= {target:g} s; {tiers}; leximin levels {levels}; {stages}",
        cpu=cpu,
    )
    assert res.status == "solved", res.reason


@pytest.mark.bench
@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_case2869pegase_24_periods_tiers_short_leximin() -> None:
    _tiers_short(24, 20.0)


@pytest.mark.bench
@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_case2869pegase_72_periods_tiers_short() -> None:
    _tiers_short(72, 120.0)


@pytest.mark.bench
@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_case2869pegase_72_periods() -> None:
    _pegase(72)
