"""Frames over a byte stream: KISS (TNCs, Direwolf) and SLIP-style framing (raw serial).

KISS (``kiss:``): each frame is ``FEND, command, escaped data, FEND``; command 0
on port 0 is "send this frame". Direwolf and hardware TNCs expect that data to
be an AX.25 frame, and amateur rules want every transmission to carry the
station's callsign, so each of our frames travels as the information field of
an AX.25 UI frame from ``callsign`` to ``dest`` (``PLURI`` by default). Frames
to any other destination (APRS, other stations' traffic) are ignored.
``ax25=off`` sends bare frames (for KISS modems on licence-free bands).

Raw serial (``serial:``): ``FEND, escaped data, FEND`` with no command byte,
for a wire or a transparent radio modem. The per-frame tag (crypto) is the
frame check.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
from dataclasses import dataclass
from typing import Any

from mesh.radio.errors import LinkSpecError, LinkUnavailable
from mesh.radio.links import LinkSpec, Pacer

FEND, FESC, TFEND, TFESC = 0xC0, 0xDB, 0xDC, 0xDD
_CALL = re.compile(r"^([A-Z0-9]{1,6})(?:-(\d{1,2}))?$")
AX25_OVERHEAD = 16  # two addresses, control, PID
HDLC_OVERHEAD = 4  # flag bytes and frame check the TNC adds


def escape(data: bytes) -> bytes:
    return data.replace(bytes([FESC]), bytes([FESC, TFESC])).replace(
        bytes([FEND]), bytes([FESC, TFEND])
    )


def kiss_frame(data: bytes, port: int = 0) -> bytes:
    return bytes([FEND, (port & 0x0F) << 4]) + escape(data) + bytes([FEND])


def slip_frame(data: bytes) -> bytes:
    return bytes([FEND]) + escape(data) + bytes([FEND])


class Decoder:
    """Splits a byte stream into frames; a broken escape drops that frame only."""

    def __init__(self, *, kiss: bool, port: int = 0, max_frame: int = 4096) -> None:
        self.kiss = kiss
        self.port = port
        self.max_frame = max_frame
        self.buf = bytearray()
        self.escaped = False
        self.bad = False
        self.dropped = 0

    def feed(self, data: bytes) -> list[bytes]:
        out = []
        for byte in data:
            if byte == FEND:
                frame = self._finish()
                if frame is not None:
                    out.append(frame)
                continue
            if self.bad:
                continue
            if self.escaped:
                self.escaped = False
                if byte == TFEND:
                    self.buf.append(FEND)
                elif byte == TFESC:
                    self.buf.append(FESC)
                else:
                    self.bad = True
            elif byte == FESC:
                self.escaped = True
            else:
                self.buf.append(byte)
            if len(self.buf) > self.max_frame:
                self.bad = True
        return out

    def _finish(self) -> bytes | None:
        data, bad = bytes(self.buf), self.bad or self.escaped
        self.buf.clear()
        self.bad = self.escaped = False
        if not data:
            return None
        if bad:
            self.dropped += 1
            return None
        if not self.kiss:
            return data
        command, payload = data[0], data[1:]
        if command & 0x0F != 0 or command >> 4 != self.port:
            return None  # not a data frame for our port (e.g. a TNC setting)
        return payload


# --- AX.25 UI frames ------------------------------------------------------------------------


def parse_callsign(text: str) -> tuple[str, int]:
    m = _CALL.match(text.strip().upper())
    if not m or int(m.group(2) or 0) > 15:
        raise LinkSpecError(
            f"callsign {text!r} is not an amateur callsign (up to 6 letters/digits, optional -SSID 0-15)"
        )
    return m.group(1), int(m.group(2) or 0)


def _address(call: str, ssid: int, *, last: bool) -> bytes:
    padded = call.ljust(6)
    return bytes(ord(c) << 1 for c in padded) + bytes([0x60 | (ssid << 1) | (1 if last else 0)])


def _read_address(data: bytes) -> tuple[str, int]:
    call = "".join(chr(b >> 1) for b in data[:6]).strip()
    return call, (data[6] >> 1) & 0x0F


@dataclass(frozen=True)
class Ax25:
    source: tuple[str, int]
    dest: tuple[str, int]

    def wrap(self, info: bytes) -> bytes:
        return (
            _address(*self.dest, last=False)
            + _address(*self.source, last=True)
            + bytes([0x03, 0xF0])
            + info
        )

    def unwrap(self, frame: bytes) -> bytes | None:
        """The information field of a UI frame to our destination, else None."""
        if len(frame) < AX25_OVERHEAD:
            return None
        pos = 7
        while not frame[pos + 6] & 1:  # more addresses follow (digipeaters)
            pos += 7
            if pos + 7 > len(frame) - 2:
                return None
        pos += 7
        if _read_address(frame[:7]) != self.dest or frame[pos : pos + 2] != b"\x03\xf0":
            return None
        return frame[pos + 2 :]


# --- byte streams ---------------------------------------------------------------------------


class SerialStream:
    """A serial port through pyserial (works with USB adapters and pseudo-terminals)."""

    def __init__(self, path: str, baud: int) -> None:
        import serial  # pyserial: imported only when a serial link is opened

        try:
            self.port = serial.Serial(path, baudrate=baud, timeout=0, write_timeout=5)
        except (serial.SerialException, OSError, ValueError) as e:
            raise LinkUnavailable(
                f"cannot open serial port {path}: {e}",
                hint="check the cable and the device name (ls /dev/ttyUSB* /dev/ttyACM*), "
                "and that you may use it (group dialout)",
            ) from e
        self.name = path

    def read(self, timeout: float) -> bytes:
        try:
            ready, _, _ = select.select([self.port.fileno()], [], [], max(0.0, timeout))
            return bytes(self.port.read(4096)) if ready else b""
        except (OSError, ValueError, Exception) as e:
            raise LinkUnavailable(f"serial port {self.name} went away: {e}") from e

    def write(self, data: bytes) -> None:
        try:
            self.port.write(data)
        except Exception as e:  # pyserial raises its own exception types
            raise LinkUnavailable(f"serial port {self.name} went away: {e}") from e

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a port that vanished
            self.port.close()


class TcpStream:
    """A TCP connection (a KISS TNC such as Direwolf listens on port 8001)."""

    def __init__(self, host: str, port: int) -> None:
        try:
            self.sock = socket.create_connection((host, port), timeout=5)
        except OSError as e:
            raise LinkUnavailable(
                f"cannot connect to {host}:{port}: {e.strerror or e}",
                hint="is the TNC (e.g. direwolf) running, and is KISSPORT set in its config?",
            ) from e
        self.sock.setblocking(False)
        self.name = f"{host}:{port}"

    def read(self, timeout: float) -> bytes:
        ready, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        if not ready:
            return b""
        try:
            data = self.sock.recv(4096)
        except BlockingIOError:
            return b""
        except OSError as e:
            raise LinkUnavailable(f"connection to {self.name} lost: {e}") from e
        if not data:
            raise LinkUnavailable(f"{self.name} closed the connection")
        return data

    def write(self, data: bytes) -> None:
        try:
            self.sock.setblocking(True)
            self.sock.settimeout(5)
            self.sock.sendall(data)
        except OSError as e:
            raise LinkUnavailable(f"connection to {self.name} lost: {e}") from e
        finally:
            self.sock.setblocking(False)

    def close(self) -> None:
        self.sock.close()


# --- the link ----------------------------------------------------------------------------------


class StreamLink:
    """Frames over a byte stream with KISS or SLIP framing, paced to the radio's bit rate."""

    def __init__(
        self,
        stream: Any,
        *,
        kiss: bool,
        mtu: int,
        bits_per_second: float,
        bits_per_byte: int = 8,
        ax25: Ax25 | None = None,
        port: int = 0,
        label: str = "",
    ) -> None:
        self.stream = stream
        self.kiss = kiss
        self.mtu = mtu
        self.ax25 = ax25
        self.port = port
        self.bps = bits_per_second
        self.bits_per_byte = bits_per_byte
        self.decoder = Decoder(kiss=kiss, port=port, max_frame=mtu + 64)
        self.pacer = Pacer()
        self.label = label

    def describe(self) -> str:
        return self.label

    def airtime(self, nbytes: int) -> float:
        extra = (AX25_OVERHEAD if self.ax25 else 0) + (HDLC_OVERHEAD if self.kiss else 2)
        return (nbytes + extra) * self.bits_per_byte / self.bps

    def ready(self) -> bool:
        return self.pacer.ready()

    def send(self, frame: bytes) -> None:
        data = self.ax25.wrap(frame) if self.ax25 else frame
        self.stream.write(kiss_frame(data, self.port) if self.kiss else slip_frame(data))
        self.pacer.sent(self.airtime(len(frame)))

    def receive(self, timeout: float) -> list[bytes]:
        out = []
        for frame in self.decoder.feed(self.stream.read(timeout)):
            payload = self.ax25.unwrap(frame) if self.ax25 else frame
            if payload:
                out.append(payload)
        return out

    def close(self) -> None:
        self.stream.close()


def open_stream_link(spec: LinkSpec) -> StreamLink:
    """A ``serial:`` or ``kiss:`` link from its spec."""
    mtu = spec.mtu()
    tcp = spec.tcp
    if spec.scheme == "serial":
        if tcp is not None:
            raise LinkSpecError(f"--link {spec.text}: serial links take a device path")
        baud = spec.baud
        bps = spec.number("bitrate", minimum=50, maximum=10e6) if spec.option("bitrate") else baud
        stream: Any = SerialStream(spec.target, baud)
        label = f"serial {spec.target} at {baud} baud"
        return StreamLink(
            stream, kiss=False, mtu=mtu, bits_per_second=bps, bits_per_byte=10, label=label
        )
    ax25 = _ax25(spec)
    bps = spec.number("bitrate", minimum=50, maximum=10e6)
    port = int(spec.number("port", minimum=0, maximum=15))
    if tcp is not None:
        stream = TcpStream(*tcp)
        label = f"KISS TNC at {tcp[0]}:{tcp[1]}"
    else:
        stream = SerialStream(spec.target, spec.baud)
        label = f"KISS TNC on {spec.target}"
    if ax25 is not None:
        label += f" as {ax25.source[0]}-{ax25.source[1]}"
    return StreamLink(
        stream, kiss=True, mtu=mtu, bits_per_second=bps, ax25=ax25, port=port, label=label
    )


def _ax25(spec: LinkSpec) -> Ax25 | None:
    mode = spec.option("ax25").lower()
    if mode in ("off", "0", "no", "false"):
        return None
    if mode not in ("on", "1", "yes", "true"):
        raise LinkSpecError(f"--link {spec.text}: ax25 is on or off")
    call = spec.option("callsign")
    if not call:
        raise LinkSpecError(
            f"--link {spec.text}: a KISS link needs your callsign (?callsign=N0CALL-1)",
            hint="amateur rules want every transmission identified; on licence-free bands "
            "with a bare KISS modem use ?ax25=off",
        )
    return Ax25(parse_callsign(call), parse_callsign(spec.option("dest")))
