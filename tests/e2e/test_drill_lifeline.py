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


@contextlib.contextmanager
def running_drill(
    tmp_path: Path, python_args: list[str]
) -> Iterator[tuple[subprocess.Popen[bytes], list[int]]]:
    """`python ARGS drill run ...` with no terminal, its nodes started (it then sleeps);
    the runner and its nodes' pids. Kills whatever is left at the end."""
    path = tmp_path / "long.toml"
    path.write_text(DRILL)
    keep = tmp_path / "keep"
    log = tmp_path / "runner.log"
    with open(log, "wb") as out:
        runner = subprocess.Popen(
            [sys.executable, *python_args, "drill", "run", str(path), "--keep", str(keep)],
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


@pytest.fixture
def drill(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], list[int]]]:
    """A drill runner with no terminal, its nodes started (it then sleeps); their pids."""
    with running_drill(tmp_path, ["-m", "plurictl"]) as started:
        yield started


def assert_stopped_by_the_signal(tmp_path: Path) -> None:
    log = (tmp_path / "runner.log").read_text()
    assert "drill stopped by a signal" in log and "Traceback" not in log, log
    # every node file gone: removed by the node that stopped cleanly, or by the runner
    # for one it had to kill
    assert not list((tmp_path / "keep" / "nodes").glob("*/node.json"))


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


def test_nodes_that_do_not_answer_are_killed_within_the_bound(
    tmp_path: Path, drill: tuple[subprocess.Popen[bytes], list[int]]
) -> None:
    """Nodes that neither answer nor stop (here: SIGSTOPped, as a node stuck on a loaded
    machine) do not hold the runner: it exits within its clean-up bound (drills.md:
    about 15 s), killing them and removing their node files. It used to ask each for its
    traffic (5 s each) and wait for each in turn (10 s each): 45 s, files left behind."""
    runner, pids = drill
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    runner.send_signal(signal.SIGTERM)
    assert runner.wait(35) == 128 + signal.SIGTERM
    wait_for(lambda: not any(alive(p) for p in pids))
    assert_stopped_by_the_signal(tmp_path)


#: runs the CLI with the drill's FINAL watch swallowing the SIGTERM's exception, as C code
#: can when the signal lands in it (seen: compiling a module on its first import, which
#: the watch does right after `start`): the runner must still stop
SWALLOWING = """
import os, signal, sys
from pathlib import Path
from plurictl.drills import checker
go, lost = Path(sys.argv.pop(1)), Path(sys.argv.pop(1))
observe = checker.FinalWatch.observe
def swallowing(self, r, when):
    if "(start)" in when:
        while not go.exists():
            pass
        try:
            signal.raise_signal(signal.SIGTERM)
            for _ in range(1000):
                pass
        except SystemExit:
            lost.touch()
    return observe(self, r, when)
checker.FinalWatch.observe = swallowing
from plurictl.cli import main
main()
"""


def test_a_sigterm_whose_exception_is_lost_still_stops_the_drill(tmp_path: Path) -> None:
    go, lost = tmp_path / "go", tmp_path / "lost"
    with running_drill(tmp_path, ["-c", SWALLOWING, str(go), str(lost)]) as (runner, pids):
        go.touch()
        assert runner.wait(60) == 128 + signal.SIGTERM
        assert lost.exists()  # the exception really was lost: the runner found the signal
        wait_for(lambda: not any(alive(p) for p in pids))
        assert_stopped_by_the_signal(tmp_path)
