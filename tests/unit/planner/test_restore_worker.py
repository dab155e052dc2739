"""`plan restore`'s AC check in a worker process (issue 22, speed row): the worker loads
pandapower and the net while the MILP runs; its reports are the ones computed here, a
failing worker changes nothing, a bad net is still a clean error, and no process is left.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path
from typing import Any

import pytest

from planner import restore_milp
from planner.errors import NetworkError, ScenarioError
from planner.network import NetworkModel, build_network
from planner.restore import restore
from tests.unit.planner.test_restore import _gen, _load, _net, _scenario


def _tiny(tmp: Path) -> Any:
    _net(tmp, 3, [(0, 1), (1, 2)], [("a", 1, 0.2), ("b", 2, 0.3)])
    loads = _load(0, "a", 1) + _load(1, "b", 2)
    return _scenario(tmp, _gen("g", 0, 1.0), loads, "[restore]\nblock_load_pct = 100\n")


def _cold(scenario: Any, loader: Any = None) -> NetworkModel:
    """The model as a cold process has it from the network cache: arrays, no net yet."""
    warm = build_network(scenario)
    return NetworkModel(
        None, warm.grid, warm.ac_gen_index, warm.bus_island, loader or (lambda: warm.net)
    )


def _workers() -> list[str]:
    return [p.name for p in multiprocessing.active_children() if p.name == "plurictl-ac"]


def test_the_worker_prepares_during_the_milp_and_its_reports_are_the_ones_made_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sc = _tiny(tmp_path)
    here = restore(sc, model=build_network(sc))  # the net loaded here: a first run
    seen: list[list[str]] = []
    solve = restore_milp.solve

    def watched(*args: Any, **kw: Any) -> Any:
        seen.append(_workers())
        return solve(*args, **kw)

    monkeypatch.setattr(restore_milp, "solve", watched)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})  # as on any laptop
    there = restore(sc, model=_cold(sc))
    assert seen == [["plurictl-ac"]]  # the worker was there while the MILP ran
    assert _workers() == []  # and is gone
    here.pop("seconds"), there.pop("seconds")
    assert there == here and there["steps"][0]["ac"]["converged"] is True


def test_on_a_first_run_the_worker_checks_every_other_step_and_the_reports_are_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the net is loaded here (the arrays needed it): the worker, forked with it, makes its
    # copy during the MILP and checks half the steps while this process checks the rest
    from planner import restore_ac, restore_worker

    monkeypatch.setenv("PLURI_CACHE_DIR", "off")  # a first run: the net is read here
    sc = _island()
    here: list[list[int]] = []
    run = restore_ac.Checker.run

    def watched(self: Any, case: Any, sch: Any, steps: list[int], **kw: Any) -> Any:
        here.append(list(steps))  # only this process's calls are seen
        return run(self, case, sch, steps, **kw)

    monkeypatch.setattr(restore_ac.Checker, "run", watched)
    monkeypatch.setattr(restore_worker, "wanted", lambda model: False)
    alone = restore(sc, model=build_network(sc))
    (every,) = here
    here.clear()
    monkeypatch.setattr(restore_worker, "wanted", lambda model: True)
    ticks: list[float] = []

    def progress(stage: str, msg: str, frac: float) -> None:
        if stage == "ac":
            ticks.append(frac)

    shared = restore(sc, model=build_network(sc), progress=progress)
    assert len(every) >= 4 and here == [every[0::2]]  # the rest came from the worker
    assert len(ticks) == len(every) and ticks == sorted(ticks) and ticks[-1] == 1.0
    assert _workers() == []
    alone.pop("seconds"), shared.pop("seconds")
    assert shared == alone


def _island() -> Any:
    from planner.scenario_file import load_scenario

    return load_scenario(
        Path(__file__).resolve().parents[3] / "field_guides" / "scenarios" / "island-microgrid.toml"
    )


def test_on_one_core_the_check_runs_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from planner import restore_worker

    sc = _tiny(tmp_path)
    assert restore_worker.wanted(_cold(sc)) is (len(os.sched_getaffinity(0)) >= 2)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert not restore_worker.wanted(_cold(sc))


def test_a_worker_that_fails_changes_nothing(tmp_path: Path) -> None:
    sc = _tiny(tmp_path)
    me = os.getpid()
    warm = build_network(sc)

    def only_here() -> Any:
        if os.getpid() != me:
            raise RuntimeError("the worker's net is broken")
        return warm.net

    here = restore(sc, model=build_network(sc))
    there = restore(sc, model=_cold(sc, only_here))
    here.pop("seconds"), there.pop("seconds")
    assert there == here and _workers() == []


def test_a_worker_that_hangs_changes_nothing_and_is_ended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker stuck for good (never seen; a deadlock after fork is the fear) cannot hang
    `plan restore`: past SILENT_S without a word the check runs here, the worker is ended."""
    import threading

    from planner import restore_worker

    sc = _tiny(tmp_path)
    me = os.getpid()
    warm = build_network(sc)

    def stuck_there() -> Any:
        if os.getpid() != me:
            threading.Event().wait()  # for ever
        return warm.net

    monkeypatch.setattr(restore_worker, "SILENT_S", 1.0)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})  # as on any laptop
    here = restore(sc, model=build_network(sc))
    there = restore(sc, model=_cold(sc, stuck_there))
    here.pop("seconds"), there.pop("seconds")
    assert there == here and _workers() == []


def test_a_bad_net_is_the_same_clean_error_and_leaves_no_process(tmp_path: Path) -> None:
    sc = _tiny(tmp_path)

    def bad() -> Any:
        raise NetworkError("network file net.json is not a pandapower JSON net: broken")

    with pytest.raises(NetworkError, match="not a pandapower JSON net"):
        restore(sc, model=_cold(sc, bad))
    assert _workers() == []


def test_an_order_refused_before_the_ac_check_ends_the_worker(tmp_path: Path) -> None:
    _net(tmp_path, 2, [(0, 1)], [("big", 1, 0.85)])
    table = "[restore]\nblock_load_pct = 100\nreserve_pct = 20\n"
    sc = _scenario(tmp_path, _gen("g", 0, 1.0), _load(0, "big", 1), table)
    with pytest.raises(ScenarioError, match="no block can be restored"):
        restore(sc, model=_cold(sc))
    assert _workers() == []


_KILLED_PARENT = """
import os, sys
from planner.restore_worker import AcWorker

class Model:  # its net never comes: the worker waits for ever, as while importing pandapower
    _net = None
    @property
    def net(self):
        os.read(os.pipe()[0], 1)

w = AcWorker(Model())
print(w._proc.pid, flush=True)
os.kill(os.getpid(), 9)
"""


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="Linux /proc")
def test_the_worker_ends_when_plurictl_is_killed_outright() -> None:
    import subprocess
    import sys
    import time

    out = subprocess.run(
        [sys.executable, "-c", _KILLED_PARENT], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == -9
    pid = int(out.stdout.split()[0])
    deadline = time.monotonic() + 20
    while _running(pid) and time.monotonic() < deadline:
        time.sleep(0.05)  # polling the condition, bounded: the kernel ends it at once
    assert not _running(pid)


def test_no_ac_never_loads_the_net_and_reports_its_frequency_from_the_arrays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`plan restore --no-ac` from the network cache used to import pandapower and read the
    whole net only for its frequency (2.4 s a run); the frequency is kept with the arrays,
    through the cache too."""
    import pandapower as pp

    from planner import netcache

    sc = _tiny(tmp_path)
    net = pp.from_json(str(tmp_path / "net.json"))
    net.f_hz = 60.0
    pp.to_json(net, str(tmp_path / "net.json"))
    monkeypatch.setenv("PLURI_CACHE_DIR", str(tmp_path / "cache"))
    warm = build_network(sc)  # builds and stores the arrays
    key = netcache.cache_key(sc)
    assert key is not None
    hit = netcache.load(key)
    assert hit is not None and warm.grid.f_hz == hit[0].f_hz == 60.0

    def never() -> Any:
        raise AssertionError("the net was loaded for --no-ac")

    out = restore(sc, ac=False, model=_cold(sc, never))
    assert out["f_hz"] == 60.0


def test_a_stopped_worker_on_a_first_run_delays_the_check_briefly_and_is_killed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Review 15r: a worker that forked with the net (a first run) but then stalls
    (`kill -STOP`: swap, a lock held at fork) held `plan restore` for SILENT_S = 300 s,
    and then SIGTERM could not end a stopped process. Now its silence is bounded by how
    long this process took for its own half, and a worker that will not end is killed."""
    import signal

    from planner import restore_ac, restore_worker

    monkeypatch.setenv("PLURI_CACHE_DIR", "off")  # a first run: the net is read here
    monkeypatch.setattr(restore_worker, "wanted", lambda model: False)
    sc = _island()
    alone = restore(sc, model=build_network(sc))
    monkeypatch.setattr(restore_worker, "wanted", lambda model: True)
    monkeypatch.setattr(restore_worker, "FLOOR_S", 0.5)
    monkeypatch.setattr(restore_worker, "SLOWER", 1.0)
    monkeypatch.setattr(restore_worker, "END_S", 0.2)
    stopped: list[int] = []
    run = restore_ac.Checker.run

    def stop_it_first(self: Any, *args: Any, **kw: Any) -> Any:
        for proc in multiprocessing.active_children():
            if proc.name == "plurictl-ac" and proc.pid and not stopped:
                os.kill(proc.pid, signal.SIGSTOP)
                stopped.append(proc.pid)
        return run(self, *args, **kw)

    monkeypatch.setattr(restore_ac.Checker, "run", stop_it_first)
    started = time.perf_counter()
    shared = restore(sc, model=build_network(sc))
    assert stopped and _workers() == []  # it was stopped, and is gone
    assert time.perf_counter() - started < restore_worker.SILENT_S / 10
    alone.pop("seconds"), shared.pop("seconds")
    assert shared == alone
