"""Drill nodes die with their runner, whatever ends it: a SIGTERM with no terminal (a
timeout, CI, cron) and a SIGKILL leave no node behind (issue 18 item 6)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(180)

DRILL = """
[drill]
name = "long"
interval = 0.3
[[nodes]]
name = "a"
roles = ["admin", "operator"]
[[nodes]]
name = "b"
[[nodes]]
name = "c"
[[step]]
do = "found"
[[step]]
do = "start"
[[step]]
do = "sleep"
seconds = "5m"
"""


def alive(pid: int) -> bool:
    """Running (a zombie nobody reaped yet counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def wait_for(predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.1)


@pytest.fixture
def drill(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], list[int]]]:
    """A drill runner with no terminal, its nodes started (it then sleeps); their pids."""
    path = tmp_path / "long.toml"
    path.write_text(DRILL)
    keep = tmp_path / "keep"
    log = tmp_path / "runner.log"
    with open(log, "wb") as out:
        runner = subprocess.Popen(
            [sys.executable, "-m", "plurictl", "drill", "run", str(path), "--keep", str(keep)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,  # like cron: no terminal, its own session
        )
    files = [keep / "nodes" / n / "node.json" for n in "abc"]
    pids: list[int] = []
    try:

        def nodes_up() -> bool:
            assert runner.poll() is None, log.read_text()
            return all(f.exists() for f in files) and "running" in log.read_text()

        wait_for(nodes_up, timeout=120)
        pids += [int(json.loads(f.read_text())["pid"]) for f in files]
        assert all(alive(p) for p in pids)
        yield runner, pids
    finally:  # whatever the test found, leave nothing running
        for pid in [runner.pid, *pids]:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        runner.wait()


def test_sigterm_to_the_runner_stops_every_node(
    tmp_path: Path, drill: tuple[subprocess.Popen[bytes], list[int]]
) -> None:
    runner, pids = drill
    runner.send_signal(signal.SIGTERM)
    assert runner.wait(60) == 128 + signal.SIGTERM
    wait_for(lambda: not any(alive(p) for p in pids))
    log = (tmp_path / "runner.log").read_text()
    assert "drill stopped by a signal" in log and "Traceback" not in log
    # stopped cleanly: each node removed its node file
    assert not list((tmp_path / "keep" / "nodes").glob("*/node.json"))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal: Linux")
def test_sigkill_to_the_runner_leaves_no_node_behind(
    drill: tuple[subprocess.Popen[bytes], list[int]],
) -> None:
    runner, pids = drill
    runner.send_signal(signal.SIGKILL)
    runner.wait(60)
    wait_for(lambda: not any(alive(p) for p in pids))
