"""The playbook model: steps, checks, problems and durations (no parsing here).

``ledger.playbooks.format`` turns TOML text into these objects and reports
:class:`Problem` lists; views and writers work with the objects only.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from ledger.errors import PlaybookInvalid as PlaybookInvalid
from ledger.playbooks.fields import ReadingSpec

FORMAT = 1
#: Roles a step may require. Observers carry no authority, so they cannot sign.
STEP_ROLES = ("admin", "coordinator", "operator", "teller")
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
MAX_STEPS = 200
MAX_SIGNOFFS = 9
MAX_HOLD_S = 7 * 24 * 3600
#: A run embeds the text in one ledger entry (64 KiB cap); leave room for the rest.
MAX_TEXT_BYTES = 60_000

TOP_FIELDS = (
    "format",
    "id",
    "title",
    "version",
    "roles",
    "summary",
    "sources",
    "abort_criteria",
    "steps",
)
STEP_FIELDS = (
    "id",
    "title",
    "instructions",
    "prerequisites",
    "role",
    "signoffs",
    "hold",
    "checks",
    "abort_criteria",
    "type",
    "signers",
    "readings",
)
#: check type -> {field: (kind, required)}; every check also takes ``required``.
CHECK_TYPES: dict[str, dict[str, tuple[str, bool]]] = {
    "fuel_at_least": {"site": ("text", False), "litres": ("litres", True)},
    "plan_adopted_covers_tier": {"tier": ("tier", True)},
    "fuel_hours_at_least": {"site": ("text", False), "hours": ("hours", True)},
    "plan_adopted": {},
    "vote_final": {"vote": ("text", True)},
    "step_done": {"step": ("step", True)},
    "manual": {"text": ("text", True)},
}
#: Checks answered by ledger facts (fuel, plans); only these can be waived.
FACT_CHECKS = frozenset(
    {
        "fuel_at_least",
        "plan_adopted_covers_tier",
        "fuel_hours_at_least",
        "plan_adopted",
        "vote_final",
    }
)

_DURATION_RE = re.compile(r"^(?:\d+[dhms])+$")
_DURATION_PART = re.compile(r"(\d+)([dhms])")
_UNIT_S = {"d": 86400, "h": 3600, "m": 60, "s": 1}


# --- the parsed playbook -----------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One check of a step; ``required`` checks block the step until satisfied."""

    type: str
    required: bool = True
    site: str | None = None
    litres: float | None = None
    hours: float | None = None
    tier: int | None = None
    step: str | None = None
    text: str | None = None
    vote: str | None = None

    @property
    def needs_facts(self) -> bool:
        return self.type in FACT_CHECKS

    def describe(self, run_site: str | None = None) -> str:
        """The check in words, with the run's site filled in."""
        if self.type == "fuel_at_least":
            site = self.site or run_site or "(the run's site)"
            return f"fuel at {site} >= {_num(self.litres)} L"
        if self.type == "plan_adopted_covers_tier":
            return f"adopted plan covers tier {self.tier} load"
        if self.type == "fuel_hours_at_least":
            site = self.site or run_site or "(the run's site)"
            return f"fuel at {site} lasts >= {_num(self.hours)} h at its burn rate"
        if self.type == "plan_adopted":
            return "a plan is adopted"
        if self.type == "vote_final":
            return f"vote {self.vote!r} is FINAL"
        if self.type == "step_done":
            return f"step {self.step!r} is done"
        return f"confirm: {self.text}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "required": self.required}
        for name in ("site", "litres", "hours", "tier", "step", "text", "vote"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    instructions: str
    role: str
    signoffs: int = 1
    prerequisites: tuple[str, ...] = ()
    hold_s: int = 0
    hold: str | None = None  # as written, e.g. "10m"
    checks: tuple[Check, ...] = ()
    abort_criteria: tuple[str, ...] = ()
    type: str = "task"  # or "release": a coordinator releases what follows
    signers: tuple[str, ...] = ()  # functions, one distinct person each (fields.py)
    readings: tuple[ReadingSpec, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "instructions": self.instructions,
            "role": self.role,
            "signoffs": self.signoffs,
            "prerequisites": list(self.prerequisites),
            "hold": self.hold,
            "hold_s": self.hold_s,
            "checks": [c.to_json() for c in self.checks],
            "abort_criteria": list(self.abort_criteria),
            "type": self.type,
            "signers": [f"role:{f}" for f in self.signers],
            "readings": [r.to_json() for r in self.readings],
        }


@dataclass(frozen=True)
class Playbook:
    id: str
    title: str
    version: str
    roles: tuple[str, ...]
    steps: tuple[Step, ...]
    text: str
    summary: str = ""
    sources: tuple[str, ...] = ()
    abort_criteria: tuple[str, ...] = ()
    by_id: dict[str, Step] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.by_id.update({s.id: s for s in self.steps})

    @property
    def hash(self) -> str:
        return text_hash(self.text)

    def step(self, step_id: str) -> Step | None:
        return self.by_id.get(step_id)

    def needs_site(self) -> bool:
        """True if a required fuel check names no site and so needs the run's ``--site``."""
        return any(
            c.type in ("fuel_at_least", "fuel_hours_at_least") and c.required and not c.site
            for s in self.steps
            for c in s.checks
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "version": self.version,
            "hash": self.hash,
            "roles": list(self.roles),
            "summary": self.summary,
            "sources": list(self.sources),
            "abort_criteria": list(self.abort_criteria),
            "steps": [s.to_json() for s in self.steps],
        }


def text_hash(text: str) -> str:
    """SHA-256 of the UTF-8 text: equal to ``sha256sum`` of the file."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- problems ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a playbook file, located as precisely as possible."""

    message: str
    line: int | None = None
    step: str | None = None  # "'sync-gen-2'" or "steps[3]"
    field: str | None = None

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.step is not None:
            where.append(f"step {self.step}")
        if self.field is not None:
            where.append(f"field '{self.field}'")
        return f"{', '.join(where)}: {self.message}" if where else self.message

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "step": self.step, "field": self.field, "message": self.message}


def parse_duration(text: str) -> int:
    """Seconds in '10m', '2h', '1h30m', '90s', '1d'; ValueError with the reason otherwise."""
    if not isinstance(text, str):
        raise ValueError('must be a text like "10m", "2h" or "1h30m" (in quotes)')
    compact = text.replace(" ", "").lower()
    if not compact or not _DURATION_RE.match(compact):
        raise ValueError(f'{text!r} is not a duration; write e.g. "90s", "10m", "2h" or "1h30m"')
    parts = _DURATION_PART.findall(compact)
    units = [u for _, u in parts]
    if len(set(units)) != len(units) or units != sorted(units, key="dhms".index):
        raise ValueError(f"{text!r}: give each unit once, largest first (e.g. 1h30m)")
    seconds = sum(int(n) * _UNIT_S[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError("a hold must be longer than zero (leave 'hold' out for none)")
    if seconds > MAX_HOLD_S:
        raise ValueError(f"{text!r} is longer than the 7-day limit")
    return seconds


def format_duration(seconds: int | float) -> str:
    """Seconds as '1h05m', '4m12s', '35s' for countdowns."""
    s = max(0, int(seconds))
    days, s = divmod(s, 86400)
    hours, s = divmod(s, 3600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{s:02d}s"
    return f"{s}s"


def _num(value: float | None) -> str:
    if value is None:
        return "?"
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,}"


def dependencies(step: Step) -> list[str]:
    """Steps that must be done before ``step``: prerequisites and required step_done checks."""
    deps = list(step.prerequisites)
    for c in step.checks:
        if c.type == "step_done" and c.required and c.step and c.step not in deps:
            deps.append(c.step)
    return deps
