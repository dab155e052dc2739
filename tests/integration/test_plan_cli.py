"""`plurictl plan ...` end to end through click, plus the docs and start-up checks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from plurictl.cli import COMMANDS, cli

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "field_guides" / "scenarios"
GUIDE = ROOT / "field_guides" / "planner.md"


@pytest.fixture
def run() -> object:
    runner = CliRunner()

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(cli, list(args), catch_exceptions=False)

    return invoke


def test_scenarios_lists_the_shipped_ones(run) -> None:  # type: ignore[no-untyped-def]
    r = run("plan", "scenarios", "--json")
    assert r.exit_code == 0, r.output
    names = {row["name"] for row in json.loads(r.stdout)}
    assert names >= {"island-microgrid", "three-bases", "case118-72h"}
    r = run("plan", "scenarios")
    assert r.exit_code == 0 and "three-bases" in r.stdout


def test_validate_good_and_bad(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = run("plan", "validate", str(SCENARIOS / "three-bases.toml"))
    assert r.exit_code == 0, r.output
    assert "OK" in r.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text(
        (SCENARIOS / "three-bases.toml")
        .read_text()
        .replace("lead_periods = 4", "lead_periods = -4"),
        encoding="utf-8",
    )
    r = run("plan", "validate", str(bad))
    assert r.exit_code == 10
    assert "field routes[2].lead_periods" in r.stderr
    assert "Traceback" not in r.output


def test_run_json_out_explain(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "plan.json"
    r = run(
        "plan",
        "run",
        str(SCENARIOS / "three-bases.toml"),
        "--periods",
        "8",
        "--json",
        "--out",
        str(out),
    )
    assert r.exit_code == 0, r.output
    plan = json.loads(r.stdout)
    assert plan["status"] == "solved"
    assert json.loads(out.read_text())["plan_hash"] == plan["plan_hash"]
    assert plan["ac"]["summary"]["periods"] == 8
    r = run("plan", "explain", str(out), "--site", "charlie")
    assert r.exit_code == 0 and "charlie" in r.stdout
    name = plan["loads"][0]["name"]
    r = run("plan", "explain", str(out), "--load", name, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["load"]["name"] == name
    r = run("plan", "explain", str(out), "--load", "nobody")
    assert r.exit_code == 10 and "no load named 'nobody'" in r.stderr


def test_run_renders_tables(run) -> None:  # type: ignore[no-untyped-def]
    r = run("plan", "run", str(SCENARIOS / "island-microgrid.toml"), "--periods", "6", "--no-ac")
    assert r.exit_code == 0, r.output
    for heading in ("Served % by tier", "Generator schedules", "Fuel", "AC check: skipped"):
        assert heading in r.stdout


def test_cost_objective(run) -> None:  # type: ignore[no-untyped-def]
    r = run("plan", "run", str(SCENARIOS / "case118-72h.toml"), "--objective", "cost", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["objective_cost"] == pytest.approx(125947.87, rel=1e-5)


def test_infeasible_plan_exits_11_with_the_reason(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = (SCENARIOS / "three-bases.toml").read_text()
    text = text.replace(
        "initial_litres = 6000\n  reserve_litres = 800",
        "initial_litres = 100\n  reserve_litres = 800",
    )
    text = text.replace(
        'file = "three-bases-net.json"', f'file = "{SCENARIOS / "three-bases-net.json"}"'
    )
    bad = tmp_path / "dry.toml"
    bad.write_text(text, encoding="utf-8")
    r = run("plan", "run", str(bad), "--periods", "2", "--no-ac")
    assert r.exit_code == 11
    assert "infeasible" in r.stdout and "charlie/main" in r.stdout


def test_missing_file_is_a_clean_error(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    r = run("plan", "run", str(tmp_path / "nope.toml"))
    assert r.exit_code == 10 and "cannot read scenario file" in r.stderr


def test_help_does_not_import_the_planner_stack() -> None:
    code = (
        "import sys; from plurictl.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "bad = [m for m in ('pandapower', 'scipy', 'numpy', 'highspy') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_every_plan_command_has_help_and_is_in_the_guide(run) -> None:  # type: ignore[no-untyped-def]
    assert "plan" in COMMANDS
    guide = GUIDE.read_text(encoding="utf-8")
    from plurictl.commands.plan import plan

    for name, command in plan.commands.items():
        assert command.help, name
        assert f"plurictl plan {name}" in guide, name
        r = run("plan", name, "--help")
        assert r.exit_code == 0


def test_periods_beyond_the_horizon_exit_10(run) -> None:  # type: ignore[no-untyped-def]
    r = run("plan", "run", str(SCENARIOS / "three-bases.toml"), "--periods", "80", "--no-ac")
    assert r.exit_code == 10 and "more than the scenario's horizon of 56" in r.stderr
    assert "Traceback" not in r.output


def test_start_dates_the_plan_and_its_orders(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from planner.api import orders

    out = tmp_path / "plan.json"
    args = ("plan", "run", str(SCENARIOS / "three-bases.toml"), "--periods", "4", "--no-ac")
    r = run(*args, "--start", "2026-01-05T18:00", "--out", str(out))
    assert r.exit_code == 0, r.output
    plan = json.loads(out.read_text())
    assert plan["periods"][0]["label"] == "2026-01-05 18:00"
    assert plan["periods"][1]["label"] == "2026-01-05 21:00"  # 3-hour periods
    assert plan["recipe"]["options"]["start"] == "2026-01-05T18:00"
    assert all("2025-09" not in o["text"] for o in orders(plan))
    r = run(*args, "--start", "now", "--json")
    assert r.exit_code == 0, r.output
    first = json.loads(r.stdout)["periods"][0]["label"]
    from datetime import datetime

    assert abs((datetime.now() - datetime.fromisoformat(first)).total_seconds()) < 3 * 3600 + 120
    r = run(*args, "--start", "tuesday")
    assert r.exit_code == 10 and "not an ISO time" in r.stderr


def test_guide_and_exit_code_table_agree_on_partial_plans() -> None:
    # a partial plan is written and shown, but it is not a finished plan: exit 11
    guide = GUIDE.read_text(encoding="utf-8")
    table = (ROOT / "field_guides" / "exit-codes.md").read_text(encoding="utf-8")
    row = next(line for line in table.splitlines() if line.startswith("| 11 |"))
    assert "partial" in row
    exits = guide[guide.index("Exit codes:") :].split("\n\n")[0]
    assert "**11**" in exits and "partial" in exits.split("**11**")[1]
    assert "partial" not in exits.split("**11**")[0]  # not listed under 0
    assert "--allow-partial" in guide


def test_the_guides_quick_start_runs_as_written(
    run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Every command of planner.md's quick start, literally, from a folder with field_guides/."""
    import re
    import shlex

    pytest.importorskip("matplotlib")  # --plot is the `plot` extra
    block = re.search(r"## Quick start.*?```\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
    assert block
    lines = [ln for ln in block.group(1).splitlines() if ln.startswith("plurictl ")]
    assert len(lines) >= 5
    (tmp_path / "field_guides").symlink_to(ROOT / "field_guides")
    monkeypatch.chdir(tmp_path)
    for line in lines:
        r = run(*shlex.split(line.split("  #")[0])[1:])
        assert r.exit_code == 0, (line, r.output)
    assert (tmp_path / "plan.json").exists() and (tmp_path / "plan.png").stat().st_size > 0
