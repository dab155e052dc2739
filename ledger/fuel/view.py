"""Fuel view: tank readings, transfers and declared burn rates, per site.

A pure fold. Rules (also in ``field_guides/fuel-and-plans.md``):

* ``fuel.report`` is one tank reading. A reading names the readings of the same
  tank its author had seen (``supersedes``); the *current* readings of a tank
  are those no other reading supersedes. Two current readings (two operators
  read the same tank without seeing each other's, e.g. across a partition)
  are a **conflict**: both are shown; the tank counts with the lower value
  (never promise fuel that may not be there) until someone reads it again.
* ``fuel.transfer`` moves fuel between sites: ``plan`` (coordinator) ->
  ``dispatch`` (it left) -> ``receive`` (the receiving site confirms the
  litres that arrived), or ``cancel``. A transfer changes a site's inventory
  only after the tank readings it could not have been in: a delivery naming a
  tank counts if received after that tank's current reading; one naming no tank
  counts if received after the site's latest reading (it may undercount, it
  never counts fuel twice).
* Inventory = current readings + received deliveries - dispatched loads since
  (a load counts as gone unless every tank at its source was read after it left;
  a delivery received without a dispatch entry left its source too).
  ``fuel.consumption`` declares a burn rate; the estimate "now" subtracts it
  for the hours since the readings (display only: clocks never decide).

Ordering "after a reading" uses the entries' hybrid clocks: it estimates
quantities, it never decides whether an entry is valid.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ledger.entry import Entry
from ledger.folds import Ignored, parse_id_list, well_formed
from ledger.roster.view import Roster

REPORT, TRANSFER, CONSUMPTION = "fuel.report", "fuel.transfer", "fuel.consumption"
KINDS = (REPORT, TRANSFER, CONSUMPTION)
WRITERS = ("operator", "coordinator")
MAX_LITRES = 10_000_000

PLANNED, DISPATCHED, RECEIVED, CANCELLED = "planned", "dispatched", "received", "cancelled"


def hlc_ms(hlc: int) -> int:
    return hlc >> 16


@dataclass
class Reading:
    id: bytes
    author: bytes
    name: str
    site: str
    tank: str
    fuel: str
    litres: float
    hlc: int
    supersedes: list[bytes]
    note: str = ""
    via: str = ""  # the device that sent it, when a phone reported through the dashboard
    photo: str = ""  # content hash of a gauge photo held by the author's laptop

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id.hex(),
            "by": self.name,
            "author": self.author.hex(),
            "site": self.site,
            "tank": self.tank,
            "fuel": self.fuel,
            "litres": self.litres,
            "time_ms": hlc_ms(self.hlc),
            "note": self.note,
            **({"via": self.via} if self.via else {}),
            **({"photo": self.photo} if self.photo else {}),
        }


@dataclass
class Tank:
    site: str
    name: str
    readings: list[Reading] = field(default_factory=list)
    current: list[Reading] = field(default_factory=list)

    @property
    def conflict(self) -> bool:
        return len(self.current) > 1

    @property
    def litres(self) -> float:
        return min((r.litres for r in self.current), default=0.0)

    @property
    def read_hlc(self) -> int:
        return max((r.hlc for r in self.current), default=0)

    def to_json(self) -> dict[str, Any]:
        return {
            "tank": self.name,
            "litres": self.litres,
            "conflict": self.conflict,
            "current": [r.to_json() for r in self.current],
            "readings": len(self.readings),
        }


@dataclass
class Transfer:
    id: bytes
    source: str
    target: str
    litres: float
    fuel: str
    tank: str | None
    planned_by: str
    hlc: int
    order: str | None = None
    note: str = ""
    state: str = PLANNED
    dispatched: tuple[str, int, float] | None = None  # (by, hlc, litres loaded)
    received: tuple[str, int, float] | None = None  # (by, hlc, litres arrived)
    cancelled: tuple[str, int, str] | None = None  # (by, hlc, reason)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id.hex(),
            "from": self.source,
            "to": self.target,
            "tank": self.tank,
            "litres": self.litres,
            "fuel": self.fuel,
            "state": self.state,
            "planned_by": self.planned_by,
            "order": self.order,
            "note": self.note,
            "dispatched": None
            if self.dispatched is None
            else {
                "by": self.dispatched[0],
                "time_ms": hlc_ms(self.dispatched[1]),
                "litres": self.dispatched[2],
            },
            "received": None
            if self.received is None
            else {
                "by": self.received[0],
                "time_ms": hlc_ms(self.received[1]),
                "litres": self.received[2],
            },
            "cancelled": None
            if self.cancelled is None
            else {
                "by": self.cancelled[0],
                "time_ms": hlc_ms(self.cancelled[1]),
                "reason": self.cancelled[2],
            },
        }


@dataclass
class Site:
    name: str
    tanks: dict[str, Tank] = field(default_factory=dict)
    received: float = 0.0  # litres delivered after the readings
    dispatched: float = 0.0  # litres sent away after the readings
    burn_rate: float | None = None  # litres per hour, declared

    @property
    def readings_total(self) -> float:
        return sum(t.litres for t in self.tanks.values())

    @property
    def inventory(self) -> float:
        """Litres on site: current readings + deliveries since - loads sent since."""
        return max(0.0, self.readings_total + self.received - self.dispatched)

    @property
    def read_hlc(self) -> int:
        return max((t.read_hlc for t in self.tanks.values()), default=0)

    @property
    def conflicts(self) -> list[str]:
        return sorted(t.name for t in self.tanks.values() if t.conflict)

    def estimate(self, now_ms: int) -> float:
        """Inventory minus the declared burn since the latest reading (display only)."""
        if not self.burn_rate or not self.read_hlc:
            return self.inventory
        hours = max(0.0, (now_ms - hlc_ms(self.read_hlc)) / 3_600_000)
        return max(0.0, self.inventory - self.burn_rate * hours)

    def to_json(self) -> dict[str, Any]:
        return {
            "site": self.name,
            "inventory_litres": round(self.inventory, 3),
            "readings_litres": round(self.readings_total, 3),
            "received_since_litres": round(self.received, 3),
            "dispatched_since_litres": round(self.dispatched, 3),
            "burn_rate_lph": self.burn_rate,
            "read_time_ms": hlc_ms(self.read_hlc) if self.read_hlc else None,
            "conflicts": self.conflicts,
            "tanks": [t.to_json() for _, t in sorted(self.tanks.items())],
        }


@dataclass
class FuelState:
    sites: dict[str, Site] = field(default_factory=dict)
    transfers: dict[bytes, Transfer] = field(default_factory=dict)
    ignored: list[Ignored] = field(default_factory=list)

    def site(self, name: str) -> Site:
        if name not in self.sites:
            self.sites[name] = Site(name)
        return self.sites[name]

    def inventory(self) -> dict[str, float]:
        return {name: s.inventory for name, s in sorted(self.sites.items())}

    def to_json(self) -> dict[str, Any]:
        return {
            "sites": [s.to_json() for _, s in sorted(self.sites.items())],
            "transfers": [
                t.to_json()
                for _, t in sorted(self.transfers.items(), key=lambda kv: (kv[1].hlc, kv[0]))
            ],
            "ignored": [i.to_json() for i in sorted(self.ignored, key=lambda i: i.id)],
        }


# --- body checks ------------------------------------------------------------------------


def _name(value: Any) -> str | None:
    if isinstance(value, str) and 0 < len(value.strip()) <= 64:
        return value.strip()
    return None


def _litres(value: Any) -> float | None:
    number = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if number and 0 <= value <= MAX_LITRES else None


def _photo(value: Any) -> str:
    """A photo hash as 64 lowercase hex characters, else nothing (never a path)."""
    if isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return value
    return ""


def check_report(body: dict[str, Any]) -> str | None:
    if _name(body.get("site")) is None:
        return "site must be a name of 1-64 characters"
    if body.get("tank") is not None and _name(body.get("tank")) is None:
        return "tank must be a name of 1-64 characters"
    if _litres(body.get("litres")) is None:
        return f"litres must be a number from 0 to {MAX_LITRES:,}"
    if parse_id_list(body.get("supersedes")) is None:
        return "supersedes must be a list of reading ids"
    return None


def check_transfer(body: dict[str, Any]) -> str | None:
    op = body.get("op")
    if op == "plan":
        if _name(body.get("from")) is None or _name(body.get("to")) is None:
            return "from and to must be site names"
        if body["from"].strip() == body["to"].strip():
            return "from and to must be different sites"
        litres = _litres(body.get("litres"))
        if litres is None or litres <= 0:
            return "litres must be a positive number"
        return None
    if op in ("dispatch", "receive", "cancel"):
        if parse_id_list([body.get("transfer")]) is None:
            return "transfer must be the id of a planned transfer"
        if (
            op in ("dispatch", "receive")
            and body.get("litres") is not None
            and _litres(body.get("litres")) is None
        ):
            return "litres must be a number from 0"
        return None
    return f"unknown transfer op {op!r}"


# --- the fold ------------------------------------------------------------------------------


def fold(entries: Iterable[Entry], roster: Roster) -> FuelState:
    """Fuel state from any iterable of entries (other kinds are skipped)."""
    fitting, malformed = well_formed(entries, KINDS)
    mine = sorted(fitting, key=lambda e: (e.hlc, e.author, e.seq))
    seen: set[bytes] = set()
    state = FuelState()
    state.ignored.extend(malformed)
    readings: dict[bytes, Reading] = {}
    updates: list[Entry] = []
    for e in mine:
        if e.id in seen:
            continue
        seen.add(e.id)
        why = roster.authority(e.author, e.seq, *WRITERS)
        if why is not None:
            state.ignored.append(Ignored.of(e, why))
            continue
        if e.kind == REPORT:
            problem = check_report(e.body)
            if problem:
                state.ignored.append(Ignored.of(e, problem))
                continue
            r = Reading(
                e.id,
                e.author,
                roster.name_of(e.author),
                _name(e.body["site"]) or "",
                _name(e.body.get("tank")) or "main",
                str(e.body.get("fuel") or "diesel"),
                float(e.body["litres"]),
                e.hlc,
                parse_id_list(e.body.get("supersedes")) or [],
                str(e.body.get("note") or ""),
                str(e.body.get("via") or ""),
                _photo(e.body.get("photo")),
            )
            readings[e.id] = r
        elif e.kind == CONSUMPTION:
            site, rate = _name(e.body.get("site")), _litres(e.body.get("litres_per_hour"))
            if site is None or rate is None:
                state.ignored.append(Ignored.of(e, "needs site and litres_per_hour >= 0"))
                continue
            state.site(site).burn_rate = rate  # latest by clock: a declared rate, display only
        else:
            problem = check_transfer(e.body)
            if problem:
                state.ignored.append(Ignored.of(e, problem))
                continue
            if e.body["op"] == "plan":
                if roster.authority(e.author, e.seq, "coordinator") is not None:
                    state.ignored.append(Ignored.of(e, "only a coordinator plans transfers"))
                    continue
                state.transfers[e.id] = Transfer(
                    e.id,
                    e.body["from"].strip(),
                    e.body["to"].strip(),
                    float(e.body["litres"]),
                    str(e.body.get("fuel") or "diesel"),
                    _name(e.body.get("tank")),
                    roster.name_of(e.author),
                    e.hlc,
                    order=str(e.body["order"]) if e.body.get("order") else None,
                    note=str(e.body.get("note") or ""),
                )
            else:
                updates.append(e)
    _tanks(state, readings)
    _apply_updates(state, updates, roster)
    _inventory(state)
    return state


def _tanks(state: FuelState, readings: dict[bytes, Reading]) -> None:
    # A reading only replaces readings of the same tank: an id of another tank's
    # reading in ``supersedes`` has no effect (it could otherwise zero any tank).
    superseded = {
        old
        for r in readings.values()
        for old in r.supersedes
        if old in readings and (readings[old].site, readings[old].tank) == (r.site, r.tank)
    }
    for r in sorted(readings.values(), key=lambda r: (r.hlc, r.id)):
        tank = state.site(r.site).tanks.setdefault(r.tank, Tank(r.site, r.tank))
        tank.readings.append(r)
    for site in state.sites.values():
        for tank in site.tanks.values():
            tank.current = sorted(
                (r for r in tank.readings if r.id not in superseded), key=lambda r: (r.hlc, r.id)
            )


def _apply_updates(state: FuelState, updates: list[Entry], roster: Roster) -> None:
    """Facts beat plans, whatever the arrival order or clocks: a transfer that was
    received is received, even if a coordinator cancelled it concurrently; two
    confirmations of one step count once, with the lower litres (conservative)."""
    steps: dict[bytes, dict[str, list[tuple[str, int, float | str, bytes]]]] = {}
    by_id = {e.id: e for e in updates}
    for e in updates:
        t = state.transfers.get(bytes.fromhex(e.body["transfer"]))
        if t is None:
            state.ignored.append(Ignored.of(e, "names a transfer that is not (yet) here"))
            continue
        op, who = e.body["op"], roster.name_of(e.author)
        if op == "cancel" and roster.authority(e.author, e.seq, "coordinator") is not None:
            state.ignored.append(Ignored.of(e, "only a coordinator cancels a transfer"))
            continue
        litres = _litres(e.body.get("litres"))
        value: float | str = (
            str(e.body.get("reason") or "")
            if op == "cancel"
            else (t.litres if litres is None else litres)
        )
        steps.setdefault(t.id, {}).setdefault(op, []).append((who, e.hlc, value, e.id))
    for tid, ops in steps.items():
        t = state.transfers[tid]
        for op, events in ops.items():
            events.sort(key=lambda x: (x[1], x[3]))
            if op == "cancel":
                who, hlc, reason, _ = events[0]
                t.cancelled = (who, hlc, str(reason))
            else:
                low = min(float(x[2]) for x in events)
                who, hlc, _, _ = events[0]
                if op == "dispatch":
                    t.dispatched = (who, hlc, low)
                else:
                    t.received = (who, hlc, low)
            for extra in events[1:]:
                state.ignored.append(
                    Ignored.of(by_id[extra[3]], f"transfer already had a {op}; counted once")
                )
        t.state = (
            RECEIVED
            if t.received
            else DISPATCHED
            if t.dispatched
            else CANCELLED
            if t.cancelled
            else PLANNED
        )


def _inventory(state: FuelState) -> None:
    for t in state.transfers.values():
        if t.received is not None:
            site = state.site(t.target)
            tank = site.tanks.get(t.tank) if t.tank else None
            after = tank.read_hlc if tank is not None else site.read_hlc
            if t.received[1] > after:
                site.received += t.received[2]
        # A delivery received without a dispatch entry still left its source.
        left = t.dispatched or t.received
        if left is not None:
            site = state.site(t.source)
            # Which source tank it came from is unknown: it is deducted unless every
            # tank there was read after it left (never count fuel that has gone).
            oldest = min((tk.read_hlc for tk in site.tanks.values()), default=0)
            if left[1] > oldest:
                site.dispatched += left[2]
