"""Body schemas of the reserved kinds: one check per entry, before any fold reads it.

A validly signed entry can carry any body its author chose. The views read
bodies of the kinds plurictl writes (``mesh.``, ``roster.``, ``fuel.``, ``plan.``,
``order.``, ``vote.``, ``playbook.``); each kind has a schema here giving the
type and size bounds of every field a view reads. An entry whose body does not
fit is ignored by the views, with the reason recorded like any other refusal
(:class:`ledger.folds.Ignored`), never a crash.

Schemas are the *shape* (types, sizes, ranges); the views keep the *meaning*
(roles, references, states). Registering a kind's schema is one call
(:func:`register`); the vote kinds are registered here like the others, and a
view module may register a stricter schema for its own kinds.

Fields are optional unless listed as required; an optional field may be absent
or null. Fields not named are allowed (newer writers may add fields).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sized
from dataclasses import dataclass, field
from typing import Any

from ledger.entry import Entry

Check = Callable[[Any, str], str | None]

#: The largest integer any field may hold unless its schema says otherwise.
BIG = 2**53


#: The text checks and their length limit (see :func:`list_of`).
_TEXT_MAX: dict[Check, int] = {}
_STR = frozenset({str})
#: Checks that pass every value of one of these (type, most items or characters): a
#: schema tests those in line and calls the check only otherwise (same answers, and the
#: same message, which only the check itself writes).
Passes = tuple[tuple[type[Sized], int], ...]
_PASSES: dict[Check, Passes] = {}


def text(max_len: int = 4000) -> Check:
    def check(v: Any, path: str) -> str | None:
        if not isinstance(v, str):
            return f"{path} must be text"
        return f"{path} is longer than {max_len:,} characters" if len(v) > max_len else None

    _TEXT_MAX[check] = max_len  # lets list_of check a list of texts without a call per item
    _PASSES[check] = ((str, max_len),)
    return check


def whole(lo: int = -BIG, hi: int = BIG) -> Check:
    def check(v: Any, path: str) -> str | None:
        if not isinstance(v, int) or isinstance(v, bool):
            return f"{path} must be a whole number"
        return None if lo <= v <= hi else f"{path} must be from {lo:,} to {hi:,}"

    return check


def number(lo: float = -1e15, hi: float = 1e15) -> Check:
    def check(v: Any, path: str) -> str | None:
        if isinstance(v, bool) or not isinstance(v, int | float):
            return f"{path} must be a number"
        if isinstance(v, float) and not math.isfinite(v):
            return f"{path} must be a finite number"
        return None if lo <= v <= hi else f"{path} must be from {lo:g} to {hi:g}"

    return check


def binary(max_len: int = 64 * 1024) -> Check:
    def check(v: Any, path: str) -> str | None:
        if not isinstance(v, bytes):
            return f"{path} must be bytes"
        return f"{path} is longer than {max_len:,} bytes" if len(v) > max_len else None

    return check


def boolean() -> Check:
    def check(v: Any, path: str) -> str | None:
        return None if isinstance(v, bool) else f"{path} must be true or false"

    return check


def _anything(v: Any, path: str) -> str | None:
    return None


def anything() -> Check:
    return _anything


def list_of(item: Check, max_items: int = 10_000) -> Check:
    text_max = _TEXT_MAX.get(item)

    def check(v: Any, path: str) -> str | None:
        if not isinstance(v, list):
            return f"{path} must be a list"
        if len(v) > max_items:
            return f"{path} has more than {max_items:,} items"
        if item is _anything:
            return None
        if text_max is not None:
            for x in v:
                if not isinstance(x, str) or len(x) > text_max:
                    break
            else:
                return None  # what ``item`` says of each (the common case: ids), without a call
        for i, x in enumerate(v):
            if item(x, path):  # the item's own path is spelled out only for a problem
                return item(x, f"{path}[{i}]")
        return None

    if item is _anything:
        _PASSES[check] = ((list, max_items),)
    return check


def map_of(value: Check, max_items: int = 10_000) -> Check:
    """A map with text keys and values of one kind."""

    def check(v: Any, path: str) -> str | None:
        if not isinstance(v, dict):
            return f"{path} must be a map"
        if len(v) > max_items:
            return f"{path} has more than {max_items:,} entries"
        if value is _anything:
            return None
        for k, x in v.items():
            if value(x, path):  # the value's own path is spelled out only for a problem
                return value(x, f"{path}.{k}")
        return None

    if value is _anything:
        _PASSES[check] = ((dict, max_items),)
    return check


def either(*checks: Check) -> Check:
    def check(v: Any, path: str) -> str | None:
        problems = []
        for c in checks:  # checks are pure: stopping at the first that passes changes nothing
            problem = c(v, path)
            if problem is None:
                return None
            problems.append(problem)
        return problems[0]

    if all(_passes(c) for c in checks):  # passes whatever one of them passes
        _PASSES[check] = tuple(p for c in checks for p in _passes(c))
    return check


def _passes(check: Check) -> Passes:
    """What ``check`` passes for sure (a nested :class:`Schema` is not hashable: nothing)."""
    return () if isinstance(check, Schema) else _PASSES.get(check, ())


@dataclass(frozen=True)
class Schema:
    """A body: named fields with checks; ``required`` ones must be present and not null."""

    fields: dict[str, Check]
    required: frozenset[str] = field(default_factory=frozenset)
    _required_order: tuple[str, ...] = field(init=False, repr=False, compare=False, default=())
    _plan: tuple[tuple[str, Check, Passes], ...] = field(
        init=False, repr=False, compare=False, default=()
    )

    def __post_init__(self) -> None:
        # checked in name order (the first missing one is named), sorted once, not per body
        object.__setattr__(self, "_required_order", tuple(sorted(self.required)))
        plan = tuple((n, c, _passes(c)) for n, c in self.fields.items())
        object.__setattr__(self, "_plan", plan)

    def __call__(self, body: Any, path: str = "body") -> str | None:
        if not isinstance(body, dict):
            return f"{path} must be a map"
        for name in self._required_order:
            if body.get(name) is None:
                return f"{path}.{name} is required"
        for name, check, passes in self._plan:
            value = body.get(name)
            if value is None:
                continue
            for kind, most in passes:  # what the check would say, without the call
                if type(value) is kind and len(value) <= most:
                    break
            else:
                problem = check(value, f"{path}.{name}" if path != "body" else name)
                if problem:
                    return problem
        return None


def schema(required: Iterable[str] = (), **fields: Check) -> Schema:
    return Schema(fields, frozenset(required))


_REGISTRY: dict[str, Check] = {}


def register(kind: str, check: Check) -> None:
    """Give ``kind`` its schema (replacing any earlier one)."""
    _REGISTRY[kind] = check


def problem(e: Entry) -> str | None:
    """Why ``e``'s body does not fit its kind's schema (None: it fits, or the kind has none)."""
    return body_problem(e.kind, e.body)


def body_problem(kind: str, body: Any) -> str | None:
    """Why a body does not fit ``kind``'s schema: a writer asks before signing, since the
    views ignore an entry that does not fit."""
    check = _REGISTRY.get(kind)
    if check is None:
        return None
    found = check(body, "body")
    return f"malformed body: {found}" if found else None


def checks(kinds: Iterable[str]) -> dict[str, Check | None]:
    """Each kind's registered schema (None: it has none), looked up once for a fold over
    many entries; a body passes when ``check(body, "body")`` is None, and
    :func:`body_problem` then words what it says otherwise."""
    return {k: _REGISTRY.get(k) for k in kinds}


def split(entries: Iterable[Entry]) -> tuple[list[Entry], list[tuple[Entry, str]]]:
    """(entries whose bodies fit, [(entry, reason) for those that do not])."""
    good, bad = [], []
    for e in entries:
        why = problem(e)
        if why is None:
            good.append(e)
        else:
            bad.append((e, why))
    return good, bad


# --- the reserved kinds ------------------------------------------------------------------------

ID = text(64)  # an entry id or key as 64 hex characters (views check the hex)
IDS = list_of(ID, 100_000)
NAME = text(200)
NOTE = text(8000)
ROLE_LIST = list_of(text(32), 16)
LITRES = number(-1e12, 1e12)

_KINDS: dict[str, Check] = {
    "mesh.genesis": schema(
        name=NAME,
        admin_threshold=whole(-BIG, BIG),
        creator=NAME,
        roles=ROLE_LIST,
        admins=list_of(anything(), 64),
        protocol=whole(),
    ),
    "roster.change": schema(
        ["op"],
        op=text(32),
        key=ID,
        name=NAME,
        roles=ROLE_LIST,
        role=text(32),
        at=whole(-BIG, 2**63 - 1),
        k=whole(),
        successor=ID,
        reason=NOTE,
        after=IDS,
    ),
    "roster.approve": schema(["change"], change=ID, after=IDS),
    "fuel.report": schema(
        site=NAME,
        tank=NAME,
        fuel=NAME,
        litres=LITRES,
        supersedes=IDS,
        note=NOTE,
        via=NAME,  # the phone (dashboard device) that sent the reading; the author vouches
        photo=ID,  # content hash of a gauge photo kept beside the author's ledger
    ),
    "fuel.transfer": schema(
        ["op"],
        op=text(32),
        transfer=ID,
        litres=LITRES,
        tank=NAME,
        fuel=NAME,
        order=text(200),
        note=NOTE,
        reason=NOTE,
        **{"from": NAME, "to": NAME},
    ),
    "fuel.consumption": schema(site=NAME, litres_per_hour=LITRES, note=NOTE),
    "plan.propose": schema(
        ["plan_hash", "scenario"],
        plan_hash=text(200),
        scenario=text(200),
        horizon=map_of(anything(), 64),
        status=text(64),
        summary=map_of(anything(), 1000),
        blob=schema(["count", "hash"], count=whole(1, 64), hash=text(200)),
    ),
    "plan.part": schema(
        ["blob", "index", "data"], blob=text(200), index=whole(0, 63), data=binary()
    ),
    "plan.adopt": schema(["plan"], plan=ID, supersedes=IDS),
    "plan.preference": schema(["site", "rank"], site=NAME, rank=list_of(NAME, 200), note=NOTE),
    "plan.supersede": schema(["plan"], plan=ID, reason=NOTE),
    "order.ack": schema(["order"], order=text(200), note=NOTE),
    "order.deviation": schema(["order"], order=text(200), note=NOTE),
    "vote.part": schema(["items"], items=either(list_of(anything()), map_of(anything()))),
    "vote.charter": schema(
        title=text(1000),
        text=text(16_000),
        options=list_of(anything(), 1000),
        method=text(32),
        credits=whole(),
        roll=map_of(anything()),
        roll_parts=IDS,
        roll_size=whole(0, 10_000_000),
        roll_weight=whole(0, BIG),
        roll_source=text(1000),
        tellers=list_of(anything(), 1000),
        k=whole(),
        quorum_pct=number(),
        window_minutes=number(),
        secret=schema(
            ["ceremony", "keys", "qualified"],
            ceremony=ID,
            keys=binary(33 * 257 + 8),
            qualified=list_of(whole(1, 255), 255),
        ),
    ),
    "vote.ballot": schema(
        ["vote"],
        vote=ID,
        choice=either(list_of(anything()), map_of(anything())),
        replaces=IDS,
        sealed=binary(),  # a secret vote's encrypted ballot (field_guides/secret-ballots.md)
    ),
    "vote.stop": schema(["vote"], vote=ID, count=whole(0, BIG), root=text(200)),
    "vote.close": schema(
        ["vote"], vote=ID, count=whole(0, BIG), root=text(200), ballots=IDS, parts=IDS
    ),
    "vote.seal": schema(["vote", "sheet"], vote=ID, sheet=ID, root=text(200), share=binary()),
    "vote.share": schema(
        ["vote", "sheet", "root", "share"], vote=ID, sheet=ID, root=text(200), share=binary()
    ),
    "vote.ceremony": schema(
        ["tellers", "teller_keys", "k", "f"],
        tellers=list_of(ID, 255),
        teller_keys=map_of(ID, 255),
        k=whole(1, 255),
        f=whole(0, 255),
    ),
    "vote.deal": schema(["ceremony", "dealing"], ceremony=ID, dealing=binary()),
    "vote.complain": schema(["ceremony", "complaint"], ceremony=ID, complaint=binary(16)),
    "vote.justify": schema(["ceremony", "justification"], ceremony=ID, justification=binary(64)),
    "vote.checked": schema(["ceremony", "dealings"], ceremony=ID, dealings=list_of(ID, 255)),
    "playbook.run": schema(
        ["playbook", "hash"], playbook=text(64 * 1024), hash=text(200), site=NAME, note=NOTE
    ),
}
for _follow in ("sign", "fail", "skip", "abort", "resume", "waive"):
    _KINDS[f"playbook.{_follow}"] = schema(
        ["run"],
        run=ID,
        step=text(200),
        check=whole(-BIG, BIG),
        checks=anything(),  # the judge reports malformed checks and seen lists in the run
        seen=anything(),
        note=NOTE,
        reason=NOTE,
        readings=map_of(anything(), 32),  # the judge checks them against the step's limits
        override=NOTE,
        facts=anything(),
    )

for _kind, _check in _KINDS.items():
    register(_kind, _check)

#: Every kind plurictl's own commands write (each has a schema).
RESERVED_KINDS = frozenset(_KINDS)
