"""field_guides/voting.md runs as written: its quick reference, its examples, its table.

The commands are read out of the guide itself (so a change to the guide is
tested), placeholders are filled in, and each one runs on real homes.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from ledger.store import Store
from ledger.votes.bodies import seal_threshold
from tests.conftest import Invoke, json_out

GUIDE = Path(__file__).resolve().parents[2] / "field_guides" / "voting.md"
TELLERS = ("bob", "carol", "dave", "erin")


def sync(*homes: Path) -> None:
    for a in homes:
        for b in homes:
            if a != b:
                with Store.open(a) as sa, Store.open(b) as sb:
                    sb.ingest([raw for raw, _ in sa.iter_raw()])


@pytest.fixture
def council(tmp_path: Path, invoke: Invoke) -> dict[str, Path]:
    """alice founds (admin, coordinator, operator); bob, carol, dave, erin are operators
    and tellers, as the guide's examples assume."""
    homes = {"alice": tmp_path / "alice"}
    assert invoke(homes["alice"], "init", "--name", "alice").exit_code == 0
    assert invoke(homes["alice"], "mesh", "create", "relief").exit_code == 0
    for name in TELLERS:
        h = tmp_path / name
        assert invoke(h, "init", "--name", name).exit_code == 0
        key = json_out(invoke(h, "whoami", "--json"))["public_key"]
        r = invoke(
            homes["alice"], "roster", "add", key, "--name", name,
            "--role", "operator", "--role", "teller",
        )  # fmt: skip
        assert r.exit_code == 0, r.output
        homes[name] = h
    sync(*homes.values())
    return homes


def guide() -> str:
    return GUIDE.read_text(encoding="utf-8")


def section(title: str) -> str:
    text = guide()
    start = text.index(title)
    nxt = re.search(r"^#{2,3} ", text[start + len(title) :], re.M)
    return text[start : start + len(title) + (nxt.start() if nxt else len(text))]


def indented_commands(text: str) -> list[str]:
    """`plurictl ...` lines of 4-space code blocks, continuation lines joined."""
    out, current = [], ""
    for line in text.splitlines():
        if not line.startswith("    "):
            current = ""
            continue
        body = line.strip()
        if current:
            current += " " + body.rstrip("\\").strip()
        elif body.startswith("plurictl "):
            current = body.rstrip("\\").strip()
        else:
            continue
        if not body.endswith("\\"):
            out.append(current)
            current = ""
    return out


def run(invoke: Invoke, home: Path, command: str) -> str:
    words = shlex.split(command, comments=True)
    assert words[0] == "plurictl", command
    r = invoke(home, *words[1:])
    assert r.exit_code == 0, f"{command}\n{r.output}"
    return r.stdout


def test_the_quick_reference_runs_as_written(
    council: dict[str, Path], invoke: Invoke, tmp_path: Path
) -> None:
    rows = re.findall(
        r"^\| [^|]+ \| [^|]+ \| `(plurictl [^`]+)` \|$", section("## Quick reference"), re.M
    )
    assert len(rows) == 11, rows
    a = council["alice"]
    fill = {
        "TITLE": '"Restart order"',
        "--option ID=LABEL ...": "--option north=North --option south=South",
        "--teller NAME ...": " ".join(f"--teller {t}" for t in TELLERS),
    }
    vote_id = ""
    done = set()
    for row in rows:
        command = row
        for k, v in fill.items():
            command = command.replace(k, v)
        if "vote open council.toml" in command:
            toml = tmp_path / "council.toml"
            toml.write_text(toml_example(), encoding="utf-8")
            command = command.replace("council.toml", str(toml))
        if "vote open" in command:
            out = run(invoke, a, command + " --json")
            vote_id = vote_id or json.loads(out)["vote"][:10]  # the flow uses the first
            done.add("open")
    assert done == {"open"}
    sync(*council.values())
    who = {"cast": "bob", "stop": "bob", "close": "alice", "seal": "bob", "receipt": "bob"}
    for step in ("list", "cast", "status", "stop", "close", "seal", "result", "receipt", "verify"):
        row = next(r for r in rows if r.startswith(f"plurictl vote {step}"))
        command = row.replace("VOTE_ID", vote_id).replace("CHOICE...", "north")
        if step == "seal":
            for teller in TELLERS[:3]:  # k = 3 of 4
                run(invoke, council[teller], command)
                sync(*council.values())
            continue
        run(invoke, council[who.get(step, "alice")], command)
        sync(*council.values())
    state = json_out(invoke(a, "vote", "status", vote_id, "--json"))
    assert state["state"] == "FINAL" and state["winner"]["id"] == "north"


def toml_example() -> str:
    text = section("Example (4 tellers")
    block = text[text.index("    title = ") :].split("\n\n")[0]
    return "\n".join(line[4:] for line in block.splitlines())


def test_the_open_examples_run_as_written(
    council: dict[str, Path], invoke: Invoke, tmp_path: Path
) -> None:
    text = section("Example (4 tellers")
    (flags,) = [c for c in indented_commands(text) if c.startswith("plurictl vote open --")]
    a = council["alice"]
    charter = json.loads(run(invoke, a, flags + " --json"))["charter"]["body"]
    assert (charter["k"], charter["f"], charter["method"]) == (3, 1, "ranked-choice")
    toml = tmp_path / "restart.toml"
    toml.write_text(toml_example(), encoding="utf-8")
    charter2 = json.loads(run(invoke, a, f"plurictl vote open {toml} --json"))["charter"]["body"]
    assert {k: charter2[k] for k in ("k", "f", "method", "quorum_pct")} == {
        k: charter[k] for k in ("k", "f", "method", "quorum_pct")
    }
    assert [o["id"] for o in charter2["options"]] == ["north", "south", "east"]


def test_the_cast_examples_run_as_written(council: dict[str, Path], invoke: Invoke) -> None:
    lines = [c for c in indented_commands(section("## Casting a ballot"))]
    assert len(lines) == 5, lines
    a = council["alice"]
    for line in lines:
        method = re.search(r"# (plurality|approval|ranked-choice|quadratic|blank)", line)
        assert method, line
        kind = "plurality" if method.group(1) == "blank" else method.group(1)
        r = invoke(
            a, "vote", "open", "--title", f"{kind} example", "--method", kind,
            "--option", "north=North", "--option", "south=South", "--option", "east=East",
            "--roll", "role:operator", *[f"--teller={t}" for t in TELLERS], "--json",
        )  # fmt: skip
        vid = json_out(r)["vote"]
        sync(*council.values())
        run(invoke, council["bob"], line.replace("3fa2c1d0", vid[:10]))


def test_the_threshold_table_is_what_vote_open_does() -> None:
    table = section("### Choosing tellers")
    rows = re.findall(r"^\| (\d) \| (.+) \| (.+) \| (.+) \|$", table, re.M)
    assert [int(n) for n, *_ in rows] == list(range(3, 10))
    for n, *cells in rows:
        for f, cell in enumerate(cells):
            k, miss = map(int, re.fullmatch(r"(\d) \(miss (\d)\)", cell).groups())  # type: ignore[union-attr]
            assert k == seal_threshold(int(n), f) and miss == int(n) - k
            assert 2 * k - int(n) >= f + 1 and 2 * (k - 1) - int(n) < f + 1
