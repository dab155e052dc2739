"""Playbook checks: a small typed vocabulary, evaluated against facts passed in.

The playbook view is pure, so it cannot open the fuel or plan views itself. It
asks a :class:`Facts` object instead. Each method returns ``None`` when the
fact is unknown (no fuel report for that site yet, no plan adopted, or no view
that could answer): the check is then *unknown*, which blocks a step whose
check is required, exactly like a failing check, and says so plainly.

Check types (see ``ledger.playbooks.format.CHECK_TYPES``):

* ``fuel_at_least`` {site, litres}  -> ``facts.fuel_litres(site)``
* ``plan_adopted_covers_tier`` {tier} -> ``facts.plan_covers_tier(tier)``; its detail also
  lists the adopted plan's orders at the run's site, as the sentences the planner wrote
  (``facts.orders_for(site)``, optional: providers without it list none)
* ``fuel_hours_at_least`` {site, hours} -> ``facts.fuel_hours(site)``: hours the fuel on
  hand lasts at the site's declared burn rate (``fuel consumption``)
* ``plan_adopted`` {}                -> ``facts.plan_adopted()``: is any plan adopted
* ``vote_final`` {vote}              -> ``facts.vote_state(vote)``: the vote (title or id
  prefix) is FINAL
* ``step_done`` {step}               -> the run's own state (evaluated by the view)
* ``manual`` {text}                  -> attested by the person signing

Statuses: ``pass``, ``fail``, ``unknown``, ``waived`` (a coordinator signed a
waiver for it), ``attest`` (manual: the sign-off itself is the confirmation).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ledger.playbooks.format import Check

PASS, FAIL, UNKNOWN, WAIVED, ATTEST = "pass", "fail", "unknown", "waived", "attest"
SATISFIED = frozenset({PASS, WAIVED, ATTEST})


@runtime_checkable
class Facts(Protocol):
    """What the world looks like, as far as the ledger knows. ``None`` = unknown."""

    def fuel_litres(self, site: str) -> float | None:
        """Litres of fuel on hand at ``site``, or None if nobody has reported it."""
        ...

    def plan_covers_tier(self, tier: int) -> bool | None:
        """Does the adopted plan serve all load of priority ``tier``? None: no adopted plan."""
        ...


class NoFacts:
    """Knows nothing: every fact check is unknown."""

    def fuel_litres(self, site: str) -> float | None:
        return None

    def plan_covers_tier(self, tier: int) -> bool | None:
        return None


def ask(facts: Facts, question: str, *args: Any) -> Any:
    """A fact only some providers know (None: this one cannot answer)."""
    method = getattr(facts, question, None)
    return method(*args) if callable(method) else None


@dataclass
class StaticFacts:
    """Facts from plain data (tests, drills, or a provider that already computed them)."""

    fuel: Mapping[str, float] = field(default_factory=dict)
    plan_tiers: Mapping[int, bool] = field(default_factory=dict)
    orders: Mapping[str, list[str]] = field(default_factory=dict)
    hours: Mapping[str, float] = field(default_factory=dict)
    adopted: bool | None = None
    votes: Mapping[str, str] = field(default_factory=dict)

    def fuel_hours(self, site: str) -> float | None:
        return self.hours.get(site)

    def plan_adopted(self) -> bool | None:
        return self.adopted

    def vote_state(self, vote: str) -> str | None:
        return self.votes.get(vote)

    def fuel_litres(self, site: str) -> float | None:
        return self.fuel.get(site)

    def plan_covers_tier(self, tier: int) -> bool | None:
        return self.plan_tiers.get(tier)

    def orders_for(self, site: str) -> list[str] | None:
        return self.orders.get(site)


class ChainFacts:
    """Ask several providers in turn; the first that knows a fact answers."""

    def __init__(self, *providers: Facts) -> None:
        self.providers = providers

    def fuel_litres(self, site: str) -> float | None:
        for p in self.providers:
            value = p.fuel_litres(site)
            if value is not None:
                return value
        return None

    def plan_covers_tier(self, tier: int) -> bool | None:
        for p in self.providers:
            value = p.plan_covers_tier(tier)
            if value is not None:
                return value
        return None

    def orders_for(self, site: str) -> list[str] | None:
        return self._first("orders_for", site)  # type: ignore[no-any-return]

    def fuel_hours(self, site: str) -> float | None:
        return self._first("fuel_hours", site)  # type: ignore[no-any-return]

    def plan_adopted(self) -> bool | None:
        return self._first("plan_adopted")  # type: ignore[no-any-return]

    def vote_state(self, vote: str) -> str | None:
        return self._first("vote_state", vote)  # type: ignore[no-any-return]

    def _first(self, question: str, *args: Any) -> Any:
        for p in self.providers:
            value = ask(p, question, *args)
            if value is not None:
                return value
        return None


def orders_at(facts: Facts, site: str) -> list[str] | None:
    """The adopted plan's orders at ``site`` as sentences, if the provider knows them."""
    return ask(facts, "orders_for", site)  # type: ignore[no-any-return]


def _orders_detail(facts: Facts, site: str | None) -> str:
    if not site:
        return ""
    said = orders_at(facts, site)
    if not said:
        return ""
    shown = " ".join(said[:3])
    more = f" (+{len(said) - 3} more: plurictl orders --site {site})" if len(said) > 3 else ""
    return f"; orders at {site}: {shown}{more}"


@dataclass(frozen=True)
class CheckResult:
    """One check of one step, evaluated now."""

    index: int
    check: Check
    status: str
    detail: str

    @property
    def satisfied(self) -> bool:
        return self.status in SATISFIED

    @property
    def blocking(self) -> bool:
        return self.check.required and not self.satisfied

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "check": self.check.to_json(),
            "required": self.check.required,
            "status": self.status,
            "detail": self.detail,
        }


#: a fuel check that names no site, in a run started without --site
NO_SITE = (UNKNOWN, "no site: the check names none and the run was started without --site")


def _litres(value: float) -> str:
    return f"{value:,.0f} L" if float(value).is_integer() else f"{value:,.1f} L"


def evaluate_fact(check: Check, run_site: str | None, facts: Facts) -> tuple[str, str]:
    """(status, detail) of a fuel or plan check against ``facts``."""
    if check.type == "fuel_at_least":
        site = check.site or run_site
        need = float(check.litres or 0)
        if not site:
            return NO_SITE
        have = facts.fuel_litres(site)
        if have is None:
            return UNKNOWN, f"fuel at {site}: unknown (no fuel report in the ledger)"
        status = PASS if have >= need else FAIL
        return status, f"fuel at {site}: {_litres(have)} (needs >= {_litres(need)})"
    if check.type == "plan_adopted_covers_tier":
        covered = facts.plan_covers_tier(int(check.tier or 0))
        if covered is None:
            return UNKNOWN, f"tier {check.tier}: unknown (no adopted plan in the ledger)"
        orders = _orders_detail(facts, run_site)
        if covered:
            return PASS, f"the adopted plan covers all tier {check.tier} load{orders}"
        return FAIL, f"the adopted plan does NOT cover all tier {check.tier} load{orders}"
    if check.type == "manual":
        return ATTEST, f"confirmed by whoever signs: {check.text}"
    return _gate(check, run_site, facts)


def _hours_unknown(site: str, facts: Facts) -> str:
    """Why the hours of fuel at ``site`` are unknown, in the operator's words."""
    declare = f"plurictl fuel burn {site} --litres-per-hour N"
    if ask(facts, "fuel_litres", site) is None:
        return f"fuel at {site}: hours unknown (no fuel report from {site} yet)"
    rate = ask(facts, "burn_rate", site)
    if rate == 0:
        return (
            f"fuel at {site}: hours unknown (the burn rate declared is 0 L/h; declare the "
            f"rate at the present load: {declare})"
        )
    if rate is None and hasattr(facts, "burn_rate"):
        return f"fuel at {site}: hours unknown (no burn rate declared: {declare})"
    return f"fuel at {site}: hours unknown (no fuel report, or no burn rate declared: {declare})"


def _gate(check: Check, run_site: str | None, facts: Facts) -> tuple[str, str]:
    """The gates on what the views already know, with the live value."""
    if check.type == "fuel_hours_at_least":
        site = check.site or run_site
        need = float(check.hours or 0)
        if not site:
            return NO_SITE
        have = ask(facts, "fuel_hours", site)
        if have is None:
            return UNKNOWN, _hours_unknown(site, facts)
        status = PASS if have >= need else FAIL
        return status, f"fuel at {site} lasts {have:,.1f} h at its burn rate (needs >= {need:g} h)"
    if check.type == "plan_adopted":
        adopted = ask(facts, "plan_adopted")
        if adopted:
            return PASS, "a plan is adopted"
        return FAIL, "no plan is adopted yet"
    if check.type == "vote_final":
        state = ask(facts, "vote_state", check.vote)
        if state is None:
            return UNKNOWN, f"vote {check.vote!r}: not on this laptop (sync)"
        return (PASS if state == "FINAL" else FAIL), f"vote {check.vote!r} is {state}"
    raise ValueError(f"not a fact check: {check.type}")  # pragma: no cover
