"""Facts for playbook checks, read from this laptop's ledger (fuel and plan views).

The playbook view evaluates ``fuel_at_least`` and ``plan_adopted_covers_tier``
checks through the :class:`ledger.playbooks.checks.Facts` protocol:

* ``fuel_litres(site)``: the fuel view's inventory at ``site`` (current tank
  readings plus received, minus dispatched transfers); None when the ledger has
  no reading for that site;
* ``plan_covers_tier(tier)``: whether an adopted plan serves all load of that
  priority tier (served 100 %, to the plan's rounding); None when no plan is
  adopted;
* ``orders_for(site)``: the adopted plans' orders at ``site``, in time order, as the
  plain sentences the planner wrote; None when no plan is adopted;
* ``fuel_hours(site)``: inventory / declared burn rate; None without either;
* ``plan_adopted()``: whether any plan is adopted;
* ``vote_state(vote)``: the state of the vote with that title or id prefix.

A check whose fact is unknown blocks its step while it is required, until a
coordinator waives it (``plurictl playbook waive``).
"""

from __future__ import annotations

from typing import Any

from ledger.playbooks.checks import ChainFacts, Facts
from ledger.store import Store


class LedgerFacts:
    """What this store's fuel and plan views say (folded once, on first use)."""

    #: a tier counts as covered when the plan serves at least this share of it
    COVERED_PCT = 99.95

    def __init__(self, store: Store, *, fuel: Any = None, plans: Any = None) -> None:
        """``fuel`` and ``plans``: views the caller already folded (else folded on first use)."""
        self.store = store
        self._fuel: Any = fuel
        self._plans: Any = plans
        self._votes: Any = None

    def fuel_litres(self, site: str) -> float | None:
        if self._fuel is None:
            from ledger.fuel import writer as fuel

            self._fuel = fuel.load(self.store)
        found = self._fuel.sites.get(site)
        return None if found is None or not found.tanks else float(found.inventory)

    def plan_covers_tier(self, tier: int) -> bool | None:
        if self._plans is None:
            from ledger.plans import writer as plans

            self._plans = plans.load(self.store)
        adopted = self._plans.adopted()
        if not adopted:
            return None
        return any(p.tier_served[tier - 1] >= self.COVERED_PCT for p in adopted if 1 <= tier <= 3)

    def fuel_hours(self, site: str) -> float | None:
        """Hours the fuel on hand lasts at the site's declared burn rate."""
        if self.fuel_litres(site) is None:
            return None
        found = self._fuel.sites.get(site)
        rate = found.burn_rate if found is not None else None
        return float(found.inventory) / rate if rate else None

    def burn_rate(self, site: str) -> float | None:
        """The site's declared burn rate (L/h), None when none is declared."""
        if self.fuel_litres(site) is None:
            return None
        found = self._fuel.sites.get(site)
        return None if found is None or found.burn_rate is None else float(found.burn_rate)

    def plan_adopted(self) -> bool:
        if self._plans is None:
            from ledger.plans import writer as plans

            self._plans = plans.load(self.store)
        return bool(self._plans.adopted())

    def vote_state(self, vote: str) -> str | None:
        """The state of the vote with that title (or id prefix), None if not here."""
        if self._votes is None:
            from ledger.votes.writer import load

            self._votes, _ = load(self.store, count=False)  # states only
        for vid, v in sorted(self._votes.votes.items()):
            if v.charter.fields.title == vote or (len(vote) >= 4 and vid.hex().startswith(vote)):
                return str(v.state)
        return None

    def orders_for(self, site: str) -> list[str] | None:
        if self._plans is None:
            from ledger.plans import writer as plans

            self._plans = plans.load(self.store)
        if not self._plans.adopted():
            return None
        mine = [o for o in self._plans.orders.values() if o.order.get("site") == site]
        mine.sort(key=lambda o: (o.order.get("from_period") or 0, o.id))
        return [str(o.order.get("text") or f"{o.order.get('kind')} order {o.id[:8]}") for o in mine]


def facts_for(store: Store, *extra: Facts) -> Facts:
    """The facts every playbook command uses: ``extra`` providers first, then the ledger."""
    return ChainFacts(*extra, LedgerFacts(store))
