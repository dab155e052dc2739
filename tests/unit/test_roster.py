"""Roster view: order independence, revocation, rotation, thresholds, role checks, forks."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.roster import view as roster_view
from ledger.testing import MeshFixture


def snapshot(r: roster_view.Roster) -> dict:
    return r.to_json()


def busy_mesh() -> MeshFixture:
    """Adds, grants, a revocation, a rotation, a threshold change with approvals."""
    m = MeshFixture.create("alice", {"bob": ["operator"], "carol": ["admin"], "dave": ["operator"]})
    m.write("bob", "note", {"n": 1})
    m.grant("bob", "teller")
    m.write("dave", "note", {"n": 1})
    m.write("dave", "note", {"n": 2})
    m.revoke("dave", at=1)
    m.change("alice", {"op": "threshold", "k": 2})
    ch = m.add("erin", ["operator"])
    m.approve("carol", ch)
    rot = m.change(
        "carol",
        {"op": "rotate", "key": m.key("bob").hex(), "successor": m.key("bob2").hex(), "at": 1},
    )
    m.approve("alice", rot)
    m.write("bob", "note", {"n": "after rotation"})  # seq beyond the rotation point: ignored
    return m


def test_busy_mesh_final_state() -> None:
    m = busy_mesh()
    r = m.roster()
    keys = r.keys
    assert r.threshold == 2
    assert keys[m.key("dave")].status == "revoked" and keys[m.key("dave")].last_seq == 1
    assert r.valid(m.key("dave"), 1) and not r.valid(m.key("dave"), 2)
    assert keys[m.key("erin")].status == "active"
    assert keys[m.key("bob")].status == "rotated"
    assert keys[m.key("bob2")].member == m.key("bob") and keys[m.key("bob2")].name == "bob"
    assert set(keys[m.key("bob2")].current_roles) == {"operator", "teller"}
    assert r.has_role(m.key("bob"), 1, "operator") and not r.valid(m.key("bob"), 2)
    assert r.current_key(m.key("bob")) == m.key("bob2")
    assert not r.pending and not r.waiting


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), dup=st.integers(0, 5))
def test_same_entries_any_order_same_roster(seed: int, dup: int) -> None:
    m = busy_mesh()
    expected = snapshot(m.roster())
    rng = random.Random(seed)
    shuffled = list(m.entries) + rng.sample(m.entries, dup)
    rng.shuffle(shuffled)
    assert snapshot(roster_view.fold(shuffled)) == expected


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32))
def test_partial_delivery_then_completion(seed: int) -> None:
    m = busy_mesh()
    expected = snapshot(m.roster())
    rng = random.Random(seed)
    part = rng.sample(m.entries, rng.randint(0, len(m.entries)))
    partial = roster_view.fold(part)  # must not crash, whatever is missing
    assert partial.mesh_id in (None, m.mesh_id)
    assert snapshot(roster_view.fold(part + m.entries)) == expected


def test_threshold_k_minus_one_approvals_change_nothing() -> None:
    m = MeshFixture.create("alice", {"carol": ["admin"], "frank": ["admin"]})
    m.change("alice", {"op": "threshold", "k": 3})
    ch = m.add("erin", ["operator"])
    m.approve("carol", ch)
    r = m.roster()
    assert m.key("erin") not in r.keys and ch.id in r.pending
    assert len(r.pending[ch.id].approvals) == 2
    m.approve("carol", ch)  # the same admin twice does not count twice
    assert m.key("erin") not in m.roster().keys
    m.approve("frank", ch)
    r = m.roster()
    assert m.key("erin") in r.keys and not r.pending


def test_stolen_admin_laptop_cannot_take_over_alone() -> None:
    m = MeshFixture.create("alice", {"carol": ["admin"]})
    m.change("alice", {"op": "threshold", "k": 2})
    r = m.roster()
    # threshold 1 -> 2 needed only alice (old threshold 1)
    assert r.threshold == 2
    thief = m.change("carol", {"op": "revoke", "key": m.key("alice").hex(), "at": 99})
    m.add("mallory", ["admin"], by="carol")
    r = m.roster()
    assert r.keys[m.key("alice")].status == "active"
    assert m.key("mallory") not in r.keys
    assert thief.id in r.pending


def test_non_admin_roster_change_is_ignored_and_reported() -> None:
    m = MeshFixture.create("alice", {"bob": ["operator"]})
    bad = m.add("mallory", ["admin"], by="bob")
    r = m.roster()
    assert m.key("mallory") not in r.keys
    ignored = {i.id: i.reason for i in r.ignored}
    assert "needs role admin" in ignored[bad.id]


def test_role_windows_follow_the_feed() -> None:
    m = MeshFixture.create("alice", {"bob": ["operator"]})
    m.write("bob", "note", {})  # seq 1: operator only
    m.grant("bob", "coordinator")  # at=1 -> coordinator from seq 2
    m.write("bob", "note", {})
    r = m.roster()
    assert r.authority(m.key("bob"), 1, "coordinator") is not None
    assert r.authority(m.key("bob"), 2, "coordinator") is None
    m.change(
        "alice", {"op": "remove_role", "key": m.key("bob").hex(), "role": "coordinator", "at": 2}
    )
    r = m.roster()
    assert r.has_role(m.key("bob"), 2, "coordinator") and not r.has_role(
        m.key("bob"), 3, "coordinator"
    )
    assert r.authority(m.key("mallory"), 1) == "author is not in the roster"


def test_late_revocation_excludes_concurrent_roster_changes() -> None:
    """Carol (admin) adds mallory at her seq 2; alice concurrently revokes carol at seq 1."""
    m = MeshFixture.create("alice", {"carol": ["admin"]})
    heads_before = m._after()
    m.write("carol", "note", {})  # carol seq 1
    # carol's change, written without having seen anything new
    m.write(
        "carol",
        "roster.change",
        {
            "op": "add",
            "key": m.key("mallory").hex(),
            "name": "mallory",
            "roles": ["admin"],
            "after": heads_before,
        },
    )
    # alice only saw carol's seq 1 when revoking her
    m.write(
        "alice",
        "roster.change",
        {"op": "revoke", "key": m.key("carol").hex(), "at": 1, "after": heads_before},
    )
    r = m.roster()
    assert r.keys[m.key("carol")].status == "revoked"
    assert m.key("mallory") not in r.keys  # carol's seq-2 change no longer counts
    for perm in (m.entries, list(reversed(m.entries))):
        assert snapshot(roster_view.fold(perm)) == snapshot(r)


def test_concurrent_mutual_revocation_is_deterministic() -> None:
    m = MeshFixture.create("alice", {"carol": ["admin"], "frank": ["admin"]})
    base = m._after()
    m.write(
        "alice",
        "roster.change",
        {"op": "revoke", "key": m.key("carol").hex(), "at": 0, "after": base},
    )
    m.write(
        "carol",
        "roster.change",
        {"op": "revoke", "key": m.key("alice").hex(), "at": 1, "after": base},
    )
    r = m.roster()
    statuses = {r.keys[m.key(p)].status for p in ("alice", "carol")}
    assert "active" in statuses and "revoked" in statuses  # exactly one wins
    assert snapshot(roster_view.fold(list(reversed(m.entries)))) == snapshot(r)


def test_rotation_chain() -> None:
    m = MeshFixture.create("alice", {"bob": ["operator", "teller"]})
    m.change(
        "alice",
        {"op": "rotate", "key": m.key("bob").hex(), "successor": m.key("bob2").hex(), "at": 0},
    )
    m.change(
        "alice",
        {"op": "rotate", "key": m.key("bob2").hex(), "successor": m.key("bob3").hex(), "at": 0},
    )
    r = m.roster()
    assert r.current_key(m.key("bob")) == m.key("bob3")
    assert r.keys[m.key("bob3")].member == m.key("bob")
    assert set(r.keys[m.key("bob3")].current_roles) == {"operator", "teller"}
    assert r.keys[m.key("bob2")].status == "rotated"
    # rotating onto a key already in the roster is refused by the view
    bad = m.change(
        "alice",
        {"op": "rotate", "key": m.key("bob3").hex(), "successor": m.key("alice").hex(), "at": 0},
    )
    assert any(i.id == bad.id for i in m.roster().ignored)


def test_fork_freezes_and_marks_equivocated() -> None:
    m = MeshFixture.create("alice", {"bob": ["operator", "admin"]})
    m.write("bob", "note", {})
    late = m.add("zoe", ["operator"], by="bob")  # bob seq 2
    r = roster_view.fold(m.entries, forks={m.key("bob"): 2})
    assert r.keys[m.key("bob")].status == "equivocated"
    assert r.valid(m.key("bob"), 1) and not r.valid(m.key("bob"), 2)
    assert m.key("zoe") not in r.keys
    assert any(i.id == late.id for i in r.ignored)


def test_waiting_for_missing_references() -> None:
    m = MeshFixture.create("alice", {"carol": ["admin"]})
    add = m.add("erin", ["operator"], by="carol")
    without_add_of_carol = [
        e for e in m.entries if not (e.kind == "roster.change" and e.body.get("name") == "carol")
    ]
    r = roster_view.fold(without_add_of_carol)
    assert add.id in r.waiting and m.key("erin") not in r.keys


def test_malformed_changes_are_ignored() -> None:
    m = MeshFixture.create("alice")
    bad = [
        m.change("alice", {"op": "add", "key": "zz", "name": "x", "roles": ["operator"]}),
        m.change("alice", {"op": "add", "key": m.key("x").hex(), "name": "x", "roles": ["king"]}),
        m.change("alice", {"op": "explode"}),
        m.change("alice", {"op": "threshold", "k": 0}),
        m.write("alice", "roster.change", {"op": "threshold", "k": 1, "after": "nope"}),
    ]
    r = m.roster()
    reasons = {i.id: i.reason for i in r.ignored}
    assert all(b.id in reasons for b in bad)
    assert r.threshold == 1 and len(r.keys) == 1


def test_threshold_above_admin_count_is_refused() -> None:
    m = MeshFixture.create("alice", {"carol": ["admin"]})
    ch = m.change("alice", {"op": "threshold", "k": 3})
    r = m.roster()
    assert r.threshold == 1 and any(i.id == ch.id and "more than" in i.reason for i in r.ignored)


def test_cannot_revoke_the_last_admins() -> None:
    m = MeshFixture.create("alice", {"bob": ["operator"]})
    ch = m.change("alice", {"op": "revoke", "key": m.key("alice").hex(), "at": 5})
    r = m.roster()
    assert r.keys[m.key("alice")].status == "active"
    assert any(i.id == ch.id and "fewer admins" in i.reason for i in r.ignored)


def test_a_dangling_reference_cannot_freeze_the_roster() -> None:
    """An admin's change naming a roster entry that never arrives waits alone; later
    changes (including revoking that admin) do not inherit the wait."""
    m = MeshFixture.create("alice", {"mallory": ["admin"], "bob": ["operator"]})
    stuck = m.write(
        "mallory",
        "roster.change",
        {"op": "grant", "key": m.key("bob").hex(), "role": "teller", "at": 0, "after": ["00" * 32]},
    )
    r = m.roster()
    assert stuck.id in r.waiting and stuck.id not in r.heads
    m.revoke("mallory")
    m.add("carol", ["operator"])
    r = m.roster()
    assert r.keys[m.key("mallory")].status == "revoked"
    assert m.key("carol") in r.keys


def test_an_exclusion_that_no_longer_holds_is_undone() -> None:
    """bob revokes erin (at 0) while erin adds zed; carol cuts bob before that revocation.
    erin stays valid, so her change must count, in any order."""
    import random

    for trial in range(40):
        m = MeshFixture.create("alice", {"bob": ["admin"], "carol": ["admin"], "erin": ["admin"]})
        base = m._after()
        add = m.write(
            "erin",
            "roster.change",
            {
                "op": "add",
                "key": m.key(f"zed{trial}").hex(),
                "name": "zed",
                "roles": ["operator"],
                "after": base,
            },
        )
        m.write("bob", "note", {"pad": trial})
        m.write(
            "bob",
            "roster.change",
            {"op": "revoke", "key": m.key("erin").hex(), "at": 0, "after": base},
        )
        m.write(
            "carol",
            "roster.change",
            {"op": "revoke", "key": m.key("bob").hex(), "at": 1, "after": base},
        )
        r = m.roster()
        erin = r.keys[m.key("erin")]
        if erin.status == "active":
            assert m.key(f"zed{trial}") in r.keys, [i.reason for i in r.ignored if i.id == add.id]
        shuffled = list(m.entries)
        random.Random(trial).shuffle(shuffled)
        assert snapshot(roster_view.fold(shuffled)) == snapshot(r)
