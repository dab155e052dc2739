"""Properties of the votes view: order independence, and at most one sealed sheet ever.

The safety property (DESIGN.md "Votes" rule 4): with k > n/2 and one counted
seal per teller, two sides of a partition can never both seal. It is checked
on random partitions of tellers, each side closing and sealing, followed by
random partial heals, for every "laptop" holding any subset of the entries.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.entry import Entry
from ledger.testing import MeshFixture
from ledger.votes import view as vv
from ledger.votes.testing import VoteBook
from tests.unit.votes_helpers import TELLERS, VOTERS, council, snapshot


def busy_vote(f: int | None = None) -> tuple[MeshFixture, list[Entry]]:
    """Revotes, a double vote and its repair, spoiled and blank ballots, stops, two sheets,
    a teller equivocation, a seal, a late ballot."""
    m, vb = council()
    v = vb.open("alice", roll=VOTERS, tellers=TELLERS, method="approval", quorum_pct=50, f=f)
    b = [vb.cast("bob", v, ["a"]), vb.cast("bob", v, ["a", "b"])]
    x = vb.cast("carol", v, ["a"])
    y = vb.cast("carol", v, ["b"], fresh=True)
    vb.cast("dave", v, ["z"])  # spoiled: unknown option
    vb.cast("erin", v, [])
    vb.stop("bob", v, b)
    s1 = vb.close("alice", v, [*b, x, y])
    vb.cast("carol", v, ["b"], replaces=[x, y])
    s2 = vb.close("cody", v, [e for e in m.entries if e.kind == "vote.ballot"])
    vb.seal("bob", v, s2)
    vb.seal("dave", v, s1)
    vb.seal("dave", v, s2)  # equivocation
    vb.seal("carol", v, s2)  # seals s2 with bob
    vb.cast("frank", v, ["b"])  # late
    vb.open("erin", roll=VOTERS, tellers=TELLERS)  # not a coordinator: ignored
    return m, [e for e in m.entries]


BUSY = busy_vote()
BUSY_F = busy_vote(f=0)  # the same with a charter carrying f: the finality rules


@pytest.mark.parametrize("busy", [BUSY, BUSY_F], ids=["rules1", "rules2"])
def test_busy_vote_is_final(busy: tuple[MeshFixture, list[Entry]]) -> None:
    m, entries = busy
    votes = vv.fold(entries, m.roster())
    (vote,) = votes.votes.values()
    assert vote.state == "FINAL" and len(vote.equivocations) == 1
    assert vote.result is not None and vote.result.winner is not None


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), dup=st.integers(0, 8), rules=st.sampled_from([1, 2]))
def test_same_entries_any_order_any_duplication_same_state(seed: int, dup: int, rules: int) -> None:
    m, entries = BUSY if rules == 1 else BUSY_F
    roster = m.roster()
    expected = snapshot(m, entries, roster)
    rng = random.Random(seed)
    shuffled = entries + rng.sample(entries, dup)
    rng.shuffle(shuffled)
    assert snapshot(m, shuffled, roster) == expected


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), rules=st.sampled_from([1, 2]))
def test_partial_delivery_then_completion(seed: int, rules: int) -> None:
    m, entries = BUSY if rules == 1 else BUSY_F
    roster = m.roster()
    expected = snapshot(m, entries, roster)
    rng = random.Random(seed)
    part = rng.sample(entries, rng.randint(0, len(entries)))
    partial = vv.fold(part, roster)  # never crashes, whatever is missing
    assert all(v.state in ("PROVISIONAL", "SEALED", "FINAL") for v in partial.votes.values())
    assert snapshot(m, part + entries, roster) == expected


# --- partitions ----------------------------------------------------------------------


def prefix_closed(entries: list[Entry], rng: random.Random) -> list[Entry]:
    """A random subset as a store would hold it: for each author, seqs 1..n without gaps."""
    feeds: dict[bytes, list[Entry]] = {}
    for e in entries:
        feeds.setdefault(e.author, []).append(e)
    out: list[Entry] = []
    for feed in feeds.values():
        feed.sort(key=lambda e: e.seq)
        out += feed[: rng.randint(0, len(feed))]
    return out


def interleaving(entries: list[Entry], rng: random.Random) -> list[Entry]:
    """A random arrival order that keeps each author's feed in seq order (as gossip does)."""
    feeds: dict[bytes, list[Entry]] = {}
    for e in sorted(entries, key=lambda e: (e.author, e.seq)):
        feeds.setdefault(e.author, []).append(e)
    queues = [list(reversed(f)) for f in feeds.values()]
    out: list[Entry] = []
    while queues:
        q = rng.choice(queues)
        out.append(q.pop())
        if not q:
            queues.remove(q)
    return out


def partition_run(
    n: int, k_extra: int, sides: list[int], seed: int, byzantine: bool
) -> tuple[list[list[Entry]], list[Entry], bytes, MeshFixture]:
    """Tellers split into two sides; each side closes its own ballot set and its tellers seal
    it. Absent tellers seal later, after a partial heal. Byzantine tellers seal both sheets."""
    rng = random.Random(seed)
    tellers = [f"t{i}" for i in range(n)]
    m = MeshFixture.create(
        "alice",
        {
            **{t: ["operator", "teller"] for t in tellers},
            "cody": ["coordinator"],
            "v1": ["operator"],
            "v2": ["operator"],
        },
    )
    vb = VoteBook(m)
    k = n // 2 + 1 + min(k_extra, n - (n // 2 + 1))
    v = vb.open("alice", roll=["v1", "v2", *tellers], tellers=tellers, k=k)
    base = list(m.entries)
    side_entries: list[list[Entry]] = [list(base), list(base)]
    ballots = [vb.cast("v1", v, ["a"]), vb.cast("v2", v, ["b"])]
    side_entries[0].append(ballots[0])
    side_entries[1].append(ballots[1])
    for i, t in enumerate(tellers):  # tellers vote on their own side
        ballot = vb.cast(t, v, [rng.choice(["a", "b"])])
        side_entries[sides[i] % 2].append(ballot)
    sheets = []
    for s, coordinator in ((0, "alice"), (1, "cody")):
        own = [e for e in side_entries[s] if e.kind == "vote.ballot"]
        sheet = vb.close(coordinator, v, own)
        sheets.append(sheet)
        side_entries[s].append(sheet)
    absent = []
    for i, t in enumerate(tellers):
        side = sides[i]
        if side == 2:
            absent.append(t)
            continue
        seal = vb.seal(t, v, sheets[side])
        side_entries[side].append(seal)
        if byzantine and rng.random() < 0.5:  # seal the other side's sheet too
            side_entries[1 - side].append(vb.seal(t, v, sheets[1 - side]))
    for t in absent:  # partial heal: an absent teller meets one side and seals its sheet
        side = rng.randrange(2)
        side_entries[side].append(vb.seal(t, v, sheets[side]))
    return side_entries, list(m.entries), v.id, m


@settings(max_examples=250, deadline=None)
@given(
    n=st.integers(1, 7),
    k_extra=st.integers(0, 3),
    sides=st.lists(st.integers(0, 2), min_size=7, max_size=7),
    seed=st.integers(0, 2**32),
)
def test_two_sides_of_a_partition_never_both_seal(
    n: int, k_extra: int, sides: list[int], seed: int
) -> None:
    side_entries, everything, vote_id, m = partition_run(n, k_extra, sides, seed, byzantine=False)
    roster = m.roster()
    rng = random.Random(seed ^ 0x5EED)
    laptops = [*side_entries, everything]
    laptops += [rng.sample(everything, rng.randint(0, len(everything))) for _ in range(6)]
    laptops += [side_entries[0] + rng.sample(side_entries[1], rng.randint(0, len(side_entries[1])))]
    sealed = set()
    for laptop in laptops:
        rng.shuffle(laptop)
        vote = vv.fold(laptop, roster).votes.get(vote_id)
        if vote is None:
            continue
        reached = [s for s in vote.sheets.values() if len(s.sealers) >= vote.charter.k]
        assert len(reached) <= 1
        if vote.sealed_sheet is not None:
            sealed.add(vote.sealed_sheet)
    assert len(sealed) <= 1, "two different sheets sealed on different laptops"


@settings(max_examples=250, deadline=None)
@given(
    n=st.integers(1, 7),
    k_extra=st.integers(0, 3),
    sides=st.lists(st.integers(0, 2), min_size=7, max_size=7),
    seed=st.integers(0, 2**32),
)
def test_equivocating_tellers_still_cannot_seal_two_sheets(
    n: int, k_extra: int, sides: list[int], seed: int
) -> None:
    """Tellers that seal both sheets: only their first seal counts, on every laptop that holds
    their feed without gaps (as every store does), so still at most one sheet is sealed."""
    _side_entries, everything, vote_id, m = partition_run(n, k_extra, sides, seed, byzantine=True)
    roster = m.roster()
    rng = random.Random(seed ^ 0xB12)
    laptops = [prefix_closed(everything, rng) for _ in range(8)] + [everything]
    sealed = set()
    for laptop in laptops:
        vote = vv.fold(laptop, roster).votes.get(vote_id)
        if vote is not None and vote.sealed_sheet is not None:
            sealed.add(vote.sealed_sheet)
    assert len(sealed) <= 1


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(1, 7),
    k_extra=st.integers(0, 3),
    sides=st.lists(st.integers(0, 2), min_size=7, max_size=7),
    seed=st.integers(0, 2**32),
)
def test_once_sealed_always_sealed_on_the_same_sheet(
    n: int, k_extra: int, sides: list[int], seed: int
) -> None:
    """Entries arriving one by one, in any order gossip allows: the sealed sheet, once
    there, never changes or disappears, even when tellers equivocate afterwards."""
    _, everything, vote_id, m = partition_run(n, k_extra, sides, seed, byzantine=True)
    roster = m.roster()
    order = interleaving(everything, random.Random(seed))
    seen: bytes | None = None
    for i in range(1, len(order) + 1):
        vote = vv.fold(order[:i], roster).votes.get(vote_id)
        current = vote.sealed_sheet if vote is not None else None
        if seen is not None:
            assert current == seen, "a sealed vote changed or lost its sheet"
        seen = current
    final = vv.fold(order, roster).votes[vote_id].sealed_sheet
    assert seen is None or final == seen


def test_majority_side_seals_minority_side_cannot() -> None:
    """Tellers 3 | 2 with k = 3: the majority side's sheet is sealed everywhere after heal."""
    sides = [0, 0, 0, 1, 1, 0, 0]
    side_entries, everything, vote_id, m = partition_run(5, 0, sides, 7, byzantine=False)
    roster = m.roster()
    a = vv.fold(side_entries[0], roster).votes[vote_id]
    b = vv.fold(side_entries[1], roster).votes[vote_id]
    merged = vv.fold(everything, roster).votes[vote_id]
    assert a.state == "FINAL" and b.state == "PROVISIONAL"
    assert merged.state == "FINAL" and merged.sealed_sheet == a.sealed_sheet
    # side B's sheet stays short of k forever; its ballots are late in the final result
    assert merged.result is not None
    late = [bid for bid, why in merged.result.uncounted if why.startswith("uncounted (late)")]
    assert {e.id for e in side_entries[1] if e.kind == "vote.ballot"} <= set(late)


def test_even_split_seals_nothing() -> None:
    sides = [0, 0, 1, 1, 0, 0, 0]
    side_entries, everything, vote_id, m = partition_run(4, 0, sides, 3, byzantine=False)
    roster = m.roster()
    for laptop in [*side_entries, everything]:
        assert vv.fold(laptop, roster).votes[vote_id].state == "PROVISIONAL"


def test_revote_chain_vs_double_vote_across_a_partition() -> None:
    """bob votes on side A, then walks to side B with his laptop and votes again naming his
    first ballot: one slot, the second counts. bob2 (his rotated key, on a spare laptop on
    side B) votes without naming it: a double vote, void until a ballot names both."""
    m, vb = council()
    v = vb.open("alice", roll=VOTERS, tellers=TELLERS)
    base = list(m.entries)
    vb.cast("bob", v, ["a"])  # side A
    second = vb.cast("bob", v, ["b"])  # side B, names `first`
    side_b = [*base, second]  # side B has his second ballot only
    roster = m.roster()
    assert vv.fold(side_b, roster).votes[v.id].slots[m.key("bob")].status == "voted"
    merged = vv.fold(m.entries, roster).votes[v.id].slots[m.key("bob")]
    assert merged.status == "voted" and merged.ballot.id == second.id  # type: ignore[union-attr]

    m.change(
        "alice",
        {
            "op": "rotate",
            "key": m.key("bob").hex(),
            "successor": m.key("bob2").hex(),
            "at": m.feeds["bob"].seq,
        },
    )
    rogue = vb.cast("bob2", v, ["a"], fresh=True)  # did not see bob's ballots
    roster = m.roster()
    slot = vv.fold(m.entries, roster).votes[v.id].slots[m.key("bob")]
    assert slot.status == "void" and {b.id for b in slot.conflict} == {second.id, rogue.id}
    fixed = vb.cast("bob2", v, ["b"], replaces=[second, rogue])
    slot = vv.fold(m.entries, m.roster()).votes[v.id].slots[m.key("bob")]
    assert slot.status == "voted" and slot.ballot.id == fixed.id  # type: ignore[union-attr]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.text(max_size=70),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(
        ["vote.charter", "vote.ballot", "vote.stop", "vote.close", "vote.seal", "vote.part"]
    ),
    body=st.dictionaries(
        st.sampled_from(
            [
                "vote",
                "choice",
                "replaces",
                "sheet",
                "root",
                "count",
                "ballots",
                "parts",
                "items",
                "title",
                "options",
                "method",
                "tellers",
                "k",
                "roll",
                "roll_size",
                "roll_weight",
            ]
        ),
        json_values,
        max_size=6,
    ),
    point_at_vote=st.booleans(),
    rules=st.sampled_from([1, 2]),
)
def test_hostile_bodies_never_crash_the_fold(
    kind: str, body: dict, point_at_vote: bool, rules: int
) -> None:
    m, entries = BUSY if rules == 1 else BUSY_F
    (vote_id,) = [e.id for e in entries if e.kind == "vote.charter" and e.author == m.key("alice")]
    if point_at_vote:
        body = {**body, "vote": vote_id.hex()}
    hostile = MeshFixture.create("alice", {"bob": ["operator", "teller"]})
    entry = hostile.write("bob", kind, body)
    # test keys derive from the name: this is bob's key, so the roster admits the entry
    votes = vv.fold([*entries, entry], m.roster())
    before = vv.fold(entries, m.roster())
    assert set(votes.votes) >= set(before.votes)  # a bad entry never removes a vote
    assert all(v.state in ("PROVISIONAL", "SEALED", "FINAL") for v in votes.votes.values())
