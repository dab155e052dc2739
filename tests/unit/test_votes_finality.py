"""A FINAL result is final: never two, never changed (issue 14, defects 1, 2 and 5).

Each laptop is a real store (so chains, cuts and fork proofs behave as in the
field); entries are signed by :class:`MeshFixture`. Charters are written by
the vote writer's defaults (``charter_body``), as `plurictl vote open` would.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ledger.entry import Entry
from ledger.store import Store
from ledger.testing import Feed, MeshFixture
from ledger.votes import as_json as vote_json
from ledger.votes import writer as votes
from ledger.votes.bodies import BALLOT, CHARTER, CLOSE, SEAL
from ledger.votes.testing import VoteBook

TELLERS = ["t1", "t2", "t3", "t4", "t5"]


def council(tellers: list[str] = TELLERS) -> MeshFixture:
    people: dict[str, list[str]] = {t: ["operator", "teller"] for t in tellers}
    people |= {"cody": ["coordinator", "operator"], "vera": ["operator"], "walt": ["operator"]}
    return MeshFixture.create("alice", people)


def open_default(m: MeshFixture, tellers: list[str], **kw: Any) -> Entry:
    """A charter exactly as `vote open` writes it with default settings."""
    spec = votes.VoteSpec(
        title="Which plant restarts first?",
        options=[{"id": "north", "label": "North"}, {"id": "south", "label": "South"}],
        method="plurality",
        tellers=[m.key(t) for t in tellers],
        roll_role="operator",
        **kw,
    )
    body, parts = votes.charter_body(m.roster(), spec)
    assert not parts
    return m.write("alice", CHARTER, body)


def twin(m: MeshFixture, name: str) -> Feed:
    """A copy of ``name``'s laptop (a restored backup): same key, same chain so far."""
    m.person(name)
    feed = m.feeds[name]
    return Feed(m.people[name], feed.seq, feed.prev or m.mesh_id)


def laptop(tmp_path: Path, name: str, entries: list[Entry]) -> Store:
    store = Store.open(tmp_path / name, create=True)
    report = store.ingest([e.raw for e in entries])
    assert not [r for r in report.rejected if "equivocation" not in r.reason], report.rejected
    return store


def finals(store: Store) -> dict[bytes, tuple[str, str | None]]:
    """vote id -> (sealed sheet, winner) for every FINAL vote on this laptop."""
    vs, _ = votes.load(store)
    out = {}
    for vid, v in vs.votes.items():
        if v.state == "FINAL":
            assert v.result is not None and v.sealed_sheet is not None
            out[vid] = (v.sealed_sheet.hex(), v.result.winner.id if v.result.winner else None)
    return out


def heal(*stores: Store) -> None:
    for a in stores:
        for b in stores:
            if a is not b:
                b.ingest([raw for raw, _ in a.iter_raw()])
                b.add_fork_proofs(a.fork_proofs())


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[list[Store]]:
    opened: list[Store] = []
    yield opened
    for s in opened:
        s.close()


# --- defect 1: a copied teller key ----------------------------------------------------


def split_with_a_copied_teller(m: MeshFixture, side_a: list[str], side_b: list[str]) -> tuple:
    """t1's key is on two laptops. Side A: the real t1 and ``side_a`` seal A's sheet
    (north); side B: the copy of t1 and ``side_b`` seal B's sheet (south)."""
    vb = VoteBook(m)
    charter = open_default(m, TELLERS)
    base = list(m.entries)
    copy = twin(m, "t1")
    n0 = len(m.entries)
    north = vb.cast("vera", charter, ["north"])
    sheet_a = vb.close("alice", charter, [north])
    for t in ["t1", *side_a]:
        vb.seal(t, charter, sheet_a)
    a = base + m.entries[n0:]
    n1 = len(m.entries)
    south = vb.cast("walt", charter, ["south"])
    sheet_b = vb.close("cody", charter, [south])
    b = base + m.entries[n1:]
    body = {"vote": charter.id.hex(), "sheet": sheet_b.id.hex(), "root": sheet_b.body["root"]}
    b.append(copy.write(SEAL, body, m.tick()))  # the copy seals at the same seq as the real t1
    for t in side_b:
        b.append(vb.seal(t, charter, sheet_b))
    return charter, a, b


def test_a_copied_teller_key_cannot_make_two_final_results(
    tmp_path: Path, stores: list[Store]
) -> None:
    """5 tellers, defaults: k was 3, so t1 + two tellers on each side gave FINAL north on
    one side and FINAL south on the other. Now f = 1 and k = 4: at most one can finish."""
    m = council()
    charter, a, b = split_with_a_copied_teller(m, ["t2", "t3"], ["t4", "t5"])
    side_a, side_b = laptop(tmp_path, "a", a), laptop(tmp_path, "b", b)
    stores += [side_a, side_b]
    seen = {**finals(side_a)}
    for vid, result in finals(side_b).items():
        assert seen.setdefault(vid, result) == result, "two different FINAL results"
    heal(side_a, side_b)
    for s in (side_a, side_b):
        for vid, result in finals(s).items():
            assert seen.setdefault(vid, result) == result
    assert charter.body["k"] == 4 and charter.body["f"] == 1
    # nobody can finish now: every teller has sealed. The vote says so.
    vs, roster = votes.load(side_a)
    vote = vs.votes[charter.id]
    assert vote.state == "PROVISIONAL" and vote.stuck is not None
    data = vote_json.status(vote, vs, roster)
    assert "Open a new vote" in data["stuck_detail"]["advice"]
    assert any("teller t1 equivocated" in t["message"] for t in data["equivocated_tellers"])


def test_the_side_with_k_tellers_finishes_and_stays_final_after_the_copy_is_caught(
    tmp_path: Path, stores: list[Store]
) -> None:
    """Side A has the real t1 and t2, t3, t4 (4 = k): FINAL north. Side B has the copy and
    t5. After the heal the fork proof is everywhere; A's result stands, on every laptop,
    in every arrival order, and shows "teller t1 equivocated"."""
    m = council()
    charter, a, b = split_with_a_copied_teller(m, ["t2", "t3", "t4"], ["t5"])
    side_a, side_b = laptop(tmp_path, "a", a), laptop(tmp_path, "b", b)
    stores += [side_a, side_b]
    before = finals(side_a)
    assert before[charter.id][1] == "north" and not finals(side_b)
    heal(side_a, side_b)
    assert side_a.fork_proofs() and side_b.fork_proofs()
    for s in (side_a, side_b):
        assert finals(s) == before
    everything = [raw for raw, _ in side_a.iter_raw()] + [raw for raw, _ in side_b.iter_raw()]
    proofs = side_a.fork_proofs()
    for seed in range(3):
        order = list(everything)
        random.Random(seed).shuffle(order)
        fresh = Store.open(tmp_path / f"fresh{seed}", create=True)
        stores.append(fresh)
        fresh.ingest(order)
        fresh.add_fork_proofs(proofs)
        assert finals(fresh) == before
    vs, roster = votes.load(side_b)
    result = vote_json.result(vs.votes[charter.id], roster)
    assert result is not None
    assert "teller t1 equivocated" in result["equivocated_tellers"][0]["message"]
    from ledger.votes import audit as vote_audit

    audit = vote_audit.verify(side_b, charter.id.hex())  # status, result and verify say it
    assert audit.ok and audit.vote.state == "FINAL", audit.to_json()["bad_entries"]
    assert "teller t1 equivocated" in audit.status["equivocated_tellers"][0]["message"]


# --- defect 2: a late revocation, and a copied voter key ------------------------------


def split_with_a_late_revocation(m: MeshFixture, op: str) -> tuple:
    """Side B (cody, t3, t4, t5 and vera) decides north with vera's ballot. Side A: alice,
    who has not seen that ballot, revokes (or rotates) vera at the last seq she saw."""
    vb = VoteBook(m)
    charter = open_default(m, TELLERS[:4])  # 4 tellers: f = 1, k = 3
    base = list(m.entries)
    seen = m.feeds["vera"].seq
    n0 = len(m.entries)
    ballots = [vb.cast("vera", charter, ["north"]), vb.cast("t3", charter, ["north"])]
    ballots.append(vb.cast("walt", charter, ["south"]))
    sheet = vb.close("cody", charter, ballots)
    for t in ("t2", "t3", "t4"):
        vb.seal(t, charter, sheet)
    b = base + m.entries[n0:]
    n1 = len(m.entries)
    body: dict[str, Any] = {"op": op, "key": m.key("vera").hex(), "at": seen}
    if op == "rotate":
        body["successor"] = m.key("vera2").hex()
    m.write("alice", "roster.change", {**body, "after": [h.hex() for h in m.roster().heads]})
    m.write("alice", BALLOT, {"vote": charter.id.hex(), "choice": ["south"], "replaces": []})
    a = base + m.entries[n1:]
    return charter, a, b, ballots[0]


@pytest.mark.parametrize("op", ["revoke", "rotate"])
def test_a_late_revocation_never_changes_a_final_result(
    tmp_path: Path, stores: list[Store], op: str
) -> None:
    m = council()
    charter, a, b, vera = split_with_a_late_revocation(m, op)
    side_a, side_b = laptop(tmp_path, "a", a), laptop(tmp_path, "b", b)
    stores += [side_a, side_b]
    before = finals(side_b)
    assert before[charter.id][1] == "north"
    heal(side_a, side_b)
    heal(side_a, side_b)  # a second round: what was refused before the sheet arrived
    for s in (side_a, side_b):
        assert finals(s) == before, f"{op}: the sealed result changed"
        assert s.get(vera.id) is not None, "the admin's laptop must keep the listed ballot"
        assert s.digest() == side_b.digest()
    vs, _ = votes.load(side_a)
    r = vs.votes[charter.id].result
    assert r is not None and vera.id in {b.id for b in r.counted}


def test_the_voters_receipt_finds_the_ballot_through_the_sheet(
    tmp_path: Path, stores: list[Store]
) -> None:
    from ledger.votes import audit as vote_audit

    m = council()
    charter, a, b, vera = split_with_a_late_revocation(m, "revoke")
    side_a, side_b = laptop(tmp_path, "a", a), laptop(tmp_path, "b", b)
    stores += [side_a, side_b]
    heal(side_a, side_b)
    heal(side_a, side_b)
    r = vote_audit.receipt(side_a, m.person("vera"), charter.id.hex())
    assert r.status == "in sealed set" and r.proof_ok and r.in_set is not None
    assert r.in_set.id == vera.id


def test_a_copied_voter_key_never_changes_a_final_result(
    tmp_path: Path, stores: list[Store]
) -> None:
    """vera's key is copied: the copy votes north on side B (listed and sealed there), the
    real laptop writes a note at the same seq on side A. After the heal the fork proof
    freezes vera's key, but the sealed ballot still counts as listed."""
    m = council()
    vb = VoteBook(m)
    charter = open_default(m, TELLERS[:4])
    base = list(m.entries)
    copy = twin(m, "vera")
    n0 = len(m.entries)
    m.write("vera", "note", {"text": "on the real laptop"})
    a = base + m.entries[n0:]
    vote_body = {"vote": charter.id.hex(), "choice": ["north"], "replaces": []}
    copied = copy.write(BALLOT, vote_body, m.tick())
    n1 = len(m.entries)
    walt = vb.cast("walt", charter, ["south"])
    t3 = vb.cast("t3", charter, ["north"])
    sheet = vb.close("cody", charter, [copied, walt, t3])
    for t in ("t2", "t3", "t4"):
        vb.seal(t, charter, sheet)
    b = [*base, copied, *m.entries[n1:]]
    side_a, side_b = laptop(tmp_path, "a", a), laptop(tmp_path, "b", b)
    stores += [side_a, side_b]
    before = finals(side_b)
    assert before[charter.id][1] == "north"
    heal(side_a, side_b)
    for s in (side_a, side_b):
        assert s.fork_proofs()
        assert finals(s) == before


def test_two_sheets_sealed_by_more_than_f_copies_is_a_conflict_never_a_crash() -> None:
    """f + 1 = 2 copied teller keys (t1 and t2) with 5 tellers, k = 4: both sheets reach 4.
    The laptop that sees both shows CONFLICT (no result), not two results, and no error."""
    from ledger.roster import view as rv
    from ledger.votes import view as vv

    m = council()
    vb = VoteBook(m)
    charter = open_default(m, TELLERS)
    copies = [twin(m, "t1"), twin(m, "t2")]
    s1 = vb.close("alice", charter, [vb.cast("vera", charter, ["north"])])
    s2 = vb.close("cody", charter, [vb.cast("walt", charter, ["south"])])
    for t in ("t1", "t2", "t3", "t4"):
        vb.seal(t, charter, s1)
    extra = [
        c.write(
            SEAL,
            {"vote": charter.id.hex(), "sheet": s2.id.hex(), "root": s2.body["root"]},
            m.tick(),
        )
        for c in copies
    ]
    extra.append(vb.seal("t5", charter, s2))
    roster = rv.fold(m.entries, {m.key("t1"): m.feeds["t1"].seq, m.key("t2"): m.feeds["t2"].seq})
    everything = [e for e in m.entries if e.kind != "note"]
    vote = vv.fold(everything, roster, proofs=extra[:2]).votes[charter.id]
    assert len(vote.sheets[s2.id].sealers) == 3  # t5 and the two copies: short of 4
    third = twin(m, "t3")
    extra.append(
        third.write(
            SEAL,
            {"vote": charter.id.hex(), "sheet": s2.id.hex(), "root": s2.body["root"]},
            m.tick(),
        )
    )
    roster = rv.fold(
        m.entries, {m.key(t): m.feeds[t].seq for t in ("t1", "t2", "t3")}
    )  # 3 copies > f = 1
    vote = vv.fold(everything, roster, proofs=[extra[0], extra[1], extra[3]]).votes[charter.id]
    assert vote.state == "CONFLICT" and sorted(vote.conflict) == sorted([s1.id, s2.id])
    assert vote.result is None and vote.winning_option is None
    assert CLOSE  # the sheets are ordinary close sheets


# --- defect 5: a vote that can no longer be sealed says so ----------------------------


def test_a_stuck_vote_says_so_and_what_would_unblock_it(capsys: pytest.CaptureFixture[str]) -> None:
    """3 tellers, k = 2: t1 seals sheet A, t2 seals sheet B, t3 is revoked. No sheet can
    ever reach 2 seals; `vote status` used to show PROVISIONAL without a word."""
    from ledger.votes import view as vv
    from plurictl.render import votes as vote_render

    m = council(["t1", "t2", "t3"])
    vb = VoteBook(m)
    charter = open_default(m, ["t1", "t2", "t3"])
    a = vb.close("alice", charter, [vb.cast("vera", charter, ["north"])])
    b = vb.close("cody", charter, [vb.cast("walt", charter, ["south"])])
    vb.seal("t1", charter, a)
    votes_now = vv.fold(m.entries, m.roster())
    assert votes_now.votes[charter.id].stuck is None  # t2 or t3 can still complete A
    vb.seal("t2", charter, b)
    m.revoke("t3")
    roster = m.roster()
    votes_now = vv.fold(m.entries, roster)
    vote = votes_now.votes[charter.id]
    assert vote.state == "PROVISIONAL" and vote.stuck is not None
    data = vote_json.status(vote, votes_now, roster)
    detail = data["stuck_detail"]
    assert detail["best_seals"] == 1 and detail["k"] == 2 and not detail["can_still_seal"]
    assert sorted(detail["already_in"]) == ["t1", "t2"] and "sealed_another_sheet" not in detail
    assert detail["cannot_seal"] == [{"name": "t3", "why": "seat key revoked"}]
    assert data["stuck"] is True  # `vote list` marks it too
    vote_render.render_status(data)
    out = " ".join(capsys.readouterr().out.split())
    assert "Stuck" in out and "Open a new vote" in out


@pytest.mark.parametrize("rules", [1, 2])
def test_a_revoked_teller_leaves_a_vote_stuck_unless_they_seal_only_under_rules_2(
    rules: int,
) -> None:
    """Review 21e E1: under rules 2 a cut never cancels a seal, so a revoked teller's
    laptop that has not heard can still finish the vote: Stuck says "unless t3 seals" and
    refuses nothing. Under rules 1 (charters without f) the current roster judges every
    seal: t3's seal could never count, so the vote is stuck outright."""
    from ledger.votes import view as vv

    m = council(["t1", "t2", "t3"])
    vb = VoteBook(m)
    if rules == 2:
        charter = open_default(m, ["t1", "t2", "t3"])
    else:
        charter = vb.open("alice", options=("north", "south"), roll=["vera", "walt"],
                          tellers=["t1", "t2", "t3"], k=2)  # fmt: skip
    a = vb.close("alice", charter, [vb.cast("vera", charter, ["north"])])
    b = vb.close("cody", charter, [vb.cast("walt", charter, ["south"])])
    vb.seal("t1", charter, a)
    vb.seal("t2", charter, b)
    m.revoke("t3")
    vote = vv.fold(m.entries, m.roster()).votes[charter.id]
    assert vote.state == "PROVISIONAL" and vote.stuck is not None
    if rules == 2:
        assert vote.stuck.unless == [m.key("t3")]
        assert "it can still finish only if t3 seals anyway" in vote.stuck.advice
    else:
        assert vote.stuck.unless == [] and "unless" not in vote.stuck.advice


# --- the threshold, as a property -----------------------------------------------------


@settings(max_examples=120, deadline=None)
@given(
    n=st.integers(3, 7),
    f=st.integers(0, 2),
    sides=st.lists(st.integers(0, 2), min_size=7, max_size=7),
    copied=st.integers(0, 2),
    seed=st.integers(0, 2**32),
)
def test_up_to_f_copied_teller_keys_never_seal_two_sheets(
    n: int, f: int, sides: list[int], copied: int, seed: int
) -> None:
    """n tellers, charter tolerating f, up to f of them copied: each copy seals the other
    side's sheet at the same place in the key's feed. Whatever each laptop holds (either
    side, or both with the fork proofs), at most one sheet is ever sealed, and a laptop
    that saw a sheet sealed still sees it sealed once the proofs arrive."""
    from ledger.roster import view as rv
    from ledger.votes import view as vv
    from ledger.votes.bodies import seal_threshold

    assume(seal_threshold(n, f) <= n)
    copied = min(copied, f)
    tellers = [f"t{i}" for i in range(n)]
    m = council(tellers)
    vb = VoteBook(m)
    charter = vb.open("alice", roll=["vera", "walt"], tellers=tellers, k=seal_threshold(n, f), f=f)
    rng = random.Random(seed)
    copies = {t: twin(m, t) for t in rng.sample(tellers, copied)}
    a = vb.close("alice", charter, [vb.cast("vera", charter, ["north"])])
    b = vb.close("cody", charter, [vb.cast("walt", charter, ["south"])])
    side: list[list[Entry]] = [[], []]
    proofs: list[Entry] = []
    for i, t in enumerate(tellers):
        where = sides[i]
        if t in copies:  # the real key on side 0, its copy on side 1
            side[0].append(vb.seal(t, charter, a))
            body = {"vote": charter.id.hex(), "sheet": b.id.hex(), "root": b.body["root"]}
            copy_seal = copies[t].write(SEAL, body, m.tick())
            side[1].append(copy_seal)
            proofs += [side[0][-1], copy_seal]
        elif where < 2:
            side[where].append(vb.seal(t, charter, [a, b][where]))
    base = [e for e in m.entries if e.kind != SEAL]
    forked = {m.key(t): m.feeds[t].seq for t in copies}
    plain = rv.fold(base)
    sealed: set[bytes] = set()
    for laptop in (base + side[0], base + side[1]):
        vote = vv.fold(laptop, plain).votes[charter.id]
        if vote.sealed_sheet is not None:
            sealed.add(vote.sealed_sheet)
    merged = vv.fold(
        base + side[0] + [e for e in side[1] if e not in proofs],
        rv.fold(base, forked),
        proofs=proofs,
    )
    vote = merged.votes[charter.id]
    assert vote.state != "CONFLICT"
    if vote.sealed_sheet is not None:
        sealed.add(vote.sealed_sheet)
    assert len(sealed) <= 1, "two sheets sealed with at most f copied teller keys"
    for s in sealed:  # once sealed on a side, still sealed with everything together
        assert vote.sealed_sheet == s


def test_the_view_refuses_a_charter_that_cannot_meet_its_f() -> None:
    """Another tool's charter: 3 tellers, k = 2, f = 1 (2k - n = 1 < f + 1). Ignored, with
    the reason, on every laptop; k = 3 would do."""
    from ledger.votes import view as vv

    m = council(["t1", "t2", "t3"])
    vb = VoteBook(m)
    bad = vb.open("alice", roll=["vera"], tellers=["t1", "t2", "t3"], k=2, f=1)
    good = vb.open("alice", roll=["vera"], tellers=["t1", "t2", "t3"], f=1)
    votes_now = vv.fold(m.entries, m.roster())
    assert set(votes_now.votes) == {good.id} and votes_now.votes[good.id].charter.k == 3
    (why,) = [i.reason for i in votes_now.ignored if i.id == bad.id]
    assert "cannot tolerate f=1" in why and "k >= 3" in why
