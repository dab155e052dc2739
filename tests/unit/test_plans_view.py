"""Plans view: attachments, one adopted plan per horizon (deterministic), votes, withdrawals, orders."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.plans import view as plans
from ledger.testing import MeshFixture


def plan_json(
    name: str, tier1: float, tier2: float = 50.0, start: str = "2026-11-27T00:00"
) -> dict:
    return {
        "plan_hash": f"hash-{name}",
        "status": "solved",
        "scenario": {"name": "island", "start": start, "periods": 4, "hours_per_period": 1},
        "tiers": [
            {"tier": 1, "served_pct": tier1},
            {"tier": 2, "served_pct": tier2},
            {"tier": 3, "served_pct": 10.0},
        ],
        "summary": {"served_pct": 60.0},
        "recipe": {"scenario_hash": "s" * 64},
    }


def orders_for(name: str) -> list[dict]:
    return [
        {
            "order_id": f"{name}-o1",
            "kind": "run",
            "site": "plant",
            "unit": "G1",
            "mw": 1.5,
            "from_period": 0,
            "to_period": 3,
        },
        {
            "order_id": f"{name}-o2",
            "kind": "shed",
            "site": "town",
            "load": "residential",
            "from_period": 2,
            "to_period": 3,
        },
    ]


def propose(m: MeshFixture, who: str, name: str, tier1: float, **kw):  # type: ignore[no-untyped-def]
    p = plan_json(name, tier1, **kw)
    blob = plans.pack_content(p, orders_for(name))
    chunks = plans.split(blob)
    digest = plans.blob_hash(blob)
    parts = [
        m.write(who, "plan.part", {"blob": digest, "index": i, "count": len(chunks), "data": c})
        for i, c in enumerate(chunks)
    ]
    e = m.write(
        who,
        "plan.propose",
        {
            "plan_hash": p["plan_hash"],
            "scenario": "island",
            "horizon": {"start": p["scenario"]["start"]},
            "status": "solved",
            "summary": {"tiers": {"1": tier1, "2": p["tiers"][1]["served_pct"], "3": 10.0}},
            "blob": {"hash": digest, "size": len(blob), "count": len(chunks)},
        },
    )
    return e, parts


def mesh() -> MeshFixture:
    return MeshFixture.create("alice", {"bob": ["coordinator", "operator"], "carol": ["operator"]})


def test_attachment_and_orders_of_the_adopted_plan() -> None:
    m = mesh()
    p, parts = propose(m, "alice", "a", 100.0)
    m.write("alice", "plan.adopt", {"plan": p.id.hex(), "supersedes": []})
    state = plans.fold(m.entries, m.roster())
    assert state.proposals[p.id].content is not None
    assert [x.id for x in state.adopted()] == [p.id]
    assert set(state.orders) == {"a-o1", "a-o2"}
    without_part = [e for e in m.entries if e.id != parts[0].id]
    partial = plans.fold(without_part, m.roster())
    assert partial.proposals[p.id].content is None and not partial.orders


def test_concurrent_adoptions_resolve_the_same_everywhere() -> None:
    m = mesh()
    pa, _ = propose(m, "alice", "a", 80.0)
    pb, _ = propose(m, "bob", "b", 95.0)
    # both sides of a partition adopt, neither seeing the other's adoption
    m.write("alice", "plan.adopt", {"plan": pa.id.hex(), "supersedes": []})
    m.write("bob", "plan.adopt", {"plan": pb.id.hex(), "supersedes": []})
    state = plans.fold(m.entries, m.roster())
    decision = next(iter(state.decisions.values()))
    assert decision.plan == pb.id and "tier 1" in decision.rule and len(decision.competing) == 1
    # a later adoption that saw both settles it explicitly
    heads = [a.id.hex() for a in state.adoptions]
    m.write("alice", "plan.adopt", {"plan": pa.id.hex(), "supersedes": heads})
    assert next(iter(plans.fold(m.entries, m.roster()).decisions.values())).plan == pa.id


def test_vote_outranks_a_concurrent_coordinator_adoption() -> None:
    m = mesh()
    pa, _ = propose(m, "alice", "a", 50.0)
    pb, _ = propose(m, "bob", "b", 99.0)
    m.write("bob", "plan.adopt", {"plan": pb.id.hex(), "supersedes": []})
    vote_id = b"\x07" * 32
    state = plans.fold(m.entries, m.roster(), {vote_id: pa.id})
    d = next(iter(state.decisions.values()))
    assert d.plan == pa.id and d.adoption.via == "vote" and "council" in d.rule


def test_withdrawal_and_roles() -> None:
    m = mesh()
    pa, _ = propose(m, "alice", "a", 90.0)
    pb, _ = propose(m, "carol", "b", 70.0)  # operators may propose
    bad = m.write("carol", "plan.adopt", {"plan": pa.id.hex(), "supersedes": []})  # but not adopt
    m.write("alice", "plan.adopt", {"plan": pa.id.hex(), "supersedes": []})
    m.write("bob", "plan.adopt", {"plan": pb.id.hex(), "supersedes": []})
    state = plans.fold(m.entries, m.roster())
    assert next(iter(state.decisions.values())).plan == pa.id
    assert any(i.id == bad.id and "coordinator" in i.reason for i in state.ignored)
    m.write("bob", "plan.supersede", {"plan": pa.id.hex(), "reason": "tank 2 leaked"})
    state = plans.fold(m.entries, m.roster())
    assert next(iter(state.decisions.values())).plan == pb.id
    assert state.proposals[pa.id].withdrawn == "tank 2 leaked"


def test_order_acks_and_deviations() -> None:
    m = mesh()
    p, _ = propose(m, "alice", "a", 100.0)
    m.write("alice", "plan.adopt", {"plan": p.id.hex(), "supersedes": []})
    m.write("carol", "order.ack", {"order": "a-o1", "plan": p.id.hex(), "note": "G1 at 1.5 MW"})
    m.write(
        "carol",
        "order.deviation",
        {"order": "a-o2", "plan": p.id.hex(), "note": "could not shed: hospital feeder"},
    )
    stray = m.write("carol", "order.ack", {"order": "nope", "plan": p.id.hex()})
    state = plans.fold(m.entries, m.roster())
    assert state.orders["a-o1"].status == "acknowledged"
    assert state.orders["a-o2"].status == "deviation"
    assert any(i.id == stray.id for i in state.ignored)


def race() -> MeshFixture:
    m = mesh()
    pa, _ = propose(m, "alice", "a", 80.0)
    pb, _ = propose(m, "bob", "b", 80.0)  # same tier 1: tier 2 decides
    pc, _ = propose(m, "bob", "c", 80.0, tier2=70.0)
    for who, p in (("alice", pa), ("bob", pb), ("bob", pc)):
        m.write(who, "plan.adopt", {"plan": p.id.hex(), "supersedes": []})
    return m


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), dup=st.integers(0, 3))
def test_same_decision_for_any_arrival_order(seed: int, dup: int) -> None:
    m = race()
    expected = plans.fold(m.entries, m.roster()).to_json()
    rng = random.Random(seed)
    shuffled = list(m.entries) + rng.sample(m.entries, dup)
    rng.shuffle(shuffled)
    got = plans.fold(shuffled, m.roster()).to_json()
    assert got == expected
    assert len(got["adopted"]) == 1


def test_a_malformed_summary_cannot_break_the_view() -> None:
    m = mesh()
    pa, _ = propose(m, "alice", "a", 80.0)
    junk = m.write(
        "bob",
        "plan.propose",
        {
            "plan_hash": "x",
            "scenario": "island",
            "horizon": {"start": "2026-11-27T00:00"},
            "status": "solved",
            "summary": {"tiers": {"1": "lots", "2": [1]}},
            "blob": {"hash": "00", "count": 1},
        },
    )
    m.write("alice", "plan.adopt", {"plan": pa.id.hex(), "supersedes": []})
    m.write("bob", "plan.adopt", {"plan": junk.id.hex(), "supersedes": []})
    state = plans.fold(m.entries, m.roster())
    assert state.proposals[junk.id].tier_served == (0.0, 0.0, 0.0)
    assert next(iter(state.decisions.values())).plan == pa.id
