"""Run a drill: real node processes, scripted faults and writes, then the checker.

Every write the drill makes on a node's ledger (through the same library calls
the CLI commands use) is recorded as *acknowledged*: the checker later demands
it on every node. Nodes are real `plurictl node up` processes on loopback.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger.entry import Entry
from ledger.errors import InvalidInput
from ledger.home import Home
from ledger.roster import writer as trust
from plurictl import lifeline
from plurictl.cluster import LocalCluster
from plurictl.drills import actions, shapes
from plurictl.drills.checker import FinalWatch, Invariant, check_all
from plurictl.drills.model import Drill, Step, seconds

Events = Callable[[str], None]

#: once a drill ends, at most this long (seconds) for its background faults to stop and its
#: nodes to shut down cleanly; a node still running then is killed (field_guides/drills.md)
SHUTDOWN_S = 15.0
#: of which the background faults (flapping links, courier cadence) and the traffic counts
#: get at most this long, and the nodes at least NODES_S to stop cleanly
TASKS_S = 5.0
NODES_S = 10.0

#: steps that cut or kill links: before the first one, every running node must hold the
#: roster (a laptop cut off before it learnt the roster cannot write anything)
FAULTS = frozenset(
    {"partition", "loss", "delay", "kill", "stop", "nemesis", "link-down", "unplug"}
    | {"one-way", "flap", "bandwidth", "courier-every"}
)


@dataclass
class Ack:
    node: str
    entry_id: bytes
    author: bytes
    seq: int
    kind: str


@dataclass
class TimelineRow:
    t: float
    step: int
    action: str
    detail: str
    seconds: float
    result: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "t": round(self.t, 3),
            "step": self.step,
            "action": self.action,
            "detail": self.detail,
            "seconds": round(self.seconds, 3),
            "result": self.result,
        }


@dataclass
class DrillReport:
    name: str
    seed: int
    nodes: list[str]
    timeline: list[TimelineRow] = field(default_factory=list)
    convergence: list[tuple[str, float]] = field(default_factory=list)
    invariants: list[Invariant] = field(default_factory=list)
    #: results of `check` steps during the drill (invariants that hold at any moment)
    midway: list[Invariant] = field(default_factory=list)
    acknowledged: int = 0
    network: str = "loopback"
    bytes_exchanged: int = 0
    duration: float = 0.0
    error: str | None = None

    @property
    def passed(self) -> bool:
        return (
            self.error is None
            and bool(self.invariants)
            and all(i.ok for i in self.invariants)
            and all(i.ok for i in self.midway)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "drill": self.name,
            "seed": self.seed,
            "nodes": self.nodes,
            "passed": self.passed,
            "network": self.network,
            "error": self.error,
            "duration_s": round(self.duration, 2),
            "acknowledged_entries": self.acknowledged,
            "bytes_exchanged": self.bytes_exchanged,
            "convergence_s": [{"phase": p, "seconds": round(s, 3)} for p, s in self.convergence],
            "invariants": [i.to_json() for i in self.invariants],
            "midway_checks": [i.to_json() for i in self.midway],
            "timeline": [r.to_json() for r in self.timeline],
        }


class DrillRunner:
    def __init__(
        self,
        drill: Drill,
        root: Path,
        *,
        seed: int | None = None,
        events: Events | None = None,
        nemesis: float | None = None,
        broken_node: tuple[str, str] | None = None,
        final_timeout: float | None = None,
        network: str = "loopback",
    ) -> None:
        self.drill = drill
        self.root = root
        self.seed = drill.seed if seed is None else seed
        self.rng = random.Random(self.seed)
        self.events = events or (lambda _m: None)
        self.extra_nemesis = nemesis
        self.network = network
        self.cluster = LocalCluster(root / "nodes", interval=drill.interval, net=_lab(network))
        self.acks: list[Ack] = []
        self.report = DrillReport(drill.name, self.seed, drill.names, network=network)
        self.start_time = 0.0
        self.expect_forks: set[str] = set()
        #: members revoked during the drill: nobody talks to their laptops any more,
        #: so those laptops are left out of convergence and the checks
        self.expelled: set[str] = set()
        self.lost_homes: list[Path] = []
        self.bytes_from_stopped = 0
        self.named: dict[str, Any] = {}  # ids that later steps refer to (votes, runs, plans)
        self.broken_node = broken_node
        self.final_timeout = final_timeout or max(60.0, 100 * drill.interval)
        #: FINAL results seen on every node after every step (checked at the end)
        self.finals = FinalWatch()
        self.roster_spread = False
        #: called when the drill ends, before the nodes stop (e.g. radio bridges)
        self.cleanups: list[Callable[[], None]] = []
        #: member key -> how far its laptop's clock is off (ms), set by `clock` steps
        self.skews: dict[bytes, int] = {}
        #: faults running while later steps go on (flapping links, courier cadence)
        self.tasks: list[tuple[str, threading.Thread, list[str]]] = []
        self.stop_tasks = threading.Event()

    # --- bookkeeping ---------------------------------------------------------------

    def ack(self, node: str, entries: list[Entry] | Entry) -> None:
        for e in entries if isinstance(entries, list) else [entries]:
            self.acks.append(Ack(node, e.id, e.author, e.seq, e.kind))
        self.cluster.nudge(node)

    def home(self, node: str) -> Home:
        return self.cluster.home(node)

    def holds_roster(self, node: str) -> bool:
        """The node's ledger holds the mesh and the roster naming its own key."""
        with self.cluster.home(node) as h:
            return (
                h.store.mesh_id is not None
                and self.cluster.nodes[node].key in h.store.roster().keys
            )

    def member_home(self, node: str, timeout: float = 60.0) -> Home:
        """The node's home once it holds the roster with its own key (a newly started
        laptop first has to sync): what an operator waits for before writing."""
        deadline = time.monotonic() + timeout
        while not self.holds_roster(node):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{node} has not received the roster after {timeout:.0f} s")
            lifeline.sleep(0.05)
        return self.cluster.home(node)

    def wait_roster_spread(self, timeout: float = 60.0) -> None:
        """Before the first fault: every running node holds the roster (once per drill).

        Founding writes the roster on the founder only; the others learn it over the
        mesh a moment after they start. A partition in that moment would cut a laptop
        off before it knows it is a member, and nothing it writes could ever count.
        """
        if self.roster_spread:
            return
        t0 = time.monotonic()
        waiting = [n for n in self.active() if self.cluster.running(n)]
        while waiting:
            waiting = [n for n in waiting if not self.holds_roster(n)]
            if waiting and time.monotonic() - t0 > timeout:
                raise TimeoutError(
                    f"{', '.join(waiting)} did not receive the roster within {timeout:.0f} s"
                )
            if waiting:
                lifeline.sleep(0.05)
        self.roster_spread = True
        self.report.convergence.append(("roster on every laptop", time.monotonic() - t0))

    def _log(self, step: Step | None, detail: str, took: float, result: str = "") -> None:
        row = TimelineRow(
            time.monotonic() - self.start_time,
            step.index if step else 0,
            step.action if step else "final",
            detail,
            took,
            result,
        )
        self.report.timeline.append(row)
        self.events(
            f"[{row.t:6.1f}s] {row.action:<15} {detail} {('— ' + result) if result else ''}"
        )

    def collect_traffic(self, name: str) -> None:
        if self.cluster.running(name):
            with contextlib.suppress(Exception):
                status = self.cluster.control(name, "status")
                self.bytes_from_stopped += status["traffic"]["bytes_out"]

    # --- running ---------------------------------------------------------------------

    def run(self) -> DrillReport:
        self.start_time = time.monotonic()
        self.root.mkdir(parents=True, exist_ok=True)
        try:
            steps = list(self.drill.steps)
            if not steps or steps[0].action != "found":
                steps.insert(0, Step(0, "found", {}))
                steps.insert(1, Step(0, "start", {}))
            if self.extra_nemesis:
                steps.append(Step(len(steps) + 1, "nemesis", {"duration": self.extra_nemesis}))
            for step in steps:
                t0 = time.monotonic()
                result = self.do(step)
                self._log(step, step.describe(), time.monotonic() - t0, result or "")
                if step.action != "found":
                    self.finals.observe(self, f"after step {step.index} ({step.action})")
                lifeline.checkpoint()  # a SIGTERM whose exception was lost mid-step
            self.final_phase()
        except Exception as e:
            self.report.error = _error_text(e)
            self.events(f"drill aborted: {self.report.error}")
        finally:
            self.shut_down()
            self.report.bytes_exchanged = self.bytes_from_stopped
            self.report.acknowledged = len(self.acks)
            self.report.duration = time.monotonic() - self.start_time
        return self.report

    def shut_down(self) -> None:
        """Stop the background faults, the bridges and every node, in at most about
        ``SHUTDOWN_S`` seconds however slow or stuck a node is: the nodes stop in parallel
        and one that has not stopped by then is killed. After a signal nobody reads the
        traffic counts, so the nodes are not asked for them (they may not answer)."""
        start = time.monotonic()
        self.stop_tasks.set()
        for _, thread, _ in self.tasks:  # daemon threads: one still running dies with us
            thread.join(left(start + TASKS_S))
        for cleanup in reversed(self.cleanups):
            with contextlib.suppress(Exception):
                cleanup()
        for name in self.cluster.nodes:
            if lifeline.stopping() or left(start + TASKS_S) <= 0:
                break
            self.collect_traffic(name)
        self.cluster.close(timeout=max(NODES_S, left(start + SHUTDOWN_S)))

    def do(self, step: Step) -> str:
        if step.action in FAULTS:
            self.wait_roster_spread()
        name = "do_" + step.action.replace("-", "_")
        handler = getattr(shapes, name, None) or getattr(actions, name)
        return str(handler(self, step.args) or "")

    def background(self, label: str, fn: Callable[[threading.Event], str]) -> None:
        """Run ``fn(stop)`` while the next steps go on; the final phase waits for it."""
        out: list[str] = []

        def run() -> None:
            try:
                out.append(fn(self.stop_tasks))
            except Exception as e:  # reported in the timeline, and the drill fails
                out.append(f"FAILED: {type(e).__name__}: {e}")

        thread = threading.Thread(target=run, name=label, daemon=True)
        self.tasks.append((label, thread, out))
        thread.start()

    def join_tasks(self, timeout: float = 600.0) -> None:
        """Wait for the background faults to end, and log what each did."""
        for label, thread, out in self.tasks:
            t0 = time.monotonic()
            thread.join(timeout)
            if thread.is_alive():
                self.stop_tasks.set()
                thread.join(30.0)
            result = out[0] if out else "did not finish"
            self._log(None, f"{label} (background)", time.monotonic() - t0, result)
            if result.startswith("FAILED") or not out:
                raise RuntimeError(f"{label}: {result}")
        self.tasks.clear()

    def final_phase(self) -> None:
        self.join_tasks()
        t0 = time.monotonic()
        for name in self.cluster.nodes:
            if not self.cluster.running(name):
                self.cluster.start(name, extra=self.node_extra(name))
        self.cluster.heal()
        timeout = self.final_timeout
        try:
            took = self.cluster.wait_converged(self.active(), timeout=timeout)
            self.report.convergence.append(("final heal", took))
            result = f"{took:.2f} s"
        except TimeoutError:
            self.report.convergence.append(("final heal (not converged)", timeout))
            result = f"NOT converged within {timeout:.0f} s"
        self._log(
            None, "restart stopped nodes, heal, wait for convergence", time.monotonic() - t0, result
        )
        self.finals.observe(self, "after the final heal")
        t0 = time.monotonic()
        self.report.invariants = check_all(self)
        failed = [i.name for i in self.report.invariants if not i.ok]
        self._log(
            None,
            "check invariants",
            time.monotonic() - t0,
            "FAILED: " + ", ".join(failed) if failed else "all hold",
        )

    def node_extra(self, name: str) -> list[str]:
        """A deliberately broken node (tests prove the checker can fail) drops one member's feed."""
        if self.broken_node is not None and name == self.broken_node[0]:
            return ["--debug-drop-feed", self.broken_node[1]]
        return []

    # --- helpers used by actions ---------------------------------------------------------

    def active(self) -> list[str]:
        return [n for n in self.cluster.nodes if n not in self.expelled]

    def wait_converged(self, nodes: list[str] | None, timeout: float, label: str) -> float:
        took = self.cluster.wait_converged(nodes or self.active(), timeout=timeout)
        self.report.convergence.append((label, took))
        return took

    def lose_laptop(self, name: str) -> Path:
        """The node's laptop is gone: kill its process, keep its home aside, make a new one."""
        self.collect_traffic(name)
        self.cluster.kill(name)
        node = self.cluster.nodes[name]
        lost = node.home.with_name(node.home.name + f"-lost{len(self.lost_homes) + 1}")
        shutil.move(str(node.home), str(lost))
        self.lost_homes.append(lost)
        with Home(node.home) as h:
            ident = h.init(name)
        node.key = ident.public
        return lost

    def pin(self, name: str) -> None:
        assert self.cluster.mesh_id is not None
        with self.home(name) as h:
            h.store.pin_mesh(self.cluster.mesh_id)

    def member_key(self, name: str) -> bytes:
        return self.cluster.nodes[name].key

    def duration(self, value: Any, where: str) -> float:
        return seconds(value, where)


def left(deadline: float) -> float:
    """Seconds until ``deadline`` (a ``time.monotonic()`` value), never below 0."""
    return max(0.0, deadline - time.monotonic())


def _lab(network: str) -> Any:
    """None for loopback (faults simulated in the nodes), a NetLab for real namespaces."""
    if network == "loopback":
        return None
    if network == "netns":
        from plurictl.drills.netns import NetLab

        return NetLab()
    raise InvalidInput(f"unknown drill network {network!r} (use loopback or netns)")


__all__ = ["Ack", "DrillReport", "DrillRunner", "trust"]


def _error_text(e: Exception) -> str:
    """What stopped a drill, in words: our own errors and timeouts as their message, an
    unexpected one with its type (a bug to report)."""
    from ledger.errors import PluriError

    if isinstance(e, TimeoutError | PluriError) and str(e):
        return str(e)
    return f"{type(e).__name__}: {e}"
