"""The AC check of ``plan restore`` in a worker process started before the MILP.

On a cold process the AC check is mostly waiting for pandapower: its import and reading
the net (measured on the island microgrid: 1.8-2.8 s and 0.6 s) take about as long as
the MILP (2.6-3 s). HiGHS holds the GIL, so a thread does not overlap the two; a forked
process does. The worker loads the net, makes the copy the steps are applied to
(``restore_ac.Checker``), then waits for the order, runs the same ``Checker.run`` on it
and sends back the reports, a tick per step on the way.

On a first run (the network cache cold) the net is already loaded here, the arrays
needed it: the worker is forked with it, makes its copy while the MILP runs, and then
checks every other step while this process checks the rest (each step's report depends
on that step alone: the steps' states are set in full and the power flow starts from DC).

The worker only saves time, it never decides anything: when it cannot be used (no
``fork`` on this system, one core) or it fails in any way (it
raised, it died, a message did not pickle), the check runs in this process, exactly as
without it: the same reports, and the same clean error when the net itself is bad.
No orphan: the worker is daemonic, ignores Ctrl-C (this process ends it), is ended in
``close`` on every path, exits when its pipe closes, and on Linux the kernel ends it
when this process dies however it dies (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import sys
from collections.abc import Callable
from typing import Any

from planner.restore_case import RestoreCase
from planner.restore_greedy import Schedule

Report = dict[int, dict[str, Any]]
#: Longest the worker may stay silent (it reports each step) before the check runs here,
#: while it may still be importing pandapower and reading the net (a cache-warm run).
SILENT_S = 300.0
#: When it forked with the net already read (a first run) it has nothing to prepare: its
#: half of the steps takes about as long as this process's half, so a silence longer
#: than SLOWER times that (and at least FLOOR_S) means it is stuck: the check runs here.
SLOWER, FLOOR_S = 20.0, 30.0
#: How long an ended worker gets to go before it is killed.
END_S = 2.0
Tick = Callable[[int, int], None]


def wanted(model: Any) -> bool:
    """Worth a process: fork exists and this process may run on two cores (on one, the
    two would only take turns)."""
    return (
        sys.platform.startswith("linux")
        and "fork" in multiprocessing.get_all_start_methods()
        and len(os.sched_getaffinity(0)) >= 2
    )


class AcWorker:
    """A forked process preparing the AC check of ``model`` while this one plans."""

    def __init__(self, model: Any) -> None:
        ctx = multiprocessing.get_context("fork")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_serve,
            args=(model, child, self._conn, os.getpid()),
            name="plurictl-ac",
            daemon=True,
        )
        self._proc.start()
        child.close()  # so that the worker dying reads as EOF here
        #: the net was loaded here when it forked (a first run): the steps are shared
        self.shares = getattr(model, "_net", None) is not None

    def check(
        self, case: RestoreCase, sch: Schedule, steps: list[int], progress: Tick | None
    ) -> tuple[Report, float] | None:
        """(reports, f_hz) from the worker; None when it could not give them."""
        return self.receive(progress) if self.send(case, sch, steps) else None

    def send(self, case: RestoreCase, sch: Schedule, steps: list[int]) -> bool:
        """Give the worker its steps to check; False when it cannot take them."""
        try:
            self._conn.send((case, sch, steps))
        except (OSError, pickle.PicklingError, TypeError, AttributeError):
            return False
        return True

    def receive(
        self, progress: Tick | None, silent_s: float | None = None
    ) -> tuple[Report, float] | None:
        """(reports, f_hz) of the steps sent; None when the worker could not give them,
        or said nothing for ``silent_s`` (alive but stuck: the caller checks them)."""
        try:
            while True:
                if not self._conn.poll(SILENT_S if silent_s is None else silent_s):
                    return None
                msg = self._conn.recv()
                if msg[0] == "tick":
                    if progress:
                        progress(msg[1], msg[2])
                    continue
                return (msg[1], msg[2]) if msg[0] == "done" else None
        except (EOFError, OSError, pickle.PicklingError, TypeError, AttributeError):
            return None

    def close(self) -> None:
        """End the worker (it is done, or no longer needed) and wait for it."""
        self._conn.close()
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(END_S)
        if self._proc.is_alive():  # stopped or ignoring SIGTERM: SIGKILL always ends it
            self._proc.kill()
        self._proc.join()
        self._proc.close()


def _die_with(parent: int) -> None:
    """Linux: the kernel ends this process when ``parent`` dies, even killed at once
    (``PR_SET_PDEATHSIG``), not only when this one next reads its pipe."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the call
        os._exit(0)


def _serve(model: Any, conn: Any, parent_end: Any, parent: int) -> None:
    """The worker: prepare, wait for the order, check it, send the reports."""
    _die_with(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C: the parent ends the worker
    parent_end.close()
    try:
        from planner.restore_ac import Checker

        checker = Checker(model)
        case, sch, steps = conn.recv()
        report = checker.run(case, sch, steps, progress=lambda i, n: conn.send(("tick", i, n)))
        conn.send(("done", report, checker.f_hz))
    except EOFError:  # the parent no longer wants it
        return
    except BaseException as e:  # any failure: the parent checks in its own process
        try:
            conn.send(("failed", f"{type(e).__name__}: {e}"))
        except (OSError, EOFError):
            return
