"""A cluster of real `plurictl node` processes, each with its own home.

Used by drills and by the mesh integration tests. Nodes are separate OS
processes started exactly as an operator would (`plurictl --home H node up`),
driven through their control sockets (files in their homes).

Two networks: by default every node listens on 127.0.0.1 and faults are
simulated inside the nodes (no root needed); with a :class:`NetLab`
(``network="netns"``) every node runs in its own network namespace and
partitions, loss and delay happen on real links.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledger.home import Home
from ledger.roster import writer as trust
from mesh.config import DEFAULT_PORT
from plurictl import lifeline

if TYPE_CHECKING:
    from plurictl.drills.netns import NetLab

#: how long to wait for a SIGKILLed node to be gone
KILL_WAIT_S = 5.0


def free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1 (the node uses both).

    Picked at random *below* the kernel's ephemeral range: a port the kernel handed out
    and took back (the usual bind-to-0 trick) can be handed again to any outgoing
    connection before the node binds it, which parallel drills and tests do all the time.
    """
    low = _ephemeral_low()
    for _ in range(200):
        port = random.randrange(max(1024, low - 20000), low)
        if _bindable(port):
            return port
    raise RuntimeError("no free port found")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default start


def _bindable(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


@dataclass
class ClusterNode:
    name: str
    home: Path
    port: int
    key: bytes
    proc: subprocess.Popen[bytes] | None = None
    log: Any = None
    starts: int = 0
    host: str = "127.0.0.1"
    wrap: list[str] = field(default_factory=list)  # e.g. ["ip", "netns", "exec", NS]

    @property
    def addr(self) -> str:
        return f"tcp://{self.host}:{self.port}"


def _forget(node: ClusterNode) -> None:
    """The node's process is gone (or given up on): drop it and close its log."""
    node.proc = None
    if node.log:
        node.log.close()
        node.log = None


@dataclass
class LocalCluster:
    root: Path
    interval: float = 0.3
    nodes: dict[str, ClusterNode] = field(default_factory=dict)
    mesh_id: bytes | None = None
    #: real links: every node in its own network namespace (None: loopback, simulated faults)
    net: NetLab | None = None
    #: simulated loss/delay per node while ``net`` shapes real links
    shaping: dict[str, dict[str, float]] = field(default_factory=dict)
    #: the link policy each node applies itself (mesh.faults), re-applied when it restarts
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: how far each node's clock is off (ms; drills: clocks must never decide anything)
    clock_offsets: dict[str, int] = field(default_factory=dict)

    # --- homes and mesh ----------------------------------------------------------

    def init_homes(self, names: Iterable[str]) -> None:
        names = list(names)
        if self.net is not None and not self.net.nodes:
            self.net.create(names)
        for name in names:
            home = self.root / name
            h = Home(home)
            ident = h.init(name)
            h.close()
            if self.net is not None:
                lab = self.net.nodes.get(name) or self.net.add_node(name)
                self.nodes[name] = ClusterNode(
                    name, home, DEFAULT_PORT, ident.public, host=lab.ip, wrap=self.net.wrap(name)
                )
            else:
                self.nodes[name] = ClusterNode(name, home, free_port(), ident.public)

    def found_mesh(
        self, founder: str, roles: dict[str, list[str]], mesh_name: str = "drill"
    ) -> bytes:
        """The founder creates the mesh and adds everyone; the others only pin the mesh id.

        The others learn the roster over the mesh, as they would in the field.
        """
        with Home(self.nodes[founder].home) as h:
            genesis = trust.create_mesh(
                h.store, h.identity, mesh_name, roles=tuple(roles.get(founder, ["admin"]))
            )
            for name, node in self.nodes.items():
                if name != founder:
                    trust.add_member(
                        h.store, h.identity, node.key, name, roles.get(name, ["operator"])
                    )
        self.mesh_id = genesis.id
        for name, node in self.nodes.items():
            if name != founder:
                with Home(node.home) as h:
                    h.store.pin_mesh(genesis.id)
        return genesis.id

    def home(self, name: str) -> Home:
        home = Home(self.nodes[name].home)
        offset = self.clock_offsets.get(name)
        if offset:  # what this laptop writes carries its wrong clock, as its node's entries do
            home.store.clock_offset_ms = offset
        return home

    # --- processes -------------------------------------------------------------------

    def start(
        self, name: str, *, peers: list[str] | None = None, extra: list[str] | None = None
    ) -> None:
        node = self.nodes[name]
        if node.proc is not None and node.proc.poll() is None:
            return
        if peers is None:
            peers = [f"{n.key.hex()}@{n.addr}" for other, n in self.nodes.items() if other != name]
        for attempt in range(3):
            try:
                self._launch(node, peers, extra)
                return
            except RuntimeError as e:
                # free_port() probed the port when the cluster was made; a parallel test
                # can bind it before this node's first start. A new port then (the node
                # dials its peers itself, so they learn where it is).
                first = node.starts == 1 and node.host == "127.0.0.1" and not node.wrap
                if attempt == 2 or not first or "Address already in use" not in str(e):
                    raise
                if node.log is not None:
                    node.log.close()
                node.port, node.starts, node.proc = free_port(), 0, None

    def _launch(self, node: ClusterNode, peers: list[str], extra: list[str] | None) -> None:
        name = node.name
        args = [
            *node.wrap,
            sys.executable,
            "-m",
            "plurictl",
            "--home",
            str(node.home),
            "node",
            "up",
            "--quiet",
            "--listen",
            node.addr,
            "--interval",
            str(self.interval),
        ]
        for p in peers:
            args += ["--peer", p]
        args += extra or []
        node.log = open(node.home / "node.log", "ab")  # noqa: SIM115 - closed in stop()
        # Its own process group (signals for our terminal or job reach us, and we stop the
        # node in order) and a parent-death signal (nothing outlives us): plurictl.lifeline.
        node.proc = subprocess.Popen(
            args,
            stdout=node.log,
            stderr=node.log,
            stdin=subprocess.DEVNULL,
            env=lifeline.child_env(
                {**os.environ, "PYTHONUNBUFFERED": "1", **self._clock_env(name)}
            ),
            process_group=0,
        )
        node.starts += 1
        self.wait_running(name)
        if self.policies.get(name):
            self.control(name, "faults.set", **self.policies[name])

    def _clock_env(self, name: str) -> dict[str, str]:
        from ledger.clock import OFFSET_ENV

        offset = self.clock_offsets.get(name)
        return {OFFSET_ENV: str(offset)} if offset else {}

    def wait_running(self, name: str, timeout: float = 30.0) -> None:
        from mesh.control import ControlClient
        from mesh.errors import NodeNotRunning

        node = self.nodes[name]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if node.proc is not None and node.proc.poll() is not None:
                raise RuntimeError(
                    f"node {name} exited with {node.proc.returncode}: {self.tail(name)}"
                )
            try:
                with ControlClient(node.home, timeout=1.0) as c:
                    c.call("status")
                    return
            except NodeNotRunning:
                lifeline.sleep(0.05)
        raise RuntimeError(f"node {name} did not come up: {self.tail(name)}")

    def tail(self, name: str, lines: int = 15) -> str:
        try:
            return "\n".join(
                (self.nodes[name].home / "node.log")
                .read_text(errors="replace")
                .splitlines()[-lines:]
            )
        except OSError:
            return ""

    def stop(self, name: str, timeout: float = 10.0) -> None:
        """SIGTERM: a clean shutdown (killed if it does not stop in ``timeout``)."""
        self._end(name, signal.SIGTERM, timeout)

    def kill(self, name: str) -> None:
        """SIGKILL: no clean shutdown (the node file stays behind, as after a crash)."""
        self._end(name, signal.SIGKILL, 10.0)

    def _end(self, name: str, sig: int, timeout: float) -> None:
        node = self.nodes[name]
        if node.proc is not None and node.proc.poll() is None:
            node.proc.send_signal(sig)
            try:
                node.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait()
        _forget(node)

    def running(self, name: str) -> bool:
        proc = self.nodes[name].proc
        return proc is not None and proc.poll() is None

    def stop_all(self, timeout: float = 10.0) -> None:
        """SIGTERM every running node at once and wait for them all, ``timeout`` seconds in
        all (not per node); then SIGKILL those still running and remove their node files
        (a killed node cannot), so this takes ``timeout`` plus a moment at most."""
        from mesh.control import remove_stale

        running = [n for n in self.nodes.values() if n.proc is not None and n.proc.poll() is None]
        for node in running:
            with contextlib.suppress(OSError):
                node.proc.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
        deadline = time.monotonic() + timeout
        for node in running:
            assert node.proc is not None
            try:
                node.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                node.proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    node.proc.wait(KILL_WAIT_S)
                with contextlib.suppress(OSError, ValueError):  # an unreadable file: left
                    remove_stale(node.home)
        for node in self.nodes.values():
            _forget(node)

    def close(self, timeout: float = 10.0) -> None:
        """Stop every node (``stop_all``) and take the network lab (if any) down."""
        self.stop_all(timeout)
        if self.net is not None:
            self.net.close()

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- driving -------------------------------------------------------------------------

    def control(self, name: str, cmd: str, **args: Any) -> Any:
        from mesh.control import ControlClient

        with ControlClient(self.nodes[name].home, timeout=5.0) as c:
            return c.call(cmd, **args)

    def nudge(self, name: str) -> None:
        if self.running(name):
            with contextlib.suppress(Exception):
                self.control(name, "nudge")

    def set_policy(self, names: Iterable[str], **fields: Any) -> None:
        """Update the link policy the named nodes apply themselves (kept across restarts)."""
        for name in names:
            self.policies.setdefault(name, {}).update(fields)
            if self.running(name):
                self.control(name, "faults.set", **fields)

    def partition(self, groups: list[list[str]]) -> None:
        if self.net is not None:
            self.net.partition(groups)
            return
        self.set_policy(self.nodes, groups=groups)

    def oneway(self, sender: str, receiver: str) -> None:
        """``receiver`` stops hearing ``sender`` (the other way still works), on real links
        too: both nodes drop those messages themselves."""
        pairs = [
            p for p in self.policies.get(sender, {}).get("oneway", []) if p != [sender, receiver]
        ]
        self.set_policy([sender, receiver], oneway=[*pairs, [sender, receiver]])

    def link(self, name: str, up: bool) -> None:
        """Take a node's link down or bring it back: its interface with a network lab, else
        every node drops its traffic (one-way both ways)."""
        if self.net is not None:
            (self.net.link_up if up else self.net.link_down)(name)
            return
        for other in self.nodes:
            if other == name:
                continue
            pairs = [
                p
                for p in self.policies.get(other, {}).get("oneway", [])
                if p not in ([name, other], [other, name])
            ]
            if not up:
                pairs += [[name, other], [other, name]]
            self.set_policy([other], oneway=pairs)

    def heal(self) -> None:
        if self.net is not None:
            self.net.heal()
            self.shaping.clear()
        self.policies.clear()
        for name in self.nodes:
            if self.running(name):
                self.control(name, "faults.clear")

    def degrade(
        self,
        names: Iterable[str],
        *,
        loss: float | None = None,
        delay_ms: int | None = None,
        rate_kbit: int | None = None,
    ) -> None:
        """Loss (0-1), delay and a bandwidth cap on the named nodes' outgoing traffic: shaped
        on real links with a network lab, simulated in the nodes otherwise."""
        given = {"loss": loss, "delay_ms": delay_ms, "rate_kbit": rate_kbit}
        changes = {k: v for k, v in given.items() if v is not None}
        for name in names:
            if self.net is None:
                self.set_policy([name], **changes)
                continue
            current = self.shaping.setdefault(name, {"loss": 0.0, "delay_ms": 0, "rate_kbit": 0})
            current.update(changes)
            self.net.shape(
                name,
                delay_ms=int(current["delay_ms"]),
                loss=current["loss"],
                rate_kbit=int(current["rate_kbit"]),
            )

    def digests(self, names: Iterable[str] | None = None) -> dict[str, str]:
        out = {}
        for name in names or self.nodes:
            with self.home(name) as h:
                out[name] = h.store.digest().hex()
        return out

    def wait_converged(self, names: Iterable[str] | None = None, timeout: float = 30.0) -> float:
        """Seconds until every named node has the same ledger digest; raises on timeout."""
        names = list(names or self.nodes)
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if len(set(self.digests(names).values())) == 1:
                return time.monotonic() - start
            lifeline.sleep(0.05)  # a SIGTERM to a drill ends the wait
        groups: dict[str, list[str]] = {}
        for name, digest in sorted(self.digests(names).items()):
            groups.setdefault(digest[:8], []).append(name)
        apart = "; ".join(f"{', '.join(n)} agree (ledger {d})" for d, n in sorted(groups.items()))
        raise TimeoutError(f"not converged within {timeout:g} s: {apart}")
