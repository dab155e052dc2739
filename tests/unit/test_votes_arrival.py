"""A FINAL result never changes, whatever order entries arrive in (found by review, issue 14).

A laptop could show FINAL while the roster change that gave a listed voter a vote (a
grant by another admin, in another feed) had not arrived: the ballot was "listed but
not counted", and when the grant came the FINAL result changed (a tie became a win).
Tellers sealed that ballot as valid, so the laptop now waits (SEALED) instead.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.entry import Entry
from ledger.roster import view as roster_view
from ledger.testing import MeshFixture
from ledger.votes import view as votes_view
from ledger.votes.testing import VoteBook

TELLERS = ["t1", "t2", "t3", "t4"]


def fold(entries: list[Entry]) -> votes_view.Votes:
    """What a laptop holding exactly ``entries`` shows (its roster from the same entries)."""
    return votes_view.fold(entries, roster_view.fold(entries))


def test_a_listed_ballot_whose_voters_grant_has_not_arrived_keeps_the_vote_sealed() -> None:
    m = MeshFixture.create("alice", {"zed": ["admin"], **{t: ["teller"] for t in TELLERS}})
    m.add("bob", ["operator"])
    m.add("carol", ["operator"])
    m.add("vic", ["observer"])  # alice adds vic as an observer ...
    grant = m.grant("vic", "operator", by="zed")  # ... zed makes him a voter
    vb = VoteBook(m)
    v = vb.open("alice", roll=["bob", "carol", "vic"], tellers=TELLERS, f=1)
    ballots = [vb.cast("bob", v, ["a"]), vb.cast("carol", v, ["b"]), vb.cast("vic", v, ["b"])]
    sheet = vb.close("alice", v, ballots)
    for t in TELLERS[:3]:
        vb.seal(t, v, sheet)
    lagging = [e for e in m.entries if e.author != m.key("zed")]  # zed's feed not here yet
    early = fold(lagging).votes[v.id]
    assert early.state == "SEALED" and early.result is None  # was FINAL "tie" (a 1, b 1)
    assert early.unproven_ballots == [ballots[2].id]
    late = fold(m.entries).votes[v.id]
    assert late.state == "FINAL" and late.result is not None
    assert late.result.winner is not None and late.result.winner.id == "b"
    assert late.result.tally.counts == {"a": 1, "b": 2}
    assert grant.author == m.key("zed")


# --- the property: once FINAL, always the same FINAL, in any arrival order ---------------


def council_with_late_roster_changes(seed: int) -> tuple[MeshFixture, Entry]:
    """Voters added by two admins (some as observers, given a vote later by the other),
    ballots and revotes, and admins who have not seen everything revoking voters or
    removing their role at a cut below their ballots; then a sheet sealed by 3 of 4."""
    rng = random.Random(seed)
    m = MeshFixture.create("alice", {"zed": ["admin"], **{t: ["teller"] for t in TELLERS}})
    voters = [f"v{i}" for i in range(5)]
    for name in voters:
        if rng.random() < 0.5:
            m.add(name, ["operator"], by=rng.choice(["alice", "zed"]))
        else:
            m.add(name, ["observer"])
            m.grant(name, "operator", by="zed")
    vb = VoteBook(m)
    method = rng.choice(["plurality", "ranked-choice", "approval"])
    v = vb.open("alice", roll=voters, tellers=TELLERS, f=1, options=["a", "b", "c"], method=method)
    ballots = []
    for _ in range(rng.randint(3, 9)):
        who = rng.choice(voters)
        k = 1 if method == "plurality" else rng.randint(1, 3)
        ballots.append(vb.cast(who, v, rng.sample(["a", "b", "c"], k), fresh=rng.random() < 0.1))
        if rng.random() < 0.25:
            target = rng.choice(voters)
            at = max(1, m.feeds[target].seq - rng.randint(0, 2))
            body = {"op": rng.choice(["revoke", "remove_role"]), "key": m.key(target).hex()}
            body["at"] = at
            if body["op"] == "remove_role":
                body["role"] = "operator"
            m.change(rng.choice(["alice", "zed"]), body)
    sheet = vb.close("alice", v, ballots)
    for t in rng.sample(TELLERS, 3):
        vb.seal(t, v, sheet)
    return m, v


def arrival(entries: list[Entry], rng: random.Random) -> list[Entry]:
    """A random arrival order that keeps each author's feed in order (as sync does)."""
    feeds: dict[bytes, list[Entry]] = {}
    for e in sorted(entries, key=lambda e: (e.author, e.seq)):
        feeds.setdefault(e.author, []).append(e)
    queues = [list(reversed(f)) for f in feeds.values()]
    out = []
    while queues:
        q = rng.choice(queues)
        out.append(q.pop())
        if not q:
            queues.remove(q)
    return out


def shown(entries: list[Entry], vote: bytes) -> tuple[object, ...] | None:
    v = fold(entries).votes.get(vote)
    if v is None or v.state != "FINAL" or v.result is None:
        return None
    r = v.result
    return (
        v.sealed_sheet,
        r.outcome,
        r.winner.id if r.winner else None,
        tuple(sorted(r.tally.counts.items())),
        tuple(sorted(b.id for b in r.counted)),
    )


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), order=st.integers(0, 2**32))
def test_a_final_result_never_changes_as_entries_arrive(seed: int, order: int) -> None:
    m, v = council_with_late_roster_changes(seed)
    held: list[Entry] = []
    first = None
    for e in arrival(list(m.entries), random.Random(order)):
        held.append(e)
        now = shown(held, v.id)
        if first is None:
            first = now
        else:
            assert now == first, (seed, order, first, now)


# --- "Stuck" only when no sheet can get k seals any more ----------------------------------


def stuck_council() -> tuple[MeshFixture, VoteBook, Entry, Entry]:
    m = MeshFixture.create("alice", {t: ["operator", "teller"] for t in TELLERS})
    vb = VoteBook(m)
    v = vb.open("alice", roll=TELLERS, tellers=TELLERS, f=1)  # k = 3 of 4
    ballot = vb.cast("t1", v, ["a"])
    return m, vb, v, vb.close("alice", v, [ballot])


def test_seals_on_a_sheet_that_has_not_arrived_are_not_stuck() -> None:
    """Two tellers sealed a sheet this laptop has not received yet; two more can seal.
    It said "Stuck: open a new vote" (it counted only sheets it held)."""
    m, vb, v, sheet = stuck_council()
    vb.seal("t1", v, sheet)
    vb.seal("t2", v, sheet)
    here = [e for e in m.entries if e.id != sheet.id]
    vote = fold(here).votes[v.id]
    assert vote.state == "PROVISIONAL" and vote.stuck is None
    vb.seal("t3", v, sheet)
    assert fold(m.entries).votes[v.id].state == "FINAL"


def test_a_seal_past_its_keys_cut_still_counts_towards_unblocking() -> None:
    """t1 sealed, then an admin who had not seen it revoked t1's key below the seal. Such a
    seal counts if it completes a sealed sheet, so t1, t2 and t4 can still seal it."""
    m, vb, v, sheet = stuck_council()
    other = vb.close("alice", v, [])
    vb.seal("t1", v, sheet)
    m.revoke("t1", at=m.feeds["t1"].seq - 1)  # the admin had not seen the seal
    vb.seal("t2", v, sheet)
    vb.seal("t3", v, other)  # t3's seal is spent on another sheet
    vote = fold(m.entries).votes[v.id]
    assert vote.state == "PROVISIONAL" and vote.stuck is None
    vb.seal("t4", v, sheet)
    assert fold(m.entries).votes[v.id].state == "FINAL"
