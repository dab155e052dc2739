"""Courier bundle format: a file carrying ledger entries across a gap, verifiable offline.

Layout (every multi-byte integer big-endian; full spec in
``field_guides/courier-bundles.md``)::

    magic    8 bytes  89 50 47 42 0D 0A 1A 0A  ("\\x89PGB\\r\\n\\x1a\\n")
    version  2 bytes  1
    frames   (ledger.courier.framing): HEADER, then FORK*, then ENTRY*, then TRAILER

* HEADER (type 1): msgpack map {v, mesh, creator, hlc, since, heads, for};
* FORK (type 2): msgpack [raw_a, raw_b], a fork proof; all of them come first;
* ENTRY (type 3): one signed entry (its ``raw`` encoding); roster entries and
  the feed prefixes they need come before the rest, so a laptop learns who is
  a member before it meets their entries;
* TRAILER (type 0x7F): msgpack [entries, forks, digest, sig] where ``digest``
  is BLAKE2b-256 of every byte before the trailer frame and ``sig`` the
  creator's ed25519 signature over ``DOMAIN + msgpack([entries, forks, digest])``.

Entries are trusted by their own signatures, never by the courier: the trailer
only says whether the file is whole and who cut it. Reading and writing stream
with constant memory, whatever the size.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import msgpack
import nacl.bindings
import nacl.exceptions

from ledger.courier import framing
from ledger.courier.formats import (
    BUNDLE_MAGIC,
    FRONTIER_MAGIC,
    MAX_HEADS_BYTES,
    decode_heads,
    encode_heads,
    heads_json,
)
from ledger.entry import ID_BYTES, KEY_BYTES, MAX_ENTRY_BYTES, SIG_BYTES, Signer
from ledger.errors import BundleError, UnsupportedFormat
from ledger.forks import ForkProof
from ledger.store import Head

MAGIC = BUNDLE_MAGIC
FORMAT_VERSION = 1
PREAMBLE = MAGIC + struct.pack(">H", FORMAT_VERSION)
DOMAIN = b"plurigrid/bundle/v1\x00"

T_HEADER, T_FORK, T_ENTRY, T_TRAILER = 0x01, 0x02, 0x03, 0x7F
LIMITS = {
    T_HEADER: 2 * MAX_HEADS_BYTES + 4096,  # two heads vectors (since, heads)
    T_FORK: 2 * MAX_ENTRY_BYTES + 16,
    T_ENTRY: MAX_ENTRY_BYTES,
    T_TRAILER: 256,
}
#: Damage records kept in memory; beyond this only their number and bytes are counted.
MAX_DAMAGE_KEPT = 1000

VALID, INVALID, MISSING, UNVERIFIABLE = "valid", "invalid", "missing", "unverifiable"


@dataclass(frozen=True)
class Header:
    """Who cut the bundle, when, for which mesh, and from which frontier."""

    mesh: bytes
    creator: bytes
    hlc: int
    heads: dict[bytes, Head]  # the creator's effective heads when it cut the bundle
    since: dict[bytes, Head] | None  # the frontier it was cut from; None: everything
    for_key: bytes | None = None  # the laptop whose frontier was used, if known

    def encode(self) -> bytes:
        return msgpack.packb(
            {
                "v": FORMAT_VERSION,
                "mesh": self.mesh,
                "creator": self.creator,
                "hlc": self.hlc,
                "heads": encode_heads(self.heads),
                "since": None if self.since is None else encode_heads(self.since),
                "for": self.for_key,
            },
            use_bin_type=True,
        )

    @classmethod
    def decode(cls, payload: bytes) -> Header:
        """Parse a header frame's payload; BundleError says what is wrong."""
        try:
            doc = msgpack.unpackb(payload, raw=False, strict_map_key=True)
            if not isinstance(doc, dict):
                raise ValueError("not a map")
            version = doc.get("v")
            if version != FORMAT_VERSION:
                raise UnsupportedFormat(
                    f"bundle format {version!r}; this plurictl reads format {FORMAT_VERSION}",
                    hint="upgrade plurictl on this laptop",
                )
            mesh, creator, hlc = doc["mesh"], doc["creator"], doc["hlc"]
            for_key = doc.get("for")
            if not (isinstance(mesh, bytes) and len(mesh) == ID_BYTES):
                raise ValueError("mesh id must be 32 bytes")
            if not (isinstance(creator, bytes) and len(creator) == KEY_BYTES):
                raise ValueError("creator must be a 32-byte key")
            if not isinstance(hlc, int) or isinstance(hlc, bool) or hlc < 0:
                raise ValueError("hlc must be an unsigned integer")
            if for_key is not None and not (isinstance(for_key, bytes) and len(for_key) == 32):
                raise ValueError("'for' must be a 32-byte key or nil")
            since = None if doc.get("since") is None else decode_heads(doc["since"])
            return cls(mesh, creator, hlc, decode_heads(doc["heads"]), since, for_key)
        except BundleError:
            raise
        except Exception as e:  # msgpack, KeyError, ValueError alike
            raise BundleError(f"bundle header is unreadable: {e}") from e

    def to_json(self) -> dict[str, Any]:
        return {
            "mesh": self.mesh.hex(),
            "creator": self.creator.hex(),
            "hlc": self.hlc,
            "heads": heads_json(self.heads),
            "since": None if self.since is None else heads_json(self.since),
            "for": self.for_key.hex() if self.for_key else None,
        }


@dataclass(frozen=True)
class Trailer:
    entries: int
    forks: int
    digest: bytes
    sig: bytes

    @staticmethod
    def signed_bytes(entries: int, forks: int, digest: bytes) -> bytes:
        return DOMAIN + msgpack.packb([entries, forks, digest], use_bin_type=True)

    def encode(self) -> bytes:
        return msgpack.packb([self.entries, self.forks, self.digest, self.sig], use_bin_type=True)

    @classmethod
    def decode(cls, payload: bytes) -> Trailer:
        try:
            entries, forks, digest, sig = msgpack.unpackb(payload, raw=False)
            ok = (
                isinstance(entries, int)
                and isinstance(forks, int)
                and isinstance(digest, bytes)
                and len(digest) == 32
                and isinstance(sig, bytes)
                and len(sig) == SIG_BYTES
            )
        except Exception as e:
            raise BundleError(f"bundle trailer is unreadable: {e}") from e
        if not ok:
            raise BundleError("bundle trailer is unreadable: wrong field types")
        return cls(entries, forks, digest, sig)

    def verify(self, creator: bytes) -> bool:
        message = self.signed_bytes(self.entries, self.forks, self.digest)
        try:
            nacl.bindings.crypto_sign_open(self.sig + message, creator)
        except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
            return False
        return True


# --- writing -------------------------------------------------------------------------


class BundleWriter:
    """Stream a bundle to ``path``: header now, then forks, then entries, then :meth:`finish`.

    The file appears under its final name only when ``finish`` returns (temp
    file, fsync, rename); any error or an exit without ``finish`` leaves nothing.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        signer: Signer,
        header: Header,
        *,
        overwrite: bool = False,
    ) -> None:
        if header.creator != signer.public:
            raise BundleError("the bundle's creator must be the key that signs it")
        self._signer = signer
        self._out = framing.AtomicFile(path, overwrite=overwrite)
        self._digest = framing.file_digest()
        self.entries = 0
        self.forks = 0
        self._write(PREAMBLE)
        self._write(framing.encode(T_HEADER, header.encode()))

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self._digest.update(data)

    def add_fork(self, proof: ForkProof) -> None:
        if self.entries:
            raise BundleError("fork proofs go before every entry")
        payload = msgpack.packb([proof.a.raw, proof.b.raw], use_bin_type=True)
        self._write(framing.encode(T_FORK, payload))
        self.forks += 1

    def add_entry(self, raw: bytes) -> None:
        self._write(framing.encode(T_ENTRY, raw))
        self.entries += 1

    def finish(self) -> int:
        """Sign the trailer and make the file appear; returns its size in bytes."""
        digest = self._digest.digest()
        sig = self._signer.sign(Trailer.signed_bytes(self.entries, self.forks, digest))
        trailer = Trailer(self.entries, self.forks, digest, sig)
        self._out.write(framing.encode(T_TRAILER, trailer.encode()))
        self._out.commit()
        return self._out.size

    def discard(self) -> None:
        self._out.discard()

    def __enter__(self) -> BundleWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._out.__exit__(None, None, None)


# --- reading -------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """A fork proof or entry frame, in file order; ``payload`` is still unverified."""

    type: int
    payload: bytes
    offset: int


@dataclass
class ReadState:
    """What reading a bundle found out about the file (filled in while streaming)."""

    size: int = 0
    header: Header | None = None
    header_problem: str | None = None
    trailer: Trailer | None = None
    signature: str = MISSING
    truncated: bool = False
    cut_at: int | None = None  # where the partial frame at the end of a cut copy starts
    damage: list[framing.Damage] = field(default_factory=list)
    damaged_frames: int = 0
    damaged_bytes: int = 0
    notes: list[str] = field(default_factory=list)
    entries_read: int = 0
    forks_read: int = 0
    complete: bool = False  # iteration reached the end of the file

    def add_damage(self, d: framing.Damage) -> None:
        self.damaged_frames += 1
        self.damaged_bytes += d.skipped
        if len(self.damage) < MAX_DAMAGE_KEPT:
            self.damage.append(d)

    @property
    def counts_match(self) -> bool:
        t = self.trailer
        return t is not None and (t.entries, t.forks) == (self.entries_read, self.forks_read)

    @property
    def intact(self) -> bool:
        """Whole, undamaged, and signed by the key named in its header."""
        return (
            self.header is not None
            and self.signature == VALID
            and not self.damaged_frames
            and not self.truncated
            and self.counts_match
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "intact": self.intact,
            "header": self.header.to_json() if self.header else None,
            "header_problem": self.header_problem,
            "signature": self.signature,
            "truncated": self.truncated,
            "cut_at": self.cut_at,
            "trailer": None
            if self.trailer is None
            else {"entries": self.trailer.entries, "forks": self.trailer.forks},
            "entries_read": self.entries_read,
            "forks_read": self.forks_read,
            "damaged_frames": self.damaged_frames,
            "damaged_bytes": self.damaged_bytes,
            "damage": [d.to_json() for d in self.damage],
            "notes": self.notes,
        }


class BundleReader:
    """Open a bundle and read its header; iterate :meth:`items` to stream the rest.

    Raises BundleError only when the file is not a bundle at all (or cannot be
    read); damage, truncation and bad signatures are recorded in ``state``.
    """

    def __init__(self, source: str | os.PathLike[str] | BinaryIO) -> None:
        self.state = ReadState()
        self._own = not hasattr(source, "read")
        self.name = str(source) if self._own else getattr(source, "name", "bundle")
        try:
            self._f: BinaryIO = (
                open(source, "rb")  # type: ignore[arg-type]  # noqa: SIM115 - closed in close()
                if self._own
                else source  # type: ignore[assignment]
            )
            if self._own:
                self.state.size = os.fstat(self._f.fileno()).st_size
        except OSError as e:
            raise BundleError(f"cannot read {self.name}: {e.strerror}") from e
        try:
            self._open()
        except OSError as e:
            self.close()
            raise BundleError(f"cannot read {self.name}: {e.strerror}") from e
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        state = self.state
        pre = self._read_preamble()
        magic_ok = pre[: len(MAGIC)] == MAGIC or (len(pre) < len(MAGIC) and MAGIC.startswith(pre))
        if not magic_ok and not self._peek_sync(len(pre)):
            # Not even a frame where the header belongs: do not scan a large foreign file.
            raise BundleError(f"{self.name} is not a courier bundle", hint=_foreign_hint(pre))
        self._reader = framing.FrameReader(self._f, LIMITS, start=len(pre))
        self._reader.feed_prefix(pre)
        self._frames = iter(self._reader)
        self._pending: framing.Frame | framing.Damage | None = None
        first = next(self._frames, None)
        if isinstance(first, framing.Frame) and first.type == T_HEADER:
            try:
                state.header = Header.decode(first.payload)
            except UnsupportedFormat:
                raise
            except BundleError as e:
                if not magic_ok:
                    raise
                state.header_problem = e.message
        else:
            self._pending = first
        version_ok = len(pre) < len(PREAMBLE) or pre[len(MAGIC) :] == PREAMBLE[len(MAGIC) :]
        if state.header is None and magic_ok and not version_ok:
            raise UnsupportedFormat(
                f"{self.name}: bundle format version {int.from_bytes(pre[len(MAGIC) :], 'big')}; "
                f"this plurictl reads version {FORMAT_VERSION}",
                hint="upgrade plurictl on this laptop (or the bytes are damaged: get a new copy)",
            )
        if state.header is None and not magic_ok:
            raise BundleError(f"{self.name} is not a courier bundle", hint=_foreign_hint(pre))
        if state.header is None and state.header_problem is None:
            state.header_problem = (
                "the file ends before its header" if first is None else "the header is damaged"
            )
            if first is None:
                state.truncated = True
        if not magic_ok:
            state.notes.append("the file's first bytes (its magic) are damaged")
        elif not version_ok:
            state.notes.append("the file's format version bytes are damaged")

    def _peek_sync(self, offset: int) -> bool:
        """Whether a frame's sync marker sits at ``offset`` (the file position is restored)."""
        data = self._f.read(len(framing.SYNC))
        self._f.seek(offset)
        return data == framing.SYNC

    def _read_preamble(self) -> bytes:
        try:
            return self._f.read(len(PREAMBLE))
        except OSError as e:
            raise BundleError(f"cannot read {self.name}: {e.strerror}") from e

    @property
    def header(self) -> Header | None:
        return self.state.header

    @property
    def position(self) -> int:
        """Bytes read from the file so far (for progress bars)."""
        return self._reader.bytes_read

    def items(self) -> Iterator[Item]:
        """Fork and entry frames in file order; damage and the trailer land in ``state``."""
        state = self.state
        frames = self._frames
        if self._pending is not None:
            pending, self._pending = self._pending, None
            frames = _chain(pending, frames)
        last_damaged = False
        try:
            for item in frames:
                last_damaged = isinstance(item, framing.Damage)
                if isinstance(item, framing.Damage):
                    if self._reader.truncated:  # the partial frame at the very end
                        state.truncated = True
                        state.cut_at = item.offset
                    else:
                        state.add_damage(item)
                    continue
                if state.trailer is not None:
                    state.notes.append(f"{item.size} bytes after the trailer were ignored")
                    continue
                if item.type in (T_ENTRY, T_FORK):
                    if item.type == T_ENTRY:
                        state.entries_read += 1
                    else:
                        state.forks_read += 1
                    yield Item(item.type, item.payload, item.offset)
                elif item.type == T_TRAILER:
                    self._trailer(item)
                else:
                    state.notes.append(f"an unexpected extra header at byte {item.offset}")
        except OSError as e:
            raise BundleError(f"cannot read {self.name}: {e.strerror}") from e
        # No trailer after a clean last frame: the copy stopped at a frame boundary.
        ended_early = state.trailer is None and not last_damaged
        state.truncated = state.truncated or self._reader.truncated or ended_early
        state.size = max(state.size, self._reader.end)
        state.complete = True
        if state.trailer is None and state.header is not None:
            state.signature = MISSING
        elif state.header is None:
            state.signature = UNVERIFIABLE

    def _trailer(self, frame: framing.Frame) -> None:
        state = self.state
        digest = self._reader.digest_before(frame.offset)
        try:
            trailer = Trailer.decode(frame.payload)
        except BundleError as e:
            state.notes.append(e.message)
            return
        state.trailer = trailer
        if state.header is None:
            state.signature = UNVERIFIABLE
        elif trailer.digest != digest or not trailer.verify(state.header.creator):
            state.signature = INVALID
        else:
            state.signature = VALID

    def close(self) -> None:
        if self._own:
            self._f.close()

    def __enter__(self) -> BundleReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _foreign_hint(pre: bytes) -> str | None:

    if pre.startswith(FRONTIER_MAGIC):
        return "this is a frontier file: use it with `plurictl bundle export --since FILE`"
    return None


def _chain(
    first: framing.Frame | framing.Damage, rest: Iterator[framing.Frame | framing.Damage]
) -> Iterator[framing.Frame | framing.Damage]:
    yield first
    yield from rest


def fork_proof(payload: bytes) -> ForkProof:
    """A FORK frame's proof, verified (two validly signed entries, same author and seq)."""
    try:
        raw_a, raw_b = msgpack.unpackb(payload, raw=False)
        if not isinstance(raw_a, bytes) or not isinstance(raw_b, bytes):
            raise ValueError("a fork proof is two entries")
    except Exception as e:
        from ledger.errors import VerificationFailed

        raise VerificationFailed(f"unreadable fork proof: {e}") from e
    return ForkProof.from_raw(raw_a, raw_b)


def size_of(path: str | os.PathLike[str]) -> int:
    """A bundle's size in bytes (for progress bars); BundleError if it cannot be read."""
    try:
        return os.stat(path).st_size
    except OSError as e:
        raise BundleError(f"cannot read {path}: {e.strerror}") from e
