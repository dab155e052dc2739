"""The bridge over real links: a pseudo-terminal pair (serial), a KISS TNC on TCP run by the
test, and Meshtastic through a fake of its interface object (no radio hardware here)."""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.home import Home
from mesh.radio.bridge import Bridge
from mesh.radio.links import parse_link
from mesh.radio.testing import founded_pair as two_homes

pytestmark = pytest.mark.timeout(120)


def run(bridges: list[Bridge], done: Callable[[], bool], timeout: float = 60.0) -> float:
    start = time.monotonic()
    while not done():
        if time.monotonic() - start > timeout:
            raise TimeoutError("the bridges did not finish in time")
        for b in bridges:
            b.step(max_wait=0.01)
    return time.monotonic() - start


def note(home: Home, text: str) -> bytes:
    return home.append("note", {"text": text}).id


def exchange_notes(a: Home, b: Home, bridges: list[Bridge]) -> None:
    ids_a = [note(a, f"from the town {i}") for i in range(3)]
    ids_b = [note(b, f"from the valley {i}") for i in range(2)]
    run(
        bridges,
        lambda: all(b.store.get(i) for i in ids_a) and all(a.store.get(i) for i in ids_b),
    )
    assert a.store.heads() == b.store.heads()


# --- serial over a pseudo-terminal pair ------------------------------------------------------


@contextlib.contextmanager
def null_modem() -> Iterator[tuple[str, str]]:
    """Two pseudo-terminals wired back to back (what a null-modem cable does)."""
    m1, s1 = os.openpty()
    m2, s2 = os.openpty()
    for fd in (s1, s2):
        import termios
        import tty

        tty.setraw(fd)
        attrs = termios.tcgetattr(fd)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
    stop = threading.Event()

    def relay() -> None:
        while not stop.is_set():
            ready, _, _ = select.select([m1, m2], [], [], 0.05)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue
                os.write(m2 if fd == m1 else m1, data)

    t = threading.Thread(target=relay, daemon=True)
    t.start()
    try:
        yield os.ttyname(s1), os.ttyname(s2)
    finally:
        stop.set()
        t.join(timeout=5)
        for fd in (m1, m2, s1, s2):
            with contextlib.suppress(OSError):
                os.close(fd)


def test_serial_over_a_pseudo_terminal_pair(tmp_path: Path) -> None:
    a, b = two_homes(tmp_path)
    with null_modem() as (tty_a, tty_b):
        bridges = [
            Bridge(a, parse_link(f"serial:{tty_a}?baud=115200")),
            Bridge(b, parse_link(f"serial:{tty_b}?baud=115200")),
        ]
        for br in bridges:
            br.start()
        try:
            exchange_notes(a, b, bridges)
            status = bridges[0].status()["station"]
            assert status["peers"][0]["name"] == "bob"
            assert status["sent"]["bytes"] > 0 and status["dropped"]["bad_auth"] == 0
        finally:
            for br in bridges:
                br.close()


def test_a_missing_serial_device_is_a_clear_error(tmp_path: Path) -> None:
    from mesh.radio.errors import LinkUnavailable

    a, _ = two_homes(tmp_path)
    with pytest.raises(LinkUnavailable, match="cannot open serial port"):
        Bridge(a, parse_link("serial:/dev/does-not-exist?baud=9600")).start()


# --- KISS over TCP: a two-TNC "air" run by the test ------------------------------------------


def reference_kiss_frames(buf: bytearray) -> list[bytes]:
    """An independent KISS decoder (KA9Q's spec): FEND-delimited, FESC escapes, command byte."""
    out = []
    while True:
        try:
            start = buf.index(0xC0)
            end = buf.index(0xC0, start + 1)
        except ValueError:
            return out
        raw = bytes(buf[start + 1 : end])
        del buf[:end]
        if not raw:
            continue
        data = raw.replace(b"\xdb\xdc", b"\xc0").replace(b"\xdb\xdd", b"\xdb")
        assert data[0] == 0x00  # port 0, data frame
        out.append(data[1:])


def ax25_callsign(field: bytes) -> str:
    call = "".join(chr(c >> 1) for c in field[:6]).strip()
    ssid = (field[6] >> 1) & 0x0F
    return f"{call}-{ssid}" if ssid else call


class TwoTncs:
    """Two KISS TNCs on TCP whose radios hear each other (a frame sent to one is received
    by the client of the other), checking every frame is a well-formed AX.25 UI frame."""

    def __init__(self) -> None:
        self.servers = [socket.create_server(("127.0.0.1", 0)) for _ in range(2)]
        self.ports = [s.getsockname()[1] for s in self.servers]
        self.clients: list[socket.socket | None] = [None, None]
        self.buffers = [bytearray(), bytearray()]
        self.seen: list[tuple[str, str, int]] = []
        self.stop = threading.Event()
        self.drop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            if self.drop.is_set():
                self._close_clients()
                self.drop.clear()
            socks: list[Any] = [*self.servers, *[c for c in self.clients if c]]
            ready, _, _ = select.select(socks, [], [], 0.05)
            for s in ready:
                if s in self.servers:
                    i = self.servers.index(s)
                    old = self.clients[i]
                    if old is not None:
                        old.close()
                    self.clients[i], _ = s.accept()
                    continue
                i = self.clients.index(s)
                try:
                    data = s.recv(4096)
                except OSError:  # a client closed with data unread: like a hang-up
                    data = b""
                if not data:
                    s.close()
                    self.clients[i] = None
                    continue
                self.buffers[i] += data
                for frame in reference_kiss_frames(self.buffers[i]):
                    self.seen.append(
                        (ax25_callsign(frame[7:14]), ax25_callsign(frame[:7]), frame[14])
                    )
                    other = self.clients[1 - i]
                    if other is not None:  # the other TNC "hears" it and hands it to its client
                        esc = frame.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc")
                        with contextlib.suppress(OSError):
                            other.sendall(b"\xc0\x00" + esc + b"\xc0")

    def drop_clients(self) -> None:
        """The TNC restarts: its clients' connections are cut (by the serving thread)."""
        self.drop.set()

    def _close_clients(self) -> None:
        for i, c in enumerate(self.clients):
            if c is not None:
                c.close()
                self.clients[i] = None

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self._close_clients()
        for s in self.servers:
            s.close()


def test_kiss_over_tcp_with_ax25_callsigns_and_a_dropped_connection(tmp_path: Path) -> None:
    a, b = two_homes(tmp_path)
    tncs = TwoTncs()
    stack = contextlib.ExitStack()
    try:
        specs = [
            f"kiss:tcp://127.0.0.1:{tncs.ports[0]}?callsign=N0CALL-1&bitrate=9600",
            f"kiss:tcp://127.0.0.1:{tncs.ports[1]}?callsign=N0CALL-2&bitrate=9600",
        ]
        bridges = [Bridge(a, parse_link(specs[0])), Bridge(b, parse_link(specs[1]))]
        for br in bridges:
            br.start()
        stack.callback(lambda: [br.close() for br in bridges])
        exchange_notes(a, b, bridges)
        assert {src for src, _, _ in tncs.seen} == {"N0CALL-1", "N0CALL-2"}
        assert {dest for _, dest, _ in tncs.seen} == {"PLURI"}
        assert {control for _, _, control in tncs.seen} == {0x03}  # UI frames
        tncs.drop_clients()  # the TNC restarts: both bridges lose their connections
        run(bridges, lambda: all(br.link is None for br in bridges), timeout=20)
        later = note(a, "written while the TNC was down")
        run(bridges, lambda: b.store.get(later) is not None, timeout=60)  # reconnected, resumed
    finally:
        stack.close()
        tncs.close()


def test_a_kiss_link_needs_a_callsign() -> None:
    from mesh.radio.errors import LinkSpecError
    from mesh.radio.kiss import open_stream_link

    with pytest.raises(LinkSpecError, match="callsign"):
        open_stream_link(parse_link("kiss:tcp://127.0.0.1:9"))


# --- Meshtastic through a fake of its interface object ---------------------------------------


class FakeMeshtastic:
    """Stands in for meshtastic.serial_interface.SerialInterface: the same sendData signature,
    the same payload limit (233 bytes), and received packets published to subscribers on the
    topic "meshtastic.receive.data.PRIVATE_APP" as the library does (from its own thread)."""

    LIMIT = 233

    def __init__(self, air: list[FakeMeshtastic]) -> None:
        self.air = air
        self.subscribers: list[Callable[..., None]] = []
        self.sent: list[dict[str, Any]] = []
        air.append(self)

    def subscribe(self, fn: Callable[..., None], topic: str) -> None:
        assert topic == "meshtastic.receive.data.PRIVATE_APP"
        self.subscribers.append(fn)

    def sendData(
        self,
        data: bytes,
        destinationId: Any = "^all",
        portNum: int = 256,
        wantAck: bool = False,
        channelIndex: int = 0,
        **_: Any,
    ) -> dict[str, Any]:
        if len(data) > self.LIMIT:
            raise RuntimeError("Data payload too big")
        self.sent.append(
            {
                "len": len(data),
                "dest": destinationId,
                "port": portNum,
                "ack": wantAck,
                "ch": channelIndex,
            }
        )
        for other in self.air:
            if other is not self:
                packet = {"from": id(self), "decoded": {"portnum": "PRIVATE_APP", "payload": data}}
                for fn in other.subscribers:
                    threading.Timer(0.005, fn, args=(packet, other)).start()
        return {"id": len(self.sent)}

    def close(self) -> None:
        pass


def test_meshtastic_through_a_fake_interface(tmp_path: Path) -> None:
    from mesh.radio.meshtastic_link import MeshtasticLink

    a, b = two_homes(tmp_path)
    air: list[FakeMeshtastic] = []
    fakes = [FakeMeshtastic(air), FakeMeshtastic(air)]
    bridges = []
    for home, fake in zip((a, b), fakes, strict=True):
        link = MeshtasticLink(fake, fake.subscribe, channel=1, bitrate=20_000)
        bridges.append(Bridge(home, parse_link("meshtastic:/dev/ttyACM0"), link=link))
    for br in bridges:
        br.start()
    exchange_notes(a, b, bridges)
    sent = [s for f in fakes for s in f.sent]
    assert all(s["port"] == 256 and s["dest"] == "^all" and s["ch"] == 1 for s in sent)
    assert all(not s["ack"] for s in sent)  # the bridge acknowledges selectively itself
    assert max(s["len"] for s in sent) <= 233
    for br in bridges:
        br.close()


def test_meshtastic_without_the_package_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import builtins

    from mesh.radio.errors import RadioExtraMissing
    from mesh.radio.meshtastic_link import MeshtasticLink

    real_import = builtins.__import__

    def no_meshtastic(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("meshtastic") or name.startswith("pubsub"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_meshtastic)
    with pytest.raises(RadioExtraMissing, match="not installed") as err:
        MeshtasticLink.open(parse_link("meshtastic:/dev/ttyACM0"))
    assert "plurigrid[meshtastic]" in (err.value.hint or "")
    assert err.value.exit_code == 14  # an optional extra is not installed (exit-codes.md)
