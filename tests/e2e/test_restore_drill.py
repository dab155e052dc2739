"""The playbook `plan restore --playbook` writes runs through a drill on real nodes:
releases by the coordinator, two-person switching steps with readings, a final
declaration; every laptop sees the run complete (issue 22, item 2)."""

from __future__ import annotations

import json
from pathlib import Path

from ledger.playbooks.from_restore import restore_playbook
from ledger.store import Store
from planner.restore import restore
from plurictl.drills.model import parse
from plurictl.drills.runner import DrillRunner
from tests.unit.planner.test_restore import _gen, _load, _net, _scenario


def test_a_generated_restore_playbook_runs_through_a_drill(tmp_path: Path) -> None:
    _net(tmp_path, 3, [(0, 1), (1, 2)], [("clinic", 1, 0.1), ("homes", 2, 0.2)])
    sc = _scenario(tmp_path, _gen("g", 0, 1.0), _load(0, "clinic", 1) + _load(1, "homes", 3), "")
    plan = restore(sc)
    text = restore_playbook(plan)
    pb = tmp_path / "restore.toml"
    pb.write_text(text)
    ids = [line.split('"')[1] for line in text.splitlines() if line.startswith("id = ")][1:]
    assert ids[0] == "release-1" and ids[-1] == "stable"
    ok = {"frequency": 50.0, "voltage_pct": 100.0}
    steps: list[dict] = [  # type: ignore[type-arg]
        {"do": "found"},
        {"do": "start"},
        {"do": "wait-converged"},
        {"do": "playbook-start", "node": "alice", "playbook": str(pb), "id": "restore"},
        {"do": "wait-converged"},
    ]
    for sid in ids:
        if sid.startswith("step-"):
            for who in ("alice", "bob"):
                steps.append({"do": "playbook-sign", "node": who, "run": "restore", "step": sid,
                              "readings": ok, "early": True})  # fmt: skip
        else:
            steps.append({"do": "playbook-sign", "node": "alice", "run": "restore", "step": sid,
                          "early": True})  # fmt: skip
        steps.append({"do": "wait-converged"})
    steps.append({"do": "check"})
    drill = parse(
        {
            "drill": {"name": "restore-playbook", "interval": 0.2},
            "nodes": [
                {"name": "alice", "roles": ["admin", "coordinator", "operator"]},
                {"name": "bob", "roles": ["operator"]},
            ],
            "step": steps,
        }
    )
    report = DrillRunner(drill, tmp_path / "drill").run()
    assert report.passed, json.dumps(report.to_json())[:2000]
    from ledger.playbooks import writer as playbooks

    for name in ("alice", "bob"):
        with Store.open(tmp_path / "drill" / "nodes" / name) as store:
            runs = playbooks.load_state(store).runs
            assert [r.state for r in runs.values()] == ["complete"], name
