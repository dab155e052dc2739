"""`plurictl drill run|list|validate`: rehearse partitions on local nodes and check invariants."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from plurictl.context import AppContext, pass_app
from plurictl.params import seconds_type
from plurictl.render.common import console, emit_json, error_console, json_option


def resolve_drill(text: str) -> Path:
    """A drill file path, or the name of a shipped drill (e.g. `quickstart`)."""
    from plurictl import shipped

    return shipped.resolve("drills", text)


@click.group()
def drill() -> None:
    """Rehearse the mesh under partitions, kills and couriers, on this laptop."""


@drill.command("run")
@click.argument("file")
@click.option("--seed", type=int, help="Seed for random choices (nemesis); default from the file.")
@click.option(
    "--nemesis",
    type=seconds_type(max_seconds=86_400),
    metavar="SECONDS",
    help="After the scripted steps, random partitions, loss and kills for this long.",
)
@click.option(
    "--network",
    type=click.Choice(["loopback", "netns"]),
    default="loopback",
    show_default=True,
    help="loopback: nodes on 127.0.0.1, faults simulated in the nodes (no root). "
    "netns: each node in its own network namespace, links cut for real (needs root).",
)
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the nodes' homes in this folder (default: a temporary folder, deleted).",
)
@json_option
@pass_app
def run(
    app: AppContext,
    file: str,
    seed: int | None,
    nemesis: float | None,
    network: str,
    keep: Path | None,
    as_json: bool,
) -> None:
    """Run a drill FILE (or a shipped drill by name) and check its invariants.

    Starts real `plurictl node` processes on 127.0.0.1, each with its own home
    (no root needed, nothing leaves this laptop); with `--network netns` each
    node runs in its own network namespace and partitions, loss and delay
    happen on real links. Exit code 12 if any invariant fails, 13 if a step
    failed before the checks could run. However the drill ends (Ctrl-C, kill,
    a timeout), its nodes end with it.

    \b
    Examples:
      plurictl drill run quickstart
      plurictl drill run nemesis --network netns
    """
    import tempfile

    from plurictl import lifeline
    from plurictl.drills.model import load
    from plurictl.drills.report import render
    from plurictl.drills.runner import DrillRunner
    from plurictl.errors import DrillFailed, DrillNotRun, Failed

    spec = load(resolve_drill(file))
    if network == "netns":
        from plurictl.drills.netns import unavailable
        from plurictl.errors import NetworkLabError

        why = unavailable()
        if why is not None:
            raise NetworkLabError(f"--network netns: {why}", hint="or run with --network loopback")
    err = error_console()

    def event(msg: str) -> None:
        if not as_json:
            err.print(msg, highlight=False, markup=False)

    try:
        # SIGTERM/SIGHUP (a timeout, CI, cron, a closed terminal) end the drill like Ctrl-C:
        # its nodes are stopped and its temporary homes removed (plurictl.lifeline)
        with lifeline.exits_on_signals():
            if keep is not None:
                keep.mkdir(parents=True, exist_ok=True)
                report = DrillRunner(
                    spec, keep, seed=seed, events=event, nemesis=nemesis, network=network
                ).run()
            else:
                with tempfile.TemporaryDirectory(prefix="plurigrid-drill-") as tmp:
                    report = DrillRunner(
                        spec, Path(tmp), seed=seed, events=event, nemesis=nemesis, network=network
                    ).run()
            lifeline.checkpoint()  # a signal whose exception was lost still ends the drill
    except lifeline.Terminated:
        err.print("drill stopped by a signal: its nodes are stopped", highlight=False)
        raise
    if as_json:
        emit_json(report.to_json())
    else:
        console().print(render(report))
    if report.error is not None:  # a step failed before the checks: not an invariant
        raise Failed(DrillNotRun)
    if not report.passed:
        raise Failed(DrillFailed)


@drill.command("list")
@json_option
def list_(as_json: bool) -> None:
    """The drills shipped in field_guides/drills/."""
    from plurictl import shipped
    from plurictl.drills.model import load

    rows: list[dict[str, Any]] = []
    for path in shipped.files("drills"):
        d = load(path)
        rows.append(
            {
                "name": path.stem,
                "title": d.name,
                "nodes": len(d.nodes),
                "steps": len(d.steps),
                "description": d.description,
                "path": str(path),
            }
        )
    if as_json:
        emit_json(rows)
        return
    from rich.table import Table

    table = Table(title="Shipped drills (plurictl drill run NAME)")
    for col in ("name", "nodes", "steps", "what it rehearses"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["name"], str(r["nodes"]), str(r["steps"]), r["description"])
    console().print(table)


@drill.command("validate")
@click.argument("file")
@json_option
@pass_app
def validate(app: AppContext, file: str, as_json: bool) -> None:
    """Check a drill file without running it (errors name the step and field)."""
    from plurictl.drills.model import load

    d = load(resolve_drill(file))
    if as_json:
        emit_json({"ok": True, "name": d.name, "nodes": d.names, "steps": len(d.steps)})
        return
    console().print(f"[green]OK[/]: {d.name} — {len(d.nodes)} nodes, {len(d.steps)} steps")
