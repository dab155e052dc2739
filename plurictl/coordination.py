"""The coordination loop's glue: the ledger's fuel view into a planner scenario, and a plan
into the ledger. The only place that imports both ``ledger`` and ``planner``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ledger.store import Store


@dataclass
class LedgerInventory:
    """What ``plan run --from-ledger`` took from the ledger, and what it could not use."""

    litres: dict[str, float] = field(
        default_factory=dict
    )  # scenario key (site or site/tank) -> litres
    warnings: list[str] = field(default_factory=list)
    #: set when the ledger's fuel could not be used at all (no site in common): say it loudly
    alarm: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "litres": dict(sorted(self.litres.items())),
            "warnings": self.warnings,
            "alarm": self.alarm,
        }


def ledger_inventory(store: Store, scenario: Any) -> LedgerInventory:
    """Map the fuel view onto the scenario's sites and tanks.

    A site whose every reported tank is a tank of the scenario (and that had no
    transfers since its readings) is set tank by tank; otherwise the site's
    inventory is set as a whole (the planner splits it over the site's tanks).
    Sites of the scenario without any reading keep the scenario's numbers, with a
    warning; readings for sites the scenario does not know are listed, not used.
    """
    from ledger.fuel import writer as fuel
    from ledger.names import did_you_mean

    state = fuel.load(store)
    known_sites = {s.name for s in scenario.sites}
    tank_keys = {t.key for t in scenario.tanks}
    out = LedgerInventory()
    reported = sorted(name for name, site in state.sites.items() if site.tanks)
    if not set(reported) & known_sites:
        out.alarm = (
            f"the ledger's fuel is NOT used: no site with fuel in the ledger "
            f"({', '.join(reported) or 'none reported'}) is a site of this scenario "
            f"({', '.join(sorted(known_sites))}). This plan uses the scenario's own "
            f"starting fuel. Report fuel under the scenario's site names "
            f"(plurictl fuel report SITE --litres N)."
        )
    for name, site in sorted(state.sites.items()):
        if not site.tanks:
            continue
        if name not in known_sites:
            out.warnings.append(
                f"fuel is reported for {name!r}, which this scenario does not know: not used"
                + did_you_mean(name, known_sites)
            )
            continue
        per_tank = {f"{name}/{t}": tank.litres for t, tank in site.tanks.items()}
        moved = site.received or site.dispatched
        if not moved and set(per_tank) <= tank_keys:
            out.litres.update(per_tank)
        else:
            out.litres[name] = site.inventory
        if site.conflicts:
            out.warnings.append(
                f"{name}: conflicting tank readings ({', '.join(site.conflicts)}): planning with the lower value"
            )
    for s in scenario.sites:
        if not any(k == s.name or k.startswith(s.name + "/") for k in out.litres):
            out.warnings.append(
                f"no fuel reading for {s.name!r} in the ledger: using the scenario's starting fuel"
            )
    return out


def propose_plan(
    store: Store, identity: Any, plan_json: dict[str, Any], future: dict[str, str] | None = None
) -> Any:
    """Check a plan file's own hash, derive its orders, and attach both to the ledger."""
    from ledger.errors import InvalidInput
    from ledger.plans import writer as plans
    from planner.api import orders, plan_hash

    if plan_json.get("mode") != "tiers":
        raise InvalidInput(
            "only planner plans (objective 'tiers') can be proposed, not cost cross-checks"
        )
    if plan_hash(plan_json) != plan_json.get("plan_hash"):
        raise InvalidInput(
            "this plan file was changed after it was made (its plan_hash does not match)",
            hint="propose the file exactly as `plurictl plan run --out` wrote it",
        )
    return plans.propose(store, identity, plan_json, orders(plan_json), future)
