"""`plurictl drill run|list|validate`: rehearse partitions on local nodes and check invariants."""

from __future__ import annotations

from pathlib import Path

import click

from plurictl.context import AppContext, pass_app
from plurictl.params import seconds_type
from plurictl.render import console, emit_json, error_console, json_option

SHIPPED = Path(__file__).resolve().parents[2] / "field_guides" / "drills"


def resolve_drill(text: str) -> Path:
    """A drill file path, or the name of a shipped drill (e.g. `quickstart`)."""
    from ledger.errors import InvalidInput

    p = Path(text)
    if p.exists():
        return p
    for candidate in (SHIPPED / text, SHIPPED / f"{text}.toml"):
        if candidate.exists():
            return candidate
    known = ", ".join(sorted(x.stem for x in SHIPPED.glob("*.toml"))) or "none found"
    raise InvalidInput(f"no drill file {text!r} (shipped drills: {known})")


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
    keep: Path | None,
    as_json: bool,
) -> None:
    """Run a drill FILE (or a shipped drill by name) and check its invariants.

    Starts real `plurictl node` processes on 127.0.0.1, each with its own home
    (no root needed, nothing leaves this laptop). Exit code 12 if any invariant
    fails.
    """
    import tempfile

    from plurictl.drills.model import load
    from plurictl.drills.report import render
    from plurictl.drills.runner import DrillRunner
    from plurictl.errors import Failed

    spec = load(resolve_drill(file))
    err = error_console()

    def event(msg: str) -> None:
        if not as_json:
            err.print(msg, highlight=False, markup=False)

    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        report = DrillRunner(spec, keep, seed=seed, events=event, nemesis=nemesis).run()
    else:
        with tempfile.TemporaryDirectory(prefix="plurigrid-drill-") as tmp:
            report = DrillRunner(spec, Path(tmp), seed=seed, events=event, nemesis=nemesis).run()
    if as_json:
        emit_json(report.to_json())
    else:
        console().print(render(report))
    if not report.passed:
        raise Failed(12)


@drill.command("list")
@json_option
def list_(as_json: bool) -> None:
    """The drills shipped in field_guides/drills/."""
    from plurictl.drills.model import load

    rows = []
    for path in sorted(SHIPPED.glob("*.toml")):
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
