"""The roster: who is in the mesh, with which roles, from which seq (a fold over trust entries).

* ``view``: the pure fold (:func:`ledger.roster.view.fold` → :class:`Roster`), the authority on
  every laptop;
* ``writer``: founding a mesh and signing roster changes, checked against the fold first.

Submodules are imported by name (``from ledger.roster import view``); this package imports none
of them, so importing it is free and cannot close an import cycle through the store.
"""

__all__ = ["view", "writer"]
