"""Step fields that bring playbooks closer to the field (field_guides/playbooks.md):

* ``signers = ["role:grid-operator", "role:station-operator"]`` — the step needs one
  sign-off from each named function (a roster role, or a function an admin granted,
  e.g. ``plurictl roster grant dave grid-operator``), each by a different person;
* ``readings = { frequency = { min = 49.5, max = 50.5, unit = "Hz" } }`` — the crew
  enters readings when signing (``--reading frequency=49.8``); out of range, the step
  cannot be signed without an override reason, which the signed entry records;
* ``type = "release"`` — a coordinator releases what follows (e.g. the next load block),
  seeing the readings the crew entered so far.

Parsing reports problems through the caller's ``bad(message, field)``; the rest are
pure functions the view and the writer share.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

STEP_TYPES = ("task", "release")
#: ``role:NAME``: a roster role or a function label (lower-case, digits, '-')
SIGNER_RE = re.compile(r"^role:([a-z][a-z0-9-]{0,31})$")
READING_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MAX_READINGS = 12

Bad = Callable[[str, str], None]


@dataclass(frozen=True)
class ReadingSpec:
    """A reading a step asks for, with the limits a sign-off must respect."""

    name: str
    min: float | None = None
    max: float | None = None
    unit: str = ""
    required: bool = True

    def describe(self) -> str:
        return self._limits() + ("" if self.required else " (optional)")

    def _limits(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if self.min is not None and self.max is not None:
            return f"{self.name} {_num(self.min)}-{_num(self.max)}{unit}"
        if self.min is not None:
            return f"{self.name} >= {_num(self.min)}{unit}"
        if self.max is not None:
            return f"{self.name} <= {_num(self.max)}{unit}"
        return f"{self.name}{unit and f' ({unit.strip()})'}"

    def problem(self, value: float) -> str | None:
        """Why ``value`` is out of range, or None."""
        unit = f" {self.unit}" if self.unit else ""
        if self.min is not None and value < self.min:
            by = f"{self.min - value:.6g}"
            return (
                f"{self.name} {_num(value)}{unit} is below {_num(self.min)}{unit} (by {by}{unit})"
            )
        if self.max is not None and value > self.max:
            by = f"{value - self.max:.6g}"
            return (
                f"{self.name} {_num(value)}{unit} is above {_num(self.max)}{unit} (by {by}{unit})"
            )
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "min": self.min,
            "max": self.max,
            "unit": self.unit,
            "required": self.required,
        }


def _num(value: float) -> str:
    return f"{value:g}"


def parse_step_fields(
    raw: Mapping[str, Any], role: Any, max_signoffs: int, bad: Bad
) -> tuple[str, tuple[str, ...], tuple[ReadingSpec, ...], Any]:
    """(type, signers, readings, signoffs) of a step table; problems through ``bad``."""
    kind = parse_type(raw.get("type"), bad)
    signers = parse_signers(raw.get("signers"), bad)
    readings = parse_readings(raw.get("readings"), bad)
    if kind == "release" and role != "coordinator":
        bad('a release step is signed by a coordinator: role = "coordinator"', "role")
    signoffs = raw.get("signoffs", len(signers) or 1)
    if signers and signoffs != len(signers):
        bad(
            f"{len(signers)} signers are listed: signoffs must be {len(signers)} or left out",
            "signoffs",
        )
    elif (
        not isinstance(signoffs, int)
        or isinstance(signoffs, bool)
        or not 1 <= signoffs <= max_signoffs
    ):
        bad(f"must be a whole number from 1 to {max_signoffs}, got {signoffs!r}", "signoffs")
    return kind, signers, readings, signoffs


def parse_type(value: Any, bad: Bad) -> str:
    if value is None:
        return "task"
    if value not in STEP_TYPES:
        bad(f"must be one of {', '.join(STEP_TYPES)}, got {value!r}", "type")
        return "task"
    return str(value)


def parse_signers(value: Any, bad: Bad) -> tuple[str, ...]:
    """``["role:grid-operator", ...]`` -> the function names, in order (repeats allowed:
    two different grid operators)."""
    if value is None:
        return ()
    if not isinstance(value, list) or not value or len(value) > 9:
        bad('must be a list of 1 to 9 entries like "role:grid-operator"', "signers")
        return ()
    out = []
    for item in value:
        m = SIGNER_RE.match(item) if isinstance(item, str) else None
        if m is None:
            bad(
                f'{item!r} is not "role:NAME" (NAME: a roster role or a function such as '
                "grid-operator: lower-case letters, digits and '-')",
                "signers",
            )
            return ()
        out.append(m.group(1))
    return tuple(out)


def parse_readings(value: Any, bad: Bad) -> tuple[ReadingSpec, ...]:
    if value is None:
        return ()
    if not isinstance(value, dict) or not value or len(value) > MAX_READINGS:
        bad(
            f"must be a table of 1 to {MAX_READINGS} readings, e.g. "
            'readings = { frequency = { min = 49.5, max = 50.5, unit = "Hz" } }',
            "readings",
        )
        return ()
    out = []
    for name, spec in value.items():
        reading = _reading(name, spec, bad)
        if reading is not None:
            out.append(reading)
    return tuple(out)


def _reading(name: str, spec: Any, bad: Bad) -> ReadingSpec | None:
    where = f"readings.{name}"
    if not READING_RE.match(name):
        bad(f"{name!r}: reading names are lower-case letters, digits and '_'", where)
        return None
    if not isinstance(spec, dict):
        bad('must be a table, e.g. { min = 380, max = 440, unit = "V" }', where)
        return None
    unknown = set(spec) - {"min", "max", "unit", "required"}
    if unknown:
        bad(
            f"unknown field(s) {', '.join(sorted(unknown))}; allowed: min, max, unit, required",
            where,
        )
        return None
    limits = {}
    for key in ("min", "max"):
        v = spec.get(key)
        if v is not None and (
            isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v)
        ):
            bad(f"'{key}' must be a number, got {v!r}", where)
            return None
        limits[key] = None if v is None else float(v)
    if limits["min"] is not None and limits["max"] is not None and limits["min"] > limits["max"]:
        bad(f"min {limits['min']:g} is above max {limits['max']:g}", where)
        return None
    unit, required = spec.get("unit", ""), spec.get("required", True)
    if not isinstance(unit, str) or len(unit) > 16 or not isinstance(required, bool):
        bad("'unit' must be a short text and 'required' true or false", where)
        return None
    return ReadingSpec(name, limits["min"], limits["max"], unit.strip(), required)


# --- shared by the view and the writer ---------------------------------------------------


def readings_problems(
    specs: Sequence[ReadingSpec], given: Any, override: Any
) -> tuple[dict[str, float], list[str]]:
    """(the valid readings of a sign-off body, what is wrong with them). With a non-empty
    ``override`` reason, out-of-range values are recorded, not wrong."""
    values: dict[str, float] = {}
    problems: list[str] = []
    raw = given if isinstance(given, dict) else {}
    if given is not None and not isinstance(given, dict):
        problems.append("'readings' must be a table of name = number")
    known = {s.name: s for s in specs}
    for name, value in raw.items():
        if name not in known:
            problems.append(f"unknown reading {name!r} (this step takes {_names(specs)})")
        elif (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            problems.append(f"{name} must be a number, got {value!r}")
        else:
            values[name] = float(value)
    overridden = isinstance(override, str) and bool(override.strip())
    for spec in specs:
        if spec.name not in values:
            if spec.required and spec.name not in raw:
                problems.append(f"missing reading {spec.describe()}")
            continue
        why = spec.problem(values[spec.name])
        if why and not overridden:
            problems.append(f"out of range: {why}")
    return values, problems


def _names(specs: Sequence[ReadingSpec]) -> str:
    return ", ".join(s.name for s in specs) or "no readings"


def out_of_range(specs: Sequence[ReadingSpec], values: Mapping[str, float]) -> list[str]:
    """The readings outside their limits (what an override was given for)."""
    by_name = {s.name: s for s in specs}
    return [
        why
        for name, v in values.items()
        if name in by_name
        for why in [by_name[name].problem(v)]
        if why
    ]


def match_signers(
    slots: Sequence[str], people: Sequence[tuple[Any, Iterable[str]]]
) -> tuple[dict[int, Any], list[str]]:
    """Assign distinct people to the step's function slots (a maximum matching).

    ``people``: (who, the roles and functions they held when signing), in sign-off
    order. Returns (slot index -> who, the functions still missing)."""
    held = [(who, set(roles)) for who, roles in people]
    owner: dict[int, int] = {}  # slot -> index into held

    def place(p: int, tried: set[int]) -> bool:
        for s, function in enumerate(slots):
            if function in held[p][1] and s not in tried:
                tried.add(s)
                if s not in owner or place(owner[s], tried):
                    owner[s] = p
                    return True
        return False

    for p in range(len(held)):
        place(p, set())
    missing = [f for s, f in enumerate(slots) if s not in owner]
    return {s: held[p][0] for s, p in sorted(owner.items())}, missing
