"""`plurictl plan scenarios|validate|run|explain|restore|futures`: the non-market fuel and generation planner.

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
from plurictl.render.common import console, emit_json, error_console, json_option
from plurictl.render.plans import render_plan

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
    """List the scenarios shipped in field_guides/scenarios/.

    Example: plurictl plan scenarios --json
    """
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
    (exit 10 if invalid). Lists loads no generation can reach.

    Example: plurictl plan validate three-bases
    """
    from planner.api import load_scenario, validation_report

    path = resolve_scenario(file)
    sc = load_scenario(path)
    report = validation_report(sc, path)
    if as_json:
        emit_json(report)
        return
    out = console()
    tiers = report["declared_loads_by_tier"]
    out.print(f"[green]OK[/]: {sc.name} ({path})")
    out.print(
        f"  network {report['network']}: {report['buses']} buses, {report['branches']} branches "
        f"({report['limited_branches']} with limits), {report['islands']} powered islands"
    )
    out.print(f"  horizon {sc.horizon.periods} periods of {sc.horizon.hours_per_period:g} h")
    out.print(
        f"  {len(sc.sites)} sites/depots, {len(sc.tanks)} tanks, {report['fuelled_units']} fuelled units "
        f"of {report['units']}, {len(sc.routes)} truck routes, {report['batteries']} batteries"
    )
    out.print(
        f"  loads: tier 1 {tiers[1]}, tier 2 {tiers[2]}, tier 3 {tiers[3]} declared; "
        f"{report['undeclared_loads']} more at the default tier {sc.policy.default_tier}"
    )
    if report["unreachable_loads"]:
        out.print(
            f"  [yellow]{len(report['unreachable_loads'])} loads no generation can reach[/] "
            f"(planned as shed): {', '.join(report['unreachable_loads'][:10])}"
        )
    for n in report["notes"]:
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
    start: str | None = None,
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
        start=start,
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


PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def require_plotting(path: Path | None = None) -> None:
    """``--plot`` needs the optional ``plot`` extra (matplotlib): say so plainly; and a
    file name matplotlib can write (``.png``, ``.svg`` or ``.pdf``: exit 5 otherwise)."""
    from ledger.errors import InvalidInput
    from plurictl.errors import MissingExtra

    if path is not None and path.suffix.lower() not in PLOT_SUFFIXES:
        raise InvalidInput(
            f"--plot {path}: the chart is written as PNG, SVG or PDF; name the file "
            "with one of those endings, e.g. chart.png"
        )
    try:
        import matplotlib  # noqa: F401 - only whether it is there
    except ImportError as e:
        raise MissingExtra(
            "--plot needs matplotlib, which is not installed on this laptop (nothing was planned)",
            hint="install the plot extra: pip install 'plurigrid[plot]' (offline: "
            "pip install --no-index --find-links WHEELHOUSE 'plurigrid[plot]'), or leave out --plot",
        ) from e


def resolve_scenario(text: str) -> Path:
    """A scenario file path, or a name: ``NAME.toml`` in this folder when there is one
    (said on stderr: an edited copy must never be silently passed over), else the
    shipped scenario of that name (`plan scenarios`).

    Something that looks like a path is left to the scenario reader, whose errors
    (exit 10) name the file.
    """
    from plurictl import shipped
    from plurictl.render.common import error_console

    if Path(text).suffix or "/" in text:
        return Path(text)
    here = Path(f"{text}.toml")
    if here.is_file():  # an edited copy in this folder wins over the shipped file
        error_console().print(f"scenario: ./{here} (the file in this folder)")
        return here
    return shipped.resolve("scenarios", text)


def refuse_inputs(source: Path, scenario: Any, *outputs: Path | None) -> None:
    """Never write over what the plan was read from: the scenario file or its network
    file (exit 5, before any work)."""
    from ledger.errors import InvalidInput

    inputs = {source.resolve()}
    net = getattr(getattr(scenario, "network", None), "file", None)
    if net is not None:
        inputs.add(Path(net).resolve())
    for out in outputs:
        if out is not None and out.resolve() in inputs:
            raise InvalidInput(
                f"{out} is an input of this run (the scenario or its network file): "
                "write the output elsewhere"
            )


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
@click.option(
    "--allow-partial",
    is_flag=True,
    help="With --propose: propose a partial plan too (it meets only the stages that finished).",
)
@click.option(
    "--start",
    metavar="TIME",
    help='Date the plan from TIME ("now", or ISO like 2025-09-14T06:00), not the file\'s start.',
)
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
    allow_partial: bool,
    start: str | None,
    as_json: bool,
) -> None:
    """Plan a scenario: who gets power and fuel, hour by hour.

    Exit 11 when the plan is not fully solved: infeasible, unsolved, or partial (a time
    limit or a solver failure after some stages; the partial plan is still written and
    shown, but --propose refuses it without --allow-partial). The reason is printed first.
    FILE is a scenario file or a shipped scenario's name (`plan scenarios`).

    Example: plurictl plan run three-bases --start now --out plan.json
    """
    from planner.api import load_scenario
    from plurictl.context import AppContext

    if plot_file is not None:
        require_plotting(plot_file)  # before a long solve, not after it
    source = resolve_scenario(file)
    scenario = load_scenario(source)
    refuse_inputs(source, scenario, out_file, plot_file)
    app = click.get_current_context().find_object(AppContext)
    if from_ledger:
        assert app is not None
        scenario = _ledger_fuel(app, scenario, as_json)
    result = run_plan(
        scenario,
        periods=periods,
        commitment=commitment,
        objective=objective,
        time_limit=time_limit,
        show_progress=not as_json,
        validate_ac=not no_ac,
        start=_start_time(start, scenario.horizon.hours_per_period),
    )
    if propose and objective == "tiers":
        assert app is not None
        _propose(app, result, allow_partial=allow_partial, as_json=as_json)
    finish_run(result, out_file=out_file, plot_file=plot_file, as_json=as_json)


def _start_time(start: str | None, hours: float) -> str | None:
    """``now``: this laptop's local time, rounded down to the hour (or a shorter period)."""
    if start is None or start.strip().lower() != "now":
        return start
    from datetime import datetime

    now = datetime.now().replace(second=0, microsecond=0)
    step = min(max(round(hours * 60), 1), 60)
    return now.replace(minute=now.minute - now.minute % step).isoformat(timespec="minutes")


def _ledger_fuel(app: Any, scenario: Scenario, as_json: bool) -> Scenario:
    """The scenario starting from the fuel this laptop's ledger shows."""
    from plurictl.coordination import ledger_inventory

    inventory = ledger_inventory(app.home.store, scenario)
    out = error_console()  # stderr, so also with --json (stdout stays one JSON document)
    used = ", ".join(f"{k} {v:,.0f} L" for k, v in sorted(inventory.litres.items())) or "nothing"
    out.print(f"fuel from the ledger: {used}")
    if inventory.alarm:
        out.print(f"[bold red]WARNING:[/] {inventory.alarm}", highlight=False)
    for warning in inventory.warnings:
        out.print(f"[yellow]Warning:[/] {warning}", highlight=False)
    return _ledger_preferences(app, scenario.with_inventory(inventory.litres))


def _ledger_preferences(app: Any, scenario: Scenario) -> Scenario:
    """The scenario with the sites' signed preferences (`prefs set`) in place of its own."""
    import dataclasses

    from ledger.plans.writer import preferences
    from planner.scenario import Preference

    standing = preferences(app.home.store)
    sites = {s.name for s in scenario.sites if s.kind == "site"}
    loads = {ld.name for ld in scenario.loads}
    out = error_console()
    kept = []
    for p in standing.values():
        unknown = [n for n in p.rank if n not in loads]
        if p.site not in sites or unknown:
            what = f"site {p.site!r}" if p.site not in sites else f"loads {', '.join(unknown)}"
            out.print(
                f"[yellow]Warning:[/] preference of {p.site} not used: no {what} in this scenario"
            )
            continue
        kept.append(Preference(p.site, p.rank, p.by))
    if not kept:
        return scenario
    out.print("preferences from the ledger: " + "; ".join(f"{p.site} ({p.by})" for p in kept))
    return dataclasses.replace(scenario, preferences=tuple(kept))


def _propose(app: Any, result: PlanResult, *, allow_partial: bool, as_json: bool) -> None:
    """Put a solved plan (or, when allowed, a partial one) into the ledger."""
    from plurictl.coordination import propose_plan
    from plurictl.nudge import nudge_node

    err = error_console()
    if result.status == "partial" and not allow_partial:
        err.print(
            "[yellow]Not proposed:[/] this plan is partial (it meets only the stages that "
            "finished). Re-run with more --time-limit, or add --allow-partial to propose it."
        )
        return
    if result.status not in ("solved", "partial"):
        return
    entry = propose_plan(app.home.store, app.home.identity, result.to_json())
    nudge_node(app.home.path)
    if not as_json:
        err.print(f"plan proposed in the ledger as [bold]{entry.id.hex()[:12]}[/]")


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
    """Explain a plan written by 'plan run --out': why loads are shed, what a site does.

    Example: plurictl plan explain plan.json --load alpha-housing
    """
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

# Restoration order: plan restore (plurictl/commands/plan_restore.py).
from plurictl.commands.plan_restore import register as register_restore  # noqa: E402

register_restore(plan)

# Possible futures: plan futures (plurictl/commands/plan_futures.py).
from plurictl.commands.plan_futures import register as register_futures  # noqa: E402

register_futures(plan)
