"""Fuel: tank readings, transfers between sites, declared burn rates.

* ``view``: the pure fold over ``fuel.*`` entries (inventory per site, conflicts, transfers);
* ``writer``: signing fuel entries after checking them against the fold.

Submodules are imported by name (``from ledger.fuel import view``); this package imports none
of them.
"""

__all__ = ["view", "writer"]
