"""`plurictl plan scenarios|validate|run|explain`: the non-market fuel and generation planner.

Thin commands: parse options, call ``planner.api``, render with rich. The planner
(pandapower, scipy, HiGHS) is imported inside the commands so that
``plurictl --help`` stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from plurictl.params import count_type, output_path, read_json_file, seconds_type
from plurictl.render import console, emit_json, error_console, json_option

if TYPE_CHECKING:
    from planner.result import PlanResult
    from planner.scenario import Scenario


@click.group()
def plan() -> None:
    """Plan fuel and generation: scenarios, runs, explanations.

    No prices: life-safety loads (tier 1) first, then essential (2), then general
    (3); shortfall shared fairly between communities; then fuel kept in the tanks.
    Guide: field_guides/planner.md.
    """


@plan.command("scenarios")
@json_option
def scenarios(as_json: bool) -> None:
    """List the scenarios shipped in field_guides/scenarios/."""
    from planner.scenario_file import shipped_scenarios
    from plurictl import shipped

    rows = shipped_scenarios(shipped.folder("scenarios"))
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table(title=f"{len(rows)} shipped scenarios")
    for col in ("name", "network", "horizon", "sites", "file"):
        table.add_column(col, overflow="fold")
    for r in rows:
        if not r["valid"]:
            table.add_row(r["name"], "[red]invalid[/]", r["error"], "", r["file"])
            continue
        horizon = f"{r['periods']} x {r['hours_per_period']:g} h"
        table.add_row(r["name"], str(r["network"]), horizon, ", ".join(r["sites"]), r["file"])
    console().print(table)
    console().print(
        "Run one: plurictl plan run FILE   (check it first: plurictl plan validate FILE)"
    )


@plan.command("validate")
@click.argument("file")
@json_option
def validate(file: str, as_json: bool) -> None:
    """Check a scenario FILE (or a shipped scenario's name) and its network without solving
    (exit 10 if invalid)."""
    from planner.api import load_scenario, scenario_hash
    from planner.network import build_network

    path = resolve_scenario(file)
    sc = load_scenario(path)
    model = build_network(sc)
    grid = model.grid
    tiers = {k: sum(1 for ld in sc.loads if ld.tier == k) for k in (1, 2, 3)}
    report = {
        "file": str(path),
        "valid": True,
        "name": sc.name,
        "scenario_hash": scenario_hash(sc),
        "network": sc.network.case or (sc.network.file.name if sc.network.file else None),
        "buses": grid.n_bus,
        "branches": len(grid.branch_names),
        "limited_branches": int(sum(1 for r in grid.branch_rate_mw if r != float("inf"))),
        "periods": sc.horizon.periods,
        "hours_per_period": sc.horizon.hours_per_period,
        "sites": [
            {"name": s.name, "kind": s.kind, "tanks": [t.key for t in s.tanks]} for s in sc.sites
        ],
        "fuel_types": list(sc.fuel_types),
        "units": len(grid.units),
        "fuelled_units": sum(1 for u in grid.units if u.spec is not None and u.spec.fuelled),
        "loads": len(grid.loads),
        "declared_loads_by_tier": tiers,
        "undeclared_loads": len(grid.loads) - len(sc.loads),
        "notes": grid.notes,
    }
    if as_json:
        emit_json(report)
        return
    out = console()
    out.print(f"[green]OK[/]: {sc.name} ({path})")
    out.print(
        f"  network {report['network']}: {grid.n_bus} buses, {report['branches']} branches "
        f"({report['limited_branches']} with limits)"
    )
    out.print(f"  horizon {sc.horizon.periods} periods of {sc.horizon.hours_per_period:g} h")
    out.print(
        f"  {len(sc.sites)} sites/depots, {len(sc.tanks)} tanks, {report['fuelled_units']} fuelled units "
        f"of {report['units']}, {len(sc.routes)} truck routes"
    )
    out.print(
        f"  loads: tier 1 {tiers[1]}, tier 2 {tiers[2]}, tier 3 {tiers[3]} declared; "
        f"{report['undeclared_loads']} more at the default tier {sc.policy.default_tier}"
    )
    for n in grid.notes:
        out.print(f"  note: {n}")


def run_plan(
    scenario: Scenario,
    *,
    periods: int | None,
    commitment: bool,
    objective: str,
    time_limit: float | None,
    show_progress: bool,
    validate_ac: bool = True,
) -> PlanResult:
    """The core of ``plan run``: one solve with a progress display (``--from-ledger`` reuses it)."""
    from functools import partial

    from planner.api import solve

    run = partial(
        solve,
        scenario,
        periods=periods,
        commitment=commitment,
        objective=objective,
        time_limit=time_limit,
        validate=validate_ac,
    )
    con = error_console()
    if not show_progress or not con.is_terminal:
        return run()
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    spans = {"build": (0, 10), "solve": (10, 60), "validate": (60, 100), "done": (100, 100)}
    with Progress(
        TextColumn("{task.description:<34}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=con,
        transient=True,
    ) as progress:
        task = progress.add_task("building", total=100)

        def cb(stage: str, message: str, fraction: float) -> None:
            lo, hi = spans.get(stage, (0, 100))
            progress.update(
                task,
                completed=lo + (hi - lo) * max(0.0, min(1.0, fraction)),
                description=f"{stage}: {message}",
            )

        return run(progress=cb)


def require_plotting() -> None:
    """``--plot`` needs the optional ``plot`` extra (matplotlib): say so plainly."""
    from plurictl.errors import MissingExtra

    try:
        import matplotlib  # noqa: F401 - only whether it is there
    except ImportError as e:
        raise MissingExtra(
            "--plot needs matplotlib, which is not installed on this laptop (nothing was planned)",
            hint="install the plot extra: pip install 'plurigrid[plot]' (offline: "
            "pip install --no-index --find-links WHEELHOUSE 'plurigrid[plot]'), or leave out --plot",
        ) from e


def resolve_scenario(text: str) -> Path:
    """A scenario file path, or the name of a shipped scenario (`plan scenarios`).

    Something that looks like a path is left to the scenario reader, whose errors
    (exit 10) name the file.
    """
    from plurictl import shipped

    if Path(text).suffix or "/" in text:
        return Path(text)
    return shipped.resolve("scenarios", text)


@plan.command("run")
@click.argument("file")
@click.option("--periods", type=count_type(maximum=100_000), help="Plan only the first N periods.")
@click.option(
    "--commitment", is_flag=True, help="On/off decisions with minimum stable load (MILP, slower)."
)
@click.option(
    "--objective",
    type=click.Choice(["tiers", "cost"]),
    default="tiers",
    show_default=True,
    help="tiers: the planner; cost: pandapower-style economic DC OPF, as a cross-check.",
)
@click.option(
    "--time-limit",
    type=seconds_type(max_seconds=7 * 86_400, min_seconds=0.001),
    help="Seconds before giving up.",
)
@click.option("--no-ac", is_flag=True, help="Skip the AC power-flow check of every period.")
@click.option(
    "--out",
    "out_file",
    type=output_path(),
    help="Write the plan JSON here.",
)
@click.option("--plot", "plot_file", type=output_path(), help="Write a PNG here.")
@click.option(
    "--from-ledger",
    is_flag=True,
    help="Start from the fuel this laptop's ledger shows (fuel status), not the file's numbers.",
)
@click.option("--propose", is_flag=True, help="Also put the plan into the ledger (plan propose).")
@json_option
def run(
    file: str,
    periods: int | None,
    commitment: bool,
    objective: str,
    time_limit: float | None,
    no_ac: bool,
    out_file: Path | None,
    plot_file: Path | None,
    from_ledger: bool,
    propose: bool,
    as_json: bool,
) -> None:
    """Plan a scenario: who gets power and fuel, hour by hour.

    Exit 11 when no plan could be made (infeasible, time limit, solver failure);
    the reason is printed first. FILE is a scenario file or a shipped scenario's name
    (`plan scenarios`). Example: plurictl plan run three-bases --from-ledger
    """
    from planner.api import load_scenario
    from plurictl.context import AppContext

    if plot_file is not None:
        require_plotting()  # before a long solve, not after it
    scenario = load_scenario(resolve_scenario(file))
    app = click.get_current_context().find_object(AppContext)
    if from_ledger:
        from plurictl.coordination import ledger_inventory

        assert app is not None
        inventory = ledger_inventory(app.home.store, scenario)
        scenario = scenario.with_inventory(inventory.litres)
        out = error_console()  # stderr, so also with --json (stdout stays one JSON document)
        used = (
            ", ".join(f"{k} {v:,.0f} L" for k, v in sorted(inventory.litres.items())) or "nothing"
        )
        out.print(f"fuel from the ledger: {used}")
        if inventory.alarm:
            out.print(f"[bold red]WARNING:[/] {inventory.alarm}", highlight=False)
        for warning in inventory.warnings:
            out.print(f"[yellow]Warning:[/] {warning}", highlight=False)
    result = run_plan(
        scenario,
        periods=periods,
        commitment=commitment,
        objective=objective,
        time_limit=time_limit,
        show_progress=not as_json,
        validate_ac=not no_ac,
    )
    if propose and result.status in ("solved", "partial") and objective == "tiers":
        from plurictl.coordination import propose_plan
        from plurictl.nudge import nudge_node

        assert app is not None
        entry = propose_plan(app.home.store, app.home.identity, result.to_json())
        nudge_node(app.home.path)
        if not as_json:
            error_console().print(f"plan proposed in the ledger as [bold]{entry.id.hex()[:12]}[/]")
    finish_run(result, out_file=out_file, plot_file=plot_file, as_json=as_json)


def finish_run(
    result: PlanResult, *, out_file: Path | None, plot_file: Path | None, as_json: bool
) -> None:
    """Write, render and exit for a plan result (shared with future ``--from-ledger``)."""
    from planner.errors import SolverError
    from plurictl.errors import Failed

    plan_json = result.to_json()
    if out_file is not None:
        out_file.write_text(
            json.dumps(plan_json, sort_keys=True, indent=1, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
    if (
        plot_file is not None
        and result.status in ("solved", "partial")
        and plan_json.get("mode") == "tiers"
    ):
        from planner.plot import plot_plan

        plot_plan(plan_json, plot_file)
    if as_json:
        emit_json(plan_json)
    else:
        render_plan(plan_json, result)
        if out_file is not None:
            console().print(f"plan written to {out_file}")
        if plot_file is not None and plot_file.exists():
            console().print(f"plot written to {plot_file}")
    if result.status != "solved":
        raise Failed(SolverError)


# ---------------------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------------------


def _bands(T: int, hours: float) -> list[tuple[int, int]]:
    """Split the horizon into at most 6 readable bands (days when it is long enough)."""
    per_day = max(round(24 / hours), 1)
    size = per_day if T / per_day >= 2 and T / per_day <= 7 else max(1, -(-T // 6))
    return [(a, min(a + size, T) - 1) for a in range(0, T, size)]


def _pct(v: float | None) -> str:
    if v is None:
        return "-"
    colour = "green" if v >= 99.995 else "yellow" if v >= 50 else "red"
    return f"[{colour}]{v:.1f}[/]"


def render_plan(plan: dict[str, Any], result: PlanResult) -> None:
    from rich.table import Table

    out = console()
    status_colour = {"solved": "green", "partial": "yellow"}.get(result.status, "red")
    sc = plan.get("scenario", {})
    out.print(
        f"[bold]{sc.get('name')}[/]  status [{status_colour}]{result.status}[/]: {result.reason}"
    )
    if plan.get("mode") == "cost":
        if "objective_cost" in plan:
            out.print(
                f"economic DC OPF: cost {plan['objective_cost']}, generation {plan['generation_mw']} MW"
            )
        out.print(f"plan hash {plan['plan_hash'][:16]}")
        return
    detail = plan.get("reason_detail")
    if detail:
        out.print("[red]Infeasible, because:[/]")
        for it in detail.get("items", [])[:10]:
            when = f" period {it['period']}" if it["period"] >= 0 else ""
            out.print(f"  {it['limit']}: {it['element']}{when} — short by {it['by']} {it['unit']}")
        out.print("What to do: see 'When a plan is infeasible' in field_guides/planner.md.")
    if "summary" not in plan:
        out.print(f"plan hash {plan['plan_hash'][:16]}")
        return
    s = plan["summary"]
    timing = ", ".join(f"{k} {v:.2f}s" for k, v in result.timings.items())
    out.print(
        f"{s['served_pct']}% of {s['demand_mwh']} MWh served; {s['loads_shed']} loads shed at times; "
        f"fuel {s['fuel_start_litres']} L -> {s['fuel_end_litres']} L"
    )
    out.print(
        f"LP {plan['size']['rows']} rows x {plan['size']['columns']} columns, {plan['size']['nonzeros']} non-zeros; {timing}"
    )
    T = len(plan["periods"])
    bands = _bands(T, sc["hours_per_period"])
    labels = [p["label"] for p in plan["periods"]]

    table = Table(title="Served % by tier and community (per period band)")
    table.add_column("tier")
    table.add_column("community")
    table.add_column("all", justify="right")
    for a, b in bands:
        table.add_column(f"{labels[a]}\n..{b - a + 1} periods", justify="right")
    for c in plan["communities"]:
        cells = []
        for a, b in bands:
            vals = c["served_pct_by_period"][a : b + 1]
            cells.append(_pct(min(v for v in vals if v is not None) if vals else None))
        table.add_row(str(c["tier"]), c["community"], _pct(c["served_pct"]), *cells)
    out.print(table)
    out.print("  (band cells show the lowest hour in the band)")

    units = [u for u in plan["units"] if (u["energy_mwh"] or 0) > 0 or u.get("fuel")]
    table = Table(title="Generator schedules (average MW per band)")
    for col in ("unit", "site", "max MW", "MWh", "fuel L", "on"):
        table.add_column(col, justify="right" if col not in ("unit", "site") else "left")
    for a, _b in bands:
        table.add_column(labels[a], justify="right")
    for u in units[:40]:
        on = sum(1 for r in u["running"] if r)
        avg = [sum((v or 0.0) for v in u["schedule_mw"][a : b + 1]) / (b - a + 1) for a, b in bands]
        table.add_row(
            u["name"],
            str(u.get("site") or ""),
            f"{u['p_max_mw']:g}" if u["p_max_mw"] is not None else "inf",
            f"{u['energy_mwh']:g}",
            str(u["fuel_litres"] or 0),
            f"{on}/{T}",
            *[f"{v:.2f}" for v in avg],
        )
    out.print(table)
    if len(units) > 40:
        out.print(f"  ... and {len(units) - 40} more units (see --json or --out)")

    table = Table(title="Fuel")
    for col in ("site/tank", "fuel", "start L", "end L", "reserve L", "reaches reserve at"):
        table.add_column(col)
    for t in plan["tanks"]:
        table.add_row(
            t["key"],
            t["fuel"],
            str(t["start_litres"]),
            str(t["end_litres"]),
            str(t["reserve_litres"]),
            f"[red]{t['runs_out_at']}[/]" if t["runs_out_at"] else "[green]never[/]",
        )
    out.print(table)

    if plan["transfers"]:
        table = Table(title="Fuel transfers")
        for col in ("route", "departs", "litres", "trips", "arrives (period)"):
            table.add_column(col)
        for tr in plan["transfers"][:30]:
            table.add_row(
                tr["route"],
                tr["depart_at"],
                str(tr["litres"]),
                str(tr["trips"]),
                str(tr["arrive_period"]),
            )
        out.print(table)
        if len(plan["transfers"]) > 30:
            out.print(f"  ... and {len(plan['transfers']) - 30} more transfers")

    if plan["shed"]:
        table = Table(title="Shed loads (why: plurictl plan explain PLAN --load NAME)")
        for col in ("load", "tier", "community", "shed MWh", "served %", "because"):
            table.add_column(col)
        shed = sorted(plan["shed"], key=lambda r: (r["tier"], -(r["shed_mwh"] or 0), r["load"]))
        for r in shed[:30]:
            table.add_row(
                r["load"],
                str(r["tier"]),
                r["community"],
                str(r["shed_mwh"]),
                _pct(r["served_pct"]),
                ", ".join(r["causes"]),
            )
        out.print(table)
        if len(shed) > 30:
            out.print(f"  ... and {len(shed) - 30} more shed loads")

    ac = plan.get("ac")
    if ac:
        a = ac["summary"]
        ok = "[green]no violations[/]" if a["ok"] else "[red]violations found[/]"
        out.print(
            f"AC check: {a['converged']}/{a['periods']} periods converged, {ok}; "
            f"V {a['v_min_pu']}..{a['v_max_pu']} pu"
        )
        if a["worst_line"]:
            out.print(
                f"  worst line {a['worst_line']['element']} at {a['worst_line']['loading_pct']}%"
            )
        if a["worst_transformer"]:
            out.print(
                f"  worst transformer {a['worst_transformer']['element']} at {a['worst_transformer']['loading_pct']}%"
            )
        for kind, n in a["violations_by_kind"].items():
            out.print(
                f"  [red]{n}[/] {kind} violations in {len(a['periods_with_violations'])} periods"
            )
        if a["not_converged"]:
            out.print(f"  [red]AC power flow did not converge in periods {a['not_converged']}[/]")
        if a["dark"]:
            out.print(f"  [yellow]no unit running (dark) in periods {a['dark']}[/]")
    else:
        out.print("AC check: skipped (--no-ac)")
    for n in plan.get("notes", []):
        out.print(f"note: {n}")
    out.print(
        f"plan hash {plan['plan_hash'][:16]}  (scenario {plan['recipe']['scenario_hash'][:16]})"
    )


@plan.command("explain")
@click.argument("plan_file", metavar="PLAN", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--load", "load_name", help="Why this load is shed (its name in the plan).")
@click.option(
    "--site", "site_name", help="What this site does: fuel, units, transfers, shed loads."
)
@json_option
def explain_cmd(
    plan_file: Path, load_name: str | None, site_name: str | None, as_json: bool
) -> None:
    """Explain a plan written by 'plan run --out': why loads are shed, what a site does."""
    from planner.api import explain, read_plan

    if load_name and site_name:
        raise click.UsageError("give --load or --site, not both")
    read_json_file(plan_file, "plan file")  # UTF-8, not nested too deep (exit 5)
    data = read_plan(plan_file)
    result = explain(data, load=load_name, site=site_name)
    if as_json:
        emit_json(result)
        return
    out = console()
    for line in result["lines"]:
        out.print(line, highlight=False, markup=False)


# Plans in the ledger: propose, list, adopt, withdraw (plurictl/commands/plan_ledger.py).
from plurictl.commands.plan_ledger import register  # noqa: E402

register(plan)
