"""Replaying a power-loss recording: the files as a disk holds them after the power cut.

Model (LazyFS's "lose unsynced data"): at the cut, each file holds exactly the
data it had at its last fsync/fdatasync; a file exists only if its creation was
made durable by an fsync of its directory, and an unlink only happens if the
directory was synced after it (otherwise the file comes back as last synced).
With ``keep_some`` a random subset of the writes since the last sync also
reached the disk (whole writes, in any combination): disks reorder.
"""

from __future__ import annotations

import os
import random
import struct
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Event:
    type: str
    path: str
    offset: int
    data: bytes


def read_log(path: Path) -> list[Event]:
    data = path.read_bytes()
    out, i = [], 0
    while i < len(data):
        kind = chr(data[i])
        (plen,) = struct.unpack_from("<H", data, i + 1)
        p = data[i + 3 : i + 3 + plen].decode()
        off, n = struct.unpack_from("<qI", data, i + 3 + plen)
        start = i + 3 + plen + 12
        out.append(Event(kind, p, off, data[start : start + n]))
        i = start + n
    return out


def _apply(image: bytearray, e: Event) -> None:
    if e.type == "W":
        end = e.offset + len(e.data)
        if len(image) < end:
            image.extend(b"\0" * (end - len(image)))
        image[e.offset : end] = e.data
    elif e.type == "T":
        del image[e.offset :]
        if len(image) < e.offset:
            image.extend(b"\0" * (e.offset - len(image)))


@dataclass
class FileState:
    synced: bytearray = field(default_factory=bytearray)
    current: bytearray = field(default_factory=bytearray)
    pending: list[Event] = field(default_factory=list)  # writes since the last sync
    durable_name: bool = False  # the directory entry survives a cut
    linked: bool = True


def disk_after_cut(
    events: list[Event], cut: int, rng: random.Random | None = None
) -> dict[str, bytes]:
    """Path -> bytes on disk if the power went off just before ``events[cut]``."""
    files = _replay(events[:cut])
    out = {}
    for p, f in files.items():
        if not f.durable_name and not f.linked:
            continue
        if not f.durable_name and not _first_created_before_log(p, events):
            continue
        image = bytearray(f.synced)
        if rng is not None and f.linked:
            for e in f.pending:
                if rng.random() < 0.5:
                    _apply(image, e)
        out[p] = bytes(image)
    return out


def _replay(events: list[Event]) -> dict[str, FileState]:
    """Each file's synced and current bytes after ``events`` (opens, writes, syncs, unlinks)."""
    files: dict[str, FileState] = {}
    for e in events:
        if e.type == "A":
            continue
        if e.type == "D":
            for p, f in files.items():
                if os.path.dirname(p) == e.path:
                    f.durable_name = f.linked
            continue
        f = files.get(e.path)
        if e.type == "O" or f is None:
            f = files[e.path] = FileState(durable_name=f.durable_name if f else False)
            if e.type == "O":
                continue
        if e.type in ("W", "T"):
            _apply(f.current, e)
            f.pending.append(e)
        elif e.type == "S":
            f.synced = bytearray(f.current)
            f.pending = []
        elif e.type == "U":
            f.linked = False
            f.current = bytearray()
            f.pending = []
    return files


def _first_created_before_log(path: str, events: list[Event]) -> bool:
    """A file that existed before the recording started (no O record): its name is durable."""
    return not any(e.type == "O" and e.path == path for e in events)


def acked_before(events: list[Event], cut: int) -> list[bytes]:
    return [e.data for e in events[:cut] if e.type == "A"]
