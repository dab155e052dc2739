"""Wire messages between nodes: msgpack maps with a protocol version and a type.

Every message is ``{"v": 1, "t": TYPE, ...}``. A message with another version
gets one ``refuse`` reply and is dropped; anything that is not a well-formed
message of a known type raises :class:`ProtocolError` (the node counts it,
charges the peer for it, and keeps serving).

Every list a message carries has a cap, checked while decoding (msgpack
refuses an over-long array from its header, before building anything): the
work one message can cause is bounded, whatever its sender claims.

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
peers      p [[key, addr, name]...]  peer exchange (at most 64 per message)
want       i [id...] (at most 256)  entries this node holds damaged; answered by a push
           of those the peer holds intact (possibly none)
=========  ==========================================================
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgpack

from mesh.errors import Malformed, VersionMismatch

VERSION = 1
#: Hard cap on one message; libzmq also enforces it (ZMQ_MAXMSGSIZE) before we see it.
#: A batch is at most BATCH_BYTES plus one entry (64 KiB), so 1 MiB leaves room.
MAX_MESSAGE_BYTES = 1024 * 1024
#: Messages a socket queues per connection before libzmq stops reading from it:
#: bounds what one connection can make a node hold in memory (4 MiB).
RECEIVE_QUEUE = 4
#: Messages queued for sending per connection; beyond it a message is dropped
#: (anti-entropy recovers) instead of piling up for a peer that does not read.
SEND_QUEUE = 32
#: Soft cap used when filling a batch of entries.
BATCH_BYTES = 512 * 1024
#: Entries in one ``entries`` or ``push`` message.
MAX_BATCH_ENTRIES = 1000
#: Addresses in one ``peers`` message.
MAX_PEER_SUGGESTIONS = 64
#: Fork proofs in one ``forks`` message.
MAX_FORK_PROOFS = 64
#: Feeds in one ``heads`` message (and any other list).
MAX_LIST = 20_000


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


def decode(data: bytes) -> dict[str, Any]:
    """Parse one message; raises :class:`Malformed` for anything that is not our protocol."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise Malformed("too large", f"{len(data)} bytes, the limit is {MAX_MESSAGE_BYTES}")
    try:
        msg = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            use_list=True,
            timestamp=0,
            max_array_len=MAX_LIST,
            max_map_len=64,
            max_str_len=4096,
            max_bin_len=MAX_MESSAGE_BYTES,
            max_ext_len=0,
        )
    except Exception as e:  # msgpack raises many types for garbage
        raise Malformed("not msgpack", type(e).__name__) from e
    if not isinstance(msg, dict):
        raise Malformed("not a map")
    version = msg.get("v")
    if version != VERSION:
        raise VersionMismatch(version, VERSION)
    msg_type = msg.get("t")
    if msg_type not in TYPES:
        raise Malformed("unknown type", repr(msg_type)[:40])
    _check_fields(msg_type, msg)
    return msg


def _is_bytes(value: Any, n: int | None = None) -> bool:
    return isinstance(value, bytes) and (n is None or len(value) == n)


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _hello_ok(m: dict[str, Any]) -> bool:
    name, listen = m.get("name", ""), m.get("listen")
    return (
        (m.get("mesh") is None or _is_bytes(m.get("mesh"), 32))
        and isinstance(name, str)
        and len(name) <= 200
        and (listen is None or (isinstance(listen, str) and len(listen) <= 300))
    )


def _heads_ok(m: dict[str, Any]) -> bool:
    heads, forks = m.get("h"), m.get("f", [])
    if not (isinstance(heads, list) and isinstance(forks, list) and _is_bytes(m.get("d"), 32)):
        return False
    return all(
        isinstance(x, list) and len(x) == 3 and _is_bytes(x[0], 32) and _int(x[1])
        and _is_bytes(x[2], 32)
        for x in heads
    ) and all(
        isinstance(x, list) and len(x) == 4 and _is_bytes(x[0], 32) and _int(x[1])
        and _is_bytes(x[2], 32) and _is_bytes(x[3], 32)
        for x in forks
    )  # fmt: skip


def _forks_ok(m: dict[str, Any]) -> bool:
    p = m.get("p")
    return (
        isinstance(p, list)
        and len(p) <= MAX_FORK_PROOFS
        and all(
            isinstance(x, list) and len(x) == 2 and _is_bytes(x[0]) and _is_bytes(x[1]) for x in p
        )
    )


def _batch_ok(m: dict[str, Any]) -> bool:
    b = m.get("b")
    # per entry of a catch-up: the type test in line, not a call per item
    return (
        isinstance(b, list) and len(b) <= MAX_BATCH_ENTRIES and all(isinstance(x, bytes) for x in b)
    )


def _peers_ok(m: dict[str, Any]) -> bool:
    p = m.get("p")
    return (
        isinstance(p, list)
        and len(p) <= MAX_PEER_SUGGESTIONS
        and all(
            isinstance(x, list)
            and len(x) == 3
            and _is_bytes(x[0], 32)
            and isinstance(x[1], str)
            and len(x[1]) <= 300
            and (x[2] is None or (isinstance(x[2], str) and len(x[2]) <= 200))
            for x in p
        )
    )


_CHECKS: dict[str, Callable[[dict[str, Any]], bool]] = {
    "hello": _hello_ok,
    "refuse": lambda m: isinstance(m.get("reason"), str),
    "ping": lambda m: True,
    "pong": lambda m: True,
    "digest": lambda m: _is_bytes(m.get("d"), 32),
    "in_sync": lambda m: _is_bytes(m.get("d"), 32),
    "heads": _heads_ok,
    "forks": _forks_ok,
    "entries": lambda m: _batch_ok(m) and _is_bytes(m.get("x"), 8) and _int(m.get("n")),
    "push": _batch_ok,
    "ack": lambda m: _is_bytes(m.get("x"), 8) and _int(m.get("n")),
    "peers": _peers_ok,
    "want": lambda m: (
        isinstance(m.get("i"), list)
        and len(m["i"]) <= MAX_WANT
        and all(_is_bytes(x, 32) for x in m["i"])
    ),
}


def _check_fields(msg_type: str, msg: dict[str, Any]) -> None:
    if not _CHECKS[msg_type](msg):
        raise Malformed(f"malformed {msg_type}")
