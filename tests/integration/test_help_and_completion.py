"""Every command shows an example in its --help, and the shell completes the ids and names
operators type (issue 18 item 11)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ledger.errors import InvalidInput
from plurictl.cli import cli
from plurictl.complete import completions
from tests.conftest import Invoke, json_out, new_home
from tests.test_docs import all_commands

COMMANDS = [(name, cmd) for name, cmd in all_commands() if name]


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_every_command_shows_an_example_of_itself(name: str, command: click.Command) -> None:
    out = CliRunner().invoke(cli, [*name.split(), "--help"]).output
    examples = re.findall(
        r"Examples?:\s*(plurictl.*?)(?=\n\s*\n|\n\s*(?:Example|plurictl )|\Z)", out, flags=re.S
    )
    assert examples, f"`plurictl {name} --help` shows no example"
    words = shlex.split(" ".join(examples[0].split()), comments=True)
    assert " ".join(words[1:]).startswith(name.split()[0]), examples[0]
    # the example parses: its options exist and its arguments fit (files need not exist)
    leaf = " ".join(w for w in words[1 : 1 + len(name.split())])
    if leaf == name and not isinstance(command, click.Group):
        args = words[1 + len(name.split()) :]
        try:
            command.make_context(name.split()[-1], args)
        except click.BadParameter as e:
            assert "does not exist" in e.format_message(), e.format_message()
        except InvalidInput as e:  # checked while parsing: a folder of the example's
            assert "does not exist" in str(e), e


@pytest.fixture
def busy_home(tmp_path: Path, home: Path, invoke: Invoke) -> Path:
    """alice's home with a member, a site, a vote, a playbook run and a proposed plan."""
    _, bob = new_home(tmp_path, invoke, "bob")
    assert invoke(home, "roster", "add", bob, "--name", "bob", "--role", "teller").exit_code == 0
    assert invoke(home, "fuel", "report", "north", "--litres", "1200").exit_code == 0
    r = invoke(
        home, "vote", "open", "--title", "Night shelter", "--option", "north", "--option",
        "river", "--roll", "role:operator", "--teller", "bob",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    r = invoke(home, "playbook", "start", "microgrid-black-start", "--site", "north")
    assert r.exit_code == 0, r.output
    r = invoke(home, "plan", "run", "three-bases", "--periods", "2", "--no-ac", "--propose")
    assert r.exit_code == 0, r.output
    return home


def values(home: Path, *words: str, incomplete: str = "") -> list[str]:
    return [c["value"] for c in completions(["--home", str(home), *words], incomplete)]


def test_completion_of_ids_and_names(busy_home: Path, invoke: Invoke) -> None:
    home = busy_home
    vote = json_out(invoke(home, "vote", "list", "--json"))["votes"][0]["id"]
    run = json_out(invoke(home, "playbook", "list", "--json"))["runs"][0]["id"]
    plan = json_out(invoke(home, "plan", "list", "--json"))["proposals"][0]["id"]
    for command in (["vote", "cast"], ["vote", "status"], ["vote", "seal"]):
        assert values(home, *command) == [vote[:12]]
    assert values(home, "vote", "result", incomplete=vote[:3]) == [vote[:12]]
    assert values(home, "vote", "result", incomplete="zz") == []
    assert values(home, "playbook", "status") == [run[:12]]
    assert values(home, "playbook", "sign") == [run[:12]]
    assert values(home, "plan", "adopt") == [plan[:12]]
    assert values(home, "roster", "grant") == ["alice", "bob"]
    assert values(home, "bundle", "export", "--for", incomplete="b") == ["bob"]
    assert values(home, "vote", "open", "--teller") == ["alice", "bob"]
    assert values(home, "node", "partition", incomplete="alice,b") == ["alice,bob"]
    assert values(home, "fuel", "status", "--site") == ["north"]
    assert values(home, "fuel", "report", incomplete="no") == ["north"]
    assert values(home, "orders", "--site") == ["north"]
    assert values(home, "drill", "run", incomplete="quick") == ["quickstart"]
    assert values(home, "plan", "run", incomplete="island") == ["island-microgrid"]
    assert values(home, "playbook", "start", incomplete="micro") == ["microgrid-black-start"]
    # no shipped name fits: the shell completes file names
    files = completions(["--home", str(home), "drill", "run"], "./my")
    assert [(c["value"], c["type"]) for c in files] == [("./my", "file")]


def test_completion_without_a_home_offers_nothing(tmp_path: Path) -> None:
    assert values(tmp_path / "nobody", "vote", "cast") == []
    assert values(tmp_path / "nobody", "roster", "grant") == []


def test_bash_completes_through_the_real_entry_point(busy_home: Path, invoke: Invoke) -> None:
    """What bash runs on TAB once `_PLURICTL_COMPLETE=bash_source plurictl` is sourced."""
    vote = json_out(invoke(busy_home, "vote", "list", "--json"))["votes"][0]["id"]
    words = ["plurictl", "--home", str(busy_home), "vote", "cast", ""]
    env = {
        **os.environ,
        "_PLURICTL_COMPLETE": "bash_complete",
        "COMP_WORDS": " ".join(shlex.quote(w) for w in words),
        "COMP_CWORD": str(len(words) - 1),
    }
    r = subprocess.run(
        [sys.executable, "-c", "from plurictl.cli import main; main()"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.stdout.split() == [f"plain,{vote[:12]}"], r.stderr
    script = subprocess.run(
        [sys.executable, "-c", "from plurictl.cli import main; main()"],
        env={**os.environ, "_PLURICTL_COMPLETE": "bash_source"},
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    assert "complete -o nosort -F _plurictl_completion plurictl" in script
    assert json.dumps(vote)  # the id is plain hex
