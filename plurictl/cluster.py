"""A cluster of real `plurictl node` processes on loopback, each with its own home.

Used by drills and by the mesh integration tests. Nodes are separate OS
processes started exactly as an operator would (`plurictl --home H node up`),
driven through their control sockets; nothing here needs root.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ledger import trust
from ledger.home import Home
from plurictl import lifeline


def free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1 (the node uses both)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            try:
                u.bind(("127.0.0.1", port))
            except OSError:
                continue
        return int(port)
    raise RuntimeError("no free port found")


@dataclass
class ClusterNode:
    name: str
    home: Path
    port: int
    key: bytes
    proc: subprocess.Popen[bytes] | None = None
    log: Any = None
    starts: int = 0

    @property
    def addr(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"


@dataclass
class LocalCluster:
    root: Path
    interval: float = 0.3
    nodes: dict[str, ClusterNode] = field(default_factory=dict)
    mesh_id: bytes | None = None

    # --- homes and mesh ----------------------------------------------------------

    def init_homes(self, names: Iterable[str]) -> None:
        for name in names:
            home = self.root / name
            h = Home(home)
            ident = h.init(name)
            h.close()
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
        return Home(self.nodes[name].home)

    # --- processes -------------------------------------------------------------------

    def start(
        self, name: str, *, peers: list[str] | None = None, extra: list[str] | None = None
    ) -> None:
        node = self.nodes[name]
        if node.proc is not None and node.proc.poll() is None:
            return
        if peers is None:
            peers = [f"{n.key.hex()}@{n.addr}" for other, n in self.nodes.items() if other != name]
        args = [
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
            env=lifeline.child_env({**os.environ, "PYTHONUNBUFFERED": "1"}),
            process_group=0,
        )
        node.starts += 1
        self.wait_running(name)

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
                time.sleep(0.05)
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
        if node.proc is not None:
            if node.proc.poll() is None:
                node.proc.send_signal(sig)
                try:
                    node.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    node.proc.kill()
                    node.proc.wait()
            node.proc = None
        if node.log:
            node.log.close()
            node.log = None

    def running(self, name: str) -> bool:
        proc = self.nodes[name].proc
        return proc is not None and proc.poll() is None

    def stop_all(self, timeout: float = 10.0) -> None:
        """SIGTERM every running node at once, then wait (SIGKILL after ``timeout``)."""
        for node in self.nodes.values():
            if node.proc is not None and node.proc.poll() is None:
                with contextlib.suppress(OSError):
                    node.proc.send_signal(signal.SIGTERM)
        for name in list(self.nodes):
            with contextlib.suppress(Exception):
                self.stop(name, timeout)

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()

    # --- driving -------------------------------------------------------------------------

    def control(self, name: str, cmd: str, **args: Any) -> Any:
        from mesh.control import ControlClient

        with ControlClient(self.nodes[name].home, timeout=5.0) as c:
            return c.call(cmd, **args)

    def nudge(self, name: str) -> None:
        if self.running(name):
            with contextlib.suppress(Exception):
                self.control(name, "nudge")

    def partition(self, groups: list[list[str]]) -> None:
        for name in self.nodes:
            if self.running(name):
                self.control(name, "faults.set", groups=groups)

    def heal(self) -> None:
        for name in self.nodes:
            if self.running(name):
                self.control(name, "faults.clear")

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
            time.sleep(0.05)
        raise TimeoutError(f"not converged within {timeout} s: {self.digests(names)}")
