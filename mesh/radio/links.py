"""Links: what ``--link`` names, and the small interface every radio presents to the bridge.

============================================  =============================================
``--link``                                    what it is
============================================  =============================================
``serial:/dev/ttyUSB0?baud=9600``             a raw serial line or transparent radio modem
                                              (frames delimited SLIP-style)
``kiss:tcp://127.0.0.1:8001?callsign=N0CALL``  a KISS TNC on TCP (Direwolf's default port)
``kiss:/dev/ttyUSB0?baud=9600&callsign=...``   a hardware KISS TNC on a serial port
``meshtastic:/dev/ttyACM0``                    a Meshtastic radio on USB (private app port)
``meshtastic:tcp://192.168.4.1``               a Meshtastic radio over Wi-Fi/Ethernet
``sim:NAME``                                   the link simulator (``plurictl radio sim NAME``)
============================================  =============================================

Options after ``?`` (``&`` between them, each at most once): ``mtu`` (frame
size), ``bitrate`` (for airtime estimates), ``baud`` (serial devices: a standard
serial rate), ``callsign``/``dest``/``ax25`` (KISS), ``channel`` (Meshtastic).
"""

from __future__ import annotations

import ipaddress
import re
import time
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import parse_qsl

from mesh.radio.errors import LinkSpecError


class Link(Protocol):
    """A radio (or wire) that moves whole frames of at most ``mtu`` bytes."""

    mtu: int

    def describe(self) -> str: ...

    def airtime(self, nbytes: int) -> float: ...

    def ready(self) -> bool: ...

    def send(self, frame: bytes) -> None: ...

    def receive(self, timeout: float) -> list[bytes]: ...

    def close(self) -> None: ...


#: scheme -> (options it takes, defaults)
SCHEMES: dict[str, dict[str, str]] = {
    "serial": {"baud": "9600", "mtu": "256", "bitrate": ""},
    "kiss": {
        "baud": "9600",
        "mtu": "200",
        "bitrate": "1200",
        "callsign": "",
        "dest": "PLURI",
        "ax25": "on",
        "port": "0",
    },
    "meshtastic": {"mtu": "", "bitrate": "1000", "channel": "0"},
    "sim": {},
}

#: The serial rates a port can be set to (POSIX termios and pyserial's list): a KISS
#: TNC or a serial modem runs at one of these, anything else is a typo.
STANDARD_BAUDS = (
    50, 75, 110, 134, 150, 200, 300, 600, 1200, 1800, 2400, 4800, 9600, 19200, 38400, 57600,
    115200, 230400, 460800, 500000, 576000, 921600, 1000000, 1152000, 1500000, 2000000,
    2500000, 3000000, 3500000, 4000000,
)  # fmt: skip


@dataclass(frozen=True)
class LinkSpec:
    scheme: str
    target: str  # device path, tcp://host:port, or simulator name
    options: dict[str, str] = field(default_factory=dict)
    text: str = ""

    def option(self, name: str) -> str:
        return self.options.get(name, SCHEMES[self.scheme].get(name, ""))

    def number(self, name: str, *, minimum: float, maximum: float) -> float:
        raw = self.option(name)
        try:
            value = float(raw)
        except ValueError as e:
            raise LinkSpecError(f"--link {self.text}: {name}={raw!r} is not a number") from e
        if not minimum <= value <= maximum:
            raise LinkSpecError(
                f"--link {self.text}: {name} must be from {minimum:g} to {maximum:g}"
            )
        return value

    def mtu(self, maximum: int | None = None, *, why: str = "") -> int:
        """The ``mtu`` option, checked against the range the protocol frames
        (:func:`check_mtu`); ``maximum``: a lower ceiling of this kind of radio."""
        raw = self.option("mtu").strip()
        if not raw.isdigit():
            raise LinkSpecError(f"--link {self.text}: mtu={raw!r} is not a whole number of bytes")
        return check_mtu(int(raw), f"--link {self.text}", maximum=maximum, why=why)

    @property
    def baud(self) -> int:
        """The serial port speed: one of :data:`STANDARD_BAUDS` (LinkSpecError otherwise)."""
        raw = self.option("baud").strip()
        if raw.isdigit() and int(raw) in STANDARD_BAUDS:
            return int(raw)
        raise LinkSpecError(
            f"--link {self.text}: baud={raw!r} is not a serial port speed",
            hint="use the speed set on the radio or TNC, one of the standard rates: "
            "1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200",
        )

    @property
    def tcp(self) -> tuple[str, int] | None:
        """(host, port) for ``tcp://HOST:PORT`` targets, else None."""
        if not self.target.startswith("tcp://"):
            return None
        host, port = _host_port(self.text, self.target.removeprefix("tcp://").rstrip("/"))
        default = {"kiss": 8001, "meshtastic": 4403}.get(self.scheme, 0)
        try:
            number = int(port) if port else default
        except ValueError as e:
            raise LinkSpecError(f"--link {self.text}: port {port!r} is not a number") from e
        if not 0 < number < 65536:
            raise LinkSpecError(f"--link {self.text}: give a TCP port (tcp://HOST:PORT)")
        return host, number


def _host_port(text: str, rest: str) -> tuple[str, str]:
    """(host, port text) of ``HOST[:PORT]`` or ``[IPV6][:PORT]``; LinkSpecError (exit 5)
    for an address that cannot be one (not "cannot connect" later)."""
    bad = f"--link {text}: {rest!r} is not a valid address"
    hint = "write tcp://HOST:PORT, an IPv6 address in brackets: tcp://[::1]:8001"
    if rest.startswith("["):
        inside, bracket, after = rest[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise LinkSpecError(bad, hint=hint)
        try:
            ipaddress.IPv6Address(inside)
        except ValueError as e:
            raise LinkSpecError(bad, hint=hint) from e
        return inside, after[1:]
    if rest.count(":") > 1:  # an IPv6 address without brackets: where would the port go?
        raise LinkSpecError(bad, hint=hint)
    host, _, port = rest.partition(":")
    if not host:
        raise LinkSpecError(f"--link {text}: no host in tcp://{rest}", hint=hint)
    if ":" in port or not _HOST.fullmatch(host):
        raise LinkSpecError(bad, hint=hint)
    return host, port


_HOST = re.compile(
    r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*"
)


def check_mtu(mtu: int, where: str, *, maximum: int | None = None, why: str = "") -> int:
    """``mtu`` if the bridge's frames fit in it and the protocol can frame it; LinkSpecError
    (exit 5) naming the range otherwise (a too-small MTU would silently send nothing).
    ``maximum``/``why``: a lower ceiling of one kind of radio, and its reason."""
    from mesh.radio.wire import MAX_MTU, MIN_MTU

    top = MAX_MTU if maximum is None else min(maximum, MAX_MTU)
    span = f"MTUs from {MIN_MTU} to {top} bytes work{why}"
    if mtu < MIN_MTU:
        raise LinkSpecError(
            f"{where}: an MTU of {mtu} bytes is too small; the smallest MTU that works is "
            f"{MIN_MTU} (hellos and summaries cannot be cut); {span}",
            hint=f"use an MTU of {MIN_MTU} bytes or more",
        )
    if mtu > top:
        raise LinkSpecError(
            f"{where}: an MTU of {mtu} bytes is too large; {span}",
            hint=f"use an MTU of at most {top} bytes",
        )
    return mtu


def parse_link(text: str) -> LinkSpec:
    """Parse a ``--link`` value; LinkSpecError (exit 5) with the accepted forms if it is not one."""
    scheme, sep, rest = text.strip().partition(":")
    if not sep or scheme not in SCHEMES or not rest:
        raise LinkSpecError(
            f"--link {text!r} names no link",
            hint="use serial:/dev/ttyUSB0?baud=9600, kiss:tcp://127.0.0.1:8001?callsign=CALL, "
            "kiss:/dev/ttyUSB0, meshtastic:/dev/ttyACM0, meshtastic:tcp://HOST or sim:NAME",
        )
    target, _, query = rest.partition("?")
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as e:
        raise LinkSpecError(f"--link {text}: options are name=value joined by &") from e
    options = _options(text, pairs)
    known = SCHEMES[scheme]
    unknown = sorted(set(options) - set(known))
    if unknown:
        accepted = ", ".join(sorted(known)) or "none"
        raise LinkSpecError(
            f"--link {text}: unknown option {', '.join(unknown)} for {scheme} links "
            f"(accepted: {accepted})"
        )
    if not target:
        raise LinkSpecError(f"--link {text}: say which device, address or simulator")
    spec = LinkSpec(scheme, target, options, text.strip())
    if scheme == "sim":
        check_sim_name(spec.target, f"--link {text}: ")
    if scheme == "kiss" and "baud" in options and spec.tcp is not None:
        raise LinkSpecError(
            f"--link {text}: baud is the speed of a serial device; a TNC reached over TCP "
            "has none (set the radio's speed with bitrate=)"
        )
    if "baud" in known and spec.tcp is None:
        _ = spec.baud  # checked before any port is opened
    return spec


def _options(text: str, pairs: list[tuple[str, str]]) -> dict[str, str]:
    """The options by (lower-case) name; one given twice is refused, never silently
    overridden (``?baud=9600&baud=1200``: which one did the operator mean?)."""
    options: dict[str, str] = {}
    for key, value in pairs:
        name = key.lower()
        if name in options:
            raise LinkSpecError(
                f"--link {text}: option {name} is given twice "
                f"({name}={options[name]} and {name}={value}); give each option once"
            )
        options[name] = value
    return options


def open_link(spec: LinkSpec) -> Link:
    """Open the link a spec names (LinkUnavailable if the device or endpoint is not there)."""
    if spec.scheme == "sim":
        from mesh.radio.simhub import SimClientLink

        return SimClientLink.connect(spec.target)
    if spec.scheme == "meshtastic":
        from mesh.radio.meshtastic_link import MeshtasticLink

        return MeshtasticLink.open(spec)
    from mesh.radio.kiss import open_stream_link

    return open_stream_link(spec)


class Pacer:
    """Paces a link whose device queues frames itself: one frame's airtime before the next.

    Keeps the device's queue short, so the station decides what goes next as late
    as possible (a revocation written now overtakes the backlog).
    """

    def __init__(self) -> None:
        self.free_at = 0.0

    def ready(self) -> bool:
        return time.monotonic() >= self.free_at

    def sent(self, seconds: float) -> None:
        self.free_at = max(time.monotonic(), self.free_at) + seconds


SIM_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def check_sim_name(name: str, where: str = "") -> None:
    """A simulator's name becomes a socket file name: short, plain ASCII (a long one has no socket)."""
    if not SIM_NAME.match(name):
        raise LinkSpecError(f"{where}a simulator name is letters, digits, - and _ (at most 32)")
