"""The one table of exit codes, read from the exception classes.

Each code belongs to the exception class that introduces it (the class whose own
body sets ``exit_meaning``); its subclasses share it. A few codes are not ours to
raise: 0 (success), 2 (click's usage errors) and 128 + a signal. ``plurictl --help``
prints this table and ``field_guides/exit-codes.md`` holds it (a test keeps them
equal; ``python -m plurictl.exit_codes`` prints the guide's table).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExitCode:
    code: int
    meaning: str
    fix: str
    owner: str  # the class that introduces it, or "" for codes that are not ours


SUCCESS = ExitCode(0, "success", "", "")
USAGE = ExitCode(
    2, "usage error: unknown option, missing argument", "check `plurictl COMMAND --help`", ""
)
SIGNALS = (
    ExitCode(130, "interrupted (Ctrl-C)", "", ""),
    ExitCode(
        141,
        "stdout closed early (a pipe such as `| head` stopped reading): the output was cut "
        "short, quietly",
        "read the whole output, or write it to a file first",
        "",
    ),
    ExitCode(143, "stopped by SIGTERM (`kill`, a timeout, CI); a drill stops its nodes", "", ""),
)


def error_classes() -> list[type[BaseException]]:
    """Every exception class plurictl reports, from every package's error tree."""
    import ledger.errors
    import mesh.errors  # noqa: F401
    import planner.errors
    import plurictl.errors  # noqa: F401

    seen: list[type[BaseException]] = []
    todo: list[type[BaseException]] = [ledger.errors.PluriError, planner.errors.PlannerError]
    while todo:
        cls = todo.pop()
        if cls not in seen:
            seen.append(cls)
            todo.extend(cls.__subclasses__())
    return sorted(seen, key=lambda c: (c.__module__, c.__qualname__))


def table() -> list[ExitCode]:
    """Every exit code a user can see, sorted; raises if two classes claim one code."""
    import click

    assert click.UsageError.exit_code == USAGE.code
    rows = {SUCCESS.code: SUCCESS, USAGE.code: USAGE}
    rows.update({s.code: s for s in SIGNALS})
    for cls in error_classes():
        if "exit_meaning" not in vars(cls):
            continue
        code = int(vars(cls).get("exit_code", getattr(cls, "exit_code", 1)))
        if code in rows:
            raise RuntimeError(f"exit code {code} is claimed twice ({cls.__qualname__})")
        rows[code] = ExitCode(code, str(vars(cls)["exit_meaning"]), str(cls.exit_fix), cls.__name__)  # type: ignore[attr-defined]
    return [rows[c] for c in sorted(rows)]


def help_text() -> str:
    """The short form for ``plurictl --help``."""
    return "\n".join(f"{row.code:>4}  {row.meaning}" for row in table())


def markdown_table() -> str:
    """The table of ``field_guides/exit-codes.md``."""
    lines = ["| code | meaning | typical fix |", "| --- | --- | --- |"]
    lines += [f"| {r.code} | {r.meaning} | {r.fix} |" for r in table()]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
