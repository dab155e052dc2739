"""UDP: the key service (who listens on this port?) and LAN discovery beacons.

CurveZMQ needs the server's public key before connecting. A node answers a
tiny UDP query on the same port number as its TCP listener with its public
key and a hash of its mesh id; beacons (opt-in, ``--discover``) carry the
same three things and nothing else. The key learned this way is only used if
the roster says it is a member (or, for a laptop still joining, if the mesh
hash matches the mesh it pinned) — the CURVE handshake then proves it.

Anyone can send UDP. The key service (:mod:`mesh.keyservice`) answers only
padded queries (no amplification) and at a limited rate; addresses from
beacons stay in a small in-memory cache until a handshake confirms them.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
from dataclasses import dataclass

import msgpack

#: A key query: this prefix, padded with zeros to QUERY_SIZE bytes. The padding makes
#: a query as large as any answer, so the key service cannot amplify a spoofed query.
QUERY = b"PLURI?2"
QUERY_SIZE = 128
BEACON_PORT = 47800
#: Largest announcement we send (names are cut to 64 characters) or accept.
MAX_ANNOUNCEMENT = 127


def query() -> bytes:
    return QUERY.ljust(QUERY_SIZE, b"\0")


def is_query(data: bytes) -> bool:
    """A well-formed, padded key query (an unpadded one is not answered)."""
    return len(data) == QUERY_SIZE and data.startswith(QUERY)


def mesh_tag(mesh_id: bytes | None) -> bytes:
    """8-byte hash of the mesh id: enough to tell meshes apart, not to learn the id."""
    if mesh_id is None:
        return b""
    return hashlib.blake2b(mesh_id, digest_size=8, person=b"plurigrid-beacon").digest()


@dataclass(frozen=True)
class Announcement:
    key: bytes
    mesh: bytes
    port: int
    name: str


def encode_announcement(key: bytes, mesh_id: bytes | None, port: int, name: str) -> bytes:
    while True:  # names are cut to fit (a long name of multi-byte characters too)
        data = msgpack.packb(
            {"v": 1, "k": key, "m": mesh_tag(mesh_id), "p": port, "n": name[:64]},
            use_bin_type=True,
        )
        if len(data) <= MAX_ANNOUNCEMENT or not name:
            return bytes(data)
        name = name[: max(0, min(64, len(name)) - 8)]


def decode_announcement(data: bytes) -> Announcement | None:
    """None for anything that is not a well-formed announcement (never raises)."""
    if len(data) > MAX_ANNOUNCEMENT:
        return None
    try:
        d = msgpack.unpackb(data, raw=False, max_array_len=8, max_map_len=8)
    except Exception:
        return None
    if not isinstance(d, dict) or d.get("v") != 1:
        return None
    key, tag, port, name = d.get("k"), d.get("m"), d.get("p"), d.get("n", "")
    if not (isinstance(key, bytes) and len(key) == 32 and isinstance(tag, bytes)):
        return None
    if not (isinstance(port, int) and 0 < port < 65536 and isinstance(name, str)):
        return None
    return Announcement(key, tag, port, name)


def udp_socket(
    host: str, port: int, *, broadcast: bool = False, reuse: bool = False
) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM)
    if reuse:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with contextlib.suppress(AttributeError, OSError):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if broadcast:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.setblocking(False)
    s.bind((host, port))
    return s
