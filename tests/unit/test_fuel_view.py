"""Fuel view: inventory, conflicting readings, transfer life cycle, order independence."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.fuel import view as fuel
from ledger.testing import MeshFixture


def mesh() -> MeshFixture:
    return MeshFixture.create(
        "alice", {"bob": ["operator"], "carol": ["operator"], "olga": ["observer"]}
    )


def report(m: MeshFixture, who: str, site: str, litres: float, tank: str = "main", supersedes=None):  # type: ignore[no-untyped-def]
    return m.write(
        who,
        "fuel.report",
        {
            "site": site,
            "tank": tank,
            "litres": litres,
            "supersedes": [s.id.hex() for s in supersedes or []],
        },
    )


def test_latest_reading_and_supersedes() -> None:
    m = mesh()
    r1 = report(m, "bob", "hospital", 1000)
    report(m, "bob", "hospital", 800, supersedes=[r1])
    report(m, "bob", "hospital", 300, tank="day-tank")
    s = fuel.fold(m.entries, m.roster()).sites["hospital"]
    assert s.inventory == 1100 and not s.conflicts
    assert s.tanks["main"].litres == 800 and len(s.tanks["main"].readings) == 2


def test_conflicting_readings_are_shown_not_merged() -> None:
    m = mesh()
    r1 = report(m, "bob", "water", 2000)
    a = report(m, "bob", "water", 1500, supersedes=[r1])  # two operators, neither saw the other
    b = report(m, "carol", "water", 1700, supersedes=[r1])
    s = fuel.fold(m.entries, m.roster()).sites["water"]
    assert s.conflicts == ["main"]
    assert {r.id for r in s.tanks["main"].current} == {a.id, b.id}
    assert s.inventory == 1500  # the lower one counts until someone reads again
    report(m, "carol", "water", 1600, supersedes=[a, b])
    s = fuel.fold(m.entries, m.roster()).sites["water"]
    assert not s.conflicts and s.inventory == 1600


def test_transfer_life_cycle_moves_inventory() -> None:
    m = mesh()
    report(m, "bob", "depot", 10000)
    report(m, "bob", "hospital", 500)
    t = m.write(
        "alice", "fuel.transfer", {"op": "plan", "from": "depot", "to": "hospital", "litres": 3000}
    )
    state = fuel.fold(m.entries, m.roster())
    assert state.transfers[t.id].state == "planned" and state.sites["hospital"].inventory == 500
    m.write("bob", "fuel.transfer", {"op": "dispatch", "transfer": t.id.hex()})
    state = fuel.fold(m.entries, m.roster())
    assert state.sites["depot"].inventory == 7000 and state.sites["hospital"].inventory == 500
    m.write("carol", "fuel.transfer", {"op": "receive", "transfer": t.id.hex(), "litres": 2950})
    state = fuel.fold(m.entries, m.roster())
    assert state.transfers[t.id].state == "received"
    assert state.sites["hospital"].inventory == 3450
    # a later reading already contains the delivery: it is not counted twice
    report(
        m, "carol", "hospital", 3400, supersedes=list(state.sites["hospital"].tanks["main"].current)
    )
    assert fuel.fold(m.entries, m.roster()).sites["hospital"].inventory == 3400


def test_receive_beats_a_concurrent_cancel() -> None:
    m = mesh()
    t = m.write(
        "alice", "fuel.transfer", {"op": "plan", "from": "depot", "to": "base", "litres": 100}
    )
    m.write("carol", "fuel.transfer", {"op": "receive", "transfer": t.id.hex(), "litres": 100})
    m.write(
        "alice", "fuel.transfer", {"op": "cancel", "transfer": t.id.hex(), "reason": "road closed"}
    )
    assert fuel.fold(m.entries, m.roster()).transfers[t.id].state == "received"


def test_roles_and_bad_bodies_are_ignored_with_reasons() -> None:
    m = mesh()
    bad = [
        report(m, "olga", "hospital", 99),  # observer: no authority
        m.write(
            "bob", "fuel.transfer", {"op": "plan", "from": "a", "to": "b", "litres": 5}
        ),  # not coordinator
        m.write("bob", "fuel.report", {"site": "", "litres": 1}),
        m.write("bob", "fuel.report", {"site": "x", "litres": -4}),
        m.write("bob", "fuel.transfer", {"op": "receive", "transfer": "00" * 32}),
        m.write("bob", "fuel.transfer", {"op": "teleport"}),
    ]
    state = fuel.fold(m.entries, m.roster())
    reasons = {i.id: i.reason for i in state.ignored}
    assert all(b.id in reasons for b in bad)
    assert "hospital" not in state.sites


def test_burn_rate_estimate_is_display_only() -> None:
    m = mesh()
    r = report(m, "bob", "base", 1000)
    m.write("bob", "fuel.consumption", {"site": "base", "litres_per_hour": 50})
    s = fuel.fold(m.entries, m.roster()).sites["base"]
    assert s.inventory == 1000
    assert s.estimate((r.hlc >> 16) + 2 * 3_600_000) == 900


def busy() -> MeshFixture:
    m = mesh()
    r1 = report(m, "bob", "depot", 9000)
    report(m, "carol", "depot", 8800, supersedes=[r1])
    report(m, "bob", "depot", 8900, supersedes=[r1])
    t = m.write(
        "alice",
        "fuel.transfer",
        {"op": "plan", "from": "depot", "to": "clinic", "litres": 500, "tank": "t2"},
    )
    m.write("bob", "fuel.transfer", {"op": "dispatch", "transfer": t.id.hex(), "litres": 480})
    m.write("carol", "fuel.transfer", {"op": "receive", "transfer": t.id.hex(), "litres": 470})
    m.write("bob", "fuel.transfer", {"op": "receive", "transfer": t.id.hex(), "litres": 475})
    report(m, "carol", "clinic", 20, tank="t2")
    m.write("bob", "fuel.consumption", {"site": "clinic", "litres_per_hour": 4})
    return m


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32), dup=st.integers(0, 4))
def test_any_order_and_duplication_same_state(seed: int, dup: int) -> None:
    m = busy()
    expected = fuel.fold(m.entries, m.roster()).to_json()
    rng = random.Random(seed)
    shuffled = list(m.entries) + rng.sample(m.entries, dup)
    rng.shuffle(shuffled)
    assert fuel.fold(shuffled, m.roster()).to_json() == expected


def test_a_reading_only_supersedes_its_own_tank() -> None:
    m = mesh()
    hospital = report(m, "bob", "hospital", 5000)
    report(m, "carol", "depot", 1, supersedes=[hospital])  # names another site's reading
    state = fuel.fold(m.entries, m.roster())
    assert state.sites["hospital"].inventory == 5000


def test_a_delivery_received_without_dispatch_leaves_its_source() -> None:
    m = mesh()
    report(m, "bob", "a", 1000)
    report(m, "bob", "b", 100)
    t = m.write("alice", "fuel.transfer", {"op": "plan", "from": "a", "to": "b", "litres": 100})
    m.write("carol", "fuel.transfer", {"op": "receive", "transfer": t.id.hex(), "litres": 100})
    state = fuel.fold(m.entries, m.roster())
    assert state.sites["a"].inventory == 900 and state.sites["b"].inventory == 200


def test_reading_another_tank_does_not_cancel_a_dispatch() -> None:
    m = mesh()
    report(m, "bob", "a", 1000, tank="t1")
    report(m, "bob", "a", 50, tank="t2")
    t = m.write("alice", "fuel.transfer", {"op": "plan", "from": "a", "to": "b", "litres": 100})
    m.write("bob", "fuel.transfer", {"op": "dispatch", "transfer": t.id.hex()})
    report(
        m,
        "bob",
        "a",
        50,
        tank="t2",
        supersedes=list(fuel.fold(m.entries, m.roster()).sites["a"].tanks["t2"].current),
    )
    assert fuel.fold(m.entries, m.roster()).sites["a"].inventory == 950
