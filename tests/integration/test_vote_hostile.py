"""Validly signed but hostile vote entries, through the real CLI (found by review, issue 14).

Anyone on the roster signs text that vote commands print: titles, labels, names, ballot
choices. Rich markup in any of it (``[/]``) made `vote list`, `status`, `result` and
`verify` fail with a traceback (the error reporter itself choked on the message).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger import identity
from ledger.store import Store
from ledger.testing import MeshFixture
from ledger.votes.testing import VoteBook
from tests.conftest import Invoke, json_out

TELLERS = ["t1", "t2", "t3", "t4"]
HOSTILE = "[/] [bold red]Which [/x] plant"


def laptop(tmp_path: Path, m: MeshFixture, name: str) -> Path:
    """``name``'s laptop holding every entry of ``m``."""
    h = tmp_path / name.strip("[]/ ")
    identity.ensure_home(h)
    identity.save(m.person(name), h, None)
    with Store.open(h, create=True) as store:
        assert not store.ingest([e.raw for e in m.entries]).rejected
    return h


def test_markup_in_signed_text_is_shown_as_text(tmp_path: Path, invoke: Invoke) -> None:
    m = MeshFixture.create("alice", {t: ["operator", "teller"] for t in TELLERS})
    m.add("[/]vic", ["operator"])
    vb = VoteBook(m)
    v = vb.open(
        "alice",
        roll=[*TELLERS, "[/]vic"],
        tellers=TELLERS,
        f=1,
        title=HOSTILE,
        options=[("a", "[/]"), ("b", "B [red]")],
    )
    ballots = [
        vb.cast("[/]vic", v, ["a"]),
        vb.cast("t1", v, ["[/]"]),  # spoiled: its reason quotes the choice
        vb.cast("t2", v, ["b"]),
        vb.cast("t3", v, ["a"]),
    ]
    sheet = vb.close("alice", v, ballots)
    for t in TELLERS[:3]:
        vb.seal(t, v, sheet)
    h = laptop(tmp_path, m, "[/]vic")
    vid = v.id.hex()[:12]
    for args in (
        ("vote", "list"),
        ("vote", "status", vid),
        ("vote", "result", vid),
        ("vote", "verify", vid, "--all"),
        ("vote", "receipt", vid),
    ):
        r = invoke(h, *args)
        assert r.exit_code == 0, (args, r.output)
        assert "Traceback" not in r.output and "unexpected" not in r.output
    flat = " ".join(invoke(h, "vote", "status", vid).output.split())
    assert HOSTILE in flat and "a ([/])" in flat and "[/]vic" in flat
    assert "WINNER: [/]" in " ".join(invoke(h, "vote", "result", vid).output.split())
    assert (
        json_out(invoke(h, "vote", "result", vid, "--json"))["result"]["winner"]["label"] == "[/]"
    )


# --- vote verify: exit 0 only when a result may be announced ------------------------------


def sealed_council(tmp_path: Path) -> tuple[MeshFixture, Path, str]:
    m = MeshFixture.create("alice", {t: ["operator", "teller"] for t in TELLERS})
    vb = VoteBook(m)
    v = vb.open("alice", roll=TELLERS, tellers=TELLERS, f=1)
    sheet = vb.close("alice", v, [vb.cast("t1", v, ["a"]), vb.cast("t2", v, ["b"])])
    for t in TELLERS[:3]:
        vb.seal(t, v, sheet)
    return m, laptop(tmp_path, m, "alice"), v.id.hex()[:12]


def test_verify_passes_a_vote_next_to_other_tools_vote_entries(
    tmp_path: Path, invoke: Invoke
) -> None:
    """A validly signed entry of a kind under "vote." that plurictl does not know made
    every vote's verify fail ("not the same as this laptop's view")."""
    m, h, vid = sealed_council(tmp_path)
    m.write("t4", "vote.note", {"vote": vid, "text": "from another tool"})
    with Store.open(h) as store:
        assert not store.ingest([e.raw for e in m.entries]).rejected
    audit = invoke(h, "vote", "verify", vid, "--json")
    assert audit.exit_code == 0, audit.output
    assert json_out(audit)["same_as_store"] is True


def test_verify_fails_when_a_teller_seal_was_removed_from_the_store(
    tmp_path: Path, invoke: Invoke
) -> None:
    """t4 sealed sheet 1, then (one key, two seals) sheet 2, which t1 and t2 sealed too:
    every laptop counts t4 for sheet 1 only, so sheet 2 has 2 of 3 seals. A laptop whose
    store lost t4's first seal counts the second: sheet 2 sealed there. Verify said OK."""
    import sqlite3

    m = MeshFixture.create("alice", {t: ["operator", "teller"] for t in TELLERS})
    vb = VoteBook(m)
    v = vb.open("alice", roll=TELLERS, tellers=TELLERS, f=1)
    a = vb.cast("t1", v, ["a"])
    one = vb.close("alice", v, [a])
    two = vb.close("alice", v, [a, vb.cast("t2", v, ["b"])])
    first = vb.seal("t4", v, one)
    vb.seal("t4", v, two)  # flagged: a teller's second seal never counts
    vb.seal("t1", v, two)
    vb.seal("t2", v, two)
    h = laptop(tmp_path, m, "alice")
    vid = v.id.hex()[:12]
    assert json_out(invoke(h, "vote", "status", vid, "--json"))["state"] == "PROVISIONAL"
    db = sqlite3.connect(h / "ledger.db")
    db.execute("DELETE FROM entries WHERE id=?", (first.id,))
    db.commit()
    db.close()
    assert json_out(invoke(h, "vote", "status", vid, "--json"))["state"] == "FINAL"
    audit = invoke(h, "vote", "verify", vid, "--json")
    assert audit.exit_code == 6, audit.output
    assert any("gap" in b["reason"] for b in json_out_any(audit)["bad_entries"])


def test_verify_fails_when_the_last_entry_of_a_feed_was_removed_from_the_store(
    tmp_path: Path, invoke: Invoke
) -> None:
    """A deleted seal that was its teller's newest entry leaves no gap: verify said OK (the
    vote only looked PROVISIONAL) while `log verify` knew from the heads table."""
    import sqlite3

    m = MeshFixture.create("alice", {t: ["operator", "teller"] for t in TELLERS})
    vb = VoteBook(m)
    v = vb.open("alice", roll=TELLERS, tellers=TELLERS, f=1)
    sheet = vb.close("alice", v, [vb.cast("t1", v, ["a"])])
    last = [vb.seal(t, v, sheet) for t in TELLERS[:3]][-1]
    h = laptop(tmp_path, m, "alice")
    vid = v.id.hex()[:12]
    assert invoke(h, "vote", "verify", vid).exit_code == 0
    db = sqlite3.connect(h / "ledger.db")
    db.execute("DELETE FROM entries WHERE id=?", (last.id,))
    db.commit()
    db.close()
    audit = invoke(h, "vote", "verify", vid, "--json")
    assert audit.exit_code == 6, audit.output
    bad = json_out_any(audit)["bad_entries"]
    assert [b["id"] for b in bad] == [last.id.hex()] and "missing" in bad[0]["reason"]
    text = invoke(h, "vote", "verify", vid).output
    assert f"BAD entry seq {last.seq} of {last.author.hex()[:12]}" in text


def test_verify_fails_when_the_count_failed(
    tmp_path: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ledger.votes import irv as vote_irv

    m = MeshFixture.create("alice", {t: ["operator", "teller"] for t in TELLERS})
    vb = VoteBook(m)
    v = vb.open("alice", roll=TELLERS, tellers=TELLERS, f=1, method="ranked-choice",
                options=["a", "b", "c"])  # fmt: skip
    ballots = [vb.cast("t1", v, ["a"]), vb.cast("t2", v, ["a"]), vb.cast("t3", v, ["b", "a"])]
    ballots.append(vb.cast("t4", v, ["c", "a"]))  # b and c tie in every round; a wins
    sheet = vb.close("alice", v, ballots)
    for t in TELLERS[:3]:
        vb.seal(t, v, sheet)
    h = laptop(tmp_path, m, "alice")
    vid = v.id.hex()[:12]
    assert invoke(h, "vote", "verify", vid).exit_code == 0
    monkeypatch.setattr(vote_irv, "MAX_STEPS", 0)  # the count now fails on this laptop
    r = invoke(h, "vote", "verify", vid)
    assert r.exit_code == 6, r.output
    assert "TooManyWays" in " ".join(r.output.split())  # used to say OK, exit 0


def json_out_any(result: object) -> dict:  # type: ignore[type-arg]
    """JSON output of a command that exits non-zero on purpose."""
    import json

    return json.loads(result.stdout)  # type: ignore[attr-defined]


def test_verify_fails_when_more_tellers_were_copied_than_the_vote_tolerates(
    tmp_path: Path, invoke: Invoke
) -> None:
    """Fork proofs against two of the four tellers of a vote tolerating one: the sheet
    sealed here may not be the only one sealed. Verify said OK."""
    from ledger.entry import create

    m, h, vid = sealed_council(tmp_path)
    assert invoke(h, "vote", "verify", vid).exit_code == 0
    copies = []
    for t in ("t3", "t4"):
        feed = m.feeds[t]
        m.write(t, "note", {"text": "the real laptop"})
        copies.append(
            create(m.person(t), seq=feed.seq, prev=m.entries[-1].prev, hlc=m.tick(),
                   kind="note", body={"text": "a restored backup"})
        )  # fmt: skip
    with Store.open(h) as store:
        store.ingest([e.raw for e in m.entries])
        store.ingest([e.raw for e in copies])
        assert len(store.fork_proofs()) == 2
    r = invoke(h, "vote", "verify", vid)
    assert r.exit_code == 6, r.output
    assert "2 tellers equivocated" in " ".join(r.output.split())


def test_vote_result_names_an_equivocated_teller_before_the_vote_is_final(
    tmp_path: Path, invoke: Invoke
) -> None:
    """voting.md: a fork proof against a teller shows in `vote result` as "teller X
    equivocated". It did only once the vote was FINAL."""
    from ledger.entry import create

    m = MeshFixture.create("alice", {t: ["operator", "teller"] for t in TELLERS})
    vb = VoteBook(m)
    v = vb.open("alice", roll=TELLERS, tellers=TELLERS, f=1)
    vb.seal("t1", v, vb.close("alice", v, [vb.cast("t1", v, ["a"])]))
    feed = m.feeds["t3"]
    m.write("t3", "note", {"text": "the real laptop"})
    copy = create(m.person("t3"), seq=feed.seq, prev=m.entries[-1].prev, hlc=m.tick(),
                  kind="note", body={"text": "a restored backup"})  # fmt: skip
    h = laptop(tmp_path, m, "alice")
    with Store.open(h) as store:
        store.ingest([copy.raw])
    vid = v.id.hex()[:12]
    data = json_out(invoke(h, "vote", "result", vid, "--json"))
    assert data["state"] == "PROVISIONAL" and data["result"] is None
    assert "teller t3 equivocated" in data["equivocated_tellers"][0]["message"]
    assert "teller t3 equivocated" in " ".join(invoke(h, "vote", "result", vid).output.split())


def test_verify_json_summarises_ballots_unless_asked_for_all(
    tmp_path: Path, invoke: Invoke
) -> None:
    """`vote verify --json` printed every ballot and the vote's whole status (40 MB for
    100,000 ballots): now counts per reason and the summary; `--all` lists everything."""
    m = MeshFixture.create("alice", {t: ["operator", "teller"] for t in TELLERS})
    vb = VoteBook(m)
    v = vb.open("alice", roll=TELLERS, tellers=TELLERS, f=1)
    ballots = [vb.cast("t1", v, ["a"]), vb.cast("t2", v, ["b"]), vb.cast("t3", v, ["a"])]
    sheet = vb.close("alice", v, ballots[:2])  # t3's ballot is late
    for t in TELLERS[:3]:
        vb.seal(t, v, sheet)
    h = laptop(tmp_path, m, "alice")
    vid = v.id.hex()[:12]
    r = invoke(h, "vote", "verify", vid, "--json")
    assert r.exit_code == 0, r.output
    short = json_out(r)
    assert short["ok"] is True and short["same_as_store"] is True
    assert short["ballots"]["explained"] == 3 and short["ballots"]["counted"] == 2
    assert sum(short["ballots"]["by_reason"].values()) == 3
    assert short["status"]["state"] == "FINAL" and "voters" not in short["status"]
    assert short["status"]["result"]["ballots"]["counted"] == 2
    assert "counted" not in short["status"]["result"]  # no list of 100,000 ids
    full = json_out(invoke(h, "vote", "verify", vid, "--json", "--all"))
    assert len(full["ballots"]) == 3 and sum(b["counted"] for b in full["ballots"]) == 2
    assert len(full["status"]["voters"]) == len(TELLERS)
    assert full["status"]["result"]["winner"] == short["status"]["result"]["winner"]
