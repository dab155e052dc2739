"""Courier: carrying the ledger across a gap on a USB stick, verifiable offline.

* ``framing``: the typed, length-prefixed frames both file formats use, written atomically;
* ``formats``: the two files' magics and the heads-vector codec they share;
* ``frontier``: what a laptop already has (signed heads vector files) and the pure
  "which entries does the other side lack" plan the mesh shares;
* ``bundle``: the bundle file format (reader and writer);
* ``export``: cutting a bundle from a store (the entry point the CLI, mesh and drills use;
  it re-exports ``receive``'s functions);
* ``receive``: inspecting a bundle and importing it into a store.

Submodules are imported by name (``from ledger.courier import export``); this package imports
none of them.
"""

__all__ = ["bundle", "export", "formats", "framing", "frontier", "receive"]
