"""The drill's ``radio`` step: a simulated narrowband link between nodes.

::

    [[step]]
    do = "radio"
    nodes = ["valley", "town"]     # their laptops get a radio on one shared channel
    bitrate = 1200                 # bit/s; also mtu, loss (0.1 or "10%"), latency ("500ms"),
    loss = 0.1                     # duplicate, reorder, budget ("20%"), cleartext (true)

The runner hosts the simulated channel (:class:`mesh.radio.simhub.SimHub`) in a
thread and starts one real ``plurictl radio up --link sim:NAME`` process per
node, beside its ``node up``, exactly as an operator would. They stop when the
drill ends. Partitions cut the mesh, not the radio: a node cut off from the
mesh still syncs over the air.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ledger.errors import InvalidInput

if TYPE_CHECKING:
    from plurictl.drills.runner import DrillRunner

FIELDS = {
    "name",
    "bitrate",
    "mtu",
    "loss",
    "latency",
    "duplicate",
    "reorder",
    "budget",
    "cleartext",
}


@dataclass
class RadioRig:
    """The channels and bridge processes a drill started (stopped when it ends)."""

    hubs: list[Any] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    procs: list[tuple[subprocess.Popen[bytes], Any]] = field(default_factory=list)
    #: node -> (its bridge process, the channel's name, the step's options)
    bridges: dict[str, tuple[subprocess.Popen[bytes], str, dict[str, Any]]] = field(
        default_factory=dict
    )

    def stop(self) -> None:
        for proc, log in self.procs:
            _end(proc)
            log.close()
        for hub in self.hubs:
            hub.stop()
        for t in self.threads:
            t.join(timeout=10)


def _end(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stop_bridge(r: DrillRunner, node: str) -> tuple[str, dict[str, Any]] | None:
    """The node's laptop is lost: its radio bridge goes with it (else it would keep keying
    up with a key the roster is about to retire, and write its status into the new home).
    Returns what :func:`restart_bridge` needs, or None if the node had no radio."""
    rig = getattr(r, "radio_rig", None)
    if rig is None or node not in rig.bridges:
        return None
    proc, channel, args = rig.bridges.pop(node)
    _end(proc)
    return channel, args


def restart_bridge(r: DrillRunner, node: str, saved: tuple[str, dict[str, Any]]) -> None:
    """The node's new laptop (new key) gets a radio on the same channel."""
    channel, args = saved
    _start_bridge(r, _rig(r), node, channel, args)


def _rig(r: DrillRunner) -> RadioRig:
    rig = getattr(r, "radio_rig", None)
    if rig is None:
        rig = RadioRig()
        r.radio_rig = rig  # type: ignore[attr-defined]
        r.cleanups.append(rig.stop)
    return rig


def do_radio(r: DrillRunner, args: dict[str, Any]) -> str:
    from mesh.radio.errors import RadioError
    from mesh.radio.sim import parse_params
    from mesh.radio.simhub import SimHub

    nodes = list(args["nodes"])
    r.wait_roster_spread()  # a bridge needs the roster to know who may talk on the air
    if len(nodes) < 2:
        raise InvalidInput("a radio step needs at least two nodes on the channel")
    name = str(args.get("name") or f"radio{len(_rig(r).hubs) + 1}")
    options = {
        k: str(v) for k, v in args.items() if k not in ("nodes", "name", "budget", "cleartext")
    }
    try:
        params = parse_params(options)
    except RadioError as e:
        raise InvalidInput(f"radio step: {e}") from e
    air = r.root / "air"  # the channel's socket folder (the bridges are told with ENV_DIR)
    air.mkdir(exist_ok=True)
    rig = _rig(r)
    hub = SimHub(name, params, air)
    thread = threading.Thread(target=hub.serve, name=f"radio-{name}", daemon=True)
    thread.start()
    rig.hubs.append(hub)
    rig.threads.append(thread)
    for node in nodes:
        _start_bridge(r, rig, node, name, args)
    return (
        f"{', '.join(nodes)} on simulated radio {name!r}: {params.bitrate:g} bit/s, MTU {params.mtu}, "
        f"loss {params.loss:.0%}, latency {params.latency * 1000:.0f} ms"
    )


def _start_bridge(
    r: DrillRunner, rig: RadioRig, node: str, name: str, args: dict[str, Any]
) -> None:
    from mesh.radio.bridge import read_status
    from mesh.radio.simhub import ENV_DIR

    home = r.cluster.nodes[node].home
    cmd = [sys.executable, "-m", "plurictl", "--home", str(home), "radio", "up"]
    cmd += ["--link", f"sim:{name}", "--quiet", "--summary-interval", "10"]
    if args.get("budget"):
        cmd += ["--budget", str(args["budget"])]
    if args.get("cleartext"):
        cmd.append("--cleartext")
    log = open(home / "radio.log", "ab")  # noqa: SIM115 - closed in RadioRig.stop
    env = {**os.environ, ENV_DIR: str(r.root / "air"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=env)
    rig.procs.append((proc, log))
    rig.bridges[node] = (proc, name, args)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = read_status(home)
        if status is not None and status.get("pid") == proc.pid:
            return
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    tail = (home / "radio.log").read_text(errors="replace").splitlines()[-5:]
    raise RuntimeError(f"the radio bridge of {node} did not start: {' | '.join(tail)}")
