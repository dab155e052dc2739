"""Review 21e/21f lows (issue #21): what a vote says in the corners an operator still meets
once the big fixes are in (a rotated teller's new key on a sealed vote, ...)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.errors import TrustError
from ledger.store import Store
from ledger.testing import MeshFixture
from ledger.votes import as_json as vote_json
from ledger.votes import writer
from ledger.votes.bodies import SEAL
from plurictl.render import votes as vote_render
from tests.unit.test_secret_votes_share import closed, honest_share, share_entry, sheet_body
from tests.unit.votes_helpers import TELLERS, VOTERS, council, fold


def rotate(m: MeshFixture, who: str) -> None:
    """The admin rotates ``who``'s key to ``who``2 (the vote is already open)."""
    m.change(
        "alice",
        {
            "op": "rotate",
            "key": m.key(who).hex(),
            "successor": m.key(who + "2").hex(),
            "at": m.feeds[who].seq,
        },
    )


def new_key_refused(tmp_path: Path, m: MeshFixture, vid: bytes) -> str:
    """dave's new key runs `vote seal` on this laptop: refused; the hint."""
    with Store.open(tmp_path, create=True) as store:
        assert not store.ingest([e.raw for e in m.entries]).rejected
        before = store.count()
        with pytest.raises(TrustError, match="belongs to the key you had") as e:
            writer.seal(store, m.person("dave2"), vid.hex())
        assert store.count() == before
    return " ".join(str(e.value.hint).split())


def test_a_rotated_tellers_new_key_on_a_final_open_vote_is_told_nothing_is_left_to_do(
    tmp_path: Path,
) -> None:
    m, vb = council()
    v = vb.open("alice", roll=VOTERS, tellers=TELLERS)
    sheet = vb.close("alice", v, [vb.cast(n, v, ["a"]) for n in ("alice", "bob", "erin")])
    vb.seal("bob", v, sheet)
    vb.seal("carol", v, sheet)  # 2 of 2: FINAL
    rotate(m, "dave")
    hint = new_key_refused(tmp_path, m, v.id)
    assert hint == f"the vote is already FINAL on sheet {sheet.id.hex()[:12]}: nothing to do"


def test_a_rotated_tellers_new_key_on_a_sealed_secret_vote_is_told_whether_its_share_is_missing(
    tmp_path: Path,
) -> None:
    """SEALED, counts waiting for a 2nd share: dave's seat's share is missing and only his
    old key could add it; once bob shares (FINAL), nothing to do."""
    m, charter, sheet = closed()
    m.write("bob", SEAL, sheet_body(charter, sheet))  # 1 of 2: share held back
    carol = honest_share(m, charter, sheet, "carol")
    m.write("carol", SEAL, {**sheet_body(charter, sheet), "share": carol})  # SEALED
    rotate(m, "dave")
    hint = new_key_refused(tmp_path / "a", m, charter.id)
    assert hint.startswith(f"the vote is already SEALED on sheet {sheet.id.hex()[:12]}; ")
    assert "your seat's is not in: only the key you had when the vote opened could add it" in hint
    assert "other tellers can still seal" not in hint and "new vote" not in hint
    share_entry(m, charter, sheet, "bob", honest_share(m, charter, sheet, "bob"))
    hint = new_key_refused(tmp_path / "b", m, charter.id)
    assert hint == f"the vote is already FINAL on sheet {sheet.id.hex()[:12]}: nothing to do"


def test_the_tellers_line_says_a_kept_seal_counts_though_the_seat_key_was_revoked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    m, vb = council()
    v = vb.open("alice", roll=VOTERS, tellers=TELLERS)
    sheet = vb.close("alice", v, [vb.cast(n, v, ["a"]) for n in ("alice", "bob", "erin")])
    vb.seal("dave", v, sheet)
    vb.seal("carol", v, sheet)  # FINAL
    m.revoke("dave")
    votes = fold(m)
    data = vote_json.status(votes.votes[v.id], votes, m.roster())
    dave = next(t for t in data["tellers_detail"] if t["name"] == "dave")
    assert dave["seat_changed"] == "seat key revoked" and dave["seat_gone"] is None
    vote_render.render_status(data)
    out = " ".join(capsys.readouterr().out.split())
    assert (
        f"dave (sealed {sheet.id.hex()[:8]}; seat key revoked since the vote opened: the seal "
        "still counts)" in out
    )
    assert f"carol (sealed {sheet.id.hex()[:8]})" in out


def test_verify_lists_a_forged_close_as_ignored_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Review 21e LOW: a `vote.close` by a non-coordinator (erin) was ignored silently by
    `vote verify`; now it is listed with why (the verdict stays OK: nothing is wrong)."""
    from ledger.votes.audit import verify

    m, vb = council()
    v = vb.open("alice", roll=VOTERS, tellers=TELLERS)
    ballots = [vb.cast(n, v, ["a"]) for n in ("alice", "bob")]
    forged = vb.close("erin", v, ballots)
    with Store.open(tmp_path, create=True) as store:
        assert not store.ingest([e.raw for e in m.entries]).rejected
        audit = verify(store, v.id.hex())
        data = audit.to_json(every_ballot=False)
        vote_render.render_audit(audit, show_all=False)
    assert audit.ok and forged.id not in audit.vote.sheets
    [row] = data["ignored_entries"]
    assert row["id"] == forged.id.hex() and row["kind"] == "vote.close"
    assert row["reason"].startswith("close sheet not applied")
    out = " ".join(capsys.readouterr().out.split())
    assert (
        f"IGNORED vote.close seq {forged.seq} of erin ({forged.id.hex()[:12]}): close sheet" in out
    )
