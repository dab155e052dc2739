"""Scenario files: validation names the field (and line); inventory overrides; listings."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.api import load_scenario, parse_scenario, scenario_hash
from planner.errors import ScenarioError

BASE = """
[scenario]
name = "t"

[network]
case = "case9"

[horizon]
periods = 4
hours_per_period = 1.0

[profiles]
day = [0.5, 1.0]

[[sites]]
name = "north"
buses = [1, 2]
  [[sites.tanks]]
  name = "main"
  fuel = "diesel"
  capacity_litres = 1000
  initial_litres = 600
  reserve_litres = 50

  [[sites.tanks]]
  name = "spare"
  fuel = "diesel"
  capacity_litres = 500
  initial_litres = 200

[[depots]]
name = "depot"
initial_litres = 5000

[[routes]]
from = "depot"
to = "north"
to_tank = "main"
litres_per_trip = 400
lead_periods = 2

[[generators]]
name = "g1"
element = "gen"
index = 0
site = "north"
fuel = "diesel"
tank = "main"
no_load_lph = 10
lph_per_mw = 250

[[loads]]
index = 0
name = "hospital"
tier = 1
community = "a"
profile = "day"
"""


def test_valid_scenario_parses_with_listings() -> None:
    sc = parse_scenario(BASE)
    assert sc.name == "t"
    assert [s.name for s in sc.sites] == ["north", "depot"]
    assert [t.key for t in sc.tanks] == ["north/main", "north/spare", "depot/stock"]
    assert sc.fuel_types == ("diesel",)
    assert sc.routes[0].name == "depot->north"
    assert sc.routes[0].target_tank == "main"
    assert sc.profile_values("day") == [0.5, 1.0, 0.5, 1.0]  # profiles repeat
    assert sc.loads[0].tier == 1


def test_with_inventory_by_tank_and_by_site() -> None:
    sc = parse_scenario(BASE)
    by_tank = sc.with_inventory({"north/main": 100.0})
    assert by_tank.inventory() == {"north/main": 100.0, "north/spare": 200.0, "depot/stock": 5000.0}
    # a site name splits over its tanks in proportion to the file's levels (600:200)
    by_site = sc.with_inventory({"north": 400.0, "depot": 10.0})
    assert by_site.inventory() == {"north/main": 300.0, "north/spare": 100.0, "depot/stock": 10.0}
    assert sc.inventory()["north/main"] == 600.0  # the original is unchanged
    assert scenario_hash(by_site) != scenario_hash(sc)


@pytest.mark.parametrize(
    ("inventory", "message"),
    [
        ({"nowhere": 5.0}, "inventory['nowhere']: no such site or tank"),
        ({"north/main": -1.0}, "litres must be a number >= 0"),
        ({"north/main": 5000.0}, "exceeds the tank's capacity"),
    ],
)
def test_with_inventory_rejects_bad_input(inventory: dict[str, float], message: str) -> None:
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_scenario(BASE).with_inventory(inventory)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('name = "t"', "", "field scenario.name"),
        ("periods = 4", "periods = 0", "field horizon.periods (line 9): must be >= 1"),
        ("tier = 1", "tier = 5", "field loads[0].tier (line 55): must be 1 (life safety)"),
        (
            'profile = "day"',
            'profile = "night"',
            "field loads[0].profile (line 57): no profile 'night'",
        ),
        (
            "lph_per_mw = 250",
            'lph_per_mw = "a lot"',
            "field generators[0].lph_per_mw (line 50): must be a finite number",
        ),
        (
            'site = "north"',
            'site = "south"',
            "field generators[0].site (line 46): no site named 'south'",
        ),
        (
            'to = "north"',
            'to = "moon"',
            "field routes[0].to (line 37): no site or depot named 'moon'",
        ),
        (
            "initial_litres = 600",
            "initial_litres = 6000",
            "field sites[0].tanks[0].initial_litres (line 22): 6000 L is more than",
        ),
        # a tank's field is named by its own line, not by its site's [[sites]] header
        (
            "capacity_litres = 1000",
            "capacity_litres = -5",
            "field sites[0].tanks[0].capacity_litres (line 21): must be > 0",
        ),
        (
            "initial_litres = 200",
            "initial_litres = 900",
            "field sites[0].tanks[1].initial_litres (line 29): 900 L is more than",
        ),
        (
            "lead_periods = 2",
            "lead_periods = 2\nmin_litres_per_trip = 900",
            "field routes[0].min_litres_per_trip (line 41): 900 L is more than a period can carry",
        ),
        (
            "[[loads]]",
            "[[storage]]\nindex = 0\ncharge_efficiency = 1.5\n\n[[loads]]",
            "field storage[0].charge_efficiency (line 54): must be <= 1",
        ),
        ('case = "case9"', 'case = "case9"\nfile = "x.json"', "field network.case"),
        (
            "lead_periods = 2",
            "lead_periods = 2\nspeed = 3",
            "field routes[0].speed (line 41): unknown field",
        ),
        (
            'tank = "main"\nno_load',
            'tank = "diesel2"\nno_load',
            "field generators[0].tank (line 48): site 'north' has no tank 'diesel2'",
        ),
        (
            "day = [0.5, 1.0]",
            "day = [0.5, -1.0]",
            "field profiles.day (line 13): must hold at least one multiplier",
        ),
        ('index = 0\nname = "hospital"', 'index = -3\nname = "hospital"', "field loads[0].index"),
    ],
)
def test_malformed_scenarios_name_the_field(old: str, new: str, expected: str) -> None:
    assert old in BASE
    text = BASE.replace(old, new, 1)
    with pytest.raises(ScenarioError) as info:
        parse_scenario(text, name="bad.toml")
    assert expected in str(info.value)
    assert str(info.value).startswith("bad.toml: ")


def test_toml_syntax_error_gives_the_line() -> None:
    with pytest.raises(ScenarioError, match=r"not valid TOML: .*line 3"):
        parse_scenario('[scenario]\nname = "x"\nperiods = = 3\n', name="s.toml")


def test_fuelled_unit_needs_a_fuel_curve() -> None:
    text = BASE.replace("lph_per_mw = 250", "")
    with pytest.raises(ScenarioError, match=r"generators\[0\]\.lph_per_mw.*fuel use per MW"):
        parse_scenario(text)


def test_new_unit_needs_bus_and_rating() -> None:
    text = BASE.replace('element = "gen"\nindex = 0', 'element = "new"')
    with pytest.raises(ScenarioError, match=r"generators\[0\]\.bus.*needs the bus"):
        parse_scenario(text)


def test_unreadable_file_is_a_scenario_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read scenario file"):
        load_scenario(tmp_path / "missing.toml")


def test_csv_profile(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("hour,homes\n0,0.5\n1,0.75\n", encoding="utf-8")
    text = BASE.replace("day = [0.5, 1.0]", 'day = { csv = "p.csv", column = "homes" }')
    sc = parse_scenario(text, base_dir=tmp_path)
    assert sc.profiles["day"] == (0.5, 0.75)
    bad = BASE.replace("day = [0.5, 1.0]", 'day = { csv = "p.csv", column = "shops" }')
    with pytest.raises(ScenarioError, match=r"p\.csv has no column .shops."):
        parse_scenario(bad, base_dir=tmp_path)


def test_index_lists_expand_to_named_loads() -> None:
    text = BASE.replace('index = 0\nname = "hospital"', 'index = [0, 1]\nname = "homes-"')
    sc = parse_scenario(text)
    assert [ld.name for ld in sc.loads] == ["homes-0", "homes-1"]


def test_network_references_are_checked_when_loading_the_network() -> None:
    from planner.network import build_network

    text = BASE.replace('index = 0\nname = "hospital"', 'index = 99\nname = "hospital"')
    with pytest.raises(ScenarioError, match=r"field loads\[0\]\.index: case9 has no load 99"):
        build_network(parse_scenario(text))


def test_shipped_scenarios_are_valid() -> None:
    from planner.api import shipped_scenarios

    rows = shipped_scenarios(Path(__file__).resolve().parents[3] / "field_guides" / "scenarios")
    assert {r["name"] for r in rows} >= {"island-microgrid", "three-bases", "case118-72h"}
    assert all(r["valid"] for r in rows), [r["error"] for r in rows if not r["valid"]]


def test_a_byte_order_mark_and_windows_line_ends_are_fine(tmp_path: Path) -> None:
    f = tmp_path / "win.toml"
    f.write_bytes(b"\xef\xbb\xbf" + BASE.replace("\n", "\r\n").encode("utf-8"))
    assert load_scenario(f).name == "t"


def test_a_horizon_too_long_to_be_meant_is_refused() -> None:
    with pytest.raises(ScenarioError, match=r"horizon.periods \(line 9\): must be <= 10000"):
        parse_scenario(BASE.replace("periods = 4", "periods = 1000000"))
