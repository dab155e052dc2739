"""Errors of the mesh package.

::

    PluriError (ledger.errors)
    └── MeshError              exit 9  mesh package root
        ├── NodeNotRunning     exit 9  no node answers on this home's control socket
        ├── PeerUnreachable    exit 9  a peer did not answer in time
        ├── AddressInUse       exit 9  the listen address is taken
        └── ProtocolError      exit 9  a message that is not our protocol (counted, dropped)
            └── Malformed      exit 9  ... with a fixed category word (never sender text)
                └── VersionMismatch  exit 9  a peer speaking another protocol version
"""

from __future__ import annotations

from ledger.errors import PluriError


class MeshError(PluriError):
    exit_code = 9
    exit_meaning = "mesh problem: node not running, peer unreachable, address in use"
    exit_fix = "see mesh.md troubleshooting"


class NodeNotRunning(MeshError):
    pass


class PeerUnreachable(MeshError):
    pass


class AddressInUse(MeshError):
    pass


class ProtocolError(MeshError):
    pass


class Malformed(ProtocolError):
    """A message that is not our protocol. ``category`` is one of a fixed set of words
    (never text the sender chose), so counting them cannot grow without bound."""

    def __init__(self, category: str, detail: str = "") -> None:
        super().__init__(f"{category}: {detail}" if detail else category)
        self.category = category


class VersionMismatch(Malformed):
    """A peer speaking another protocol version: refuse clearly, once."""

    def __init__(self, version: object, ours: int) -> None:
        shown = repr(version)[:40]
        super().__init__(
            "protocol version", f"unsupported protocol version {shown} (this node speaks {ours})"
        )
        self.version = version
