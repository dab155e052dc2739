"""The control socket: how `plurictl` commands talk to a node running on the same home.

An IPC socket in the home (or, when that path is too long for IPC, in a private
folder under /tmp named after the home). Requests are msgpack maps
``{"cmd": NAME, "args": {...}}``; replies ``{"ok": true, "result": ...}`` or
``{"ok": false, "error": "..."}``. File permissions keep other users out.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import msgpack

from mesh.errors import MeshError, NodeNotRunning

NODE_FILE = "node.json"
_IPC_MAX = 100  # sockaddr_un path limit is 107 on Linux


def control_endpoint(home: Path) -> str:
    path = Path(home).absolute() / "node.sock"
    if len(str(path)) <= _IPC_MAX:
        return f"ipc://{path}"
    folder = Path(tempfile.gettempdir()) / f"plurictl-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    digest = hashlib.blake2b(str(path).encode(), digest_size=8).hexdigest()
    return f"ipc://{folder / digest}.sock"


def read_node_file(home: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((Path(home) / NODE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ControlClient:
    """A short-lived client: ``with ControlClient(home) as c: c.call("status")``."""

    def __init__(self, home: Path, timeout: float = 3.0) -> None:
        self.home = Path(home)
        self.timeout = timeout
        info = read_node_file(self.home)
        if info is None or not pid_alive(int(info.get("pid", -1))):
            raise NodeNotRunning(
                f"no node is running on {self.home}",
                hint="start one with `plurictl node up` (in another terminal)",
            )
        self.endpoint = str(info.get("control") or control_endpoint(self.home))
        import zmq  # only once a node is known to run: `peers` without one needs no zmq

        self.ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        self.sock: Any = None

    def __enter__(self) -> ControlClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close(linger=0)
            self.sock = None

    def call(self, cmd: str, **args: Any) -> Any:
        import zmq

        sock = self.ctx.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        self.sock = sock
        try:
            sock.connect(self.endpoint)
            sock.send(msgpack.packb({"cmd": cmd, "args": args}, use_bin_type=True))
            if not sock.poll(int(self.timeout * 1000)):
                raise NodeNotRunning(
                    f"the node on {self.home} did not answer within {self.timeout:.0f} s",
                    hint="it may be busy or stuck; check its terminal, or restart it",
                )
            reply = msgpack.unpackb(sock.recv(), raw=False)
        finally:
            self.close()
        if not isinstance(reply, dict):
            raise MeshError("the node sent a malformed reply")
        if not reply.get("ok"):
            raise MeshError(str(reply.get("error") or "the node refused the request"))
        return reply.get("result")


def remove_stale(home: Path) -> None:
    """Forget a node file left by a node that died without cleaning up."""
    info = read_node_file(home)
    if info is not None and not pid_alive(int(info.get("pid", -1))):
        with contextlib.suppress(OSError):
            (Path(home) / NODE_FILE).unlink()
