"""The ``plurictl`` root group: global options, lazy sub-commands, one error handler."""

from __future__ import annotations

import contextlib
import importlib
import sys
from typing import Any

import click

from plurictl import __version__
from plurictl.context import AppContext

# name -> (module, attribute, short help). Sub-command modules are imported only
# when used, so ``plurictl --help`` never pays for zmq, pandapower or nacl.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": ("plurictl.commands.identity", "init", "Create this laptop's identity (signing key)."),
    "whoami": (
        "plurictl.commands.identity",
        "whoami",
        "Show this laptop's name, key and fingerprint.",
    ),
    "key": (
        "plurictl.commands.identity",
        "key",
        "Show the key to read aloud; seal it with a passphrase.",
    ),
    "log": ("plurictl.commands.log", "log", "Append to, show and verify the signed ledger."),
    "mesh": ("plurictl.commands.mesh", "mesh", "Found a mesh, join one, show this laptop's mesh."),
    "roster": ("plurictl.commands.roster", "roster", "Members, roles, revocation, key rotation."),
    "forks": ("plurictl.commands.forks", "forks", "Proofs that a key signed two histories."),
    "node": ("plurictl.commands.node", "node", "Run the mesh node; status; simulate link faults."),
    "peers": ("plurictl.commands.node", "peers", "Peers of the running node: state, lag, traffic."),
    "sync": ("plurictl.commands.node", "sync", "Catch up with one peer now."),
    "fuel": ("plurictl.commands.fuel", "fuel", "Tank readings, transfers, fuel by site."),
    "prefs": (
        "plurictl.commands.prefs",
        "prefs",
        "A site's order of its own loads: who is shed last.",
    ),
    "orders": (
        "plurictl.commands.orders",
        "orders",
        "Dispatch orders of adopted plans; acknowledge them.",
    ),
    "dashboard": (
        "plurictl.commands.dashboard",
        "dashboard",
        "Web dashboard for the coordinator and phones; print sheet.",
    ),
    "drill": (
        "plurictl.commands.drill",
        "drill",
        "Rehearse partitions on local nodes; check invariants.",
    ),
    "playbook": ("plurictl.commands.playbook", "playbook", "Restart playbooks, sign-offs, logs."),
    "bundle": ("plurictl.commands.bundle", "bundle", "Carry the ledger on a USB stick."),
    "vote": ("plurictl.commands.vote", "vote", "Resilient votes: open, cast, close, seal, result."),
    "radio": (
        "plurictl.commands.radio",
        "radio",
        "Sync over LoRa, packet radio or serial links; link checks.",
    ),
    "plan": (
        "plurictl.commands.plan",
        "plan",
        "Plan fuel and generation: scenarios, runs, explanations.",
    ),
}


class LazyGroup(click.Group):
    """A group whose sub-commands are imported on first use."""

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        from plurictl.params import guard_commands

        if cmd_name in self.lazy:
            from plurictl.complete import attach
            from plurictl.examples import attach_examples

            module, attr, _ = self.lazy[cmd_name]
            command = guard_commands(getattr(importlib.import_module(module), attr))
            attach(command, cmd_name)  # shell completion of ids and names
            attach_examples(command, cmd_name)
            return command
        found = super().get_command(ctx, cmd_name)
        return guard_commands(found) if found is not None else None

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        from plurictl.params import check_argv

        check_argv(args)
        return super().parse_args(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help comes from the table above: listing commands imports nothing.
        rows = [(name, self.lazy[name][2]) for name in sorted(self.lazy)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Made from the exception classes only when help is shown (plurictl.exit_codes).
        from plurictl.exit_codes import table

        with formatter.section("Exit codes (field_guides/exit-codes.md)"):
            formatter.write_dl([(str(row.code), row.meaning) for row in table()])
        super().format_epilog(ctx, formatter)

    def invoke(self, ctx: click.Context) -> Any:
        import signal

        from ledger.errors import PluriError
        from plurictl.errors import handled_errors

        # The AppContext is made by the root callback, inside super().invoke():
        # look it up only once an error is caught.
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except handled_errors() as err:
            report_error(err, debug=_debug(ctx))
            ctx.exit(int(getattr(err, "exit_code", PluriError.exit_code)))
        except BrokenPipeError:
            _stdout_closed()
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(128 + signal.SIGINT)  # what a shell reports for Ctrl-C
        except Exception as err:  # a bug: say so plainly, details with --debug
            debug = _debug(ctx)
            report_error(
                RuntimeError(
                    f"unexpected {type(err).__name__}: {err}"
                    + ("" if debug else " (re-run with --debug)")
                ),
                debug=debug,
            )
            ctx.exit(PluriError.exit_code)


#: Exit code when stdout is closed under us (``| head``): 128 + SIGPIPE, as a shell reports it.
STDOUT_CLOSED = 141


def _stdout_closed() -> None:
    """stdout's reader went away: say nothing (there is no one to tell), exit 141.

    stdout is pointed at /dev/null first, so that Python's final flush of what is still
    buffered does not print a BrokenPipeError of its own.
    """
    import os

    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    sys.exit(STDOUT_CLOSED)


def _debug(ctx: click.Context) -> bool:
    obj = ctx.find_object(AppContext)
    return bool(obj and obj.debug)


#: Longest error message printed (a bad value echoed back is cut, not printed whole).
MAX_MESSAGE = 1000


def report_error(err: BaseException, *, debug: bool) -> None:
    """Print one error for a human: message, hint, and the traceback only with --debug."""
    from rich.markup import escape

    from plurictl.render.common import error_console

    console = error_console()
    message = str(err.args[0]) if err.args else err.__class__.__name__
    if len(message) > MAX_MESSAGE:
        message = f"{message[: MAX_MESSAGE - 1]}… ({len(message):,} characters)"
    # escaped: names and commands in messages may hold brackets ('plurigrid[plot]')
    if message:
        console.print(f"[bold red]Error:[/] {escape(message)}", highlight=False, markup=True)
    hint = getattr(err, "hint", None)
    if hint:
        console.print(f"[yellow]Hint:[/] {escape(str(hint))}", highlight=False)
    if debug:
        console.print_exception(show_locals=False)


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=str),
    envvar="PLURI_HOME",
    default=None,
    help="Folder holding this laptop's key and ledger (env PLURI_HOME, default ~/.plurigrid).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks for errors (for bug reports).")
@click.version_option(__version__, prog_name="plurictl")
@click.pass_context
def cli(ctx: click.Context, home: str | None, debug: bool) -> None:
    """Plurigrid field toolkit: coordinate when central infrastructure is down.

    Every laptop keeps a signed ledger; laptops that can reach each other
    replicate it over a mesh, and a USB stick carries it across a gap.
    Field guides: see the field_guides/ folder (start with README.md).

    Example: plurictl --home ~/plurigrid-alice whoami
    """
    ctx.obj = AppContext(home=home, debug=debug)
    ctx.call_on_close(ctx.obj.close)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    # Windows consoles and odd locales: never die on an unencodable character.
    if hasattr(sys.stdout, "reconfigure"):
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.reconfigure(errors="replace")
    try:
        try:
            cli.main(args=argv, prog_name="plurictl")
        finally:
            sys.stdout.flush()  # here, where a closed pipe can still be handled
    except BrokenPipeError:  # help, usage errors, or the last buffered output
        _stdout_closed()
