"""The scenario model: what a planning run is about (sites, tanks, units, loads, routes).

Plain frozen dataclasses; reading and validating the TOML file is in
``planner.scenario_file``. ``Scenario.with_inventory`` is how live fuel levels
(from the ledger) replace the file's starting levels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

from planner.errors import ScenarioError
from planner.restore_spec import RestoreSpec

TIERS = (1, 2, 3)
ELEMENTS = ("gen", "sgen", "ext_grid", "new")
LIMIT_MODES = ("enforce", "relax")


@dataclass(frozen=True)
class NetworkSpec:
    """Where the grid comes from and how its limits are treated."""

    case: str | None = None
    file: Path | None = None
    islanded: bool = False
    branch_limits: str = "enforce"
    transformer_limits: str = "enforce"
    limit_factor: float = 1.0
    loss_allowance: float = 0.0


@dataclass(frozen=True)
class Horizon:
    periods: int
    hours_per_period: float = 1.0
    start: str | None = None


@dataclass(frozen=True)
class Policy:
    """The knobs that replace prices: who is served first and how shortfall is shared."""

    strict_tiers: bool = True
    fairness: bool = True
    fuel_conservation_weight: float = 0.0
    reserve_margin: float = 0.0
    tier_weights: tuple[float, float, float] = (100.0, 10.0, 1.0)
    default_tier: int = 3
    default_community: str = "general"


@dataclass(frozen=True)
class Tank:
    name: str
    site: str
    fuel: str
    capacity_litres: float
    initial_litres: float
    reserve_litres: float = 0.0

    @property
    def key(self) -> str:
        """``site/tank``: unique across the scenario (ledger fuel reports use it)."""
        return f"{self.site}/{self.name}"


@dataclass(frozen=True)
class Site:
    """A place with tanks: a base or microgrid site (with buses), or a fuel depot."""

    name: str
    kind: str  # "site" | "depot"
    buses: tuple[int, ...] = ()
    tanks: tuple[Tank, ...] = ()
    resupply_litres: tuple[float, ...] = ()  # per period, depots only (cycled)


@dataclass(frozen=True)
class Generator:
    name: str
    site: str | None
    element: str  # gen | sgen | ext_grid | new
    index: int | None = None
    bus: int | None = None
    fuel: str | None = None
    tank: str | None = None
    no_load_lph: float = 0.0
    lph_per_mw: float = 0.0
    min_stable_mw: float = 0.0
    p_max_mw: float | None = None
    p_min_mw: float | None = None
    vm_pu: float = 1.0
    profile: str | None = None

    @property
    def fuelled(self) -> bool:
        return self.fuel is not None


@dataclass(frozen=True)
class Load:
    name: str
    index: int
    tier: int
    community: str
    profile: str | None = None


@dataclass(frozen=True)
class Route:
    name: str
    source: str
    target: str
    fuel: str
    litres_per_trip: float
    trips_per_period: float
    lead_periods: int
    source_tank: str | None = None
    target_tank: str | None = None
    min_litres_per_trip: float = 0.0  # a departure is 0 or at least this (no half-empty trucks)

    @property
    def litres_per_period(self) -> float:
        return self.trips_per_period * self.litres_per_trip


@dataclass(frozen=True)
class Battery:
    """A ``net.storage`` row with what the network table lacks (efficiencies)."""

    name: str
    index: int
    charge_efficiency: float = 0.95
    discharge_efficiency: float = 0.95
    initial_percent: float | None = None  # None: the table's soc_percent
    max_charge_mw: float | None = None  # None: the table's limits (see planner.network)
    max_discharge_mw: float | None = None


@dataclass(frozen=True)
class Preference:
    """A site's order of its own loads: who is shed last (first named) within a tier,
    after fairness between communities (``plurictl prefs set``, or ``[[preferences]]``)."""

    site: str
    rank: tuple[str, ...]
    by: str = ""  # who set it, when it comes from the ledger


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    network: NetworkSpec
    horizon: Horizon
    policy: Policy
    sites: tuple[Site, ...]
    generators: tuple[Generator, ...]
    loads: tuple[Load, ...]
    routes: tuple[Route, ...]
    profiles: dict[str, tuple[float, ...]] = field(default_factory=dict)
    source: Path | None = None
    batteries: tuple[Battery, ...] = ()
    restore: RestoreSpec = field(default_factory=RestoreSpec)  # never part of a plan's hash
    preferences: tuple[Preference, ...] = ()

    # --- listings the ledger side needs -------------------------------------------------
    @property
    def tanks(self) -> tuple[Tank, ...]:
        return tuple(t for s in self.sites for t in s.tanks)

    @property
    def fuel_types(self) -> tuple[str, ...]:
        return tuple(sorted({t.fuel for t in self.tanks}))

    def site(self, name: str) -> Site:
        for s in self.sites:
            if s.name == name:
                return s
        raise ScenarioError(f"no site or depot named {name!r}")

    def inventory(self) -> dict[str, float]:
        """Starting litres per ``site/tank``."""
        return {t.key: t.initial_litres for t in self.tanks}

    def with_inventory(self, litres: dict[str, float]) -> Scenario:
        """The same scenario starting from other fuel levels (e.g. the ledger's view).

        Keys are ``site/tank`` or a site (or depot) name. A site with several tanks
        of its own is split in proportion to the tanks' levels in the file (by
        capacity when they are all empty). Unknown names are an error, so a typo in
        a fuel report never silently plans with the file's numbers.
        """
        new_levels = {t.key: t.initial_litres for t in self.tanks}
        for key, value in sorted(litres.items()):
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ScenarioError(f"inventory[{key!r}]: litres must be a number >= 0")
            if key in new_levels:
                new_levels[key] = float(value)
                continue
            tanks = [t for t in self.tanks if t.site == key]
            if not tanks:
                known = ", ".join(sorted({t.site for t in self.tanks}))
                raise ScenarioError(f"inventory[{key!r}]: no such site or tank (known: {known})")
            weights = [t.initial_litres for t in tanks]
            if sum(weights) <= 0:
                weights = [t.capacity_litres for t in tanks]
            total = sum(weights)
            for t, w in zip(tanks, weights, strict=True):
                new_levels[t.key] = float(value) * w / total
        for t in self.tanks:
            if new_levels[t.key] > t.capacity_litres + 1e-9:
                raise ScenarioError(
                    f"inventory[{t.key!r}]: {new_levels[t.key]:g} L exceeds the tank's "
                    f"capacity of {t.capacity_litres:g} L"
                )
        sites = tuple(
            replace(
                s,
                tanks=tuple(replace(t, initial_litres=new_levels[t.key]) for t in s.tanks),
            )
            for s in self.sites
        )
        return replace(self, sites=sites)

    def with_periods(self, periods: int) -> Scenario:
        """The first ``periods`` periods only: a horizon can be shortened, never stretched
        (resupply lists and profiles would repeat into periods the file never described)."""
        if periods < 1:
            raise ScenarioError("periods: must be at least 1")
        if periods > self.horizon.periods:
            raise ScenarioError(
                f"periods: {periods} is more than the scenario's horizon of "
                f"{self.horizon.periods} periods",
                hint="--periods can only shorten a plan; to plan longer, raise "
                "[horizon] periods in the scenario file (and extend its resupply lists)",
            )
        return replace(self, horizon=replace(self.horizon, periods=periods))

    def with_start(self, start: str) -> Scenario:
        """The same scenario dated from another first period (labels and orders only)."""
        from datetime import datetime

        try:
            datetime.fromisoformat(start)
        except ValueError as e:
            raise ScenarioError(f"start: {start!r} is not an ISO time like 2025-09-14T06:00") from e
        return replace(self, horizon=replace(self.horizon, start=start))

    def profile_values(self, name: str | None, periods: int | None = None) -> list[float]:
        """Multipliers for each period; profiles shorter than the horizon repeat."""
        n = self.horizon.periods if periods is None else periods
        if name is None:
            return [1.0] * n
        values = self.profiles[name]
        return [values[t % len(values)] for t in range(n)]
