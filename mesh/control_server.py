"""The node's side of the control socket: one request, one reply, always answered promptly.

The node serves control requests between any two peer messages (see
``Node._serve_priority``), so `plurictl node status` answers even while a
member floods the node. The client side is :mod:`mesh.control`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgpack
import zmq

from ledger.errors import PluriError
from mesh import faults
from mesh.status import peers_status, status

if TYPE_CHECKING:
    from mesh.node import Node

#: Control requests answered per turn.
CONTROL_BATCH = 8


def serve(node: Node, sock: zmq.Socket[bytes]) -> int:
    """Answer pending control requests (at most CONTROL_BATCH); returns how many."""
    for n in range(CONTROL_BATCH):
        try:
            frames = sock.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return n
        if len(frames) < 3:
            continue
        try:
            req = msgpack.unpackb(frames[-1], raw=False)
            cmd, args = req["cmd"], req.get("args") or {}
            reply = {"ok": True, "result": command(node, str(cmd), dict(args))}
        except (PluriError, ValueError, KeyError, TypeError) as e:
            reply = {"ok": False, "error": str(e)}
        sock.send_multipart([*frames[:-1], msgpack.packb(reply, use_bin_type=True)])
    return CONTROL_BATCH


def command(node: Node, cmd: str, args: dict[str, Any]) -> Any:
    """Run one control command (also used by tests without a socket)."""
    handler = _COMMANDS.get(cmd)
    if handler is None:
        raise ValueError(f"unknown control command {cmd!r}")
    return handler(node, args)


def _nudge(node: Node, args: dict[str, Any]) -> Any:
    node.store_changed()
    return {"ok": True}


def _sync(node: Node, args: dict[str, Any]) -> Any:
    if args.get("peer"):
        node.add_peer(str(args["peer"]))
    return {"rounds": node.sync_now()}


def _faults_set(node: Node, args: dict[str, Any]) -> Any:
    current = node.policy.to_json()
    current.update({k: v for k, v in args.items() if v is not None})
    node.set_policy(faults.LinkPolicy.from_json(current))
    return node.policy.to_json()


def _faults_clear(node: Node, args: dict[str, Any]) -> Any:
    node.set_policy(faults.LinkPolicy())
    node.events("link policy cleared (healed)")
    return node.policy.to_json()


def _heads(node: Node, args: dict[str, Any]) -> Any:
    return {
        "digest": node.store.digest().hex(),
        "heads": {a.hex(): [h.seq, h.id.hex()] for a, h in sorted(node.store.heads().items())},
    }


def _stop(node: Node, args: dict[str, Any]) -> Any:
    node.stopping = True
    return {"stopping": True}


_COMMANDS: dict[str, Callable[[Node, dict[str, Any]], Any]] = {
    "status": lambda node, args: status(node),
    "peers": lambda node, args: peers_status(node),
    "nudge": _nudge,
    "sync": _sync,
    "faults.set": _faults_set,
    "faults.clear": _faults_clear,
    "heads": _heads,
    "stop": _stop,
}
