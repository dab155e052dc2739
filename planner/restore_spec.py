"""The ``[restore]`` table of a scenario: what a restoration order needs beyond the plan.

Everything here has a default, so ``plan restore`` runs on any scenario; the table only
says what differs from the defaults. Nothing here changes a plan's hash: the allocation
plan never reads it.

Defaults, with where they come from (``field_guides/restoration.md`` cites them):

* **black start**: units named in ``black_start``; when none are named, every genset
  the scenario adds (``element = "new"``) or that burns fuel from a tank (a diesel set
  starts from its own batteries), and every grid connection in service;
* **block loading**: a genset accepts a load step of ``block_load_pct`` of its rating
  at once (ISO 8528-5 performance classes; 25 % is a cautious figure for a
  turbocharged diesel);
* **cranking**: a unit that cannot black start draws ``cranking_mw`` from the live
  network in the step it starts (default 5 % of its rating);
* **spinning reserve**: the rating of the units running stays ``reserve_pct`` (10 %)
  above what is drawn at every step, cold-load pickup included;
* **cold-load pickup**: a returning load draws ``factor`` times its demand for its
  first ``minutes`` (per load class: residential 2.0 x for 30 min, commercial 1.5 x for
  15 min, critical 1.2 x for 10 min).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from planner.scenario_reader import _Reader

COLD_LOAD_DEFAULTS: dict[str, tuple[float, float]] = {
    "residential": (2.0, 30.0),
    "commercial": (1.5, 15.0),
    "critical": (1.2, 10.0),
}
MAX_STEPS = 200


@dataclass(frozen=True)
class UnitRestore:
    black_start: bool | None = None  # None: the default rule
    cranking_mw: float | None = None  # None: 5 % of rating
    block_load_pct: float | None = None  # None: the table's block_load_pct


@dataclass(frozen=True)
class Block:
    """Loads that close together (one feeder breaker)."""

    name: str
    loads: tuple[str, ...]


@dataclass(frozen=True)
class RestoreSpec:
    step_minutes: float = 10.0
    hold_minutes: float = 5.0
    steps: int | None = None  # None: enough for every block and unit
    blocks_per_step: int = 1
    reserve_pct: float = 10.0  # online rating kept above what is drawn, % of it
    block_load_pct: float = 25.0
    black_start: tuple[str, ...] | None = None  # None: not written, the default rule
    units: dict[str, UnitRestore] = field(default_factory=dict)
    cold_load: dict[str, tuple[float, float]] = field(
        default_factory=lambda: dict(COLD_LOAD_DEFAULTS)
    )
    load_class: dict[str, str] = field(default_factory=dict)
    blocks: tuple[Block, ...] = ()
    #: unit names not among [[generators]]: the network's own units (``ext_grid0``, an
    #: sgen), checked once it is read (``restore_case``), as (name, field)
    unresolved: tuple[tuple[str, str], ...] = ()
    #: field (``black_start``, ``units.NAME.cranking_mw``) -> ``FILE: field ... (line N)``
    where: dict[str, str] = field(default_factory=dict, compare=False)

    def class_of(self, load: str, tier: int) -> str:
        """A load's cold-load class: as named, else residential for tier 3, else commercial."""
        return self.load_class.get(load, "residential" if tier >= 3 else "commercial")


def read_restore(
    root: _Reader,
    units: list[str],
    loads: dict[str, int],
    others: dict[str, str] | None = None,
) -> RestoreSpec:
    """Read and check ``[restore]`` (absent: all defaults). ``others``: generators that
    take no part in the order, and why (PV and batteries rejoin once the island is
    stable). ``loads``: each load's tier."""
    r = root.sub("restore", root.table("restore"))
    step = r.num("step_minutes", 10.0, lo=0.0, lo_open=True, hi=24 * 60)
    hold = r.num("hold_minutes", 5.0, lo=0.0, hi=24 * 60)
    if hold > step:  # the order's minutes assume a step every step_minutes
        raise r.fail(
            "hold_minutes",
            f"{hold:g} min is longer than a step ({step:g} min): the order would not keep "
            "its own timing; raise step_minutes to at least the hold",
        )
    steps = r.whole("steps", None, lo=1, hi=MAX_STEPS)
    per_step = r.whole("blocks_per_step", 1, lo=1, hi=50)
    reserve = r.num("reserve_pct", 10.0, lo=0.0, hi=100.0)
    pct = r.num("block_load_pct", 25.0, lo=0.0, lo_open=True, hi=100.0)
    others = others or {}
    later: list[tuple[str, str]] = []
    black = None
    if "black_start" in r.data:
        black = _names(r, "black_start", units, "unit", others, later)
    unit_specs = _units(r, units, others, later)
    where = {key: r.at(key) for key in ["black_start", *(k for _, k in later)]}
    for name in unit_specs:
        for key in ("black_start", "cranking_mw"):
            where[f"units.{name}.{key}"] = r.at(f"units.{name}.{key}")
    cold = _cold_load(r)
    classes = _classes(r, loads, cold)
    blocks = _blocks(r, loads)
    r.finish()
    return RestoreSpec(
        step_minutes=step,
        hold_minutes=hold,
        steps=steps,
        blocks_per_step=per_step,
        reserve_pct=reserve,
        block_load_pct=pct,
        black_start=None if black is None else tuple(black),
        units=unit_specs,
        cold_load=cold,
        load_class=classes,
        blocks=blocks,
        unresolved=tuple(later),
        where=where,
    )


def _names(
    r: _Reader,
    key: str,
    known: Collection[str],
    what: str,
    others: dict[str, str] | None = None,
    later: list[tuple[str, str]] | None = None,
) -> list[str]:
    """The names under ``key``; with ``later``, unknown ones are kept there (checked
    against the network) instead of refused here."""
    value = r._get(key, [], False)
    if not isinstance(value, list) or any(not isinstance(v, str) for v in value):
        raise r.fail(key, f"must be a list of {what} names, got {value!r}")
    for v in value:
        if others and v in others:
            raise r.fail(key, f"{v!r} takes no part in the order: {others[v]}")
        if v not in known and later is not None:
            later.append((v, key))
        elif v not in known:
            raise r.fail(key, f"no {what} named {v!r} in the scenario")
    if len(set(value)) != len(value):
        twice = next(v for v in value if value.count(v) > 1)
        raise r.fail(key, f"names the {what} {twice!r} twice")
    return list(value)


def _units(
    r: _Reader, known: list[str], others: dict[str, str], later: list[tuple[str, str]]
) -> dict[str, UnitRestore]:
    table = r.table("units")
    sub = r.sub("units", table)
    out: dict[str, UnitRestore] = {}
    for name in sorted(table):
        if name in others:
            raise sub.fail(name, f"{name!r} takes no part in the order: {others[name]}")
        if name not in known:
            later.append((name, f"units.{name}"))  # perhaps the network's own unit
        u = sub.sub(name, sub.table(name))
        out[name] = UnitRestore(
            black_start=u.flag("black_start", False) if "black_start" in u.data else None,
            cranking_mw=u.num("cranking_mw", None, lo=0.0),
            block_load_pct=u.num("block_load_pct", None, lo=0.0, lo_open=True, hi=100.0),
        )
        u.finish()
    return out


def _cold_load(r: _Reader) -> dict[str, tuple[float, float]]:
    table = r.table("cold_load")
    sub = r.sub("cold_load", table)
    out = dict(COLD_LOAD_DEFAULTS)
    for name in sorted(table):
        c = sub.sub(name, sub.table(name))
        factor = c.num("factor", required=True, lo=1.0, hi=10.0)
        minutes = c.num("minutes", required=True, lo=0.0, hi=24 * 60)
        c.finish()
        out[name] = (factor, minutes)
    return out


def _classes(r: _Reader, loads: dict[str, int], cold: dict[str, Any]) -> dict[str, str]:
    table = r.table("load_class")
    sub = r.sub("load_class", table)
    for name in sorted(table):
        if name not in loads:
            close = difflib.get_close_matches(name, sorted(loads), n=3)
            hint = f"; closest: {', '.join(close)}" if close else ""
            raise sub.fail(name, f"no load of that name in [[loads]]{hint}")
        cls = sub.text(name)
        if cls not in cold:
            raise sub.fail(name, f"unknown class {cls!r}; classes: {', '.join(sorted(cold))}")
    return {str(k): str(v) for k, v in table.items()}


def _blocks(r: _Reader, loads: dict[str, int]) -> tuple[Block, ...]:
    out: list[Block] = []
    seen: dict[str, str] = {}
    for i, t in enumerate(r.tables("blocks")):
        b = r.sub("blocks", t, i)
        name = b.text("name", required=True)
        members = _names(b, "loads", loads, "load")
        if not members:
            raise b.fail("loads", "must name at least one load")
        tiers = sorted({loads[m] for m in members})
        if len(tiers) > 1:
            raise b.fail("loads", f"mixes tiers {tiers}: a block is one tier (split it)")
        b.finish()
        for m in members:
            if m in seen:
                raise b.fail("loads", f"load {m!r} is already in block {seen[m]!r}")
            seen[m] = name
        if name in {x.name for x in out} or (name in loads and name not in members):
            raise b.fail("name", f"block name {name!r} is already used")
        out.append(Block(name, tuple(members)))
    return tuple(out)
