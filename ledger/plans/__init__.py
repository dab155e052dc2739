"""Plans: proposed plans (with their orders), adoption per horizon, acknowledged orders.

* ``view``: the pure fold over ``plan.*`` and ``order.*`` entries (and FINAL votes on plans);
* ``writer``: packing a planner result into entries, adopting, withdrawing, acknowledging.

The planner itself is the sibling package ``planner/``; this one only records its results.
Submodules are imported by name (``from ledger.plans import view``); this package imports none
of them.
"""

__all__ = ["view", "writer"]
