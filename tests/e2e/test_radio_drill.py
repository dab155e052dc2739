"""Drills with a radio step: the shipped valley drill passes, and without the radio the valley
never catches up (so it is the radio that carried its entries)."""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path

import pytest

from ledger.errors import InvalidInput
from plurictl.drills.model import load, parse
from plurictl.drills.runner import DrillRunner
from plurictl.shipped import folder

SHIPPED = folder("drills")

pytestmark = pytest.mark.timeout(600)

FAST = {
    "drill": {"name": "radio-small", "interval": 0.2},
    "nodes": [
        {"name": "a", "roles": ["admin", "coordinator", "operator"]},
        {"name": "b", "roles": ["operator"]},
        {"name": "c", "roles": ["operator"]},
    ],
    "step": [
        {"do": "found"},
        {"do": "start"},
        {"do": "wait-converged"},
        {"do": "partition", "groups": [["a", "b"], ["c"]]},
        {"do": "radio", "nodes": ["b", "c"], "bitrate": 9600, "loss": "10%", "latency": "200ms"},
        {"do": "write", "node": "a", "count": 3},
        {"do": "fuel-report", "node": "c", "site": "hill", "litres": 500},
        {"do": "wait-converged", "label": "over the radio", "timeout": "60s"},
    ],
}


def test_a_radio_step_carries_entries_across_a_partition(tmp_path: Path) -> None:
    report = DrillRunner(parse(FAST), tmp_path).run()
    assert report.passed, json.dumps(report.to_json(), indent=1)[:3000]
    assert any(phase == "over the radio" for phase, _ in report.convergence)
    log = (tmp_path / "nodes" / "c" / "radio.log").read_text()
    assert "heard b on the air" in log


@pytest.mark.slow
def test_without_the_radio_the_partition_holds(tmp_path: Path) -> None:
    spec = copy.deepcopy(FAST)
    spec["step"] = [s for s in spec["step"] if s["do"] != "radio"]
    spec["step"][-1]["timeout"] = "4s"
    report = DrillRunner(parse(spec), tmp_path).run()
    assert not report.passed and "not converged" in (report.error or "")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"do": "radio", "nodes": ["a", "zz"]}, "zz"),
        ({"do": "radio"}, "missing nodes"),
        ({"do": "radio", "nodes": ["a", "b"], "speed": 3}, "unknown field"),
    ],
)
def test_bad_radio_steps_name_the_step(change: dict, message: str) -> None:  # type: ignore[type-arg]
    spec = copy.deepcopy(FAST)
    spec["step"] = [{"do": "found"}, change]
    with pytest.raises(InvalidInput, match=message):
        parse(spec)


def test_bad_radio_settings_stop_the_drill_with_the_reason(tmp_path: Path) -> None:
    spec = copy.deepcopy(FAST)
    spec["step"] = [
        {"do": "found"},
        {"do": "start"},
        {"do": "radio", "nodes": ["a", "b"], "mtu": 5},
    ]
    report = DrillRunner(parse(spec), tmp_path).run()
    assert not report.passed and "mtu" in (report.error or "")


@pytest.mark.slow
def test_shipped_valley_radio_drill_passes(tmp_path: Path) -> None:
    report = DrillRunner(load(SHIPPED / "valley-radio.toml"), tmp_path).run()
    assert report.passed, json.dumps(report.to_json(), indent=1)[:3000]
    phases = dict(report.convergence)
    assert "the valley over the radio" in phases


def test_the_shipped_valley_drill_is_valid_and_uses_the_issue_link() -> None:
    drill = load(SHIPPED / "valley-radio.toml")
    (radio,) = [s for s in drill.steps if s.action == "radio"]
    assert radio.args["bitrate"] == 1200 and radio.args["mtu"] == 200 and radio.args["loss"] == 0.1
    data = tomllib.loads((SHIPPED / "valley-radio.toml").read_text())
    assert data["drill"]["name"] == "valley-radio"


def test_a_rotated_node_keeps_its_radio_on_the_new_laptop(tmp_path: Path) -> None:
    """`rotate` on a node with a radio: the lost laptop's bridge stops with it (before, it kept
    running with the old key and wrote its status into the new laptop's home), and the new
    laptop gets a bridge with its new key, so the node still syncs over the air when cut off."""
    spec = copy.deepcopy(FAST)
    spec["step"] = [
        {"do": "found"},
        {"do": "start"},
        {"do": "wait-converged"},
        {"do": "radio", "nodes": ["b", "c"], "bitrate": 9600, "latency": "200ms"},
        {"do": "rotate", "node": "c", "by": "a"},
        {"do": "wait-converged", "label": "the new laptop has the roster"},
        {"do": "partition", "groups": [["a", "b"], ["c"]]},
        {"do": "write", "node": "a", "count": 2},
        {"do": "fuel-report", "node": "c", "site": "hill", "litres": 500},
        {"do": "wait-converged", "label": "over the new laptop's radio", "timeout": "60s"},
    ]
    report = DrillRunner(parse(spec), tmp_path).run()
    assert report.passed, json.dumps(report.to_json(), indent=1)[:3000]
    status = json.loads((tmp_path / "nodes" / "c" / "radio.json").read_text())
    new_key = json.loads((tmp_path / "nodes" / "c" / "identity.json").read_text())
    assert status["station"]["key"] in json.dumps(new_key)  # the new laptop's own bridge
    (lost,) = (tmp_path / "nodes").glob("c-lost*")
    old = json.loads((lost / "radio.json").read_text()) if (lost / "radio.json").exists() else {}
    assert old.get("stopped", True)
