"""Phones allowed to send fuel readings: one secret token each, revocable.

Kept in ``HOME/dashboard/devices.json`` (mode 0600). Only a hash of each token
is stored, so the file alone does not let anyone send readings. A running
dashboard re-reads the file when it changes: a revoked phone is refused at its
next request.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ledger.errors import StoreError
from plurictl.dashboard.errors import DashboardInputError

FOLDER = "dashboard"
FILE = "devices.json"
MAX_LABEL = 40
#: bytes of randomness in a token (printed as URL-safe base64, 43 characters)
TOKEN_BYTES = 32


def token_hash(token: str) -> str:
    return hashlib.blake2b(token.encode(), digest_size=32, person=b"pluri-dash-dev").hexdigest()


def check_label(label: str) -> str:
    """A device label people can read: 1-40 printable characters."""
    text = label.strip()
    if not 0 < len(text) <= MAX_LABEL or not text.isprintable():
        raise DashboardInputError(
            f"a device label must be 1-{MAX_LABEL} printable characters, e.g. 'depot phone'"
        )
    return text


def _describe_write_error(path: Path, e: OSError) -> str:
    """The ledger's wording for the same failures (see ledger.schema.describe_sqlite_error)."""
    if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"the phones file {path} is on a read-only file or disk; nothing was changed"
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full; nothing was changed"
    return f"cannot write the phones file {path}: {e.strerror}; nothing was changed"


@dataclass
class Device:
    label: str
    token_hash: str
    added_ms: int
    revoked_ms: int | None = None

    @property
    def active(self) -> bool:
        return self.revoked_ms is None

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "added_ms": self.added_ms,
            "revoked_ms": self.revoked_ms,
            "active": self.active,
        }


class DeviceBook:
    """The devices of one home; safe to share between request threads."""

    def __init__(self, home: Path) -> None:
        self.path = Path(home) / FOLDER / FILE
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._devices: list[Device] = []

    # --- reading ----------------------------------------------------------------

    def devices(self) -> list[Device]:
        with self._lock:
            self._reload()
            return list(self._devices)

    def _reload(self) -> None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._devices = None, []
            return
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        try:
            rows = json.loads(self.path.read_text(encoding="utf-8")).get("devices", [])
            self._devices = [Device(**row) for row in rows]
        except (OSError, ValueError, TypeError, AttributeError) as e:
            raise DashboardInputError(
                f"cannot read {self.path}: {e}",
                hint="fix or delete the file, then add the phones again",
            ) from e
        self._stamp = stamp

    def match(self, token: str | None) -> Device | None:
        """The active device holding ``token`` (compared in constant time), else None."""
        if not token or len(token) > 200:
            return None
        presented = token_hash(token)
        found = None
        for d in self.devices():  # every device is compared: no early exit
            if hmac.compare_digest(presented, d.token_hash) and d.active:
                found = d
        return found

    # --- changing ---------------------------------------------------------------

    def add(self, label: str) -> tuple[Device, str]:
        """A new device and its token (shown once; only its hash is kept)."""
        label = check_label(label)
        with self._lock:
            self._reload()
            if any(d.label == label and d.active for d in self._devices):
                raise DashboardInputError(
                    f"a device named {label!r} is already allowed",
                    hint="pick another label, or revoke the old one first",
                )
            token = secrets.token_urlsafe(TOKEN_BYTES)
            device = Device(label, token_hash(token), int(time.time() * 1000))
            self._devices.append(device)
            self._save()
            return device, token

    def revoke(self, label: str) -> Device:
        label = label.strip()
        with self._lock:
            self._reload()
            active = [d for d in self._devices if d.label == label and d.active]
            if not active:
                known = ", ".join(sorted({d.label for d in self._devices if d.active})) or "none"
                raise DashboardInputError(
                    f"no allowed device is named {label!r} (allowed: {known})",
                    hint="`plurictl dashboard devices list` shows them",
                )
            for d in active:
                d.revoked_ms = int(time.time() * 1000)
            self._save()
            return active[0]

    def _save(self) -> None:
        """Write the file atomically; StoreError (exit 8) if the disk refuses, file unchanged."""
        tmp = self.path.with_suffix(".tmp")
        data = json.dumps({"devices": [asdict(d) for d in self._devices]}, indent=1)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as e:
            self._stamp = None  # re-read the unchanged file next time
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise StoreError(_describe_write_error(self.path, e)) from e
        with contextlib.suppress(OSError):
            st = self.path.stat()
            self._stamp = (st.st_mtime_ns, st.st_size)
