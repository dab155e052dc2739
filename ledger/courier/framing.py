"""Self-checking frames for files carried by hand (courier bundles, frontier files).

A frame::

    sync    4 bytes  F3 50 42 46 ("\\xf3PBF"), lets a reader find frames again after damage
    type    1 byte
    length  4 bytes  unsigned big-endian, payload length
    hcrc    4 bytes  CRC-32 (zlib/IEEE) of type||length, unsigned big-endian
    payload length bytes
    check   16 bytes BLAKE2b-128 of type||length||payload

``hcrc`` guards the length on its own, so a damaged length is caught before the
reader trusts it: it never skips or misreads the rest silently. After a bad
frame header the reader searches forward for the next sync marker whose header
*and* check verify; after a bad payload (header intact) it skips exactly that
frame. Every skipped byte is reported as :class:`Damage`.

:class:`AtomicFile` writes such files to a temporary name next to the
destination, fsyncs, then renames: a yanked stick or a full disk never leaves a
half-written file under the final name.

:class:`FrameReader` streams a file of any size in constant memory and keeps a
running BLAKE2b-256 of every byte consumed *before* the current frame (what a
bundle trailer signs).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import struct
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from ledger.errors import BundleError

SYNC = b"\xf3PBF"
_HEAD = struct.Struct(">4sBII")  # sync, type, length, hcrc
HEAD_BYTES = _HEAD.size  # 13
CHECK_BYTES = 16
OVERHEAD = HEAD_BYTES + CHECK_BYTES
_TL = struct.Struct(">BI")
_CHUNK = 1 << 20


def _check(type_len: bytes, payload: bytes | memoryview) -> bytes:
    h = hashlib.blake2b(type_len, digest_size=CHECK_BYTES)
    h.update(payload)
    return h.digest()


def encode(ftype: int, payload: bytes) -> bytes:
    """One frame around ``payload``."""
    tl = _TL.pack(ftype, len(payload))
    return SYNC + tl + struct.pack(">I", zlib.crc32(tl)) + payload + _check(tl, payload)


def file_digest() -> hashlib.blake2b:
    """The running digest a trailer signs: BLAKE2b-256, no key, no personalisation."""
    return hashlib.blake2b(digest_size=32)


@dataclass(frozen=True)
class Frame:
    type: int
    payload: bytes
    offset: int  # where the frame's sync marker starts in the file
    size: int  # whole frame, overhead included


@dataclass(frozen=True)
class Damage:
    """Bytes the reader could not use, and why (offsets count from the start of the file)."""

    offset: int
    skipped: int
    reason: str

    def to_json(self) -> dict[str, object]:
        return {"offset": self.offset, "skipped": self.skipped, "reason": self.reason}


class FrameReader:
    """Yields :class:`Frame` and :class:`Damage` items from ``stream``, in file order.

    ``limits`` maps each known frame type to its largest allowed payload; a
    frame of an unknown type or beyond its limit counts as damage (a header
    that merely passed its CRC by chance). After iteration, ``truncated`` says
    whether the file ended inside a frame and ``end`` is the file size.
    """

    def __init__(self, stream: BinaryIO, limits: Mapping[int, int], *, start: int = 0) -> None:
        self._f = stream
        self._limits = dict(limits)
        self._buf = bytearray()
        self._base = start  # file offset of _buf[0]
        self._eof = False
        self._hasher = file_digest()
        self._hashed = start  # bytes before this offset are in the running digest
        self.truncated = False
        self.end = start
        self.bytes_read = start

    def digest_before(self, offset: int) -> bytes:
        """BLAKE2b-256 of the file's bytes before ``offset`` (a frame just yielded)."""
        self._hash_to(offset)
        return self._hasher.copy().digest()

    def feed_prefix(self, data: bytes) -> None:
        """Bytes before ``start`` (the file's magic) that the running digest must cover."""
        self._hasher.update(data)

    def _hash_to(self, offset: int) -> None:
        if offset > self._hashed:
            lo = self._hashed - self._base
            self._hasher.update(memoryview(self._buf)[lo : offset - self._base])
            self._hashed = offset

    def _fill(self, need: int) -> bool:
        """Make ``need`` bytes available from ``_base``; False at end of file."""
        while len(self._buf) < need and not self._eof:
            chunk = self._f.read(max(_CHUNK, need - len(self._buf)))
            if not chunk:
                self._eof = True
                break
            self._buf += chunk
            self.bytes_read += len(chunk)
        return len(self._buf) >= need

    def _drop(self, offset: int) -> None:
        """Forget buffered bytes before ``offset`` (after hashing them)."""
        self._hash_to(offset)
        cut = offset - self._base
        if cut > _CHUNK:
            del self._buf[:cut]
            self._base = offset

    def _frame_at(self, pos: int) -> tuple[str, int, int, bytes]:
        """Try to read a frame whose sync marker starts at file offset ``pos``.

        Returns (status, type, size, payload): "ok"; "header" (bad sync, CRC, type or
        length); "check" (good header, damaged payload: ``size`` is trustworthy);
        "eof" (the file ends inside the frame).
        """
        rel = pos - self._base
        if not self._fill(rel + HEAD_BYTES):
            return "eof", 0, 0, b""
        sync, ftype, length, hcrc = _HEAD.unpack_from(self._buf, rel)
        tl = bytes(self._buf[rel + 4 : rel + 9])
        if sync != SYNC or zlib.crc32(tl) != hcrc:
            return "header", 0, 0, b""
        limit = self._limits.get(ftype)
        if limit is None or length > limit:
            return "header", 0, 0, b""
        size = HEAD_BYTES + length + CHECK_BYTES
        if not self._fill(rel + size):
            return "eof", ftype, size, b""
        body = rel + HEAD_BYTES
        payload = bytes(self._buf[body : body + length])
        if _check(tl, payload) != self._buf[body + length : body + length + CHECK_BYTES]:
            return "check", ftype, size, b""
        return "ok", ftype, size, payload

    def _resync(self, pos: int) -> int | None:
        """Offset of the next frame from ``pos`` on whose header and check verify.

        None when the file ends first. A frame whose header verifies but whose
        payload does not is passed over like noise: it is lost either way.
        """
        while True:
            rel = pos - self._base
            found = self._buf.find(SYNC, rel)
            if found >= 0:
                cand = self._base + found
                status = self._frame_at(cand)[0]
                if status == "ok":
                    return cand
                if status == "eof":
                    return None
                pos = cand + 1
                continue
            if self._eof:
                return None
            # keep the last 3 bytes: a sync marker may straddle the end of the buffer
            pos = max(pos, self._base + len(self._buf) - (len(SYNC) - 1))
            self._drop(pos)
            self._fill(pos - self._base + _CHUNK)

    def __iter__(self) -> Iterator[Frame | Damage]:
        pos = self._base
        while True:
            self._drop(pos)
            if not self._fill(pos - self._base + 1):
                self.end = pos
                return
            status, ftype, size, payload = self._frame_at(pos)
            if status == "ok":
                yield Frame(ftype, payload, pos, size)
                pos += size
                continue
            if status == "check":
                yield Damage(pos, size, "frame damaged: its check does not match its bytes")
                pos += size
                continue
            nxt = None if status == "eof" else self._resync(pos + 1)
            if nxt is None:
                # Only reached at end of file: the buffer holds the file's last bytes.
                end = self._base + len(self._buf)
                self._hash_to(end)
                self.end = end
                self.truncated = status == "eof"
                why = (
                    "file ends in the middle of a frame (truncated copy)"
                    if status == "eof"
                    else "damaged bytes up to the end of the file"
                )
                yield Damage(pos, end - pos, why)
                return
            yield Damage(pos, nxt - pos, "damaged frame header: skipped to the next good frame")
            pos = nxt


# --- writing -------------------------------------------------------------------------


def describe_os_error(e: OSError, path: Path) -> str:
    """What went wrong writing ``path``, in words a tired operator can act on."""
    where = path.parent
    if e.errno == errno.ENOSPC or e.errno == errno.EDQUOT:
        return f"no space left on {where} (the stick or disk is full)"
    if e.errno == errno.EROFS:
        return f"{where} is read-only (is the stick write-protected or mounted read-only?)"
    if e.errno in (errno.EACCES, errno.EPERM):
        return f"no permission to write in {where}"
    if e.errno == errno.ENOENT:
        return f"folder {where} does not exist (is the stick mounted?)"
    if e.errno == errno.EIO:
        return f"input/output error writing to {where}: the stick may be failing, try another"
    return f"cannot write {path}: {e.strerror or e}"


class AtomicFile:
    """Write a file under a temporary name next to ``path``; :meth:`commit` makes it appear.

    Until ``commit`` returns, ``path`` is untouched (or absent); on any error the
    temporary file is removed and :class:`BundleError` says why.
    """

    def __init__(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.name}.part-{os.getpid()}")
        self.size = 0
        if self.path.is_dir():
            raise BundleError(f"{self.path} is a folder; give a file name, e.g. {self.path}/x.plb")
        if self.path.exists() and not overwrite:
            raise BundleError(
                f"{self.path} already exists; nothing was written",
                hint="pick another name, or add --force to replace it",
            )
        try:
            self._f: BinaryIO | None = self._create()
        except OSError as e:
            raise BundleError(describe_os_error(e, self.path)) from e

    def _create(self) -> BinaryIO:
        """Open the temporary file (the seam tests use to simulate full or read-only media)."""
        fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        return os.fdopen(fd, "wb", buffering=1 << 20)

    def write(self, data: bytes) -> None:
        assert self._f is not None, "file already committed or discarded"
        try:
            self._f.write(data)
        except OSError as e:
            self.discard()
            raise BundleError(
                describe_os_error(e, self.path) + "; nothing was left behind",
            ) from e
        self.size += len(data)

    def commit(self) -> None:
        """Flush, fsync, rename into place, fsync the folder."""
        assert self._f is not None, "file already committed or discarded"
        try:
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
            self._f = None
            os.replace(self.tmp, self.path)
        except OSError as e:
            self.discard()
            raise BundleError(
                describe_os_error(e, self.path) + "; nothing was left behind",
            ) from e
        try:
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError:  # some filesystems (FAT on Windows sticks) cannot fsync a folder
            pass

    def discard(self) -> None:
        """Drop the temporary file (idempotent)."""
        if self._f is not None:
            with contextlib.suppress(OSError):  # flushing onto a full disk fails again
                self._f.close()
            self._f = None
        with contextlib.suppress(OSError):  # absent, or the medium vanished
            self.tmp.unlink()

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._f is not None:  # not committed: an error or an early exit
            self.discard()
