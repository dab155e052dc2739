"""Plans view: proposed plans, which one is adopted for each horizon, and its orders.

A pure fold over ``plan.*`` and ``order.*`` entries (plus the winners of FINAL
votes whose options are plans). The rules, also in ``fuel-and-plans.md``:

* ``plan.propose`` carries the plan's summary and a content hash; the full plan
  and its dispatch orders travel as ``plan.part`` entries of the same author
  (zlib-compressed JSON, at most 48 KiB each, named by content hash and index),
  so every laptop that has the entries has the orders.
* ``plan.adopt`` (coordinator) adopts a proposed plan for its horizon (the
  scenario name and start); it names the adoptions of that horizon its author
  had seen (``supersedes``). A FINAL vote whose winning option refers to a plan
  counts as an adoption too (by the council).
* **Exactly one adopted plan per horizon**, the same on every laptop: among the
  adoptions that no other adoption supersedes, the council's (a vote) wins over
  a coordinator's; then the plan serving more of tier 1, then tier 2, then
  tier 3; then the smallest adoption id. Clocks never decide.
* ``plan.supersede`` (coordinator) withdraws a plan: adoptions of it stop
  counting and the horizon falls back to the rule above among the others.
* ``order.ack`` and ``order.deviation`` (operators) acknowledge an order of a
  plan, or report doing something else.
"""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ledger.entry import Entry
from ledger.folds import Ignored, well_formed
from ledger.roster.view import Roster

PROPOSE, PART, ADOPT, SUPERSEDE = "plan.propose", "plan.part", "plan.adopt", "plan.supersede"
ACK, DEVIATION = "order.ack", "order.deviation"
KINDS = (PROPOSE, PART, ADOPT, SUPERSEDE, ACK, DEVIATION)
#: planner statuses a coordinator may adopt ("partial": every priority met, ties not pinned)
ADOPTABLE = ("solved", "partial")
PART_BYTES = 48 * 1024


def blob_hash(blob: bytes) -> str:
    return hashlib.blake2b(blob, digest_size=32).hexdigest()


def pack_content(plan: dict[str, Any], orders: list[dict[str, Any]]) -> bytes:
    """The compressed attachment: the full plan and its orders (canonical JSON)."""
    text = json.dumps({"plan": plan, "orders": orders}, sort_keys=True, separators=(",", ":"))
    return zlib.compress(text.encode(), 9)


def split(blob: bytes) -> list[bytes]:
    return [blob[i : i + PART_BYTES] for i in range(0, len(blob), PART_BYTES)] or [b""]


@dataclass
class Proposal:
    id: bytes
    author: bytes
    by: str
    hlc: int
    plan_hash: str
    scenario: str
    horizon: str
    status: str
    summary: dict[str, Any]
    blob: dict[str, Any]
    content: dict[str, Any] | None = None
    withdrawn: str | None = None

    @property
    def tier_served(self) -> tuple[float, float, float]:
        """Served % of tiers 1-3 as the proposer summarised them (0 when missing or not a number)."""
        tiers = self.summary.get("tiers")
        tiers = tiers if isinstance(tiers, dict) else {}
        return (_pct(tiers.get("1")), _pct(tiers.get("2")), _pct(tiers.get("3")))

    @property
    def future(self) -> dict[str, str] | None:
        """``{"id", "label"}`` (and ``policy``, what it changes, in words) when proposed
        as one of a set of futures."""
        f = self.summary.get("future")
        if isinstance(f, dict) and isinstance(f.get("id"), str) and isinstance(f.get("label"), str):
            out = {"id": f["id"], "label": f["label"]}
            if isinstance(f.get("policy"), str):
                out["policy"] = f["policy"][:160]
            return out
        return None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id.hex(),
            "by": self.by,
            "plan_hash": self.plan_hash,
            "scenario": self.scenario,
            "horizon": self.horizon,
            "status": self.status,
            "summary": self.summary,
            "complete": self.content is not None,
            "withdrawn": self.withdrawn,
        }


@dataclass
class Adoption:
    id: bytes  # the adopt entry, or the vote id for a council decision
    plan: bytes
    by: str
    via: str  # "coordinator" | "vote"
    supersedes: list[bytes] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id.hex(), "plan": self.plan.hex(), "by": self.by, "via": self.via}


@dataclass
class Decision:
    """The adopted plan of one horizon and why it is that one."""

    horizon: str
    plan: bytes
    adoption: Adoption
    competing: list[Adoption]
    rule: str

    def to_json(self) -> dict[str, Any]:
        return {
            "horizon": self.horizon,
            "plan": self.plan.hex(),
            "adoption": self.adoption.to_json(),
            "competing": [a.to_json() for a in self.competing],
            "rule": self.rule,
        }


@dataclass
class OrderState:
    order: dict[str, Any]
    plan: bytes
    acks: list[tuple[str, int, str]] = field(default_factory=list)  # (by, hlc, note)
    deviations: list[tuple[str, int, str]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.order.get("order_id"))

    @property
    def status(self) -> str:
        if self.deviations:
            return "deviation"
        return "acknowledged" if self.acks else "open"

    def to_json(self) -> dict[str, Any]:
        return {
            **self.order,
            "plan": self.plan.hex(),
            "status": self.status,
            "acks": [{"by": b, "hlc": h, "note": n} for b, h, n in self.acks],
            "deviations": [{"by": b, "hlc": h, "note": n} for b, h, n in self.deviations],
        }


@dataclass
class PlansState:
    proposals: dict[bytes, Proposal] = field(default_factory=dict)
    adoptions: list[Adoption] = field(default_factory=list)
    decisions: dict[str, Decision] = field(default_factory=dict)
    orders: dict[str, OrderState] = field(default_factory=dict)
    ignored: list[Ignored] = field(default_factory=list)

    def adopted(self) -> list[Proposal]:
        return [self.proposals[d.plan] for _, d in sorted(self.decisions.items())]

    def find(self, prefix: str) -> list[Proposal]:
        p = prefix.strip().lower()
        return [x for pid, x in sorted(self.proposals.items()) if pid.hex().startswith(p)]

    def to_json(self) -> dict[str, Any]:
        return {
            "proposals": [p.to_json() for _, p in sorted(self.proposals.items())],
            "adopted": [d.to_json() for _, d in sorted(self.decisions.items())],
            "orders": [o.to_json() for _, o in sorted(self.orders.items())],
            "ignored": [i.to_json() for i in sorted(self.ignored, key=lambda i: i.id)],
        }


def _pct(value: Any) -> float:
    """A percentage from someone else's entry: anything but a finite number counts as 0."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return max(0.0, min(100.0, float(value)))
    return 0.0


def horizon_key(scenario: str, horizon: Mapping[str, Any]) -> str:
    return f"{scenario}@{horizon.get('start') or 'start'}"


def _id(value: Any) -> bytes | None:
    if isinstance(value, str) and len(value) == 64:
        try:
            return bytes.fromhex(value)
        except ValueError:
            return None
    return None


def fold(
    entries: Iterable[Entry], roster: Roster, vote_winners: Mapping[bytes, bytes] | None = None
) -> PlansState:
    """Plans state from entries; ``vote_winners`` maps a FINAL vote's id to the plan it chose."""
    fitting, malformed = well_formed(entries, KINDS)
    mine: dict[bytes, Entry] = {e.id: e for e in fitting}
    ordered = sorted(mine.values(), key=lambda e: e.id)
    state = PlansState()
    state.ignored.extend(malformed)
    parts = {
        (e.author, str(e.body.get("blob")), e.body.get("index")): e
        for e in ordered
        if e.kind == PART and isinstance(e.body.get("index"), int)
    }
    for e in ordered:
        if e.kind == PROPOSE:
            _propose(state, e, roster, parts)
    withdrawn: dict[bytes, str] = {}
    for e in ordered:
        if e.kind == SUPERSEDE:
            why = roster.authority(e.author, e.seq, "coordinator")
            target = _id(e.body.get("plan"))
            if why or target is None:
                state.ignored.append(Ignored.of(e, why or "plan must be a proposal id"))
                continue
            withdrawn[target] = str(e.body.get("reason") or "withdrawn")
    for pid, reason in withdrawn.items():
        if pid in state.proposals:
            state.proposals[pid].withdrawn = reason
    for e in ordered:
        if e.kind == ADOPT:
            _adopt(state, e, roster)
    for vote_id, plan_id in sorted((vote_winners or {}).items()):
        if plan_id in state.proposals:
            state.adoptions.append(Adoption(vote_id, plan_id, "council vote", "vote"))
    _decide(state)
    _orders(state, ordered, roster)
    return state


def _propose(state: PlansState, e: Entry, roster: Roster, parts: dict[Any, Entry]) -> None:
    why = roster.authority(e.author, e.seq, "operator", "coordinator")
    b = e.body
    if why is None and not (
        isinstance(b.get("plan_hash"), str) and isinstance(b.get("scenario"), str)
    ):
        why = "needs plan_hash and scenario"
    blob = b.get("blob") if isinstance(b.get("blob"), dict) else None
    if why is None and blob is None:
        why = "needs a blob (the attached plan)"
    if why:
        state.ignored.append(Ignored.of(e, why))
        return
    assert blob is not None
    horizon_raw, summary_raw = b.get("horizon"), b.get("summary")
    horizon: dict[str, Any] = horizon_raw if isinstance(horizon_raw, dict) else {}
    summary: dict[str, Any] = summary_raw if isinstance(summary_raw, dict) else {}
    p = Proposal(
        e.id,
        e.author,
        roster.name_of(e.author),
        e.hlc,
        b["plan_hash"],
        b["scenario"],
        horizon_key(b["scenario"], horizon),
        str(b.get("status") or "unknown"),
        summary,
        blob,
    )
    p.content = _content(blob, parts, e.author)
    state.proposals[e.id] = p


def _content(
    blob: dict[str, Any], parts: dict[tuple[bytes, str, int], Entry], author: bytes
) -> dict[str, Any] | None:
    """The attached plan, once every part (by the same author) has arrived and the hash matches."""
    count = blob.get("count")
    digest = blob.get("hash")
    if not isinstance(count, int) or not isinstance(digest, str) or not 0 < count <= 64:
        return None
    chunks = [parts.get((author, digest, i)) for i in range(count)]
    if any(c is None for c in chunks):
        return None
    data = b"".join(bytes(c.body.get("data") or b"") for c in chunks if c is not None)
    if blob_hash(data) != digest:
        return None
    try:
        content = json.loads(zlib.decompress(data))
    except (zlib.error, ValueError):
        return None
    return content if isinstance(content, dict) else None


def _adopt(state: PlansState, e: Entry, roster: Roster) -> None:
    why = roster.authority(e.author, e.seq, "coordinator")
    target = _id(e.body.get("plan"))
    if why is None:
        if target is None:
            why = "plan must be a proposal id"
        elif target not in state.proposals:
            why = "adopts a plan that is not (yet) on this laptop"
        elif state.proposals[target].status not in ADOPTABLE:
            why = f"that plan was not solved ({state.proposals[target].status})"
    if why or target is None:
        state.ignored.append(Ignored.of(e, why or "plan must be a proposal id"))
        return
    supersedes = [x for x in (_id(v) for v in e.body.get("supersedes") or []) if x is not None]
    state.adoptions.append(
        Adoption(e.id, target, roster.name_of(e.author), "coordinator", supersedes)
    )


def _decide(state: PlansState) -> None:
    by_horizon: dict[str, list[Adoption]] = {}
    for a in state.adoptions:
        p = state.proposals[a.plan]
        if p.withdrawn is None:
            by_horizon.setdefault(p.horizon, []).append(a)
    for horizon, adoptions in by_horizon.items():
        superseded = {s for a in adoptions for s in a.supersedes}
        heads = [a for a in adoptions if a.id not in superseded] or adoptions

        def rank(a: Adoption) -> tuple[int, float, float, float, bytes]:
            t1, t2, t3 = state.proposals[a.plan].tier_served
            return (0 if a.via == "vote" else 1, -t1, -t2, -t3, a.id)

        heads.sort(key=rank)
        winner = heads[0]
        if len(heads) == 1:
            rule = "the only current adoption"
        elif winner.via == "vote" and rank(heads[1])[0] == 1:
            rule = "a council vote outranks concurrent coordinator adoptions"
        else:
            rule = "concurrent adoptions: the plan serving more of tier 1, then 2, then 3 (then the smaller id)"
        state.decisions[horizon] = Decision(horizon, winner.plan, winner, heads[1:], rule)


def _orders(state: PlansState, ordered: list[Entry], roster: Roster) -> None:
    for d in state.decisions.values():
        content = state.proposals[d.plan].content or {}
        for order in content.get("orders") or []:
            if isinstance(order, dict) and order.get("order_id"):
                state.orders[str(order["order_id"])] = OrderState(order, d.plan)
    for e in sorted(
        (x for x in ordered if x.kind in (ACK, DEVIATION)), key=lambda x: (x.hlc, x.id)
    ):
        why = roster.authority(e.author, e.seq, "operator", "coordinator")
        o = state.orders.get(str(e.body.get("order")))
        if why is None and o is None:
            why = "names no order of an adopted plan"
        if why:
            state.ignored.append(Ignored.of(e, why))
            continue
        assert o is not None
        row = (roster.name_of(e.author), e.hlc, str(e.body.get("note") or ""))
        (o.acks if e.kind == ACK else o.deviations).append(row)
