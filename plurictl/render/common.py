"""Rendering helpers: rich consoles, JSON output, small formatting functions.

Commands build plain data, then either print it as JSON (``--json``) or render
it with rich. Nothing here touches the store or the network.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

F = TypeVar("F", bound=Callable[..., Any])

if TYPE_CHECKING:  # rich is imported when something is rendered, not for --json
    from rich.console import Console

_STDOUT: Console | None = None
_STDERR: Console | None = None


def console() -> Console:
    """The console for normal output (stdout); recreated if click swapped the stream."""
    global _STDOUT
    if _STDOUT is None or _STDOUT.file is not sys.stdout:
        _STDOUT = _stdout_class()(file=sys.stdout, highlight=False, soft_wrap=False, width=_width())
    return _STDOUT


@functools.cache
def _stdout_class() -> type[Console]:
    """rich's Console, except that a closed stdout raises BrokenPipeError (rich itself exits
    1): the CLI's entry point then exits 141, quietly (field_guides/exit-codes.md)."""
    from rich.console import Console

    class StdoutConsole(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise BrokenPipeError(32, "stdout closed")

    return StdoutConsole


def _width() -> int | None:
    """Terminals report their width; pipes and files get wide lines, not wrapped tables."""
    import os

    if os.environ.get("COLUMNS") or sys.stdout.isatty():
        return None
    return 160


def error_console() -> Console:
    """The console for errors and progress (stderr), so --json output stays clean."""
    global _STDERR
    if _STDERR is None or _STDERR.file is not sys.stderr:
        import os

        from rich.console import Console

        wide = None if os.environ.get("COLUMNS") or sys.stderr.isatty() else 160
        _STDERR = Console(file=sys.stderr, highlight=False, stderr=True, width=wide)
    return _STDERR


def _default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, set | frozenset):
        return sorted(value)
    if hasattr(value, "to_json"):
        return value.to_json()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(data: Any) -> str:
    return json.dumps(data, default=_default, indent=2, sort_keys=False, ensure_ascii=False)


def emit_json(data: Any) -> None:
    """Print machine-readable output: one JSON document on stdout."""
    click.echo(dumps(data))


@contextlib.contextmanager
def json_refusal(as_json: bool) -> Iterator[None]:
    """With ``--json``, a refusal prints one JSON object on stdout instead of the text
    error: ``{"error": message, "hint": hint or null, "exit_code": code}``; the exit code
    is the error's own (field_guides/exit-codes.md). Without ``--json``: untouched."""
    from ledger.errors import PluriError
    from plurictl.errors import Failed, handled_errors

    try:
        yield
    except Exception as err:
        if not as_json or isinstance(err, Failed) or not isinstance(err, handled_errors()):
            raise
        message = str(err.args[0]) if err.args else type(err).__name__
        code = int(getattr(err, "exit_code", PluriError.exit_code))
        emit_json({"error": message, "hint": getattr(err, "hint", None), "exit_code": code})
        raise Failed(type(err)) from err


def short(key_hex: str, n: int = 12) -> str:
    """A public key or id shortened for tables; full values are in --json."""
    return key_hex[:n]


def hlc_time(hlc: int) -> str:
    """The wall-clock part of a packed hybrid logical clock, as UTC text."""
    ms = hlc >> 16
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def json_option(command: F) -> F:
    """The ``--json`` flag of a command, and its promise: with it, a refusal prints one
    JSON object on stdout too (:func:`json_refusal`), so a script always reads JSON."""

    @functools.wraps(command)
    def refusing_in_json(*args: Any, **kwargs: Any) -> Any:
        with json_refusal(bool(kwargs.get("as_json"))):
            return command(*args, **kwargs)

    flag = click.option(
        "--json", "as_json", is_flag=True, help="Print machine-readable JSON instead of tables."
    )
    return cast(F, flag(refusing_in_json))


class _NullAdvance:
    def __call__(self, n: int = 1, *, total: int | None = None) -> None:
        return None


def progress_bar(
    description: str, total: int | None, *, enabled: bool = True, forks: bool = False
) -> AbstractContextManager[Callable[..., None]]:
    """Context manager yielding ``advance(n, total=None)``: a rich progress bar on stderr.

    ``total`` may be unknown at first (``None``) and given later, when the work
    announces its size (a peer's heads, say). Disabled (a no-op) for --json output
    or when stderr is not a terminal. ``forks``: the work forks worker processes
    (:mod:`ledger.forked`), which it does only from a process running one thread: the
    bar is then redrawn at each advance, without rich's refresh thread.
    """
    import contextlib

    @contextlib.contextmanager
    def manager() -> Iterator[Callable[..., None]]:
        con = error_console()
        if not enabled or not con.is_terminal:
            yield _NullAdvance()
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=con,
            transient=False,
            auto_refresh=not forks,
        ) as progress:
            task = progress.add_task(description, total=total)

            def advance(n: int = 1, *, total: int | None = None) -> None:
                if total is not None:
                    progress.update(task, total=total)
                progress.advance(task, n)
                if forks:
                    progress.refresh()

            yield advance

    return manager()


def stage_progress(
    *, enabled: bool = True, width: int = 44
) -> AbstractContextManager[Callable[[str, str, float], None] | None]:
    """Context manager yielding ``cb(stage, message, fraction)`` for work that reports its
    own fraction done (the planner's callbacks): a transient rich bar on stderr, or None
    when disabled (--json) or stderr is not a terminal."""
    import contextlib

    @contextlib.contextmanager
    def manager() -> Iterator[Callable[[str, str, float], None] | None]:
        con = error_console()
        if not enabled or not con.is_terminal:
            yield None
            return
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        columns = (TextColumn(f"{{task.description:<{width}}}"), BarColumn(), TimeElapsedColumn())
        with Progress(*columns, console=con, transient=True) as progress:
            task = progress.add_task("", total=100)

            def cb(stage: str, message: str, fraction: float) -> None:
                done = 100 * max(0.0, min(1.0, fraction))
                progress.update(task, completed=done, description=message)

            yield cb

    return manager()
