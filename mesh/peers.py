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
#: Records of addresses nobody verified (peer exchange, never dialled successfully).
MAX_UNVERIFIED = 128
#: Records read from peers.json at most (a file written by an older, unbounded version).
MAX_RECORDS = 4096
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
    #: an address another member suggested (peer exchange) for a key that already has a
    #: verified one: tried only when the verified one stops answering, never stored over it
    hint: str | None = None

    @property
    def verified(self) -> bool:
        """Static peers and peers we shook hands with; not mere suggestions."""
        return self.good_addr is not None or self.source in ("static", "inbound")

    def to_json(self) -> dict[str, Any]:
        return {
            "addr": self.addr,
            "key": self.key.hex() if self.key else None,
            "name": self.name,
            "source": self.source,
            "last_heard": self.last_heard,
            "good_addr": self.good_addr,
            "hint": self.hint,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> PeerRecord:
        return cls(
            addr=d.get("addr"),
            key=bytes.fromhex(d["key"]) if d.get("key") else None,
            name=str(d.get("name") or "")[:200],
            source=str(d.get("source") or "static"),
            last_heard=d.get("last_heard"),
            good_addr=d.get("good_addr"),
            hint=d.get("hint"),
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
        "links": "",
        "invalid": 0,
        "penalties": 0,
        "retry_in_s": None,
    }
    row.update(fields)
    return row


class PeerBook:
    """Known peers, indexed by key and by address (every lookup is O(1)).

    Addresses nobody has verified (suggested by peer exchange, never dialled
    successfully) are capped at :data:`MAX_UNVERIFIED`; the oldest go first. A
    suggestion never overwrites an address where a handshake succeeded.
    """

    def __init__(self, home: Path) -> None:
        self.path = Path(home) / PEERS_FILE
        self._records: dict[int, PeerRecord] = {}  # insertion order = age
        self._by_key: dict[bytes, PeerRecord] = {}
        self._by_addr: dict[str, PeerRecord] = {}
        self._next = 0
        self.dirty = False
        if self.path.exists():
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError, AttributeError):
                data = json.loads(self.path.read_text())
                for d in data.get("peers", [])[:MAX_RECORDS]:
                    self._add(PeerRecord.from_json(d))
                self._evict()

    @property
    def records(self) -> list[PeerRecord]:
        return list(self._records.values())

    def __len__(self) -> int:
        return len(self._records)

    def by_key(self, key: bytes) -> PeerRecord | None:
        return self._by_key.get(key)

    def by_addr(self, addr: str) -> PeerRecord | None:
        return self._by_addr.get(addr)

    def _add(self, rec: PeerRecord) -> PeerRecord:
        if rec.key is not None and rec.key in self._by_key:
            return self._by_key[rec.key]
        self._records[self._next] = rec
        self._next += 1
        self._index(rec)
        self.dirty = True
        return rec

    def _index(self, rec: PeerRecord) -> None:
        if rec.key is not None:
            self._by_key[rec.key] = rec
        if rec.addr is not None:
            self._by_addr[rec.addr] = rec

    def _set_addr(self, rec: PeerRecord, addr: str) -> None:
        if rec.addr is not None and self._by_addr.get(rec.addr) is rec:
            del self._by_addr[rec.addr]
        rec.addr = addr
        self._by_addr[addr] = rec
        self.dirty = True

    def _evict(self) -> None:
        unverified = [i for i, r in self._records.items() if not r.verified]
        for i in unverified[: max(0, len(unverified) - MAX_UNVERIFIED)]:
            self._drop(i)

    def _drop(self, index: int) -> None:
        rec = self._records.pop(index)
        if rec.key is not None and self._by_key.get(rec.key) is rec:
            del self._by_key[rec.key]
        if rec.addr is not None and self._by_addr.get(rec.addr) is rec:
            del self._by_addr[rec.addr]
        self.dirty = True

    def learn(
        self, *, addr: str | None, key: bytes | None, name: str = "", source: str
    ) -> PeerRecord:
        """Add or update a peer we have reason to believe: a static address, what a peer
        said about itself over an authenticated link, an answer to our own key query."""
        rec = (self.by_key(key) if key else None) or (self.by_addr(addr) if addr else None)
        if rec is None:
            return self._add(PeerRecord(addr=addr, key=key, name=name[:200], source=source))
        if key and rec.key != key:
            if rec.key is not None:  # the address now answers with another key: new peer
                return self._add(PeerRecord(addr=addr, key=key, name=name[:200], source=source))
            rec.key = key
            self._by_key[key] = rec
            self.dirty = True
        if addr and rec.addr != addr and source != "inbound":
            self._set_addr(rec, addr)
        if source == "static" and rec.source != "static":
            rec.source = "static"
            self.dirty = True
        if name and rec.name != name:
            rec.name = name[:200]
            self.dirty = True
        return rec

    def suggest(self, *, addr: str, key: bytes, name: str = "", source: str) -> PeerRecord:
        """An address someone else suggested for ``key`` (peer exchange): a hint only.

        It never replaces an address where a handshake with that key succeeded, nor one
        the peer gave itself or the operator typed; new unverified records are capped.
        """
        rec = self.by_key(key)
        if rec is None:
            rec = self._add(PeerRecord(addr=None, key=key, name=name[:200], source=source))
            self._set_addr(rec, addr)
            self._evict()
            return rec
        if rec.verified or rec.addr is not None:
            if rec.addr != addr and rec.hint != addr:
                rec.hint = addr
                self.dirty = True
        else:
            self._set_addr(rec, addr)
        if name and not rec.name:
            rec.name = name[:200]
            self.dirty = True
        return rec

    def confirm(self, key: bytes, addr: str, name: str = "") -> PeerRecord:
        """A handshake with ``key`` at ``addr`` succeeded: remember it as good."""
        rec = self.by_key(key)
        if rec is None:
            rec = self._add(PeerRecord(addr=None, key=key, name=name[:200], source="discovered"))
        if rec.good_addr != addr or rec.addr != addr:
            rec.good_addr = addr
            self._set_addr(rec, addr)
        if rec.hint == addr:
            rec.hint = None
        if name and not rec.name:
            rec.name = name[:200]
        self.dirty = True
        return rec

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
