"""Vote writer: every refusal happens before signing (store unchanged); good writes fold."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ledger.errors import InvalidInput, PluriError, TrustError
from ledger.store import Store
from ledger.testing import MeshFixture
from ledger.votes import writer as votes
from ledger.votes.bodies import BALLOT, ROLL_PER_PART
from ledger.votes.testing import add_many
from tests.unit.votes_helpers import council


@pytest.fixture
def world(tmp_path: Path) -> tuple[MeshFixture, Store]:
    m, _ = council()
    store = Store.open(tmp_path, create=True)
    report = store.ingest([e.raw for e in m.entries])
    assert not report.rejected
    yield m, store
    store.close()


def spec(m: MeshFixture, **kw: Any) -> votes.VoteSpec:
    base: dict[str, Any] = {
        "title": "Restart order",
        "options": [
            {"id": "north", "label": "North"},
            {"id": "south", "label": "South", "ref": "plan:s"},
        ],
        "method": "plurality",
        "tellers": [m.key(t) for t in ("bob", "carol", "dave")],
        "roll_role": "operator",
    }
    base.update(kw)
    return votes.VoteSpec(**base)


def refused(store: Store, error: type[PluriError], fn: Callable[[], object], match: str) -> None:
    before = store.count()
    with pytest.raises(error, match=match):
        fn()
    assert store.count() == before, "a refused request must not write anything"


def opened(m: MeshFixture, store: Store, **kw: Any) -> str:
    return votes.open_vote(store, m.person("alice"), spec(m, **kw)).id.hex()


# --- open --------------------------------------------------------------------------


def test_open_resolves_the_roll_into_members(world) -> None:  # type: ignore[no-untyped-def]
    m, store = world
    entry = votes.open_vote(store, m.person("alice"), spec(m, quorum_pct=50))
    body = entry.body
    expected = {m.key(n).hex() for n in ("alice", "bob", "carol", "dave", "erin", "frank")}
    assert set(body["roll"]) == expected and body["roll_source"] == "role:operator"
    assert body["k"] == 2 and len(body["tellers"]) == 3
    vs, _ = votes.load(store)
    assert vs.votes[entry.id].charter.fields.quorum_pct == 50


@pytest.mark.parametrize(
    ("kw", "error", "match"),
    [
        ({"k": 1}, InvalidInput, "more than half"),
        ({"k": 4}, InvalidInput, "more than the 3 tellers"),
        ({"k": 2, "tolerate": 1}, InvalidInput, "so k >= 3"),  # 2 of 3 cannot survive a copy
        ({"tolerate": 3}, InvalidInput, "0 to 2"),
        ({"tellers": []}, InvalidInput, "needs tellers"),
        ({"method": "borda"}, InvalidInput, "method must be"),
        ({"credits": 10}, InvalidInput, "only applies to quadratic"),
        ({"options": [{"id": "a", "label": "A"}]}, InvalidInput, "2 to 64"),
        (
            {"options": [{"id": "A B", "label": "x"}, {"id": "b", "label": "y"}]},
            InvalidInput,
            "option id",
        ),
        (
            {"options": [{"id": "a", "label": "x"}, {"id": "a", "label": "y"}]},
            InvalidInput,
            "different",
        ),
        ({"roll_role": "observer"}, InvalidInput, "observers cannot vote"),
        ({"roll_role": "admin", "weights": {b"\x01" * 32: 2}}, InvalidInput, "not on the roll"),
        ({"roll_role": None}, InvalidInput, "needs a roll"),
        ({"quorum_pct": 101}, InvalidInput, "quorum_pct"),
        ({"title": " "}, InvalidInput, "title"),
    ],
)
def test_open_refusals(world, kw: dict[str, Any], error: type[PluriError], match: str) -> None:  # type: ignore[no-untyped-def]
    m, store = world
    refused(store, error, lambda: votes.open_vote(store, m.person("alice"), spec(m, **kw)), match)


def test_open_role_refusals(world) -> None:  # type: ignore[no-untyped-def]
    m, store = world
    refused(
        store, TrustError, lambda: votes.open_vote(store, m.person("bob"), spec(m)), "coordinator"
    )
    bad_teller = spec(m, tellers=[m.key("bob"), m.key("erin"), m.key("dave")])
    refused(
        store,
        TrustError,
        lambda: votes.open_vote(store, m.person("alice"), bad_teller),
        "teller role",
    )
    twice = spec(m, tellers=[m.key("bob"), m.key("bob"), m.key("dave")])
    refused(store, InvalidInput, lambda: votes.open_vote(store, m.person("alice"), twice), "twice")
    observer_roll = spec(m, roll_role=None, roll={m.key("olga"): 1})
    refused(
        store,
        TrustError,
        lambda: votes.open_vote(store, m.person("alice"), observer_roll),
        "observer",
    )


def test_long_roll_is_written_in_parts(tmp_path: Path) -> None:
    m, _ = council()
    add_many(m, [f"v{i}" for i in range(ROLL_PER_PART + 50)], ["operator"])
    with Store.open(tmp_path, create=True) as store:
        assert not store.ingest([e.raw for e in m.entries]).rejected
        entry = votes.open_vote(store, m.person("alice"), spec(m))
        assert len(entry.body["roll_parts"]) == 2 and "roll" not in entry.body
        vs, _ = votes.load(store)
        assert len(vs.votes[entry.id].charter.roll) == ROLL_PER_PART + 50 + 6


# --- cast --------------------------------------------------------------------------


def test_cast_and_revote_name_the_earlier_ballots(world) -> None:  # type: ignore[no-untyped-def]
    m, store = world
    vid = opened(m, store)
    first = votes.cast(store, m.person("bob"), vid[:8], ["north"])
    assert first.replaced == 0 and first.entry.body["replaces"] == []
    second = votes.cast(store, m.person("bob"), vid[:8], ["south"])
    assert second.entry.body["replaces"] == [first.entry.id.hex()] and second.replaced == 1
    vs, _ = votes.load(store)
    assert vs.votes[bytes.fromhex(vid)].provisional.counts == {"north": 0, "south": 1}  # type: ignore[union-attr]


def test_cast_refusals(world) -> None:  # type: ignore[no-untyped-def]
    m, store = world
    vid = opened(m, store)
    refused(
        store,
        TrustError,
        lambda: votes.cast(store, m.person("cody"), vid, ["north"]),
        "not on this vote's roll",
    )
    refused(
        store,
        TrustError,
        lambda: votes.cast(store, m.person("olga"), vid, ["north"]),
        "cannot vote",
    )
    refused(
        store,
        InvalidInput,
        lambda: votes.cast(store, m.person("bob"), vid, ["west"]),
        "unknown option",
    )
    refused(
        store,
        InvalidInput,
        lambda: votes.cast(store, m.person("bob"), vid, ["north", "south"]),
        "choose one",
    )
    refused(
        store,
        InvalidInput,
        lambda: votes.cast(store, m.person("bob"), "ffff", ["north"]),
        "no vote matches",
    )
    refused(
        store,
        InvalidInput,
        lambda: votes.cast(store, m.person("bob"), "ab", ["north"]),
        "no vote matches",
    )


def test_cast_restores_a_void_slot(world) -> None:  # type: ignore[no-untyped-def]
    m, store = world
    vid = opened(m, store)
    bob = m.person("bob")
    votes.cast(store, bob, vid, ["north"])
    # a ballot written by some other client that names nothing: a double vote
    store.append(bob, BALLOT, {"vote": vid, "choice": ["south"], "replaces": []})
    vs, _ = votes.load(store)
    assert vs.votes[bytes.fromhex(vid)].slots[m.key("bob")].status == "void"
    fix = votes.cast(store, bob, vid, ["south"])
    assert fix.restored and fix.replaced == 2
    vs, _ = votes.load(store)
    assert vs.votes[bytes.fromhex(vid)].slots[m.key("bob")].status == "voted"


def test_quadratic_choice_parsing(world) -> None:  # type: ignore[no-untyped-def]
    m, store = world
    vid = opened(m, store, method="quadratic", credits=9)
    assert votes.parse_choice("quadratic", ["north=2", "south=-2"]) == {"north": 2, "south": -2}
    assert votes.parse_choice("quadratic", ["north"]) == {"north": 1}
    with pytest.raises(InvalidInput, match="OPTION=VOTES"):
        votes.parse_choice("quadratic", ["north=lots"])
    refused(
        store,
        InvalidInput,
        lambda: votes.cast(store, m.person("bob"), vid, {"north": 3, "south": 1}),
        "over budget",
    )
    ok = votes.cast(store, m.person("bob"), vid, {"north": 2, "south": -2})
    assert ok.entry.body["choice"] == {"north": 2, "south": -2}


# --- stop, close, seal -------------------------------------------------------------


def test_full_cycle_and_refusals_along_the_way(world) -> None:  # type: ignore[no-untyped-def]
    m, store = world
    vid = opened(m, store)
    for name, choice in (("bob", "north"), ("carol", "north"), ("erin", "south")):
        votes.cast(store, m.person(name), vid, [choice])
    refused(store, TrustError, lambda: votes.stop(store, m.person("erin"), vid), "teller")
    refused(store, InvalidInput, lambda: votes.seal(store, m.person("bob"), vid), "no close sheet")
    refused(store, TrustError, lambda: votes.close(store, m.person("bob"), vid), "coordinator")
    stop_entry, _ = votes.stop(store, m.person("bob"), vid)
    assert stop_entry.body["count"] == 3
    sheet = votes.close(store, m.person("alice"), vid)
    assert sheet.count == 3 and sheet.parts == 0
    refused(
        store,
        InvalidInput,
        lambda: votes.close(store, m.person("cody"), vid),
        "already lists exactly",
    )
    votes.cast(store, m.person("frank"), vid, ["south"])
    refused(store, InvalidInput, lambda: votes.seal(store, m.person("bob"), vid), "leaves out 1")
    first = votes.seal(store, m.person("bob"), vid, accept_late=True)
    assert (first.seals, first.k, first.state) == (1, 2, "PROVISIONAL")
    before = store.count()
    again = votes.seal(store, m.person("bob"), vid)  # nothing to do: a teller seals once
    assert again.entry is None and again.share == (
        "nothing: you already sealed this sheet; a teller seals once"
    )
    assert store.count() == before
    second = votes.seal(store, m.person("carol"), vid, accept_late=True)
    assert second.state == "FINAL"
    refused(
        store,
        InvalidInput,
        lambda: votes.cast(store, m.person("dave"), vid, ["north"]),
        "already FINAL",
    )
    refused(
        store, InvalidInput, lambda: votes.close(store, m.person("alice"), vid), "already FINAL"
    )
    vs, _ = votes.load(store)
    vote = vs.votes[bytes.fromhex(vid)]
    assert vote.winning_option is not None and vote.winning_option.id == "north"


def test_close_waits_for_a_teller_that_holds_more(world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    m, store = world
    vid = opened(m, store)
    votes.cast(store, m.person("bob"), vid, ["north"])
    # erin voted on carol's laptop; carol (teller) stopped there holding 2 ballots
    with Store.open(tmp_path / "carol", create=True) as other:
        other.ingest([raw for raw, _ in store.iter_raw()])
        votes.cast(other, m.person("erin"), vid, ["south"])
        votes.stop(other, m.person("carol"), vid)
        carols = other.range_raw(m.key("carol"), 1)
    assert not store.ingest(carols).rejected  # carol's stop reached alice, erin's ballot did not
    refused(
        store, InvalidInput, lambda: votes.close(store, m.person("alice"), vid), "carol \\(2\\)"
    )
    forced = votes.close(store, m.person("alice"), vid, force=True)
    assert forced.count == 1


def test_seal_refuses_a_sheet_that_lists_unknown_ballots(world) -> None:  # type: ignore[no-untyped-def]
    m, store = world
    vid = opened(m, store)
    votes.cast(store, m.person("erin"), vid, ["north"])
    from ledger import merkle

    ids = sorted([bytes(32), bytes([1]) * 32])
    body = {
        "vote": vid,
        "count": 2,
        "root": merkle.root(ids).hex(),
        "ballots": [i.hex() for i in ids],
    }
    store.append(m.person("cody"), "vote.close", body)
    refused(store, InvalidInput, lambda: votes.seal(store, m.person("bob"), vid), "does not hold")


def test_a_sheet_that_can_no_longer_reach_k_is_not_closed(world) -> None:  # type: ignore[no-untyped-def]
    """k = 3 of 3 and bob sealed the first sheet: a second sheet could get 2 seals at most,
    so it is not closed (it used to be, and then every teller was refused on it); the
    refusal points at the first sheet, which can still be sealed with --accept-late."""
    m, store = world
    vid = opened(m, store, tellers=[m.key(t) for t in ("bob", "carol", "dave")], k=3)
    votes.cast(store, m.person("erin"), vid, ["north"])
    s1 = votes.close(store, m.person("alice"), vid)
    votes.seal(store, m.person("bob"), vid)
    votes.cast(store, m.person("frank"), vid, ["south"])
    first = s1.entry.id.hex()[:12]
    refused(
        store,
        InvalidInput,
        lambda: votes.close(store, m.person("alice"), vid),
        f"a new sheet can never reach 3 seals .*sheet {first} has 1 seal",
    )
    refused(store, InvalidInput, lambda: votes.seal(store, m.person("carol"), vid), "leaves out")
    votes.seal(store, m.person("carol"), vid, accept_late=True)
    assert votes.seal(store, m.person("dave"), vid, accept_late=True).state == "FINAL"


def test_long_sheet_is_written_in_parts(world, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    m, store = world
    monkeypatch.setattr(votes, "IDS_PER_PART", 2)
    vid = opened(m, store)
    for name in ("bob", "carol", "dave", "erin", "frank"):
        votes.cast(store, m.person(name), vid, ["north"])
    sheet = votes.close(store, m.person("alice"), vid)
    assert sheet.parts == 3 and len(sheet.entry.body["parts"]) == 3
    votes.seal(store, m.person("bob"), vid)
    assert votes.seal(store, m.person("dave"), vid).state == "FINAL"
    vs, _ = votes.load(store)
    assert vs.votes[bytes.fromhex(vid)].result.turnout_weight == 5  # type: ignore[union-attr]


def test_rotating_a_teller_of_an_open_vote_warns(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ledger.roster import writer as trust
    from ledger.store import Store
    from ledger.testing import identity_from_seed
    from ledger.votes.writer import VoteSpec, open_vote
    from tests.unit.votes_helpers import council

    m, _ = council()
    store = Store(tmp_path / "l.db", create=True)
    store.ingest([e.raw for e in m.entries])
    alice = m.person("alice")
    open_vote(
        store,
        alice,
        VoteSpec(
            title="Shelter?",
            options=[{"id": "a", "label": "A"}, {"id": "b", "label": "B"}],
            method="plurality",
            tellers=[m.key("bob"), m.key("carol"), m.key("dave")],
            roll_role="operator",
        ),
    )
    result = trust.rotate(store, alice, m.key("bob"), identity_from_seed("bob-new").public)
    assert result.warnings and "teller of 1 vote" in result.warnings[0]
    store.close()


def test_revoking_a_voter_with_a_ballot_in_an_open_vote_warns(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Not only tellers: an admin cutting a voter's key is told the voter has a ballot in an
    open vote, and what happens to it (issue 14, defect 2)."""
    from ledger.roster import writer as trust
    from ledger.store import Store
    from ledger.votes.writer import VoteSpec, cast, open_vote
    from tests.unit.votes_helpers import council

    m, _ = council()
    store = Store(tmp_path / "l.db", create=True)
    store.ingest([e.raw for e in m.entries])
    alice = m.person("alice")
    vote = open_vote(
        store,
        alice,
        VoteSpec(
            title="Shelter?",
            options=[{"id": "a", "label": "A"}, {"id": "b", "label": "B"}],
            method="plurality",
            tellers=[m.key("bob"), m.key("carol"), m.key("dave")],
            roll_role="operator",
        ),
    )
    cast(store, m.person("erin"), vote.id.hex(), ["a"])
    for op in (
        lambda: trust.revoke(store, alice, m.key("erin"), "lost"),
        lambda: trust.rotate(store, alice, m.key("frank"), m.key("frank2")),
    ):
        result = op()
        if result.entry.body["key"] == m.key("erin").hex():
            assert any("has a ballot in 1 vote" in w for w in result.warnings), result.warnings
        else:  # frank has no ballot: nothing to say about ballots
            assert not any("ballot" in w for w in result.warnings)
    store.close()


def test_the_f0_warning_is_given_only_when_k_tolerates_no_copied_teller() -> None:
    """Review 21c C4: a 2-of-2 ceremony was warned "tolerates no equivocating teller",
    though with k = n = 2 (2k - n = 2) one copied key can never seal two sheets."""
    from ledger.votes.writer import threshold_warnings

    assert threshold_warnings(2, 0, 2) == [] and threshold_warnings(3, 0, 3) == []
    assert threshold_warnings(2, 0, 3) and threshold_warnings(3, 0, 5)
    assert threshold_warnings(3, 1, 4) == []
