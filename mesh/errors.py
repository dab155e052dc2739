"""Errors of the mesh package.

::

    PluriError (ledger.errors)
    └── MeshError              exit 9  mesh package root
        ├── NodeNotRunning     exit 9  no node answers on this home's control socket
        ├── PeerUnreachable    exit 9  a peer did not answer in time
        ├── AddressInUse       exit 9  the listen address is taken
        └── ProtocolError      exit 9  a message that is not our protocol (counted, dropped)
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
