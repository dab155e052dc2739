"""A network lab for drills: each node in its own Linux network namespace, links cut for real.

Every node gets a namespace with one interface (a veth pair) plugged into a
bridge in the root namespace, and its own address in a private /24; the
bridge has the last address, so this laptop can reach every node (a one-shot
`plurictl sync` from outside, like a second machine on the LAN). Faults are
real, not simulated in the node:

- :meth:`NetLab.link_down` takes a node's interface down (its routes vanish);
- :meth:`NetLab.detach` unplugs its port from the bridge (packets vanish);
- :meth:`NetLab.partition` moves ports onto one bridge per group;
- :meth:`NetLab.shape` sends a node's frames through a user-space shaper
  (:mod:`plurictl.drills.shaper`: delay, loss, rate), since the kernel here may
  lack netem.

Needs root (CAP_NET_ADMIN) and the ``ip`` command: :func:`unavailable` says why
not, in plain words, and tests skip with that message. Names carry a random
prefix, so parallel runs never collide; :meth:`NetLab.close` removes
everything, and :func:`clean_stale` removes what a killed run left behind.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from plurictl.errors import NetworkLabError

#: Where each lab records the pid that owns it (for clean_stale).
OWNERS = Path("/run/plurigrid-netlab") if os.path.isdir("/run") else Path("/tmp/plurigrid-netlab")
PREFIX = "pg"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise NetworkLabError(f"ip {' '.join(args)}: {result.stderr.strip() or 'failed'}")
    return result


@functools.cache
def unavailable() -> str | None:
    """None when network namespaces can be used here, else why not (for a skip message)."""
    if sys.platform != "linux":
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network namespaces need root (run the slow suite as root, or with CAP_NET_ADMIN)"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    probe = f"{PREFIX}probe{os.getpid() % 100000}"
    result = _ip("netns", "add", probe, check=False)
    if result.returncode != 0:
        return f"cannot create a network namespace: {result.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


def _free_subnet() -> ipaddress.IPv4Network:
    used = _ip("-4", "-o", "addr").stdout + _ip("-4", "route").stdout
    for _ in range(200):
        net = ipaddress.IPv4Network(f"10.{random.randint(160, 191)}.{random.randint(0, 255)}.0/24")
        if str(net.network_address).rsplit(".", 1)[0] + "." not in used:
            return net
    raise NetworkLabError("no free private /24 for the drill network")


@dataclass
class LabNode:
    name: str
    index: int
    netns: str
    host_if: str  # the veth end in the root namespace (a bridge port)
    node_if: str  # the veth end inside the node's namespace
    ip: str
    shaper: subprocess.Popen[bytes] | None = None


@dataclass
class NetLab:
    """One drill's network. Use as a context manager, or call :meth:`close`."""

    prefix: str = field(default_factory=lambda: f"{PREFIX}{random.randrange(16**4):04x}")
    nodes: dict[str, LabNode] = field(default_factory=dict)
    subnet: ipaddress.IPv4Network | None = None
    groups: list[str] = field(default_factory=list)  # per-group bridges while partitioned
    closed: bool = False

    @property
    def bridge(self) -> str:
        return f"{self.prefix}br"

    @property
    def bridge_ip(self) -> str:
        assert self.subnet is not None
        return str(self.subnet.network_address + 254)

    def __enter__(self) -> NetLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- building ------------------------------------------------------------------

    def create(self, names: list[str]) -> None:
        why = unavailable()
        if why is not None:
            raise NetworkLabError(f"cannot build the drill network: {why}")
        clean_stale()
        while _ip("link", "show", self.bridge, check=False).returncode == 0:
            self.prefix = f"{PREFIX}{random.randrange(16**4):04x}"  # taken by a parallel run
        OWNERS.mkdir(parents=True, exist_ok=True)
        # written whole, then renamed: a parallel run's clean_stale never reads it half-written
        partial = OWNERS / f".{self.prefix}.{os.getpid()}"
        partial.write_text(str(os.getpid()))
        os.replace(partial, OWNERS / self.prefix)
        try:
            self.subnet = _free_subnet()
            _ip("link", "add", self.bridge, "type", "bridge")
            _ip("addr", "add", f"{self.bridge_ip}/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            _offload_off([], self.bridge)
            for name in names:
                self.add_node(name)
        except BaseException:
            self.close()
            raise

    def add_node(self, name: str) -> LabNode:
        assert self.subnet is not None
        index = len(self.nodes)
        node = LabNode(
            name=name,
            index=index,
            netns=f"{self.prefix}-{index}",
            host_if=f"{self.prefix}{index}h",
            node_if=f"{self.prefix}{index}n",
            ip=str(self.subnet.network_address + index + 1),
        )
        _ip("netns", "add", node.netns)
        _ip("link", "add", node.host_if, "type", "veth", "peer", "name", node.node_if)
        _ip("link", "set", node.node_if, "netns", node.netns)
        _ip("link", "set", node.host_if, "master", self.bridge, "up")
        inside = ("-n", node.netns)
        _ip(*inside, "addr", "add", f"{node.ip}/24", "dev", node.node_if)
        _ip(*inside, "link", "set", node.node_if, "up")
        _ip(*inside, "link", "set", "lo", "up")
        # like a LAN with a router: broadcasts (LAN beacons) go out on the node's interface
        _ip(*inside, "route", "add", "default", "via", self.bridge_ip)
        _offload_off(self.wrap_ns(node.netns), node.node_if)
        self.nodes[name] = node
        return node

    def wrap(self, name: str) -> list[str]:
        """The command prefix that runs a program inside ``name``'s namespace."""
        return self.wrap_ns(self.nodes[name].netns)

    @staticmethod
    def wrap_ns(netns: str) -> list[str]:
        return ["ip", "netns", "exec", netns]

    # --- faults ------------------------------------------------------------------------

    def link_down(self, name: str) -> None:
        node = self.nodes[name]
        _ip("-n", node.netns, "link", "set", node.node_if, "down")

    def link_up(self, name: str) -> None:
        node = self.nodes[name]
        _ip("-n", node.netns, "link", "set", node.node_if, "up")

    def detach(self, name: str) -> None:
        """Unplug the node's port from every bridge: its packets go nowhere."""
        _ip("link", "set", self._port(name), "nomaster")

    def attach(self, name: str, bridge: str | None = None) -> None:
        _ip("link", "set", self._port(name), "master", bridge or self.bridge)

    def _port(self, name: str) -> str:
        node = self.nodes[name]
        return f"{self.prefix}{node.index}t" if node.shaper is not None else node.host_if

    def partition(self, groups: list[list[str]]) -> None:
        """One bridge per group; a node in no group is unplugged (its own island)."""
        self.heal_partition()
        placed: set[str] = set()
        for i, group in enumerate(groups):
            bridge = f"{self.prefix}g{i}"
            _ip("link", "add", bridge, "type", "bridge")
            _ip("link", "set", bridge, "up")
            self.groups.append(bridge)
            for name in group:
                if name in self.nodes:
                    self.attach(name, bridge)
                    placed.add(name)
        for name in self.nodes:
            if name not in placed:
                self.detach(name)

    def heal_partition(self) -> None:
        for name in self.nodes:
            self.attach(name)
        for bridge in self.groups:
            _ip("link", "del", bridge, check=False)
        self.groups.clear()

    def heal(self) -> None:
        """Every port back on the main bridge, every link up, no shaping."""
        for name in self.nodes:
            self.link_up(name)
            self.unshape(name)
        self.heal_partition()

    def shape(self, name: str, *, delay_ms: int = 0, loss: float = 0.0, rate_kbit: int = 0) -> None:
        """Pass the node's frames through a user-space shaper (outbound delay and loss,
        rate both ways). Replaces any shaping already on that node."""
        self.unshape(name)
        node = self.nodes[name]
        a, b = f"{self.prefix}{node.index}s", f"{self.prefix}{node.index}t"
        master = self._master(node.host_if)
        _ip("link", "add", a, "type", "veth", "peer", "name", b)
        _ip("link", "set", node.host_if, "nomaster")
        for dev in (a, b, node.host_if):
            _ip("link", "set", dev, "up", "promisc", "on")
        node.shaper = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "plurictl.drills.shaper",
                node.host_if,
                a,
                "--delay-ms",
                str(delay_ms),
                "--loss",
                str(loss),
                "--rate-kbit",
                str(rate_kbit),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _ip("link", "set", b, "master", master or self.bridge)

    def unshape(self, name: str) -> None:
        node = self.nodes[name]
        if node.shaper is None:
            return
        master = self._master(f"{self.prefix}{node.index}t")
        _stop(node.shaper)
        node.shaper = None
        _ip("link", "del", f"{self.prefix}{node.index}s", check=False)
        if master:
            _ip("link", "set", node.host_if, "master", master)

    def _master(self, dev: str) -> str | None:
        out = _ip("-o", "link", "show", dev, check=False).stdout
        parts = out.split()
        return parts[parts.index("master") + 1] if "master" in parts else None

    # --- cleaning up ---------------------------------------------------------------------

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for node in self.nodes.values():
            if node.shaper is not None:
                _stop(node.shaper)
                node.shaper = None
        remove_prefix(self.prefix)


def _offload_off(wrap: list[str], interface: str) -> None:
    """Frames that pass through the user-space shaper must carry real checksums."""
    command = [sys.executable, "-m", "plurictl.drills.shaper", interface, "--offload-off"]
    subprocess.run([*wrap, *command], check=False, capture_output=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def remove_prefix(prefix: str) -> None:
    """Delete every namespace and link whose name starts with ``prefix``."""
    for line in _ip("netns", "list", check=False).stdout.splitlines():
        ns = line.split()[0] if line.split() else ""
        if ns.startswith(prefix + "-"):
            _pids_out(ns)
            _ip("netns", "del", ns, check=False)
    for line in _ip("-o", "link", "show", check=False).stdout.splitlines():
        parts = line.split(":")
        if len(parts) > 1:
            dev = parts[1].strip().split("@")[0]
            if dev.startswith(prefix):
                _ip("link", "del", dev, check=False)
    with contextlib.suppress(OSError):
        (OWNERS / prefix).unlink()


def _pids_out(netns: str) -> None:
    """Kill what still runs in a namespace we are about to delete (a node left behind)."""
    pids = _ip("netns", "pids", netns, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError, PermissionError):
            os.kill(int(pid), signal.SIGKILL)
    if pids:
        time.sleep(0.1)


def clean_stale() -> None:
    """Remove labs whose owning process is gone (a run killed before it could clean up)."""
    if not OWNERS.is_dir():
        return
    for owner in OWNERS.iterdir():
        if owner.name.startswith("."):
            continue  # an owner file being written
        try:
            pid = int(owner.read_text())
            os.kill(pid, 0)
        except (ValueError, OSError):
            remove_prefix(owner.name)
