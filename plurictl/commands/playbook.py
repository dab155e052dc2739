"""`plurictl playbook ...`: run a restart playbook step by step, with signed sign-offs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from plurictl.context import AppContext, pass_app
from plurictl.render.common import console, emit_json, json_option

if TYPE_CHECKING:
    from ledger.playbooks.view import Run
    from ledger.playbooks.writer import Written


def shipped_dir() -> Path:
    """Where shipped playbooks live: $PLURI_PLAYBOOKS, else the shipped playbooks."""
    from plurictl import shipped

    return shipped.folder("playbooks")


def _now_ms() -> int:
    from ledger.clock import wall_ms

    return wall_ms()


def _file(target: str) -> Path:
    from ledger.errors import InvalidInput
    from ledger.playbooks.writer import resolve_file

    path = resolve_file(target, shipped_dir())
    if path is None:
        from ledger.names import did_you_mean
        from ledger.playbooks.writer import catalogue

        known = [i.playbook.id for i in catalogue(shipped_dir()) if i.playbook]
        raise InvalidInput(
            f"no playbook file {target!r}{did_you_mean(target, known)}",
            hint=f"give a path to a .toml file, or a shipped playbook id (see `plurictl playbook list`; "
            f"shipped ones are in {shipped_dir()})",
        )
    return path


def _state(app: AppContext) -> Any:
    from ledger.playbooks.writer import load_state

    return load_state(app.home.store)


def _run(app: AppContext, ref: str) -> Run:
    from ledger.playbooks.writer import find_run

    return find_run(_state(app), ref)


def _after_write(
    app: AppContext, written: Written, message: str, as_json: bool, *, show_entry: bool = True
) -> None:
    from plurictl.nudge import nudge_node

    nudge_node(app.home.path)
    if as_json:
        emit_json(
            {
                "entry": written.entry.to_json(),
                "run": written.run.to_json(_now_ms()),
                "warnings": written.warnings,
            }
        )
        return
    out = console()
    first, _, rest = message.partition("\n")
    entry = f" (entry {written.entry.id.hex()[:12]})" if show_entry else ""
    out.print(first + entry + (f"\n{rest}" if rest else ""))
    for w in written.warnings:
        out.print(f"[yellow]Warning:[/] {w}")
    from plurictl.render.playbooks import print_progress

    print_progress(out, written.run, _now_ms())


@click.group()
def playbook() -> None:
    """Restart playbooks: start a run, sign steps (two-person rule), follow who signed what.

    Every sign-off is a signed ledger entry; every laptop shows the same progress,
    also after a network partition heals. Shipped playbooks live in
    field_guides/playbooks/ (or $PLURI_PLAYBOOKS). RUN is a run id or its first
    characters (at least 4), as `playbook list` shows them. Exit codes: 5 bad
    input or a step that cannot be signed now (nothing signed), 7 missing role.
    """


@playbook.command("list")
@json_option
@pass_app
def list_(app: AppContext, as_json: bool) -> None:
    """List shipped playbooks and the runs in this laptop's ledger."""
    from ledger.errors import NotInitialised
    from ledger.playbooks.writer import catalogue

    items = catalogue(shipped_dir())
    from plurictl import readouts

    try:
        runs: list[Run] | None = readouts.playbook_runs(_state(app))
    except NotInitialised:
        runs = None
    if as_json:
        emit_json(readouts.playbook_list(items, shipped_dir(), runs))
        return
    from plurictl.render.playbooks import catalogue_table, runs_table

    out = console()
    out.print(catalogue_table(items, shipped_dir()))
    if runs is None:
        out.print("No ledger on this laptop yet, so no runs (`plurictl init`).")
    elif not runs:
        out.print("No runs yet. Start one: plurictl playbook start PLAYBOOK [--site SITE]")
    else:
        out.print(runs_table(runs))


@playbook.command("show")
@click.argument("target")
@json_option
@pass_app
def show(app: AppContext, target: str, as_json: bool) -> None:
    """Show a playbook: a FILE, a shipped playbook id, or the version a RUN executes."""
    from ledger.errors import InvalidInput, NotInitialised
    from ledger.playbooks.writer import load, resolve_file
    from plurictl.render.playbooks import playbook_renderable

    path = resolve_file(target, shipped_dir())
    if path is not None:
        pb = load(path)
        header = f"File {path}"
        extra: dict[str, Any] = {"file": str(path)}
    else:
        try:
            run = _run(app, target)
        except (InvalidInput, NotInitialised) as e:
            raise InvalidInput(
                f"{target!r} is neither a playbook file, a shipped playbook id, nor a run here",
                hint=e.hint,
            ) from e
        pb = run.playbook
        header = f"Run {run.id.hex()[:12]} executes this exact text (site: {run.site or '-'})"
        extra = {"run": run.id.hex()}
    if as_json:
        emit_json({**extra, **pb.to_json()})
        return
    console().print(playbook_renderable(pb, header))


@playbook.command("validate")
@click.argument("files", nargs=-1, required=True)
@json_option
def validate(files: tuple[str, ...], as_json: bool) -> None:
    """Check playbook FILES: every problem with its line, step and field. Exit 5 if any is invalid."""
    from ledger.errors import InvalidInput
    from ledger.playbooks.writer import check_file, resolve_file
    from plurictl.errors import Failed
    from plurictl.render.playbooks import print_validation

    items = [check_file(resolve_file(name, shipped_dir()) or Path(name)) for name in files]
    if as_json:
        emit_json([i.to_json() for i in items])
    else:
        print_validation(console(), items)
    if not all(i.playbook is not None for i in items):
        raise Failed(InvalidInput)


@playbook.command("start")
@click.argument("file")
@click.option("--site", help="Where this run happens; fuel checks without a site use it.")
@click.option("--note", help="A line for the log, e.g. 'storm Ida, feeder 12 black'.")
@click.option(
    "--new-site", is_flag=True, help="SITE is new, although its name is close to a known site."
)
@json_option
@pass_app
def start(
    app: AppContext, file: str, site: str | None, note: str | None, new_site: bool, as_json: bool
) -> None:
    """Start a run of FILE (a path or a shipped playbook id). Coordinators only.

    The run embeds the playbook text and its SHA-256: every laptop executes
    exactly this version, whatever its own copy of the file says.

    Example: plurictl playbook start microgrid-black-start --site north
    """
    from ledger.fuel import writer as fuel
    from ledger.playbooks import writer as playbooks

    path = _file(file)
    if site is not None:
        fuel.check_site(fuel.load(app.home.store), site, new_site=new_site)
    written = playbooks.start(
        app.home.store,
        app.home.identity,
        playbooks.read_text(path),
        source=str(path),
        site=site,
        note=note,
    )
    run = written.run
    _after_write(
        app,
        written,
        f"[green]Started run[/] [bold]{run.id.hex()[:12]}[/]\n  {run.playbook.title} "
        f"v{run.playbook.version} (sha256 {run.playbook.hash[:12]})"
        + (f" at site {run.site}" if run.site else "")
        + f"\n  full run id: {run.id.hex()}"
        + f"\n  Next: plurictl playbook status {run.id.hex()[:12]}",
        as_json,
        show_entry=False,
    )


@playbook.command("status")
@click.argument("run")
@json_option
@pass_app
def status(app: AppContext, run: str, as_json: bool) -> None:
    """The checklist of RUN: done / ready / blocked / holding (countdown), who signed what.

    Holds are counted with this laptop's clock, for display only.
    """
    r = _run(app, run)
    now = _now_ms()
    if as_json:
        from plurictl.readouts import run_status

        emit_json(run_status(r, now))
        return
    from plurictl.render.playbooks import status_renderable

    console().print(status_renderable(r, now))


@playbook.command("sign")
@click.argument("run")
@click.argument("step")
@click.option("--note", help="What you saw, e.g. 'gen 1 at 50.0 Hz, 415 V'.")
@click.option(
    "--early", is_flag=True, help="Sign although a hold is still running (flagged in the log)."
)
@click.option(
    "--reading",
    "readings",
    multiple=True,
    metavar="NAME=VALUE",
    help="A reading the step asks for, e.g. frequency=49.8 (repeatable).",
)
@click.option(
    "--override",
    metavar="REASON",
    help="Sign although a reading is out of range: why (recorded in the signed entry).",
)
@json_option
@pass_app
def sign(
    app: AppContext,
    run: str,
    step: str,
    note: str | None,
    early: bool,
    readings: tuple[str, ...],
    override: str | None,
    as_json: bool,
) -> None:
    """Sign off STEP of RUN as done by you. Needs the step's role (and, where the step
    names functions, one still missing); one sign-off per person. Readings the step asks
    for go with --reading NAME=VALUE.
    """
    from ledger.playbooks import writer as playbooks

    written = playbooks.sign(
        app.home.store,
        app.home.identity,
        run,
        step,
        note=note,
        early=early,
        readings=_readings(readings),
        override=override,
    )
    st = written.run.steps[step]
    message = f"[green]Signed[/] step '{step}': {len(st.signers)} of {st.needed} sign-offs"
    if st.missing_functions:
        message += "; still needs " + ", ".join(f"role:{f}" for f in st.missing_functions)
    if st.state == "done":
        message += " - step DONE"
        if st.step.hold:
            message += f"; hold {st.step.hold} starts now before the next steps"
    _after_write(app, written, message, as_json)


def _readings(given: tuple[str, ...]) -> dict[str, float]:
    """``("frequency=49.8", ...)`` -> ``{"frequency": 49.8}``; exit 5 on a bad one."""
    import math
    import re

    from ledger.errors import InvalidInput

    out: dict[str, float] = {}
    for item in given:
        name, sep, text = item.partition("=")
        # plain ASCII decimals only: float() would read "60_1" as 601 and full-width digits
        plain = re.fullmatch(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*", text, re.ASCII)
        value = float(text) if plain else math.nan
        if not sep or not name.strip() or not math.isfinite(value):
            raise InvalidInput(
                f"--reading {item!r}: write NAME=NUMBER, e.g. --reading frequency=49.8"
            )
        if name.strip() in out:
            raise InvalidInput(f"--reading {name.strip()} is given twice")
        out[name.strip()] = value
    return out


@playbook.command("fail")
@click.argument("run")
@click.argument("step")
@click.option("--reason", required=True, help="What went wrong (goes into the log).")
@json_option
@pass_app
def fail(app: AppContext, run: str, step: str, reason: str, as_json: bool) -> None:
    """Report that STEP of RUN failed. Its sign-offs stop counting until a coordinator retries it."""
    from ledger.playbooks import writer as playbooks

    written = playbooks.fail(app.home.store, app.home.identity, run, step, reason)
    _after_write(app, written, f"[red]Step '{step}' marked FAILED[/]: {reason}", as_json)


@playbook.command("skip")
@click.argument("run")
@click.argument("step")
@click.option("--reason", required=True, help="Why this step is not needed (goes into the log).")
@json_option
@pass_app
def skip(app: AppContext, run: str, step: str, reason: str, as_json: bool) -> None:
    """Skip STEP of RUN (coordinators only, with a reason); later steps no longer wait for it."""
    from ledger.playbooks import writer as playbooks

    written = playbooks.skip(app.home.store, app.home.identity, run, step, reason)
    _after_write(app, written, f"[magenta]Step '{step}' skipped[/]: {reason}", as_json)


@playbook.command("abort")
@click.argument("run")
@click.option(
    "--reason", required=True, help="Why everyone must stop (e.g. the abort criterion met)."
)
@json_option
@pass_app
def abort(app: AppContext, run: str, reason: str, as_json: bool) -> None:
    """Stop RUN: no sign-off counts until a coordinator resumes. Anyone on the run may abort."""
    from ledger.playbooks import writer as playbooks

    written = playbooks.abort(app.home.store, app.home.identity, run, reason)
    _after_write(app, written, f"[bold red]Run ABORTED[/]: {reason}", as_json)


@playbook.command("resume")
@click.argument("run")
@click.option("--reason", required=True, help="Why it is safe to continue.")
@click.option("--step", help="Retry this failed step instead of resuming an aborted run.")
@json_option
@pass_app
def resume(app: AppContext, run: str, reason: str, step: str | None, as_json: bool) -> None:
    """Resume an aborted RUN, or retry a failed step with --step (coordinators only)."""
    from ledger.playbooks import writer as playbooks

    written = playbooks.resume(app.home.store, app.home.identity, run, reason, step)
    what = f"Step '{step}' reopened for a retry" if step else "Run resumed"
    _after_write(app, written, f"[green]{what}[/]: {reason}", as_json)


@playbook.command("waive")
@click.argument("run")
@click.argument("step")
@click.argument("check", type=click.IntRange(min=0))
@click.option(
    "--reason", required=True, help="How you know it is fine, e.g. 'radio: 3,000 L on site'."
)
@json_option
@pass_app
def waive(app: AppContext, run: str, step: str, check: int, reason: str, as_json: bool) -> None:
    """Waive fuel/plan CHECK (its number in `status`) of STEP when the ledger cannot know it."""
    from ledger.playbooks import writer as playbooks

    written = playbooks.waive(app.home.store, app.home.identity, run, step, check, reason)
    _after_write(
        app, written, f"[yellow]Check #{check} of step '{step}' waived[/]: {reason}", as_json
    )


@playbook.command("log")
@click.argument("run")
@click.option("--markdown", is_flag=True, help="Print the after-action log as Markdown.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the log to this file instead of the screen (Markdown unless --json).",
)
@json_option
@pass_app
def log(app: AppContext, run: str, markdown: bool, output: str | None, as_json: bool) -> None:
    """The signed timeline of RUN: every sign-off, failure, skip, abort, with flags."""
    from ledger.errors import InvalidInput
    from plurictl.render.common import dumps
    from plurictl.render.playbooks import log_table, markdown_log

    r = _run(app, run)
    now = _now_ms()
    if as_json:
        text = dumps(
            {
                "run": r.id.hex(),
                "started_by": r.starter,
                "started_hlc": r.entry.hlc,
                "records": [x.to_json() for x in r.records],
            }
        )
    elif markdown or output:
        from datetime import UTC, datetime

        stamp = datetime.fromtimestamp(now / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
        text = markdown_log(r, now, stamp)
    else:
        console().print(log_table(r))
        return
    if output:
        try:
            Path(output).write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        except OSError as e:
            raise InvalidInput(f"cannot write {output}: {e.strerror or e}") from e
        console().print(f"Wrote the log of run {r.id.hex()[:12]} to {output}")
        return
    click.echo(text)
