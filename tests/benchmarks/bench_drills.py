"""Drill benchmark: the shipped 60 s nemesis on 5 nodes — entries written, lost, time to converge."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from plurictl import shipped
from plurictl.drills.model import load
from plurictl.drills.runner import DrillRunner

pytestmark = [pytest.mark.bench, pytest.mark.timeout(600)]


def test_nemesis_60s(tmp_path: Path, record: Callable) -> None:  # type: ignore[no-untyped-def]
    report = DrillRunner(load(shipped.folder("drills") / "nemesis.toml"), tmp_path).run()
    data = report.to_json()
    inv = {i["invariant"]: i for i in data["invariants"]}
    acknowledged = data["acknowledged_entries"]
    missing_detail = inv.get("every acknowledged entry on every node", {}).get("detail", "")
    lost = 0
    if "missing:" in missing_detail:
        lost = int(missing_detail.split(" missing:")[0].rsplit(" ", 1)[-1])
    final = [
        c["seconds"] for c in data["convergence_s"] if c["phase"].startswith("after the nemesis")
    ]
    converge = final[-1] if final else float("nan")
    record("drills", "nemesis 60 s, 5 nodes: entries acknowledged", acknowledged, "entries")
    record(
        "drills",
        "nemesis: acknowledged entries lost",
        lost,
        "entries",
        "0",
        lost == 0 and report.passed,
    )
    record(
        "drills", "nemesis: convergence after the final heal", converge, "s", "< 5 s", converge < 5
    )
    record("drills", "nemesis: bytes exchanged", data["bytes_exchanged"], "bytes")
    assert report.error is None, report.error
