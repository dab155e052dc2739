"""A vote across a real partition: laptops with their own stores, the writer, then a heal."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from ledger.errors import InvalidInput, TrustError
from ledger.store import Store
from ledger.testing import MeshFixture
from ledger.votes import as_json as vote_json
from ledger.votes import writer as votes

PEOPLE = {
    "bob": ["operator", "teller"],
    "carol": ["operator", "teller"],
    "dave": ["operator", "teller"],
    "erin": ["operator"],
    "frank": ["operator"],
    "cody": ["coordinator", "operator"],
}


def share(src: Store, dst: Store) -> None:
    dst.ingest([raw for raw, _ in src.iter_raw()])


@pytest.fixture
def laptops(tmp_path: Path) -> tuple[MeshFixture, dict[str, Store]]:
    mesh = MeshFixture.create("alice", PEOPLE)
    stores = {}
    for name in ("alice", "cody"):
        stores[name] = Store.open(tmp_path / name, create=True)
        assert not stores[name].ingest([e.raw for e in mesh.entries]).rejected
    yield mesh, stores
    for s in stores.values():
        s.close()


def test_partition_only_the_teller_majority_finishes(laptops, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Side A: alice (coordinator), bob and carol (tellers), erin. Side B: cody (coordinator),
    dave (teller), frank. Both close and try to seal; only A can reach 2 of 3."""
    m, s = laptops
    a, b = s["alice"], s["cody"]
    who = m.person
    vid = votes.open_vote(
        a,
        who("alice"),
        votes.VoteSpec(
            title="Fuel to which base?",
            options=[{"id": "north", "label": "North"}, {"id": "south", "label": "South"}],
            method="plurality",
            tellers=[m.key(t) for t in ("bob", "carol", "dave")],
            roll_role="operator",
            quorum_pct=40,
        ),
    ).id.hex()
    share(a, b)  # the charter reached both sides before the split
    # --- split ---
    for name, choice in (("bob", "north"), ("carol", "north"), ("erin", "south")):
        votes.cast(a, who(name), vid, [choice])
    for name, choice in (("dave", "south"), ("frank", "south"), ("cody", "south")):
        votes.cast(b, who(name), vid, [choice])
    votes.stop(a, who("bob"), vid)
    votes.close(a, who("alice"), vid)
    votes.close(b, who("cody"), vid)
    votes.seal(a, who("bob"), vid)
    assert votes.seal(a, who("carol"), vid).state == "FINAL"
    side_b = votes.seal(b, who("dave"), vid)
    assert (side_b.seals, side_b.state) == (1, "PROVISIONAL")
    va, _ = votes.load(a)
    vb, _ = votes.load(b)
    assert va.votes[bytes.fromhex(vid)].winning_option.id == "north"  # type: ignore[union-attr]
    assert vb.votes[bytes.fromhex(vid)].winning_option is None  # B never shows a winner
    # --- heal, in several arrival orders, on fresh laptops too ---
    everything = [raw for raw, _ in a.iter_raw()] + [raw for raw, _ in b.iter_raw()]
    share(a, b)
    share(b, a)
    expected = vote_json.everything(*votes.load(a))
    assert vote_json.everything(*votes.load(b)) == expected
    for seed in range(3):
        order = list(everything) + everything[: 5 * seed]  # duplicates too
        random.Random(seed).shuffle(order)
        with Store.open(tmp_path / f"fresh{seed}", create=True) as fresh:
            fresh.ingest(order)
            assert vote_json.everything(*votes.load(fresh)) == expected
    final = votes.load(a)[0].votes[bytes.fromhex(vid)]
    r = final.result
    assert final.state == "FINAL" and r is not None and r.winner.id == "north"  # type: ignore[union-attr]
    late = {bid for bid, why in r.uncounted if why.startswith("uncounted (late)")}
    assert len(late) == 3  # side B's ballots missed the sealed sheet
    assert r.turnout_weight == 3 and r.roll_weight == 7 and r.quorum_met  # 3 of 7 >= 40%
    # dave's seal is spent on B's sheet; sealing again is refused, and B's sheet is stuck
    again = votes.seal(b, who("dave"), vid)  # nothing to do: a teller seals once
    assert again.entry is None and again.share.startswith("nothing: you sealed sheet")
    with pytest.raises(TrustError, match="already sealed"):  # another sheet: equivocation
        votes.seal(b, who("dave"), vid, sheet_text=final.sealed_sheet.hex()[:12])  # type: ignore[union-attr]
    with pytest.raises(InvalidInput, match="already FINAL"):
        votes.close(b, who("cody"), vid)


def test_even_teller_split_decides_nothing_until_they_meet(laptops) -> None:  # type: ignore[no-untyped-def]
    m, s = laptops
    a, b = s["alice"], s["cody"]
    who = m.person
    spec = votes.VoteSpec(
        title="Open the depot?",
        options=[{"id": "yes", "label": "Yes"}, {"id": "no", "label": "No"}],
        method="approval",
        tellers=[m.key(t) for t in ("bob", "carol", "dave")],
        roll_role="operator",
        k=3,
    )
    vid = votes.open_vote(a, who("alice"), spec).id.hex()
    share(a, b)
    votes.cast(a, who("bob"), vid, ["yes"])
    votes.cast(b, who("dave"), vid, ["no"])
    votes.close(a, who("alice"), vid)
    votes.seal(a, who("bob"), vid)
    votes.seal(a, who("carol"), vid)
    assert votes.load(a)[0].votes[bytes.fromhex(vid)].state == "PROVISIONAL"  # 2 of 3
    share(a, b)
    # dave joins A's side after the heal; the sheet leaves out his own ballot
    with pytest.raises(InvalidInput, match="leaves out 1"):
        votes.seal(b, who("dave"), vid)
    assert votes.seal(b, who("dave"), vid, accept_late=True).state == "FINAL"
