"""Found by a hostile review of the radio guide (issue 20): odd values that must be clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesh.radio.budget import Budget, BudgetSpec
from mesh.radio.errors import LinkSpecError
from mesh.radio.links import parse_link
from mesh.radio.persist import STATE_FILE, RadioState
from mesh.radio.sim import SimParams
from mesh.radio.simhub import SimHub
from mesh.radio.testing import founded_pair as two_homes
from tests.conftest import Invoke


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A simulated channel served in this process (bridges started by ``invoke`` join it)."""
    folder = tmp_path / "air"
    monkeypatch.setenv("PLURI_RADIO_SIM_DIR", str(folder))
    sim = SimHub("hostile", SimParams(bitrate=1200), folder)
    thread = threading.Thread(target=sim.serve, daemon=True)
    thread.start()
    yield "sim:hostile"
    sim.stop()
    thread.join(timeout=30)  # serve() closes the hub


@pytest.mark.parametrize("name", ["b" * 33, "b" * 100, "b" * 300, "välley"])
def test_a_simulator_name_too_long_for_a_socket_is_a_clear_error(
    tmp_path: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv("PLURI_RADIO_SIM_DIR", str(tmp_path / "air"))
    r = invoke(None, "radio", "sim", name)
    assert r.exit_code == 5, r.output  # was 1: "unexpected OSError: AF_UNIX path too long"
    assert "at most 32" in r.output and "unexpected" not in r.output
    with pytest.raises(LinkSpecError, match="at most 32"):
        parse_link(f"sim:{name}")
    assert parse_link("sim:" + "b" * 32).target == "b" * 32


@pytest.mark.parametrize("counter", ["1e400", "-1e400", "NaN", "1e19"])
def test_a_damaged_counter_in_the_state_file_starts_afresh(tmp_path: Path, counter: str) -> None:
    (tmp_path / STATE_FILE).write_text(f'{{"version": 1, "counter_next": {counter}, "rx": {{}}}}')
    state = RadioState(tmp_path)  # was: OverflowError (exit 1) for an infinite counter
    assert 0 <= state.next_counter < 2**31
    (tmp_path / STATE_FILE).write_text('{"version": 1, "counter_next": 5, "rx": {"00": 1e400}}')
    assert RadioState(tmp_path).rx == {}
    assert json.loads((tmp_path / STATE_FILE).read_text())["counter_next"] == 5  # not rewritten


@pytest.mark.parametrize(
    "spec", [BudgetSpec(bytes_per_hour=1), BudgetSpec(bytes_per_hour=399), BudgetSpec(duty=0.0001)]
)
def test_a_budget_that_lets_no_frame_through_is_refused(spec: BudgetSpec) -> None:
    def airtime(n: int) -> float:
        return n * 8 / 1200

    with pytest.raises(LinkSpecError, match="lets no frame on the air") as err:
        Budget(spec, airtime, 200)
    assert err.value.exit_code == 5
    smallest = Budget(BudgetSpec(bytes_per_hour=400), airtime, 200)  # the least it names
    assert smallest.allows(0.0, 200) and smallest.window == 3600


def test_radio_up_refuses_a_budget_it_could_never_send_with(tmp_path: Path, hub: str) -> None:
    a, _ = two_homes(tmp_path)
    a.close()
    cmd = [sys.executable, "-m", "plurictl", "--home", str(a.path), "radio", "up"]
    try:  # was: ran for ever, sending nothing, not even a hello
        r = subprocess.run(
            [*cmd, "--link", hub, "--budget", "1B/h", "--quiet"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"radio up kept running with a budget that sends nothing: {e.stdout!r}")
    assert r.returncode == 5, r.stdout + r.stderr
    assert "at least 400 bytes per hour" in " ".join(r.stderr.split())
