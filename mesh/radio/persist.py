"""Frame counters across restarts (``radio-state.json``): tidiness, not safety.

A frame counter is the AEAD nonce, but since radio protocol 2 every key is bound
to a fresh random run epoch of both stations (:mod:`mesh.radio.crypto`), so a
counter repeated after a restored backup or on a copied home is under a key never
used before: this file may be old, copied or lost without harm. Counters are
still reserved in blocks here so that they grow across restarts (readable logs).

Receive floors (``rx``) written by protocol 1 are read and kept, no longer used:
frames recorded before a restart were sealed for the old run and open under no
key of the new one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

STATE_FILE = "radio-state.json"
COUNTER_LIMIT = 2**32 - 1


class RadioState:
    def __init__(self, home: Path) -> None:
        self.path = Path(home) / STATE_FILE
        self.next_counter, self.rx = self._load()

    def _load(self) -> tuple[int, dict[bytes, int]]:
        try:
            data = json.loads(self.path.read_text())
            counter = int(data["counter_next"])
            rx = {bytes.fromhex(k): int(v) for k, v in data.get("rx", {}).items()}
            if not 0 <= counter <= COUNTER_LIMIT:
                raise ValueError("counter out of range")
            return counter, rx
        except (OSError, ValueError, KeyError, TypeError, AttributeError, OverflowError):
            return secrets.randbelow(2**31), {}

    def reserve(self, n: int) -> int:
        """The first counter of a fresh block of ``n`` (saved before it is returned)."""
        with self._locked():
            on_disk, _ = self._load()
            start = max(self.next_counter, on_disk) if self.path.exists() else self.next_counter
            if start + n > COUNTER_LIMIT:  # 4 billion frames: wrap to a random low block
                start = secrets.randbelow(2**31)
            self.next_counter = start + n
            self._write()
        return start

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One process at a time reads and writes the file (a bridge and a link check)."""
        fd = os.open(self.path.with_name(STATE_FILE + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def save(self, rx: dict[bytes, int] | None = None) -> None:
        """Write the state; what another process (a link check) saved meanwhile is kept."""
        with self._locked():
            on_disk, disk_rx = self._load()
            if self.path.exists():
                self.next_counter = max(self.next_counter, on_disk)
            for k, v in disk_rx.items():
                self.rx[k] = max(v, self.rx.get(k, 0))
            if rx is not None:
                self.rx.update({k: max(v, self.rx.get(k, 0)) for k, v in rx.items()})
            self._write()

    def _write(self) -> None:
        data = {
            "version": 1,
            "counter_next": self.next_counter,
            "rx": {k.hex(): v for k, v in sorted(self.rx.items())},
        }
        tmp = self.path.with_name(STATE_FILE + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, json.dumps(data).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        with contextlib.suppress(OSError):
            dirfd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dirfd)
            finally:
                os.close(dirfd)
