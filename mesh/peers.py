"""The peer book: every peer this laptop has met, remembered across restarts.

Peers are never forgotten (a partition can last days); ``peers.json`` in the
home keeps their key, address and name. Addresses come from ``--peer`` and
``config.toml`` (static), LAN beacons (discovered) and peer exchange.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mesh.errors import MeshError

PEERS_FILE = "peers.json"
_ADDR_RE = re.compile(r"^tcp://(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.\-]+):(\d{1,5})$")


def parse_peer(text: str) -> tuple[str, bytes | None]:
    """``tcp://HOST:PORT`` or ``KEYHEX@tcp://HOST:PORT`` -> (address, key or None)."""
    text = text.strip()
    key = None
    if "@" in text:
        key_hex, text = text.split("@", 1)
        try:
            key = bytes.fromhex(key_hex)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise MeshError(f"peer key {key_hex[:16]!r} is not 64 hex characters")
    check_address(text)
    return text, key


def check_address(addr: str) -> str:
    m = _ADDR_RE.match(addr)
    if not m or not 0 < int(m.group(2)) < 65536:
        raise MeshError(
            f"{addr!r} is not a peer address",
            hint="use tcp://HOST:PORT, e.g. tcp://192.168.4.2:7800",
        )
    return addr


def check_listen(addr: str) -> str:
    """A listen address: like a peer address, but port 0 (any free port) is allowed."""
    m = _ADDR_RE.match(addr)
    if not m or not 0 <= int(m.group(2)) < 65536:
        raise MeshError(
            f"{addr!r} is not a listen address", hint="use tcp://HOST:PORT, e.g. tcp://0.0.0.0:7800"
        )
    return addr


def host_port(addr: str) -> tuple[str, int]:
    m = _ADDR_RE.match(addr)
    if not m:
        raise MeshError(f"{addr!r} is not a tcp://HOST:PORT address")
    return m.group(1).strip("[]"), int(m.group(2))


@dataclass
class PeerRecord:
    addr: str | None
    key: bytes | None = None
    name: str = ""
    source: str = "static"  # static | discovered | exchange | inbound
    last_heard: float | None = None  # wall-clock seconds
    #: the address where a CURVE handshake with this key last succeeded: the one to
    #: fall back to when an unauthenticated hint (beacon, peer exchange) was wrong
    good_addr: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "addr": self.addr,
            "key": self.key.hex() if self.key else None,
            "name": self.name,
            "source": self.source,
            "last_heard": self.last_heard,
            "good_addr": self.good_addr,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PeerRecord:
        return cls(
            addr=d.get("addr"),
            key=bytes.fromhex(d["key"]) if d.get("key") else None,
            name=str(d.get("name") or ""),
            source=str(d.get("source") or "static"),
            last_heard=d.get("last_heard"),
            good_addr=d.get("good_addr"),
        )


def peer_row(**fields: Any) -> dict[str, Any]:
    """One row of `plurictl peers` (the node's live view and the offline list share it)."""
    row: dict[str, Any] = {
        "key": None,
        "name": "",
        "addr": None,
        "source": "static",
        "state": "",
        "note": "",
        "last_heard_s": None,
        "behind": None,
        "ahead": None,
        "in_sync": False,
        "bytes_in": 0,
        "bytes_out": 0,
        "bad": 0,
    }
    row.update(fields)
    return row


class PeerBook:
    """Known peers, keyed by key when known, else by address."""

    def __init__(self, home: Path) -> None:
        self.path = Path(home) / PEERS_FILE
        self.records: list[PeerRecord] = []
        self.dirty = False
        if self.path.exists():
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                data = json.loads(self.path.read_text())
                self.records = [PeerRecord.from_json(d) for d in data.get("peers", [])]

    def by_key(self, key: bytes) -> PeerRecord | None:
        return next((r for r in self.records if r.key == key), None)

    def by_addr(self, addr: str) -> PeerRecord | None:
        return next((r for r in self.records if r.addr == addr), None)

    def learn(
        self, *, addr: str | None, key: bytes | None, name: str = "", source: str
    ) -> PeerRecord:
        """Add or update a peer; an address learned for a key replaces an older one."""
        rec = (self.by_key(key) if key else None) or (self.by_addr(addr) if addr else None)
        if rec is None:
            rec = PeerRecord(addr=addr, key=key, name=name, source=source)
            self.records.append(rec)
            self.dirty = True
            return rec
        if key and rec.key != key:
            if rec.key is not None:  # the address now answers with another key: new peer
                rec = PeerRecord(addr=addr, key=key, name=name, source=source)
                self.records.append(rec)
                self.dirty = True
                return rec
            rec.key = key
            self.dirty = True
        if addr and rec.addr != addr and source != "inbound":
            rec.addr = addr
            self.dirty = True
        if name and rec.name != name:
            rec.name = name
            self.dirty = True
        return rec

    def confirm(self, key: bytes, addr: str) -> None:
        """A handshake with ``key`` at ``addr`` succeeded: remember it as good."""
        rec = self.by_key(key)
        if rec is not None and rec.good_addr != addr:
            rec.good_addr = addr
            rec.addr = addr
            self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        data = json.dumps({"peers": [r.to_json() for r in self.records]}, indent=2)
        try:
            with open(tmp, "w") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
            self.dirty = False
        except OSError:
            pass  # the peer book is a cache: never fail the node for it
