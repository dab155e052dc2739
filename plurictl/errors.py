"""Error handling for the command line: one handler, exit codes on the classes.

The exit codes a user can see (also in ``field_guides/exit-codes.md``):

====  =========================================================
code  meaning
====  =========================================================
0     success
1     error (unexpected or general)
2     usage error: unknown option, missing argument
3     not initialised: no home, no identity, not in a mesh yet
4     key problem: key file missing, readable by others, corrupt, wrong passphrase
5     invalid input: bad JSON, bad kind, oversized entry, unreadable file
6     verification failed: bad signatures, broken chains, forks, damaged bundle
7     refused by trust rules: not a member, missing role, another mesh
8     store problem: database locked, damaged, disk full, read-only
9     mesh problem: node not running, peer unreachable, address in use
10    planner input invalid: scenario file or network
11    plan not solved: infeasible, time limit, solver failure
12    drill failed: an invariant did not hold
====  =========================================================
"""

from __future__ import annotations

import click

from ledger.errors import PluriError

EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "error (unexpected or general)",
    2: "usage error: unknown option, missing argument",
    3: "not initialised: no home, no identity, not in a mesh yet",
    4: "key problem: key file missing, readable by others, corrupt, wrong passphrase",
    5: "invalid input: bad JSON, bad kind, oversized entry, unreadable file",
    6: "verification failed: bad signatures, broken chains, forks, damaged bundle",
    7: "refused by trust rules: not a member, missing role, another mesh",
    8: "store problem: database locked, damaged, disk full, read-only",
    9: "mesh problem: node not running, peer unreachable, address in use",
    10: "planner input invalid: scenario file or network",
    11: "plan not solved: infeasible, time limit, solver failure",
    12: "drill failed: an invariant did not hold",
}


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
    """

    def __init__(self, exit_code: int, message: str = "") -> None:
        super().__init__(message)
        self.exit_code = exit_code


class BadArgument(click.ClickException):
    """A command-line argument that is not UTF-8 text (found before any command runs).

    A click exception (not a PluriError) because it is raised while the root
    group parses its arguments, before plurictl's own handler is in place.
    """

    exit_code = 5
