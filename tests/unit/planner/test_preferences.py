"""Site preferences in the planner (issue 22, item 5): within a tier, after fairness
between communities, a site's named loads are kept on first, in its order."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.api import explain, scenario_hash, solve
from planner.errors import ScenarioError
from planner.scenario_file import parse_scenario

SRC = Path(__file__).resolve().parents[3] / "field_guides" / "scenarios" / "island-microgrid.toml"
PREF = '\n[[preferences]]\nsite = "north"\nrank = ["north-homes-4", "north-homes-3", "hospital"]\n'


def _plan(extra: str = "") -> dict:  # type: ignore[type-arg]
    sc = parse_scenario(SRC.read_text() + extra, base_dir=SRC.parent)
    return solve(sc, validate=False).to_json()


@pytest.fixture(scope="module")
def plans() -> tuple[dict, dict]:  # type: ignore[type-arg]
    return _plan(), _plan(PREF)


def test_the_site_order_decides_within_the_tier_and_nothing_else(plans) -> None:  # type: ignore[no-untyped-def]
    base, pref = plans
    served = {ld["name"]: ld["served_mwh"] for ld in pref["loads"]}
    pct = {ld["name"]: ld["served_pct"] for ld in pref["loads"]}
    # the north's tier-3 energy goes to north-homes-4 first, then north-homes-3, then the rest
    assert (
        pct["north-homes-4"]
        > pct["north-homes-3"]
        >= max(pct[f"north-homes-{i}"] for i in (0, 1, 2))
    )
    # fairness between communities is unchanged, tier by tier
    assert _levels(pref) == _levels(base)
    # the north's tier-3 total is unchanged (to the plan's rounding): only who gets it moved
    assert _north3(pref) == pytest.approx(_north3(base), abs=5e-3)
    # other sites are untouched (their loads still share evenly)
    for ld in base["loads"]:
        if ld["site"] != "north":
            assert served[ld["name"]] == pytest.approx(ld["served_mwh"], abs=1e-3), ld["name"]
    assert [s["name"] for s in pref["stages"] if "preference" in s["name"]] == [
        "tier 3 preference 1", "tier 3 preference 2", "tier 3 preference 3",
    ]  # fmt: skip
    assert pref["preferences"] == [
        {"site": "north", "rank": ["north-homes-4", "north-homes-3", "hospital"], "by": ""}
    ]


def _levels(p: dict) -> dict:  # type: ignore[type-arg]
    return {(c["tier"], c["community"]): c["served_pct"] for c in p["communities"]}


def _north3(p: dict) -> float:  # type: ignore[type-arg]
    return sum(ld["served_mwh"] for ld in p["loads"] if ld["site"] == "north" and ld["tier"] == 3)


def test_explain_says_when_a_preference_decided_a_shed(plans) -> None:  # type: ignore[no-untyped-def]
    _, pref = plans
    lines = explain(pref, load="north-homes-3")["lines"]
    assert (
        "Site north's preference decided it: it is ranked 2 of 2 in tier 3, so north-homes-4 is served before it."
        in lines
    )
    lines = explain(pref, load="north-homes-0")["lines"]
    assert any(
        "it is not ranked in tier 3, so north-homes-4, north-homes-3 are" in x for x in lines
    )
    assert not any("preference" in x for x in explain(pref, load="east-homes-5")["lines"])


def test_no_preference_keeps_the_plan_hash(plans) -> None:  # type: ignore[no-untyped-def]
    base, pref = plans
    sc = parse_scenario(SRC.read_text(), base_dir=SRC.parent)
    assert "preferences" not in base and base["plan_hash"] != pref["plan_hash"]
    assert scenario_hash(sc) == "6550ee15d11ed80d246627ccb99ce5714a4bda96808504e31f4124722354b4aa"


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ('[[preferences]]\nsite = "mars"\nrank = ["hospital"]\n', "no site named 'mars'"),
        ('[[preferences]]\nsite = "north"\nrank = ["ghost"]\n', "no load named 'ghost'"),
        ('[[preferences]]\nsite = "north"\nrank = []\n', "list of load names"),
        (
            '[[preferences]]\nsite = "north"\nrank = ["hospital", "hospital"]\n',
            "names a load twice",
        ),
        ('[[preferences]]\nsite = "relief-depot"\nrank = ["hospital"]\n', "no site named"),
        (
            '[[preferences]]\nsite = "north"\nrank = ["hospital"]\n[[preferences]]\nsite = "north"\nrank = ["clinic"]\n',
            "one order per site",
        ),
    ],
)
def test_bad_preferences_are_named(table: str, words: str) -> None:
    with pytest.raises(ScenarioError, match=words):
        parse_scenario(SRC.read_text() + "\n" + table, base_dir=SRC.parent)
