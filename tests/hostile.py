"""A member's laptop turned hostile: a client speaking the wire protocol to a node, and the
measurements around it (status latency, memory). Used by the hostile-member tests and benches."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import msgpack
import zmq

from ledger.entry import create
from ledger.identity import curve_public_from_ed25519
from ledger.roster.writer import add_member
from ledger.testing import identity_from_seed
from mesh.control import ControlClient
from plurictl.cluster import LocalCluster


class Member:
    """A member's laptop turned hostile: a CURVE client sending whatever it likes to node a."""

    def __init__(self, cluster: LocalCluster, name: str = "mallet") -> None:
        self.ident = identity_from_seed(name)
        with cluster.home("a") as h:
            add_member(h.store, h.identity, self.ident.public, name, ["operator"])
            self.mesh_id = h.store.mesh_id
        cluster.nudge("a")
        self.server = cluster.nodes["a"]
        self.ctx = zmq.Context()
        self.sockets: list[zmq.Socket] = []
        self.sent = 0

    def connect(self) -> zmq.Socket:
        pub, sec = self.ident.curve_keypair()
        s = self.ctx.socket(zmq.DEALER)
        s.linger = 0
        s.sndhwm = 100_000
        # a blocking send fails after 10 s instead of hanging once the node has cut us off
        s.sndtimeo = 10_000
        s.curve_serverkey = curve_public_from_ed25519(self.server.key)
        s.curve_publickey = pub
        s.curve_secretkey = sec
        s.connect(self.server.addr)
        self.sockets.append(s)
        return s

    def forged_entries(self, n: int) -> list[bytes]:
        good = create(self.ident, seq=1, prev=self.mesh_id, hlc=1, kind="note", body={"x": 1})
        out = []
        for i in range(n):
            raw = bytearray(good.raw)
            raw[-1 - i % 60] ^= 0x55  # a damaged signature: verification fails
            out.append(bytes(raw))
        return out

    def flood(self, messages: list[bytes], seconds: float, stop: threading.Event) -> None:
        s = self.connect()
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end and not stop.is_set():
            try:
                s.send(messages[i % len(messages)], zmq.NOBLOCK)
                self.sent += 1
                i += 1
            except zmq.Again:
                time.sleep(0.005)
            except zmq.ZMQError:
                return  # closed under us (the test is over)

    def close(self) -> None:
        self.ctx.destroy(linger=0)


def push(raws: list[bytes]) -> bytes:
    return msgpack.packb({"v": 1, "t": "push", "b": raws}, use_bin_type=True)


def status_latency(cluster: LocalCluster, name: str = "a", timeout: float = 10.0) -> float:
    t = time.monotonic()
    with ControlClient(cluster.nodes[name].home, timeout=timeout) as c:
        c.call("status")
    return time.monotonic() - t


def rss_mb(cluster: LocalCluster, name: str = "a") -> float:
    """The node's peak resident memory (VmHWM) in MB."""
    proc = cluster.nodes[name].proc
    assert proc is not None
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_member_known(cluster: LocalCluster, atk: Member) -> None:
    key = atk.ident.public.hex()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with cluster.home("a") as h:
            if atk.ident.public in h.store.roster().keys:
                break
        time.sleep(0.05)
    # the node reads its roster at its next check (0.1 s)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        s = atk.connect()
        s.send(msgpack.packb({"v": 1, "t": "ping"}))
        if s.poll(500):
            s.recv()
            s.close(linger=0)
            atk.sockets.remove(s)
            return
        s.close(linger=0)
        atk.sockets.remove(s)
    raise TimeoutError(f"node a never admitted {key[:12]}")


def wait_for(predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    """Poll ``predicate`` until it holds (generous deadlines: CI machines are shared)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)
