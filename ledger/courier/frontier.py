"""Frontiers: what a laptop already has, so a courier carries only what it lacks.

A frontier is a laptop's effective heads vector (author -> (seq, id)) in one
mesh, cut at a moment of its hybrid clock and signed by that laptop. Frontier
files travel one way on the stick, bundles the other (``field_guides/courier-bundles.md``).

* :func:`plan` is the pure decision "which entries does the other side lack"
  (shared with the mesh's heads-vector exchange);
* :func:`write_file` / :func:`read_file` are the signed, framed file;
* :func:`record` / :func:`known` / :func:`known_for_member` keep the last
  frontier seen from each laptop (from a frontier file or from the heads in a
  bundle it created), in the ``known_frontiers`` table (schema v2).
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import nacl.bindings
import nacl.exceptions

from ledger import clock
from ledger.courier import framing
from ledger.courier.formats import (
    BUNDLE_MAGIC,
    FRONTIER_MAGIC,
    MAX_HEADS_BYTES,
    decode_heads,
    encode_heads,
    heads_json,
)
from ledger.entry import ID_BYTES, KEY_BYTES, SIG_BYTES, Signer
from ledger.errors import BundleError, NotInitialised, VerificationFailed
from ledger.store import Head, Store

MAGIC = FRONTIER_MAGIC
FORMAT_VERSION = 1
PREAMBLE = MAGIC + struct.pack(">H", FORMAT_VERSION)
T_FRONTIER = 0x10
DOMAIN = b"plurigrid/frontier/v1\x00"


@dataclass(frozen=True)
class Frontier:
    """A laptop's heads in a mesh at one moment (``key`` is the laptop that cut it)."""

    mesh: bytes
    key: bytes
    hlc: int
    heads: dict[bytes, Head]

    def body(self) -> bytes:
        """The signed bytes (without the domain prefix)."""
        return msgpack.packb(
            [FORMAT_VERSION, self.mesh, self.key, self.hlc, encode_heads(self.heads)],
            use_bin_type=True,
        )

    def entries(self) -> int:
        return sum(h.seq for h in self.heads.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "mesh": self.mesh.hex(),
            "key": self.key.hex(),
            "hlc": self.hlc,
            "heads": heads_json(self.heads),
        }


@dataclass(frozen=True)
class KnownFrontier:
    frontier: Frontier
    source: str  # "frontier file" or "bundle"
    recorded_ms: int  # this laptop's wall clock when it was recorded

    def to_json(self) -> dict[str, Any]:
        return {**self.frontier.to_json(), "source": self.source, "recorded_ms": self.recorded_ms}


@dataclass(frozen=True)
class Range:
    """Entries ``start..end`` (inclusive) of ``author``'s feed that the other side lacks.

    ``fork``: the other side holds a different entry at ``start``; only ours is
    sent, so that its store detects the equivocation and keeps a fork proof.
    """

    author: bytes
    start: int
    end: int
    fork: bool = False

    @property
    def count(self) -> int:
        return self.end - self.start + 1


# --- the decision ----------------------------------------------------------------------


def plan(
    local: Mapping[bytes, Head],
    remote: Mapping[bytes, Head],
    id_at: Callable[[bytes, int], bytes | None],
) -> list[Range]:
    """What ``remote`` lacks of ``local``, per author in author order.

    ``id_at(author, seq)`` is our entry id at that seq (None if we lack it).
    Entries after the remote seq are missing there; if the remote id at its
    seq differs from ours, the two laptops hold forked feeds and only our entry
    at that seq is sent (anything after it is frozen by the fork anyway).
    """
    out: list[Range] = []
    for author in sorted(local):
        mine = local[author]
        theirs = remote.get(author)
        if theirs is None or theirs.seq <= 0:
            out.append(Range(author, 1, mine.seq))
            continue
        if theirs.seq > mine.seq:
            continue
        ours_there = mine.id if theirs.seq == mine.seq else id_at(author, theirs.seq)
        if ours_there is not None and ours_there != theirs.id:
            out.append(Range(author, theirs.seq, theirs.seq, fork=True))
        elif theirs.seq < mine.seq:
            out.append(Range(author, theirs.seq + 1, mine.seq))
    return out


# --- cutting, files --------------------------------------------------------------------


def now_hlc(store: Store) -> int:
    """A stamp after everything this laptop has seen (for display and newest-wins only)."""
    with store._read():  # package-internal: the clock the store keeps in its meta table
        last = int(store._meta("hlc", 0))
    return clock.HybridClock(last).now()


def cut(store: Store, signer: Signer) -> Frontier:
    """This laptop's frontier now: its effective heads (what the mesh advertises)."""
    mesh = store.mesh_id
    if mesh is None:
        raise NotInitialised(
            "this laptop is not in a mesh yet: it has no frontier to give",
            hint="a newcomer joins with `plurictl mesh join MESH_ID` and imports a full "
            "bundle (`bundle export --all` on a member's laptop)",
        )
    return Frontier(mesh, signer.public, now_hlc(store), store.heads())


def write_file(
    path: str | os.PathLike[str], store: Store, signer: Signer, *, overwrite: bool = False
) -> Frontier:
    """Cut this laptop's frontier and write it, signed, atomically, to ``path``."""
    frontier = cut(store, signer)
    body = frontier.body()
    payload = msgpack.packb({"body": body, "sig": signer.sign(DOMAIN + body)}, use_bin_type=True)
    with framing.AtomicFile(path, overwrite=overwrite) as out:
        out.write(PREAMBLE)
        out.write(framing.encode(T_FRONTIER, payload))
        out.commit()
    return frontier


def sniff(path: str | os.PathLike[str]) -> str | None:
    """ "bundle", "frontier" or None, from a file's first bytes."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(MAGIC))
    except OSError as e:
        raise BundleError(f"cannot read {path}: {e.strerror}") from e
    if head == MAGIC:
        return "frontier"
    if head == BUNDLE_MAGIC:
        return "bundle"
    return None


def read_file(path: str | os.PathLike[str]) -> Frontier:
    """Read and verify a frontier file; BundleError (or VerificationFailed) if it is not good."""
    try:
        if Path(path).stat().st_size > MAX_HEADS_BYTES + 64:
            raise BundleError(f"{path} is too large to be a frontier file")
        data = Path(path).read_bytes()
    except OSError as e:
        raise BundleError(f"cannot read frontier file {path}: {e.strerror}") from e
    return parse(data, str(path))


def parse(data: bytes, name: str = "frontier") -> Frontier:
    if len(data) > MAX_HEADS_BYTES + 64:
        raise BundleError(f"{name} is too large to be a frontier file")
    if data[: len(MAGIC)] != MAGIC:
        hint = None
        if data[: len(BUNDLE_MAGIC)] == BUNDLE_MAGIC:
            hint = "this is a courier bundle: use `plurictl bundle import` or `bundle inspect`"
        raise BundleError(f"{name} is not a frontier file", hint=hint)
    if data[len(MAGIC) : len(PREAMBLE)] != PREAMBLE[len(MAGIC) :]:
        raise BundleError(
            f"{name}: unsupported frontier file version (this plurictl reads {FORMAT_VERSION})",
            hint="upgrade plurictl, or ask for a new frontier file",
        )
    reader = framing.FrameReader(io.BytesIO(data[len(PREAMBLE) :]), {T_FRONTIER: MAX_HEADS_BYTES})
    frames = list(reader)
    good = [f for f in frames if isinstance(f, framing.Frame)]
    if not good:
        raise BundleError(
            f"{name} is damaged (its check does not match) or cut short",
            hint="ask for a new frontier file (`plurictl bundle frontier -o FILE` on that laptop)",
        )
    try:
        doc = msgpack.unpackb(good[0].payload, raw=False)
        body, sig = doc["body"], doc["sig"]
        version, mesh, key, hlc, heads = msgpack.unpackb(body, raw=False)
        if version != FORMAT_VERSION:
            raise BundleError(
                f"{name}: frontier format {version!r}; this plurictl reads {FORMAT_VERSION}",
                hint="upgrade plurictl",
            )
        if not (isinstance(mesh, bytes) and len(mesh) == ID_BYTES):
            raise ValueError("mesh id must be 32 bytes")
        if not (isinstance(key, bytes) and len(key) == KEY_BYTES):
            raise ValueError("key must be 32 bytes")
        if not isinstance(hlc, int) or isinstance(hlc, bool) or hlc < 0:
            raise ValueError("hlc must be an unsigned integer")
        if not (isinstance(sig, bytes) and len(sig) == SIG_BYTES):
            raise ValueError("signature must be 64 bytes")
        frontier = Frontier(mesh, key, hlc, decode_heads(heads))
    except BundleError:
        raise
    except Exception as e:  # msgpack and shape errors alike: the file is not usable
        raise BundleError(f"{name} is not a valid frontier: {e}") from e
    if frontier.body() != body:
        raise BundleError(f"{name} is not a valid frontier: not in canonical form")
    try:
        nacl.bindings.crypto_sign_open(sig + DOMAIN + body, key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError) as e:
        raise VerificationFailed(
            f"{name}: the frontier's signature does not verify (altered or damaged)"
        ) from e
    return frontier


# --- known frontiers -----------------------------------------------------------------


def record(store: Store, frontier: Frontier, source: str) -> bool:
    """Remember ``frontier`` as the latest known for its laptop, unless we know a newer one.

    Returns True if something changed. Only frontiers of this laptop's mesh are kept.
    """
    ours = store.mesh_id or store.expected_mesh
    if ours is not None and frontier.mesh != ours:
        return False
    heads = msgpack.packb(encode_heads(frontier.heads), use_bin_type=True)
    with store.transaction() as db:
        row = db.execute(
            "SELECT hlc, heads, mesh FROM known_frontiers WHERE key=?", (frontier.key,)
        ).fetchone()
        if row is not None and (
            row[0] > frontier.hlc
            or (row[0] == frontier.hlc and (row[1], row[2]) == (heads, frontier.mesh))
        ):
            return False
        db.execute(
            "INSERT INTO known_frontiers(key, mesh, hlc, heads, source, recorded) "
            "VALUES(?,?,?,?,?,?) ON CONFLICT(key) DO UPDATE SET mesh=excluded.mesh, "
            "hlc=excluded.hlc, heads=excluded.heads, source=excluded.source, "
            "recorded=excluded.recorded",
            (frontier.key, frontier.mesh, frontier.hlc, heads, source, clock.wall_ms()),
        )
    return True


def known(store: Store) -> list[KnownFrontier]:
    """Every frontier this laptop remembers (one per laptop key), for this mesh."""
    mesh = store.mesh_id or store.expected_mesh
    with store._read() as db:  # package-internal: a consistent snapshot
        rows = db.execute(
            "SELECT key, mesh, hlc, heads, source, recorded FROM known_frontiers ORDER BY key"
        ).fetchall()
    out = []
    for key, fmesh, hlc, heads, source, recorded in rows:
        if mesh is not None and fmesh != mesh:
            continue
        heads_map = decode_heads(msgpack.unpackb(heads, raw=False))
        out.append(KnownFrontier(Frontier(fmesh, key, hlc, heads_map), source, recorded))
    return out


def known_for_member(store: Store, key: bytes) -> KnownFrontier | None:
    """The newest frontier of any key of the member holding ``key`` (rotations included)."""
    roster = store.roster()
    member = roster.member_of(key)
    keys = {key} | {k for k, info in roster.keys.items() if member and info.member == member}
    found = [k for k in known(store) if k.frontier.key in keys]
    if not found:
        return None
    return max(found, key=lambda k: (k.frontier.hlc, k.recorded_ms))
