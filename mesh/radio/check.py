"""Does the link work? Say hello on it and listen (``plurictl radio check``).

Run it on both laptops (with no bridge running on either, or with the bridge
running on the far side): each sends a signed hello every few seconds and
lists who it heard. Hearing a member's hello proves both directions of the
chain radio -> laptop on that side and the keys; hearing nothing, or only
garbage, points at the cable, the frequency or the settings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ledger.errors import NotInitialised
from ledger.home import Home
from mesh.control import pid_alive
from mesh.radio import wire
from mesh.radio.crypto import AuthFailed, Keyring, key_prefix, read_hello
from mesh.radio.links import Link, LinkSpec, open_link

HELLO_EVERY = 5.0


@dataclass
class Heard:
    name: str
    hellos: int = 0
    frames: int = 0
    last: float = 0.0


@dataclass
class CheckReport:
    link: str
    seconds: float
    sent_hellos: int = 0
    heard: dict[str, Heard] = field(default_factory=dict)
    non_member: int = 0
    other_mesh: int = 0
    garbled: int = 0
    for_others: int = 0  # frames between other stations (not checked)
    bytes_heard: int = 0

    @property
    def works(self) -> bool:
        return bool(self.heard)

    def to_json(self) -> dict[str, Any]:
        return {
            "link": self.link,
            "seconds": round(self.seconds, 1),
            "works": self.works,
            "sent_hellos": self.sent_hellos,
            "heard": [
                {"name": h.name, "hellos": h.hellos, "frames": h.frames, "last_s": round(h.last, 1)}
                for h in sorted(self.heard.values(), key=lambda h: h.name)
            ],
            "non_member_frames": self.non_member,
            "other_mesh_frames": self.other_mesh,
            "garbled_frames": self.garbled,
            "frames_for_others": self.for_others,
            "bytes_heard": self.bytes_heard,
        }


def check_link(
    home: Home,
    spec: LinkSpec,
    seconds: float,
    *,
    cleartext: bool = False,
    link: Link | None = None,
    progress: Callable[[float], None] | None = None,
) -> CheckReport:
    from mesh.radio.bridge import read_status
    from mesh.radio.errors import BridgeRunning

    running = read_status(home.path)
    if running is not None and not running.get("stopped") and pid_alive(int(running["pid"])):
        raise BridgeRunning(
            f"the radio bridge runs on this home (pid {running['pid']}): it is using the link",
            hint="`plurictl radio status` shows what it hears; stop it to run a check",
        )
    store = home.store
    mesh = store.mesh_id
    if mesh is None:
        raise NotInitialised("this laptop is not in a mesh yet", hint="found or join a mesh first")
    roster = store.roster()
    keyring = Keyring(home.identity.signing_key, mesh)
    link = link or open_link(spec)
    report = CheckReport(link.describe(), 0.0)
    start = time.monotonic()
    next_hello = start
    epochs: dict[bytes, set[bytes]] = {}  # members' run epochs, from their hellos
    try:
        while (elapsed := time.monotonic() - start) < seconds:
            if time.monotonic() >= next_hello and link.ready() and report.sent_hellos < 63:
                link.send(keyring.hello(cleartext=cleartext, boot=report.sent_hellos == 0))
                report.sent_hellos += 1
                next_hello = time.monotonic() + HELLO_EVERY
            for frame in link.receive(0.2):
                _classify(frame, report, keyring, roster, elapsed, epochs)
            if progress is not None:
                progress(elapsed)
    finally:
        link.close()
    report.seconds = time.monotonic() - start
    return report


def _classify(
    frame: bytes,
    report: CheckReport,
    keyring: Keyring,
    roster: Any,
    t: float,
    epochs: dict[bytes, set[bytes]],
) -> None:
    report.bytes_heard += len(frame)
    members = roster.connectable_keys()
    try:
        kind = wire.frame_kind(frame)
        if kind == wire.HELLO:
            hello = read_hello(frame)
            if hello.key == keyring.me:
                return
            if hello.mesh_prefix != keyring.mesh_id[:4]:
                report.other_mesh += 1
            elif hello.key not in members:
                report.non_member += 1
            else:
                epochs.setdefault(hello.key, set()).add(hello.epoch)
                _heard(report, roster.name_of(hello.key), t).hellos += 1
            return
        header = wire.parse_header(frame)
    except (wire.WireError, AuthFailed):
        report.garbled += 1
        return
    if header.recipient != key_prefix(keyring.me):
        report.for_others += 1
        return
    senders = [k for k in members if key_prefix(k) == header.sender and k != keyring.me]
    for key in senders:
        for epoch in sorted(epochs.get(key, ())):
            try:
                keyring.open(key, epoch, frame)
            except AuthFailed:
                continue
            _heard(report, roster.name_of(key), t).frames += 1
            return
    report.non_member += 1


def _heard(report: CheckReport, name: str, t: float) -> Heard:
    h = report.heard.setdefault(name, Heard(name))
    h.last = t
    return h
