"""Errors of the command line itself, and the handler's list of error roots.

The exit codes live on the exception classes (``exit_code``, and ``exit_meaning``
/ ``exit_fix`` on the class that introduces a code); ``plurictl.exit_codes``
collects them into the one table shown by ``plurictl --help`` and in
``field_guides/exit-codes.md``.

::

    PluriError (ledger.errors)
    ├── Failed              exit of the error class it names  a command that already
    │                                                          rendered its report
    ├── DrillFailed         exit 12  an invariant did not hold
    ├── DrillNotRun         exit 13  a drill step failed before the checks
    ├── MissingExtra        exit 14  an optional extra is not installed
    └── NotShipped          exit 1  a broken install without its files

    click.ClickException
    └── BadArgument         exit 5  an argument that is not UTF-8 text (before any command)
"""

from __future__ import annotations

import click

from ledger.errors import InvalidInput, PluriError


def handled_errors() -> tuple[type[BaseException], ...]:
    """The error roots the handler turns into a message and an exit code.

    The planner's tree is imported lazily so that start-up stays cheap.
    """
    try:
        from planner.errors import PlannerError
    except ImportError:  # pragma: no cover - planner always ships with plurictl
        return (PluriError,)
    return (PluriError, PlannerError)


class Failed(PluriError):
    """A command finished its work but must exit non-zero (e.g. verify found problems).

    The command has already rendered its report; the handler prints nothing more.
    ``like`` is the error class whose exit code applies (``Failed(VerificationFailed)``):
    commands never write exit numbers themselves.
    """

    def __init__(self, like: type[BaseException], message: str = "") -> None:
        super().__init__(message)
        code = getattr(like, "exit_code", None)
        if not isinstance(code, int):
            raise TypeError(f"{like.__name__} has no exit code")
        self.exit_code = code


class DrillFailed(PluriError):
    exit_code = 12
    exit_meaning = "drill failed: an invariant did not hold"
    exit_fix = "read the drill report"


class DrillNotRun(PluriError):
    exit_code = 13
    exit_meaning = (
        "drill could not run: a step failed before the checks "
        "(missing file, a laptop that never received the roster)"
    )
    exit_fix = "the report names the step; fix the drill file or re-run with `--keep DIR`"


class MissingExtra(PluriError):
    exit_code = 14
    exit_meaning = "an optional extra is not installed (plot: matplotlib; radio: meshtastic)"
    exit_fix = (
        "install the extra the message names: `pip install 'plurigrid[plot]'` or "
        "`'plurigrid[meshtastic]'` (offline: from the wheelhouse)"
    )


class NetworkLabError(DrillNotRun):
    """A drill's network lab (namespaces, bridge, shaper) could not be built or changed:
    the drill could not run (exit 13)."""


class BadArgument(click.ClickException):
    """A command-line argument that is not UTF-8 text (found before any command runs).

    A click exception (not a PluriError) because it is raised while the root
    group parses its arguments, before plurictl's own handler is in place.
    """

    exit_code = InvalidInput.exit_code


class NotShipped(PluriError):
    """This installation carries no shipped files (a wheel built without its package data)."""

    exit_code = 1
