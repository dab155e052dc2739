"""Facts for playbook checks, read from this laptop's ledger: the seam for fuel and plans.

The playbook view evaluates ``fuel_at_least`` and ``plan_adopted_covers_tier``
checks through the :class:`ledger.views.playbook_checks.Facts` protocol. Today
the ledger has no fuel or plan view, so :class:`LedgerFacts` answers ``None``
(unknown) for both: such a check shows as *unknown* and blocks its step while
it is required, until a coordinator waives it (``plurictl playbook waive``).

When the fuel and plan views exist, wire them in **here and only here**:

* ``LedgerFacts.fuel_litres(site)``: fold the fuel entries of ``self.store``
  with the fuel view and return the litres on hand at ``site`` (None if no
  report for that site);
* ``LedgerFacts.plan_covers_tier(tier)``: take the currently adopted plan from
  the plan view and return whether it serves all load of that priority tier
  (None if no plan is adopted).

Nothing else changes: the writer (``ledger.playbooks``) and every command
already build their facts with :func:`facts_for`.
"""

from __future__ import annotations

from ledger.store import Store
from ledger.views.playbook_checks import ChainFacts, Facts


class LedgerFacts:
    """What this store knows. Fuel and plan views do not exist yet: both unknown."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def fuel_litres(self, site: str) -> float | None:
        # SEAM: return the fuel view's litres on hand at ``site`` once it exists.
        return None

    def plan_covers_tier(self, tier: int) -> bool | None:
        # SEAM: return the adopted plan's coverage of ``tier`` once the plan view exists.
        return None


def facts_for(store: Store, *extra: Facts) -> Facts:
    """The facts every playbook command uses: ``extra`` providers first, then the ledger."""
    return ChainFacts(*extra, LedgerFacts(store))
