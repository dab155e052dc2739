"""`plurictl plan restore` end to end on the shipped island microgrid: the table, --json,
the chart, and the playbook it writes validated and started in a real home (issue 22,
items 1-2)."""

from __future__ import annotations

import itertools
import json
import tomllib
from pathlib import Path

from tests.conftest import Invoke, json_out


def test_restore_refuses_what_it_cannot_do(invoke: Invoke, tmp_path: Path) -> None:
    r = invoke(None, "plan", "restore", "no-such-scenario")
    same = invoke(None, "plan", "run", "no-such-scenario")
    assert r.exit_code == same.exit_code == 5 and "Traceback" not in r.output
    bad = tmp_path / "bad.toml"
    text = (Path(__file__).parents[2] / "field_guides/scenarios/island-microgrid.toml").read_text()
    bad.write_text(text + '\n[restore]\nblack_start = ["nobody"]\n')
    (tmp_path / "island-microgrid-net.json").symlink_to(
        Path(__file__).parents[2] / "field_guides/scenarios/island-microgrid-net.json"
    )
    r = invoke(None, "plan", "restore", str(bad))
    assert r.exit_code == 10 and "restore.black_start" in r.stderr and "'nobody'" in r.stderr
    r = invoke(None, "plan", "restore", "island-microgrid", "--steps", "0")
    assert r.exit_code == 5 and "--steps" in r.stderr
    r = invoke(None, "plan", "restore", "island-microgrid", "--steps", "201")
    assert r.exit_code == 5 and "(1 to 200)" in r.stderr
    r = invoke(None, "plan", "restore", "island-microgrid", "--steps", "4", "--no-ac", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["horizon_steps"] == 4
    r = invoke(None, "plan", "restore", "island-microgrid", "--playbook", "/proc/version")
    assert r.exit_code != 0 and "Traceback" not in r.output


def test_the_restoration_guide_runs_as_written(
    invoke: Invoke, home: Path, tmp_path: Path, monkeypatch: object
) -> None:
    """Every command of restoration.md's walkthrough, literally, in the same folder."""
    import re
    import shlex

    guide = (Path(__file__).parents[2] / "field_guides" / "restoration.md").read_text()
    section = guide.split("## Walkthrough", 1)[1].split("\n## ", 1)[0]
    lines = [
        ln.split("  #")[0].strip()
        for block in re.findall(r"```\n(.*?)```", section, re.S)
        for ln in block.splitlines()
        if ln.startswith("plurictl ")
    ]
    assert len(lines) == 4
    monkeypatch.chdir(tmp_path)  # type: ignore[attr-defined]
    for line in lines:
        r = invoke(home, *shlex.split(line)[1:])
        assert r.exit_code == 0, (line, r.output)
    check_order_and_playbook(invoke, home, tmp_path / "restore.json", tmp_path / "restore.toml")


def check_order_and_playbook(invoke: Invoke, home: Path, out: Path, pb: Path) -> None:
    plan = json.loads(out.read_text())
    # every reachable tier-1 block first, the MILP at least as good as the greedy order
    tiers = [b["tier"] for s in plan["steps"] for b in s["picks_up"]]
    assert tiers == sorted(tiers) and tiers[0] == 1
    assert plan["gain_over_greedy_mwh"] >= 0 and plan["energy_mwh"] >= plan["greedy_energy_mwh"]
    assert plan["ac_violations"] == 0 and plan["ac_failed_steps"] == []
    assert all(s["ac"]["converged"] for s in plan["steps"])
    assert all(s["margin_mw"] >= -1e-9 for s in plan["steps"])
    reserve = 1 + plan["reserve_pct"] / 100  # spinning reserve at every step
    assert all(s["online_mw"] >= reserve * s["demand_mw"] - 1e-6 for s in plan["steps"])
    # every load of the scenario is accounted for: restored, not restored or unreachable
    restored = {ld for s in plan["steps"] for b in s["picks_up"] for ld in b["loads"]}
    assert len(restored) + len(plan["not_restored"]) + len(plan["unreachable"]) == 18

    # the playbook: tied to the plan, one two-person step per switching step, a release
    # before each block, holds after pickups, linked in order
    doc = tomllib.loads(pb.read_text())
    assert plan["id"] in doc["title"] and plan["id"][2:10] in doc["id"]
    steps = doc["steps"]
    ops = [s for s in steps if s["role"] == "operator"]
    assert len(ops) == len(plan["steps"]) and all(s["signoffs"] == 2 for s in ops)
    releases = [s for s in steps if s.get("type") == "release"]
    assert len(releases) == sum(1 for s in plan["steps"] if s["picks_up"])
    for before, after in itertools.pairwise(steps):
        assert after["prerequisites"] == [before["id"]]
    assert all(s["hold"] == "300s" for s in ops if "Pick up" in s["instructions"])
    runs = json_out(invoke(home, "playbook", "list", "--json"))
    assert any(doc["id"] in json.dumps(r) for r in runs.get("runs", runs))
