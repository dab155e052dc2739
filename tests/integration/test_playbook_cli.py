"""`plurictl playbook ...` end to end with CliRunner: real homes, real stores, partitions."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.store import Store
from tests.conftest import Invoke, json_out, new_home
from tests.playbook_helpers import SHIPPED, SMALL

SHIPPED_FILES = sorted(SHIPPED.glob("*.toml"))
GUIDE = SHIPPED.parent / "playbooks.md"


def count(home: Path) -> int:
    with Store.open(home) as s:
        return s.count()


def sync(*homes: Path) -> None:
    """Heal: every laptop gets every entry (as a courier bundle or the mesh would)."""
    for _ in range(2):
        for a in homes:
            for b in homes:
                if a == b:
                    continue
                with Store.open(a) as src, Store.open(b) as dst:
                    dst.ingest([raw for raw, _ in src.iter_raw()])


def stable(status: dict[str, Any]) -> dict[str, Any]:
    """Status JSON without what depends on this laptop's clock at this instant."""
    out = {k: v for k, v in status.items() if k != "now_ms"}
    out["steps"] = [
        {k: v for k, v in s.items() if k not in ("hold_remaining_s", "hold_running")}
        for s in status["steps"]
    ]
    return out


@pytest.fixture
def small(tmp_path: Path) -> Path:
    path = tmp_path / "small.toml"
    path.write_text(SMALL.replace("litres = 500}", "litres = 500, required = false}"))
    return path


@pytest.fixture
def crew(tmp_path: Path, invoke: Invoke, home: Path) -> Iterator[dict[str, Path]]:
    """alice (admin, coordinator, operator), bob and carol (operators), olga (observer)."""
    homes = {"alice": home}
    mesh_id = json_out(invoke(home, "mesh", "show", "--json"))["mesh_id"]
    for name, role in (("bob", "operator"), ("carol", "operator"), ("olga", "observer")):
        h, key = new_home(tmp_path, invoke, name)
        assert invoke(home, "roster", "add", key, "--name", name, "--role", role).exit_code == 0
        assert invoke(h, "mesh", "join", mesh_id).exit_code == 0
        homes[name] = h
    sync(*homes.values())
    yield homes


def start(invoke: Invoke, home: Path, path: Path | str, *extra: str) -> str:
    data = json_out(invoke(home, "playbook", "start", str(path), "--json", *extra))
    return data["run"]["id"]


# --- files ---------------------------------------------------------------------------------


def test_shipped_playbooks_validate(invoke: Invoke) -> None:
    assert len(SHIPPED_FILES) >= 4
    result = invoke(None, "playbook", "validate", *map(str, SHIPPED_FILES))
    assert result.exit_code == 0, result.output
    assert result.output.count("OK ") == len(SHIPPED_FILES)
    data = json_out(invoke(None, "playbook", "validate", "--json", *map(str, SHIPPED_FILES)))
    for item, path in zip(data, SHIPPED_FILES, strict=True):
        assert item["valid"] and item["hash"] == hashlib.sha256(path.read_bytes()).hexdigest()
        assert "# " in path.read_text().splitlines()[0]  # header comment
        assert "Sources" not in item  # sources are in the file, shown by `show`
    ids = {item["id"] for item in data}
    assert {
        "microgrid-black-start",
        "water-plant-emergency-power",
        "offsite-power-cranking-path",
        "hospital-fuel-resupply",
    } <= ids


def test_validate_malformed_files_names_line_step_and_field(tmp_path: Path, invoke: Invoke) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(SMALL.replace("signoffs = 2\nhold", "signoffs = 0\nhold"))
    broken = tmp_path / "broken.toml"
    broken.write_text(SMALL.replace('title = "Isolate"', 'title "Isolate"'))
    result = invoke(None, "playbook", "validate", str(bad), str(broken))
    assert result.exit_code == 5
    line = SMALL.splitlines().index("signoffs = 2") + 1
    assert f"line {line}, step 'a', field 'signoffs'" in result.output
    tline = SMALL.splitlines().index('title = "Isolate"') + 1
    assert f"broken.toml: line {tline}" in result.output and "not valid TOML" in result.output
    data = json.loads(invoke(None, "playbook", "validate", "--json", str(bad)).stdout)
    assert data[0]["problems"][0] == {
        "line": line,
        "step": "'a'",
        "field": "signoffs",
        "message": "must be a whole number from 1 to 9, got 0",
    }
    missing = invoke(None, "playbook", "validate", str(tmp_path / "nope.toml"))
    assert missing.exit_code == 5 and "cannot read" in missing.output


def test_show_file_and_shipped_id(invoke: Invoke, small: Path) -> None:
    data = json_out(invoke(None, "playbook", "show", str(small), "--json"))
    assert data["hash"] == hashlib.sha256(small.read_bytes()).hexdigest()
    assert [s["id"] for s in data["steps"]] == ["a", "b", "c"]
    shown = invoke(None, "playbook", "show", "hospital-fuel-resupply")
    assert shown.exit_code == 0 and "Sources:" in shown.output and "49 CFR 177.834" in shown.output
    missing = invoke(None, "playbook", "show", "no-such-thing")
    assert missing.exit_code == 5 and "neither a playbook file" in missing.output


def test_list_without_a_home_shows_shipped_only(invoke: Invoke, tmp_path: Path) -> None:
    data = json_out(invoke(tmp_path / "nobody", "playbook", "list", "--json"))
    assert data["runs"] is None and len(data["shipped"]) == len(SHIPPED_FILES)
    text = invoke(tmp_path / "nobody", "playbook", "list")
    assert text.exit_code == 0 and "No ledger" in text.output


# --- one laptop ----------------------------------------------------------------------------


def test_start_sign_status_log(invoke: Invoke, home: Path, small: Path, tmp_path: Path) -> None:
    run = start(invoke, home, small, "--site", "north", "--note", "feeder 12 black")
    listed = json_out(invoke(home, "playbook", "list", "--json"))["runs"]
    assert [r["id"] for r in listed] == [run]
    assert listed[0]["state"] == "running" and listed[0]["site"] == "north"
    signed = invoke(home, "playbook", "sign", run[:8], "b", "--note", "oil ok")
    assert signed.exit_code == 0, signed.output
    assert "1 of 1 sign-offs" in signed.output and "DONE" in signed.output
    status = json_out(invoke(home, "playbook", "status", run[:6], "--json"))
    b = status["steps"][1]
    assert (
        b["state"] == "done"
        and b["signed_by"][0]["name"] == "alice"
        and b["signed_by"][0]["note"] == "oil ok"
    )
    assert status["steps"][2]["state"] == "blocked"
    table = invoke(home, "playbook", "status", run[:6])
    assert table.exit_code == 0 and "DONE" not in table.output and "done" in table.output
    md = invoke(home, "playbook", "log", run[:8], "--markdown")
    assert md.exit_code == 0
    assert md.output.startswith("# After-action log: Small restart")
    assert re.search(r"\| 1 \| .* \| alice \| signed \| b \| oil ok \| counted \|", md.output)
    out = tmp_path / "aar.md"
    assert invoke(home, "playbook", "log", run[:8], "-o", str(out)).exit_code == 0
    assert out.read_text().startswith("# After-action log")
    logged = json_out(invoke(home, "playbook", "log", run[:8], "--json"))
    assert [r["action"] for r in logged["records"]] == ["sign"]
    shown = json_out(invoke(home, "playbook", "show", run[:8], "--json"))
    assert shown["run"] == run and shown["hash"] == hashlib.sha256(small.read_bytes()).hexdigest()


def test_bad_input_leaves_the_store_unchanged(
    invoke: Invoke, home: Path, small: Path, tmp_path: Path
) -> None:
    run = start(invoke, home, small)
    assert invoke(home, "playbook", "sign", run[:8], "b").exit_code == 0
    before = count(home)
    cases = [
        (5, ["playbook", "sign", run[:8], "nope"], "no step 'nope'"),
        (5, ["playbook", "sign", run[:8], "b"], "already signed"),
        (5, ["playbook", "sign", "zz", "b"], "not a run id"),
        (5, ["playbook", "sign", "abcdef01", "b"], "no run"),
        (5, ["playbook", "sign", run[:8], "c"], "blocked"),
        (5, ["playbook", "start", str(tmp_path / "missing.toml")], "no playbook file"),
        (5, ["playbook", "resume", run[:8], "--reason", "x"], "not aborted"),
        (5, ["playbook", "waive", run[:8], "c", "1", "--reason", "x"], "only fuel and plan"),
        (5, ["playbook", "skip", run[:8], "b", "--reason", "x"], "already done"),
        (5, ["playbook", "skip", run[:8], "a", "--reason", "  "], "reason is required"),
        (
            5,
            ["playbook", "log", run[:8], "-o", str(tmp_path / "no" / "dir" / "x.md")],
            "cannot write",
        ),
        (2, ["playbook", "skip", run[:8], "a"], "--reason"),
        (2, ["playbook", "waive", run[:8], "c", "-1", "--reason", "x"], ""),
        (2, ["playbook", "sign", run[:8]], "STEP"),
    ]
    for code, args, words in cases:
        result = invoke(home, *args)
        assert result.exit_code == code, (args, result.output)
        assert words in result.output, (args, result.output)
        assert "Traceback" not in result.output
    strict = tmp_path / "strict.toml"
    strict.write_text(SMALL)  # its fuel check is required and names no site
    result = invoke(home, "playbook", "start", str(strict))
    assert result.exit_code == 5 and "--site" in result.output
    bad = tmp_path / "bad.toml"
    bad.write_text(
        SMALL.replace('role = "operator"\nsignoffs = 2', 'role = "opertor"\nsignoffs = 2')
    )
    result = invoke(home, "playbook", "start", str(bad))
    assert result.exit_code == 5 and "did you mean 'operator'" in result.output
    assert count(home) == before


def test_no_home_is_not_initialised(invoke: Invoke, tmp_path: Path) -> None:
    result = invoke(tmp_path / "nobody", "playbook", "status", "abcd")
    assert result.exit_code == 3


# --- several laptops ----------------------------------------------------------------------


def test_roles_are_enforced(invoke: Invoke, crew: dict[str, Path], small: Path) -> None:
    before = count(crew["bob"])
    refused = invoke(crew["bob"], "playbook", "start", str(small))
    assert refused.exit_code == 7 and "coordinator" in refused.output
    run = start(invoke, crew["alice"], small)
    sync(*crew.values())
    observer = invoke(crew["olga"], "playbook", "sign", run[:8], "a")
    assert observer.exit_code == 7 and "operator" in observer.output
    skip = invoke(crew["bob"], "playbook", "skip", run[:8], "b", "--reason", "not needed")
    assert skip.exit_code == 7
    assert count(crew["bob"]) == before + 1  # only alice's run arrived


def test_two_person_rule_and_identical_status_everywhere(
    invoke: Invoke, crew: dict[str, Path], small: Path
) -> None:
    run = start(invoke, crew["alice"], small)
    sync(*crew.values())
    first = invoke(crew["bob"], "playbook", "sign", run[:8], "a")
    assert first.exit_code == 0 and "1 of 2" in first.output
    sync(*crew.values())
    status = json_out(invoke(crew["carol"], "playbook", "status", run[:8], "--json"))
    assert status["steps"][0]["have"] == 1 and status["steps"][0]["state"] == "ready"
    assert invoke(crew["carol"], "playbook", "sign", run[:8], "a").exit_code == 0
    sync(*crew.values())
    views = [
        stable(json_out(invoke(h, "playbook", "status", run[:8], "--json"))) for h in crew.values()
    ]
    assert all(v == views[0] for v in views)
    a = views[0]["steps"][0]
    assert a["state"] == "done" and {s["name"] for s in a["signed_by"]} == {"bob", "carol"}


def test_partition_heal_converges(
    invoke: Invoke, crew: dict[str, Path], small: Path, tmp_path: Path
) -> None:
    run = start(invoke, crew["alice"], small)
    sync(*crew.values())
    # Partition: bob and carol cannot reach each other; each signs what they can.
    assert invoke(crew["bob"], "playbook", "sign", run[:8], "a").exit_code == 0
    assert invoke(crew["carol"], "playbook", "sign", run[:8], "b").exit_code == 0
    assert invoke(crew["carol"], "playbook", "sign", run[:8], "a").exit_code == 0
    bob_side = json_out(invoke(crew["bob"], "playbook", "status", run[:8], "--json"))
    carol_side = json_out(invoke(crew["carol"], "playbook", "status", run[:8], "--json"))
    assert [s["state"] for s in bob_side["steps"]] == ["ready", "ready", "blocked"]
    assert [s["state"] for s in carol_side["steps"]] == ["ready", "done", "blocked"]
    # A laptop that receives everything in the opposite order converges too.
    late, _ = new_home(tmp_path, invoke, "late")
    with Store.open(crew["alice"]) as s:
        everything = [raw for raw, _ in s.iter_raw()]
    for h in (crew["bob"], crew["carol"]):
        with Store.open(h) as s:
            everything += [raw for raw, _ in s.iter_raw()]
    with Store.open(late) as dst:
        for raw in reversed(everything):  # one entry at a time, newest first
            dst.ingest([raw])
        dst.ingest(everything)
    sync(*crew.values())
    views = [
        stable(json_out(invoke(h, "playbook", "status", run[:8], "--json")))
        for h in [*crew.values(), late]
    ]
    assert all(v == views[0] for v in views)
    assert [s["state"] for s in views[0]["steps"]][:2] == ["done", "done"]
    assert views[0]["steps"][2]["state"] in ("ready", "holding")


def test_abort_resume_fail_retry(invoke: Invoke, crew: dict[str, Path], small: Path) -> None:
    run = start(invoke, crew["alice"], small)
    sync(*crew.values())
    aborted = invoke(crew["bob"], "playbook", "abort", run[:8], "--reason", "smoke at genset 1")
    assert aborted.exit_code == 0 and "ABORTED" in aborted.output
    sync(*crew.values())
    refused = invoke(crew["carol"], "playbook", "sign", run[:8], "a")
    assert refused.exit_code == 5 and "aborted" in refused.output
    assert invoke(crew["bob"], "playbook", "resume", run[:8], "--reason", "ok").exit_code == 7
    assert (
        invoke(crew["alice"], "playbook", "resume", run[:8], "--reason", "false alarm").exit_code
        == 0
    )
    sync(*crew.values())
    assert invoke(crew["carol"], "playbook", "sign", run[:8], "a").exit_code == 0
    failed = invoke(crew["carol"], "playbook", "fail", run[:8], "a", "--reason", "breaker 3 stuck")
    assert failed.exit_code == 0 and "FAILED" in failed.output
    sync(*crew.values())
    status = json_out(invoke(crew["bob"], "playbook", "status", run[:8], "--json"))
    assert status["steps"][0]["state"] == "failed" and status["steps"][0]["have"] == 0
    retry = invoke(
        crew["alice"], "playbook", "resume", run[:8], "--step", "a", "--reason", "racked out"
    )
    assert retry.exit_code == 0
    sync(*crew.values())
    assert invoke(crew["bob"], "playbook", "log", run[:8]).exit_code == 0
    records = json_out(invoke(crew["bob"], "playbook", "log", run[:8], "--json"))["records"]
    assert [r["action"] for r in records] == ["abort", "resume", "sign", "fail", "resume"]
    assert records[2]["problems"][0]["code"] == "voided_by_fail"
    md = invoke(crew["bob"], "playbook", "log", run[:8], "--markdown").output
    assert "NOT COUNTED" in md and "breaker 3 stuck" in md and "racked out" in md


# --- help and field guide --------------------------------------------------------------------


def test_every_command_has_help_and_is_in_the_field_guide(invoke: Invoke) -> None:
    from plurictl.commands.playbook import playbook

    guide = GUIDE.read_text()
    assert playbook.commands
    for name, command in playbook.commands.items():
        assert (command.help or "").strip(), name
        assert f"plurictl playbook {name}" in guide, name
        assert invoke(None, "playbook", name, "--help").exit_code == 0
    for path in SHIPPED_FILES:
        assert path.name in guide


def test_field_guide_example_is_a_valid_playbook() -> None:
    from ledger.playbooks.format import parse

    text = GUIDE.read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```toml\n")[1:]]
    block = next(b for b in blocks if 'id = "small-restart"' in b)
    pb = parse(block, "field guide example")
    assert pb.steps[1].signoffs == 2 and len(pb.steps[1].checks) == 8
    assert pb.steps[1].readings and pb.steps[2].type == "release"
    assert pb.steps[3].signers == ("grid-operator", "station-operator")
    for snippet in blocks:  # the one-line examples of the new fields parse in a step too
        if "[[steps]]" not in snippet:
            step = 'id = "x"\ntitle = "x"\nrole = "operator"\ninstructions = "x"\n' + snippet
            head = 'id = "p"\ntitle = "p"\nversion = "1"\nroles = ["operator"]\n[[steps]]\n'
            parse(head + step, "field guide snippet")
