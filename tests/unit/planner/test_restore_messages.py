"""`plan restore`'s messages about the scenario (review 22c C5): a unit of the network
itself is named with why it takes no part, errors found once the network is read name
the file and the line, and the energy figure says it is at peak demand."""

from __future__ import annotations

from pathlib import Path

import pytest

from planner.errors import ScenarioError
from planner.restore import restore
from planner.scenario_file import load_scenario
from tests.conftest import Invoke

SCENARIOS = Path(__file__).parents[3] / "field_guides" / "scenarios"


def _island(tmp: Path, name: str, table: str) -> Path:
    """The shipped island microgrid with ``table`` written before its [restore.load_class]."""
    net = tmp / "island-microgrid-net.json"
    if not net.exists():
        net.symlink_to(SCENARIOS / "island-microgrid-net.json")
    text = (SCENARIOS / "island-microgrid.toml").read_text()
    assert text.count("\n[restore.load_class]") == 1
    path = tmp / name
    path.write_text(text.replace("\n[restore.load_class]", f"\n{table}\n[restore.load_class]"))
    return path


def _line(path: Path, start: str) -> int:
    return next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if ln.startswith(start))


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ('[restore]\nblack_start = ["ext_grid0"]\n', "'ext_grid0' takes no part in the order: it is out of service"),
        ('[restore.units."WKA 7"]\ncranking_mw = 0.1\n', "'WKA 7' takes no part in the order: a PV/inverter unit"),
        ('[restore]\nblack_start = ["nope"]\n', "no unit named 'nope' in the scenario or its network"),
    ],
)  # fmt: skip
def test_a_unit_of_the_network_is_named_with_why_it_takes_no_part(
    tmp_path: Path, table: str, words: str
) -> None:
    sc = load_scenario(_island(tmp_path, "named.toml", table))
    with pytest.raises(ScenarioError, match=words) as e:
        restore(sc, ac=False)
    assert str(e.value).startswith("named.toml: field restore.")


def test_errors_found_with_the_network_name_the_file_and_the_line(tmp_path: Path) -> None:
    crank = _island(tmp_path, "crank.toml", "[restore.units.east-genset]\ncranking_mw = 50\n")
    with pytest.raises(ScenarioError) as e:
        restore(load_scenario(crank), ac=False)
    line = _line(crank, "cranking_mw = 50")
    assert str(e.value).startswith(
        f"crank.toml: field restore.units.east-genset.cranking_mw (line {line}): 50 MW is more"
    )
    table = '[restore]\nblack_start = ["east-genset"]\n[restore.units.east-genset]\nblack_start = false\n'
    c1 = _island(tmp_path, "c1.toml", table)
    with pytest.raises(ScenarioError) as e:
        restore(load_scenario(c1), ac=False)
    line = _line(c1, "black_start = false")
    assert str(e.value).startswith(
        f"c1.toml: field restore.units.east-genset.black_start (line {line}): no unit can black start"
    )


def test_the_energy_served_says_it_is_at_peak_demand(invoke: Invoke) -> None:
    r = invoke(None, "plan", "restore", "island-microgrid", "--steps", "3", "--no-ac")
    assert r.exit_code == 0, r.output
    assert "each block at its peak demand of the horizon" in " ".join(r.stdout.split())
