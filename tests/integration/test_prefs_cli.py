"""`plurictl prefs` end to end: signed, the newest per site wins on every laptop whatever
the arrival order, used by `plan run --from-ledger`, shown by `plan explain`
(issue 22, item 5)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from ledger.plans.prefs import PREFERENCE, fold
from ledger.store import Store
from tests.conftest import Invoke, json_out

SCENARIO = (
    Path(__file__).resolve().parents[2] / "field_guides" / "scenarios" / "island-microgrid.toml"
)


def test_prefs_set_show_clear_and_plan_from_ledger(
    home: Path, invoke: Invoke, tmp_path: Path
) -> None:
    r = invoke(
        home,
        "prefs",
        "set",
        "north",
        "--rank",
        "north-homes-4,north-homes-3",
        "--note",
        "18:00 meeting",
    )
    assert r.exit_code == 0, r.output
    shown = json_out(invoke(home, "prefs", "show", "--json"))["preferences"]
    assert [(p["site"], p["rank"], p["note"]) for p in shown] == [
        ("north", ["north-homes-4", "north-homes-3"], "18:00 meeting")
    ]
    for site, litres in (
        ("north", 20000),
        ("south", 14000),
        ("east", 6000),
        ("relief-depot", 16000),
    ):
        assert invoke(home, "fuel", "report", site, "--litres", str(litres)).exit_code == 0
    out = tmp_path / "plan.json"
    r = invoke(home, "plan", "run", str(SCENARIO), "--from-ledger", "--no-ac", "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "preferences from the ledger: north" in r.stderr
    plan = json.loads(out.read_text())
    pct = {ld["name"]: ld["served_pct"] for ld in plan["loads"]}
    assert pct["north-homes-4"] > pct["north-homes-3"] >= pct["north-homes-0"]
    said = invoke(home, "plan", "explain", str(out), "--load", "north-homes-3").stdout
    assert "Site north's preference" in " ".join(said.split())
    # bad input: clear messages, nothing written
    for bad in ("a,,b", "a,a", ""):
        r = invoke(home, "prefs", "set", "north", "--rank", bad)
        assert r.exit_code == 5 and "Traceback" not in r.output, (bad, r.output)
    r = invoke(home, "prefs", "set", " ", "--rank", "a")
    assert r.exit_code == 5 and "SITE is empty" in r.stderr
    r = invoke(home, "prefs", "clear", "nowhere")
    assert r.exit_code == 5 and "has no preference to clear" in r.stderr
    assert invoke(home, "prefs", "clear", "north").exit_code == 0
    assert json_out(invoke(home, "prefs", "show", "--json"))["preferences"] == []
    assert "No site has set a preference" in invoke(home, "prefs", "show").stdout
    r = invoke(home, "plan", "run", str(SCENARIO), "--from-ledger", "--no-ac", "--json")
    assert "preferences from the ledger" not in r.stderr


def test_the_newest_preference_wins_in_every_arrival_order(home: Path, invoke: Invoke) -> None:
    for rank in ("a,b", "b,a", "c"):
        assert invoke(home, "prefs", "set", "north", "--rank", rank).exit_code == 0
    assert invoke(home, "prefs", "set", "south", "--rank", "x").exit_code == 0
    with Store.open(home) as store:
        entries = list(store.entries(kinds=[PREFERENCE]))
        roster = store.roster()
    results = {
        tuple((s, p.rank) for s, p in fold(order, roster).items())
        for order in itertools.permutations(entries)
    }
    assert results == {(("north", ("c",)), ("south", ("x",)))}


def test_the_preferences_section_runs_as_written(home: Path, invoke: Invoke) -> None:
    import re
    import shlex

    guide = (SCENARIO.parents[1] / "restoration.md").read_text()
    section = guide.split("## Site preferences", 1)[1].split("\n## ", 1)[0]
    lines = [ln for b in re.findall(r"```\n(.*?)```", section, re.S) for ln in b.splitlines()]
    lines = [ln for ln in lines if ln.startswith("plurictl ")]
    assert len(lines) == 3
    for line in lines:
        r = invoke(home, *shlex.split(line)[1:])
        assert r.exit_code == 0, (line, r.output)
