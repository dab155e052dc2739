"""field_guides/secret-ballots.md runs as written: its walkthrough, command by command, on
the laptop its comment names, with a sync after each (as the guide says)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from tests.conftest import Invoke, json_out
from tests.integration import test_voting_guide as voting

GUIDE = Path(__file__).resolve().parents[2] / "field_guides" / "secret-ballots.md"
council = voting.council  # alice (coordinator) and four tellers (pytest fixture)


def walkthrough() -> list[tuple[str, str]]:
    """(command, laptop) for every `plurictl ...   # NAME` line of the walkthrough."""
    text = GUIDE.read_text(encoding="utf-8")
    start = text.index("## Walkthrough")
    end = text.index("### What can go wrong", start)
    out = []
    for line in text[start:end].splitlines():
        found = re.fullmatch(r"    (plurictl .+?)\s+# (\w+)", line)
        if found:
            out.append((found.group(1), found.group(2)))
    return out


def test_the_walkthrough_runs_as_written(council: dict[str, Path], invoke: Invoke) -> None:
    steps = walkthrough()
    assert len(steps) >= 15, steps
    ids = {"3fa2c1d0": "", "7b1e9a02": ""}
    for command, who in steps:
        for placeholder, real in ids.items():
            if real:
                command = command.replace(placeholder, real)
        words = shlex.split(command)
        r = invoke(council[who], *words[1:], "--json")
        assert r.exit_code == 0, f"{command} ({who})\n{r.output}"
        data = json.loads(r.stdout)
        if words[1:4] == ["vote", "ceremony", "start"]:
            ids["3fa2c1d0"] = data["ceremony"][:12]
        if words[1:3] == ["vote", "open"]:
            ids["7b1e9a02"] = data["vote"][:12]
        if words[1:4] == ["vote", "ceremony", "status"]:
            assert data["complete"], data
        voting.sync(*council.values())
    result = json_out(invoke(council["alice"], "vote", "result", ids["7b1e9a02"], "--json"))
    assert result["state"] == "FINAL"
    assert result["result"]["counts"] == {"ann": 2, "ben": 1}
    assert result["result"]["winner"]["id"] == "ann"


def test_the_guide_promises_no_approval_cap_that_vote_open_cannot_set(invoke: Invoke) -> None:
    text = " ".join(GUIDE.read_text(encoding="utf-8").split())
    assert "within the cap" not in text
    assert "a plurictl charter has no field for a cap and `vote open` no option" in text
    help_text = invoke(None, "vote", "open", "--help").output
    assert [o for o in re.findall(r"--[a-z-]+", help_text) if "cap" in o] == [], help_text
