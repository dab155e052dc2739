"""The link simulator in real time, shared by bridge processes: ``plurictl radio sim NAME``.

The hub runs one :class:`~mesh.radio.sim.SimAir` against the wall clock and
listens on a Unix socket named after the simulated channel. Each bridge started
with ``--link sim:NAME`` connects as one endpoint (:class:`SimClientLink`).
Between hub and bridge, messages are ``type(1) length(4) data``:

* ``P`` hub to bridge, first: the channel's settings (JSON);
* ``F`` a frame (bridge to hub: send it; hub to bridge: it arrived);
* ``D`` hub to bridge: your frame has left the air (you may send the next one);
* ``I`` / ``B`` hub to bridge: the channel is idle / busy.

Sockets live in ``$PLURI_RADIO_SIM_DIR`` (drills set it) or a private folder
under the temporary directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mesh.radio.errors import LinkUnavailable, RadioError
from mesh.radio.sim import SimAir, SimEndpoint, SimParams, Transmission

ENV_DIR = "PLURI_RADIO_SIM_DIR"


def sim_dir(directory: Path | None = None) -> Path:
    folder = directory or os.environ.get(ENV_DIR)
    path = Path(folder) if folder else Path(tempfile.gettempdir()) / f"plurictl-radio-{os.getuid()}"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def sim_socket(name: str, directory: Path | None = None) -> Path:
    return sim_dir(directory) / f"{name}.sock"


def _msg(kind: bytes, data: bytes = b"") -> bytes:
    return kind + struct.pack(">I", len(data)) + data


class _Reader:
    """Splits a stream into hub messages."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        self.buf += data
        out = []
        while len(self.buf) >= 5:
            (n,) = struct.unpack(">I", self.buf[1:5])
            if n > 1 << 20:
                raise RadioError("simulator message too large")
            if len(self.buf) < 5 + n:
                break
            out.append((bytes(self.buf[:1]), bytes(self.buf[5 : 5 + n])))
            del self.buf[: 5 + n]
        return out


@dataclass
class _Client:
    sock: socket.socket
    endpoint: SimEndpoint
    reader: _Reader = field(default_factory=_Reader)


class SimHub:
    """One simulated channel, served on a Unix socket until :meth:`stop`."""

    def __init__(self, name: str, params: SimParams, directory: Path | None = None) -> None:
        self.name = name
        self.params = params.check()
        self.start = time.monotonic()
        self.air = SimAir(self.params, self._clock)
        self.path = sim_socket(name, directory)
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if self.path.exists():
            with contextlib.suppress(OSError):
                probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                probe.connect(str(self.path))
                probe.close()
                self.server.close()
                raise RadioError(f"a simulator named {name!r} is already running")
            self.path.unlink(missing_ok=True)
        self.server.bind(str(self.path))
        os.chmod(self.path, 0o600)
        self.server.listen(16)
        self.clients: dict[int, _Client] = {}
        self._n = 0
        self._stop = threading.Event()
        self._idle = True
        self._logged = 0
        self._unreported: list[Transmission] = []

    def _clock(self) -> float:
        return time.monotonic() - self.start

    def stop(self) -> None:
        self._stop.set()

    def serve(
        self, report: Callable[[dict[str, float]], None] | None = None, every: float = 10.0
    ) -> None:
        """Run until :meth:`stop` (from a signal handler or another thread), then close."""
        last = time.monotonic()
        try:
            while not self._stop.is_set():
                self.step(0.05)
                if report is not None and time.monotonic() - last >= every:
                    last = time.monotonic()
                    report(self.stats())
        finally:
            self.close()

    def step(self, max_wait: float) -> None:
        nxt = self.air.next_event()
        wait = max_wait if nxt is None else max(0.0, min(max_wait, nxt - self._clock()))
        socks = [self.server] + [c.sock for c in self.clients.values()]
        readable, _, _ = select.select(socks, [], [], wait)
        for s in readable:
            if s is self.server:
                self._accept()
            else:
                self._read(s)
        self.air.advance()
        self._report()

    def _accept(self) -> None:
        sock, _ = self.server.accept()
        self._n += 1
        endpoint = self.air.attach(f"station-{self._n}")
        self.clients[sock.fileno()] = _Client(sock, endpoint)
        hello = _msg(b"P", json.dumps(self.params.to_json()).encode())
        self._send(sock, hello + _msg(b"I" if self._idle else b"B"))

    def _read(self, sock: socket.socket) -> None:
        client = self.clients.get(sock.fileno())
        if client is None:
            return
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._drop(client)
            return
        try:
            messages = client.reader.feed(data)
        except RadioError:
            self._drop(client)
            return
        for kind, payload in messages:
            if kind == b"F" and len(payload) <= self.params.mtu:
                client.endpoint.send(payload)

    def _drop(self, client: _Client) -> None:
        self.clients.pop(client.sock.fileno(), None)
        client.endpoint.close()
        client.sock.close()

    def _report(self) -> None:
        now = self._clock()
        idle = all(self.air.free_at(c.endpoint) <= now for c in self.clients.values())
        self._unreported += self.air.log[self._logged :]
        self._logged = len(self.air.log)
        finished: dict[str, int] = {}
        for t in [t for t in self._unreported if t.end <= now]:
            finished[t.sender] = finished.get(t.sender, 0) + 1
            self._unreported.remove(t)
        for client in list(self.clients.values()):
            out = b""
            for frame in client.endpoint.receive():
                out += _msg(b"F", frame)
            out += _msg(b"D") * finished.get(client.endpoint.name, 0)
            if idle != self._idle:
                out += _msg(b"I" if idle else b"B")
            if out:
                self._send(client.sock, out)
        self._idle = idle

    def _send(self, sock: socket.socket, data: bytes) -> None:
        try:
            sock.sendall(data)
        except OSError:
            client = self.clients.get(sock.fileno())
            if client is not None:
                self._drop(client)

    def close(self) -> None:
        for client in list(self.clients.values()):
            self._drop(client)
        self.server.close()
        self.path.unlink(missing_ok=True)

    def stats(self) -> dict[str, float]:
        sent = self.air.log
        return {
            "stations": len(self.clients),
            "frames": len(sent),
            "bytes": sum(t.nbytes for t in sent),
            "airtime_s": round(sum(t.end - t.start for t in sent), 1),
            "uptime_s": round(self._clock(), 1),
        }


class SimClientLink:
    """A bridge's endpoint on a simulated channel served by :class:`SimHub`."""

    def __init__(self, sock: socket.socket, params: SimParams, name: str) -> None:
        self.sock = sock
        self.params = params
        self.mtu = params.mtu
        self.name = name
        self.reader = _Reader()
        self.pending = 0
        self.idle = True
        self.frames: list[bytes] = []

    @classmethod
    def connect(cls, name: str, timeout: float = 5.0) -> SimClientLink:
        path = sim_socket(name)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(str(path))
        except OSError as e:
            sock.close()
            raise LinkUnavailable(
                f"no simulated link named {name!r} is running",
                hint=f"start one in another terminal: plurictl radio sim {name}",
            ) from e
        link = cls(sock, SimParams(), name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for kind, payload in link._pump(0.1):
                if kind == b"P":
                    link.params = SimParams.from_json(json.loads(payload))
                    link.mtu = link.params.mtu
                    return link
        sock.close()
        raise LinkUnavailable(f"the simulated link {name!r} did not answer")

    def _pump(self, timeout: float) -> list[tuple[bytes, bytes]]:
        ready, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        if not ready:
            return []
        try:
            data = self.sock.recv(65536)
        except OSError as e:
            raise LinkUnavailable(f"simulated link {self.name!r} lost: {e}") from e
        if not data:
            raise LinkUnavailable(f"the simulated link {self.name!r} stopped")
        out = []
        for kind, payload in self.reader.feed(data):
            if kind == b"F":
                self.frames.append(payload)
            elif kind == b"D":
                self.pending = max(0, self.pending - 1)
            elif kind in (b"I", b"B"):
                self.idle = kind == b"I"
            out.append((kind, payload))
        return out

    def describe(self) -> str:
        p = self.params
        return (
            f"simulated link {self.name!r}: {p.bitrate:g} bit/s, MTU {p.mtu}, loss {p.loss:.0%}, "
            f"latency {p.latency * 1000:.0f} ms"
        )

    def airtime(self, nbytes: int) -> float:
        return self.params.airtime(nbytes)

    def ready(self) -> bool:
        self._pump(0.0)
        return self.pending == 0 and self.idle

    def send(self, frame: bytes) -> None:
        try:
            self.sock.sendall(_msg(b"F", frame))
        except OSError as e:
            raise LinkUnavailable(f"simulated link {self.name!r} lost: {e}") from e
        self.pending += 1
        self.idle = False

    def receive(self, timeout: float) -> list[bytes]:
        if not self.frames:
            self._pump(timeout)
        out, self.frames = self.frames, []
        return out

    def close(self) -> None:
        self.sock.close()
