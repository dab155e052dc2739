"""Errors of the radio bridge (``mesh.radio``).

::

    PluriError (ledger.errors)
    └── MeshError (mesh.errors)        exit 9
        └── RadioError                 exit 9  radio bridge root
            ├── LinkSpecError          exit 5  a --link text that names no usable link
            ├── LinkUnavailable        exit 9  the device, port or simulator is not there (yet)
            ├── RadioExtraMissing      exit 14 the optional package a link needs is not
            │                                  installed (meshtastic)
            ├── BridgeRunning          exit 9  a bridge already runs on this home
            ├── BridgeNotRunning       exit 9  no bridge runs on this home
            └── KeyRetired             exit 7  this laptop's key was rotated or revoked in
                                               the roster: its bridge stops (the other
                                               stations no longer hear it)

Frames that fail their check, come from non-members or replay old counters
are not errors: the station drops and counts them (``radio status``).
"""

from __future__ import annotations

from mesh.errors import MeshError


class RadioError(MeshError):
    exit_code = 9


class LinkSpecError(RadioError):
    exit_code = 5


class LinkUnavailable(RadioError):
    exit_code = 9


class RadioExtraMissing(RadioError):
    """The optional package a link needs is not installed (``plurigrid[meshtastic]``).

    Exit 14, as ``plurictl.errors.MissingExtra`` (which owns the code: the mesh
    tree cannot import plurictl); the message carries the install hint.
    """

    exit_code = 14


class BridgeRunning(RadioError):
    exit_code = 9


class BridgeNotRunning(RadioError):
    exit_code = 9


class KeyRetired(RadioError):
    """This laptop's key is no longer a member (rotated to a new laptop, or revoked)."""

    exit_code = 7
