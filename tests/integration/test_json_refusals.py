"""With --json, a refusal is JSON too (field_guides/exit-codes.md): a script that asked
for JSON never has to parse an ``Error:`` line. Checked on every command that has --json
and takes arguments, each given a name that matches nothing."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from tests.conftest import Invoke
from tests.test_docs import all_commands

#: Commands with --json and required arguments: these can be refused for a bad argument.
WITH_ARGUMENTS = [
    (name, [p for p in cmd.params if isinstance(p, click.Argument) and p.required])
    for name, cmd in all_commands()
    if name
    and not isinstance(cmd, click.Group)
    and any(p.name == "as_json" for p in cmd.params)
    and any(isinstance(p, click.Argument) and p.required for p in cmd.params)
]


@pytest.mark.parametrize(("name", "arguments"), WITH_ARGUMENTS, ids=[n for n, _ in WITH_ARGUMENTS])
def test_a_refusal_with_json_is_one_json_object_with_the_exit_code(
    name: str, arguments: list[click.Argument], home: Path, invoke: Invoke, tmp_path: Path
) -> None:
    missing = str(tmp_path / "zzzz-no-such")
    args = [missing if "file" in (a.name or "") else "zzzz" for a in arguments]
    r = invoke(home, *name.split(), *args, "--json")
    if r.exit_code == 2:  # a usage error: the command never started, text on stderr
        assert "Usage:" in r.stderr, r.output
        return
    assert r.exit_code != 0, f"`{name}` accepted {args}: {r.output}"
    said = json.loads(r.stdout)  # one JSON document, whatever the refusal
    if isinstance(said, dict) and "error" in said:
        assert said["exit_code"] == r.exit_code, said
        assert said["error"] and set(said) == {"error", "hint", "exit_code"}
    # else: a command that reports per item (`playbook validate`) and then exits non-zero


def test_most_commands_with_arguments_refuse_in_json(home: Path, invoke: Invoke) -> None:
    """The test above must not pass by every command calling its argument a usage error."""
    refused = 0
    for name, arguments in WITH_ARGUMENTS:
        r = invoke(home, *name.split(), *(["zzzz"] * len(arguments)), "--json")
        if r.exit_code not in (0, 2):
            json.loads(r.stdout)
            refused += 1
    assert refused >= 20, refused


def test_without_json_a_refusal_stays_text_on_stderr(home: Path, invoke: Invoke) -> None:
    r = invoke(home, "vote", "status", "zzzz")
    assert r.exit_code != 0 and r.stdout == "" and r.stderr.startswith("Error:")
