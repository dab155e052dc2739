"""Wire messages between nodes: msgpack maps with a protocol version and a type.

Every message is ``{"v": 1, "t": TYPE, ...}``. A message with another version
gets one ``refuse`` reply and is dropped; anything that is not a well-formed
message of a known type raises :class:`ProtocolError` (the node counts it and
keeps serving).

=========  ==========================================================
type       fields
=========  ==========================================================
hello      mesh (bytes|None), name, listen (str|None)
refuse     reason
ping/pong  (none)
digest     d (32 bytes: heads + forks digest)
in_sync    d
heads      h [[author, seq, id]...], f [[author, seq, id_a, id_b]...], d, reply (bool)
forks      p [[raw_a, raw_b]...]
entries    x (transfer id), n (batch number), b [raw...], last (bool)
ack        x, n, ok (entries accepted), bad (entries refused)
push       b [raw...]  eager push of new entries
peers      p [[key, addr, name]...]  peer exchange
want       i [id...] (at most 256)  entries this node holds damaged; answered by a push
           of those the peer holds intact (possibly none)
=========  ==========================================================
"""

from __future__ import annotations

from typing import Any

import msgpack

from mesh.errors import ProtocolError

VERSION = 1
#: Hard cap on one message; libzmq also enforces it (ZMQ_MAXMSGSIZE) before we see it.
MAX_MESSAGE_BYTES = 2 * 1024 * 1024
#: Messages a socket queues per connection before libzmq stops reading from it:
#: bounds what one member can make a node hold in memory (about 64 MiB).
RECEIVE_QUEUE = 32
#: Soft cap used when filling a batch of entries.
BATCH_BYTES = 512 * 1024

TYPES = frozenset(
    {
        "hello",
        "refuse",
        "ping",
        "pong",
        "digest",
        "in_sync",
        "heads",
        "forks",
        "entries",
        "ack",
        "push",
        "peers",
        "want",
    }
)
#: Most ids one ``want`` may name.
MAX_WANT = 256


def encode(msg_type: str, **fields: Any) -> bytes:
    return msgpack.packb({"v": VERSION, "t": msg_type, **fields}, use_bin_type=True)


class VersionMismatch(ProtocolError):
    """A peer speaking another protocol version: refuse clearly, once."""

    def __init__(self, version: object) -> None:
        super().__init__(f"unsupported protocol version {version!r} (this node speaks {VERSION})")
        self.version = version


def decode(data: bytes) -> dict[str, Any]:
    """Parse one message; raises ProtocolError for anything malformed."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE_BYTES}")
    try:
        msg = msgpack.unpackb(data, raw=False, strict_map_key=True, use_list=True, timestamp=0)
    except Exception as e:  # msgpack raises many types for garbage
        raise ProtocolError(f"not msgpack: {type(e).__name__}") from e
    if not isinstance(msg, dict):
        raise ProtocolError("message is not a map")
    version = msg.get("v")
    if version != VERSION:
        raise VersionMismatch(version)
    msg_type = msg.get("t")
    if msg_type not in TYPES:
        raise ProtocolError(f"unknown message type {msg_type!r}")
    _check_fields(msg_type, msg)
    return msg


def _is_bytes(value: Any, n: int | None = None) -> bool:
    return isinstance(value, bytes) and (n is None or len(value) == n)


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_fields(msg_type: str, msg: dict[str, Any]) -> None:
    ok = True
    if msg_type == "hello":
        ok = (msg.get("mesh") is None or _is_bytes(msg.get("mesh"), 32)) and isinstance(
            msg.get("name", ""), str
        )
        ok = ok and (msg.get("listen") is None or isinstance(msg.get("listen"), str))
    elif msg_type == "refuse":
        ok = isinstance(msg.get("reason"), str)
    elif msg_type in ("digest", "in_sync"):
        ok = _is_bytes(msg.get("d"), 32)
    elif msg_type == "heads":
        heads, forks = msg.get("h"), msg.get("f", [])
        ok = isinstance(heads, list) and isinstance(forks, list) and _is_bytes(msg.get("d"), 32)
        ok = ok and all(
            isinstance(x, list)
            and len(x) == 3
            and _is_bytes(x[0], 32)
            and _int(x[1])
            and _is_bytes(x[2], 32)
            for x in heads
        )
        ok = ok and all(
            isinstance(x, list) and len(x) == 4 and _is_bytes(x[0], 32) and _int(x[1])
            for x in forks
        )
    elif msg_type == "forks":
        p = msg.get("p")
        ok = isinstance(p, list) and all(
            isinstance(x, list) and len(x) == 2 and _is_bytes(x[0]) and _is_bytes(x[1]) for x in p
        )
    elif msg_type in ("entries", "push"):
        b = msg.get("b")
        ok = isinstance(b, list) and all(_is_bytes(x) for x in b)
        if msg_type == "entries":
            ok = ok and _is_bytes(msg.get("x"), 8) and _int(msg.get("n"))
    elif msg_type == "ack":
        ok = _is_bytes(msg.get("x"), 8) and _int(msg.get("n"))
    elif msg_type == "want":
        ids = msg.get("i")
        ok = isinstance(ids, list) and len(ids) <= MAX_WANT and all(_is_bytes(x, 32) for x in ids)
    elif msg_type == "peers":
        p = msg.get("p")
        ok = isinstance(p, list) and all(
            isinstance(x, list) and len(x) == 3 and _is_bytes(x[0], 32) and isinstance(x[1], str)
            for x in p
        )
    if not ok:
        raise ProtocolError(f"malformed {msg_type} message")
