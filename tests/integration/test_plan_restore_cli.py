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
    # review 22 F9: a chart file matplotlib cannot write is a bad option, said before work
    for cmd in (("restore",), ("futures",), ("run",)):
        r = invoke(None, "plan", *cmd, "island-microgrid", "--plot", str(tmp_path / "r.txt"))
        assert r.exit_code == 5 and "PNG, SVG or PDF" in r.stderr, (cmd, r.output)


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
    # each step holds the crew until the next step's planned minute (the order counts on
    # that time: cold-load decay, units coming up), and at least 5 min after a pickup
    minutes = [s["minute"] for s in plan["steps"]] + [None]
    for op, step, nxt in zip(ops, plan["steps"], minutes[1:], strict=True):
        gap = (nxt - step["minute"]) if nxt is not None else 0
        want = max(gap, 5 if step["picks_up"] else 0)
        got = int(op.get("hold", "0m").rstrip("m")) if "hold" in op else 0
        assert got == want, (op["id"], op.get("hold"), want)
    assert any(int(op["hold"].rstrip("m")) > 10 for op in ops if "hold" in op)
    # review 22b N12: a closure that parallels two live islands says "synchronism check"
    joins = [(s["step"], j) for s in plan["steps"] for j in s["joins"]]
    assert joins, "the island order joins its three sets"
    by_id = {s["id"]: s for s in steps}
    for n, name in joins:
        assert f"**{name} joins two live islands**" in by_id[f"step-{n}"]["instructions"]
        assert "synchronism check" in by_id[f"step-{n}"]["instructions"]
    # review 22c C6: a pickup that needs the joins of its own step waits for them
    for s in plan["steps"]:
        text = by_id[f"step-{s['step']}"]["instructions"]
        needs = bool(s["picks_up"] and (s["closes"] or s["starts"]))
        assert ("Pick up only once every start and closure above is done" in text) == needs
    runs = json_out(invoke(home, "playbook", "list", "--json"))
    assert any(doc["id"] in json.dumps(r) for r in runs.get("runs", runs))


def test_a_long_horizon_keeps_tier_one_first_and_gives_true_reasons(invoke: Invoke) -> None:
    """Review 22 F6/F7: past the exact search's horizon the greedy order used to leave
    the hospital and the water plant dark while it restored tier-3 homes, and said
    "what runs cannot carry it" with megawatts to spare."""
    r = invoke(None, "plan", "restore", "island-microgrid", "--steps", "200", "--no-ac", "--json")
    assert r.exit_code == 0, r.output
    plan = json.loads(r.stdout)
    usual = json.loads(
        invoke(None, "plan", "restore", "island-microgrid", "--no-ac", "--json").stdout
    )
    assert usual["method"] == "milp" and usual["exact_steps"] == usual["horizon_steps"]
    # the exact part covers the usual horizon (blocks at their peak over 200 steps)
    assert plan["method"] == "milp+greedy" and 0 < plan["exact_steps"] <= usual["horizon_steps"]
    picked = [b["block"] for s in plan["steps"] for b in s["picks_up"]]
    assert {"hospital", "water-plant"} <= set(picked[:2])
    tiers = [b["tier"] for s in plan["steps"] for b in s["picks_up"]]
    assert tiers == sorted(tiers)
    assert plan["energy_mwh"] >= plan["greedy_energy_mwh"]
    # a 3-step horizon: the blocks left out are left out for the horizon, and say so
    r = invoke(None, "plan", "restore", "island-microgrid", "--steps", "3", "--no-ac", "--json")
    why = json.loads(r.stdout)["why_not_restored"]
    assert "the horizon (3 steps) ended before its turn" in why["clinic"]
    assert "split it" in why["north-homes-0"]  # 3.75 MW cold, 1.15 MW of steps: never


def test_a_large_network_gets_its_order_in_playbook_parts(
    invoke: Invoke, home: Path, tmp_path: Path
) -> None:
    """Review 22 F8: case118's playbook was over the 60,000-byte limit, so nothing was
    written, not even --out; its greedy order left tier-1 blocks dark."""
    out, pb = tmp_path / "c118.json", tmp_path / "c118.toml"
    r = invoke(
        None, "plan", "restore", "case118-72h", "--no-ac", "--out", str(out),
        "--playbook", str(pb),
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    plan = json.loads(out.read_text())
    assert plan["method"] == "greedy" and plan["decisions"] > 6_000
    assert f"{plan['decisions']:,} on/off decisions" in " ".join(r.stdout.split())
    tier1 = {b["block"] for s in plan["steps"] for b in s["picks_up"] if b["tier"] == 1}
    assert tier1 and not [n for n in plan["not_restored"] if n in tier1]
    parts = sorted(tmp_path.glob("c118-part*.toml"))
    assert len(parts) >= 2 and not pb.exists() and "run them in order" in r.stdout
    ops = []
    for k, part in enumerate(parts, start=1):
        assert len(part.read_bytes()) <= 60_000
        v = invoke(None, "playbook", "validate", str(part))
        assert v.exit_code == 0, v.output
        doc = tomllib.loads(part.read_text())
        assert f"part {k} of {len(parts)}" in doc["title"]
        ops += [s for s in doc["steps"] if s["role"] == "operator"]
    # every switching step of the order is in exactly one part, in order
    assert [s["id"] for s in ops] == [f"step-{s['step']}" for s in plan["steps"]]
    # review 22b: a short horizon on a big network took 157 s of exact search
    r = invoke(None, "plan", "restore", "case118-72h", "--no-ac", "--steps", "10", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["method"] == "greedy"


def test_no_switching_step_serves_nothing(invoke: Invoke, tmp_path: Path) -> None:
    """Review 22b N6: an order ended with a step closing a normally-open tie onto an
    internal node ("energise 15") that picked up nothing. HiGHS returned its start
    instead of the tidy optimum it reported; every step now starts a unit or picks up
    a block, and closes only what that needs."""
    src = Path(__file__).parents[2] / "field_guides/scenarios"
    (tmp_path / "island-microgrid-net.json").symlink_to(src / "island-microgrid-net.json")
    text = (src / "island-microgrid.toml").read_text().split("# --- restoration order")[0]
    (tmp_path / "v2.toml").write_text(
        text + '\n[restore]\nblack_start = ["south-genset"]\n'
        "[restore.units.north-genset]\nblock_load_pct = 50\ncranking_mw = 0.3\n"
        "[restore.units.east-genset]\ncranking_mw = 0.35\n"
    )
    r = invoke(None, "plan", "restore", str(tmp_path / "v2.toml"), "--no-ac", "--json")
    assert r.exit_code == 0, r.output
    plan = json.loads(r.stdout)
    assert plan["method"] == "milp"
    for step in plan["steps"]:
        assert step["starts"] or step["picks_up"], step
        assert all(not name.isdigit() for name in step["energises"]), step


def test_an_edited_copy_here_wins_and_files_never_overwrite_each_other(
    invoke: Invoke, tmp_path: Path, monkeypatch: object
) -> None:
    """Review 22b N14 and N8: a bare name read the shipped file although an edited copy
    was in the folder; --out and --playbook on one file kept only the playbook."""
    src = Path(__file__).parents[2] / "field_guides/scenarios"
    (tmp_path / "island-microgrid-net.json").symlink_to(src / "island-microgrid-net.json")
    text = (src / "island-microgrid.toml").read_text()
    (tmp_path / "island-microgrid.toml").write_text(text + "\n[restore]\nblack_start = []\n")
    monkeypatch.chdir(tmp_path)  # type: ignore[attr-defined]
    r = invoke(None, "plan", "restore", "island-microgrid", "--no-ac")
    assert r.exit_code == 10 and "scenario: ./island-microgrid.toml" in r.stderr, r.output
    assert "black_start = [] names none" in r.stderr
    r = invoke(None, "plan", "restore", str(src / "island-microgrid.toml"), "--no-ac",
               "--out", "same.toml", "--playbook", "same.toml")  # fmt: skip
    assert r.exit_code == 5 and "different files" in r.stderr and not Path("same.toml").exists()
    # review 22c C3: an output never overwrites the scenario or its network file
    (tmp_path / "mine.toml").write_text(text)
    for cmd, opt in (("restore", "--playbook"), ("restore", "--out"), ("futures", "--out"),
                     ("run", "--out")):  # fmt: skip
        for target in ("mine.toml", "island-microgrid-net.json"):
            before = Path(target).read_bytes()
            r = invoke(None, "plan", cmd, "mine.toml", "--no-ac", opt, target)
            assert r.exit_code == 5 and "is an input of this run" in r.stderr, (cmd, opt, r.output)
            assert Path(target).read_bytes() == before
