"""Secret ballots after a hostile review (review 21): a sheet that can never be decrypted
says Stuck, and the CLI tells the truth about revoked tellers and provisional counts."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.home import Home
from ledger.store import Store
from tests.conftest import Invoke, json_out
from tests.integration import test_secret_vote_cli as secret
from tests.integration import test_vote_cli as base

sync = base.sync
council_template = base.council_template  # the council's homes (pytest fixtures)
council = base.council
ok = secret.ok


def closed_secret_vote(invoke: Invoke, homes: dict[str, Path]) -> str:
    """A secret vote (k = 2 of bob, carol, dave) with three ballots, closed and synced."""
    cid = secret.ceremony(invoke, homes)
    vid: str = json_out(secret.open_secret(invoke, homes["alice"], cid))["vote"]
    sync(*homes.values())
    for name, choice in (("alice", "north"), ("erin", "south"), ("carol", "north")):
        ok(invoke(homes[name], "vote", "cast", vid[:8], choice))
    sync(*homes.values())
    ok(invoke(homes["alice"], "vote", "close", vid[:8]))
    sync(*homes.values())
    return vid


def forge_share(h: Path, copy_of: dict, share: bytes) -> None:
    """Another tool signs a share entry on the same sheet carrying a bad decryption share."""
    with Home(h) as home:
        body = {k: copy_of[k] for k in ("vote", "sheet", "root")}
        home.append("vote.share", {**body, "share": share})


def test_a_secret_vote_whose_shares_can_never_reach_k_says_stuck(
    council: dict[str, Path], invoke: Invoke
) -> None:
    vid = closed_secret_vote(invoke, council)
    ok(invoke(council["bob"], "vote", "seal", vid[:8]))  # 1 of 2: its share is held back
    sync(*council.values())
    ok(invoke(council["carol"], "vote", "seal", vid[:8]))  # the k-th: carries carol's share
    with Store.open(council["carol"]) as s:
        seal = next(e for e in s.entries(kind_prefix="vote.seal")).body
    forge_share(council["dave"], seal, b"\x44\x01")  # a truncated share
    sync(*council.values())
    st = json_out(invoke(council["erin"], "vote", "status", vid[:8], "--json"))
    assert st["state"] == "SEALED" and st["stuck"] is False  # bob, dave can still share
    human = " ".join(ok(invoke(council["erin"], "vote", "status", vid[:8])).split())
    assert "decrypting: 1 of 2 shares; waiting for " in human and "Stuck" not in human
    assert f"to run `plurictl vote seal {vid[:8]}`" in human
    for name in ("bob", "dave"):  # the two who could still add a share
        ok(invoke(council["alice"], "roster", "revoke", name, "--reason", "lost"))
    sync(*council.values())
    st = json_out(invoke(council["erin"], "vote", "status", vid[:8], "--json"))
    assert st["state"] == "SEALED" and st["stuck"] is True
    assert st["stuck_detail"]["invalid_shares"] == ["dave"]
    assert sorted(st["stuck_detail"]["unless_they_seal"]) == ["bob", "dave"]
    human = " ".join(ok(invoke(council["erin"], "vote", "status", vid[:8])).split())
    assert "Stuck" in human and "never be decrypted" in human and "Open a new vote" in human
    assert "waiting for" not in human
    res = " ".join(ok(invoke(council["erin"], "vote", "result", vid[:8])).split())
    assert "Stuck" in res and "dave (teller" in res and "seat key revoked" in res
    audit = " ".join(ok(invoke(council["erin"], "vote", "verify", vid[:8])).split())
    assert audit.startswith("OK") and "Otherwise this sheet can never be decrypted" in audit
    # revoked tellers' shares signed anyway still count: said first (review 21e E1)
    assert "Stuck: it can still finish only if " in audit and "add a share anyway" in audit
    listed = json_out(invoke(council["erin"], "vote", "list", "--json"))
    assert [v["stuck"] for v in listed["votes"] if v["id"] == vid] == [True]


def test_verify_and_receipt_of_an_unsealed_secret_vote_speak_of_no_provisional_count(
    council: dict[str, Path], invoke: Invoke
) -> None:
    vid = closed_secret_vote(invoke, council)
    human = " ".join(ok(invoke(council["erin"], "vote", "verify", vid[:8])).split())
    assert "None" not in human and "counts: not decrypted yet" in human
    data = json_out(invoke(council["erin"], "vote", "verify", vid[:8], "--json", "--all"))
    reasons = {b["reason"] for b in data["ballots"]}
    assert reasons == {"counts once sealed (a secret ballot has no provisional count)"}
    rec = " ".join(ok(invoke(council["alice"], "vote", "receipt", vid[:8])).split())
    assert "not sealed yet" in rec and "provisional count." not in rec
    assert "a secret vote has no provisional count" in rec


def feed(h: Path, name: str) -> list[str]:
    """The kinds of ``name``'s entries held by the home ``h``."""
    with Store.open(h) as s:
        key = s.roster().keys
        mine = {k for k, info in key.items() if info.name == name}
        return [e.kind for e in s.entries() if e.author in mine]


def test_a_revoked_teller_cannot_deal_and_the_ceremony_says_why_it_waits(
    council: dict[str, Path], invoke: Invoke
) -> None:
    a = council["alice"]
    args = [x for t in secret.TELLERS for x in ("--teller", t)]
    cid = json_out(invoke(a, "vote", "ceremony", "start", *args, "--json"))["ceremony"]
    sync(*council.values())
    ok(invoke(council["bob"], "vote", "ceremony", "deal", cid[:12]))
    ok(invoke(a, "roster", "revoke", "carol", "--reason", "lost", "--at", "1"))
    sync(*council.values())
    r = invoke(council["carol"], "vote", "ceremony", "deal", cid[:12])
    assert r.exit_code == 7, r.output
    assert "revoked" in r.output and "new ceremony" in r.output
    assert feed(council["carol"], "carol") == []  # nothing written (exit-codes.md)
    st = json_out(invoke(a, "vote", "ceremony", "status", cid[:12], "--json"))
    seats = {t["name"]: t["seat_gone"] for t in st["tellers"]}
    assert seats == {"bob": None, "carol": "seat key revoked", "dave": None}
    human = " ".join(ok(invoke(a, "vote", "ceremony", "status", cid[:12])).split())
    assert "carol: no dealing yet (seat key revoked)" in human
    assert "cannot complete; start a new ceremony without them" in human
    r = secret.open_secret(invoke, a, cid)
    assert r.exit_code == 5 and "seat key revoked" in r.output  # type: ignore[attr-defined]


def test_vote_status_shows_a_revoked_tellers_seat_empty(
    council: dict[str, Path], invoke: Invoke
) -> None:
    vid = closed_secret_vote(invoke, council)
    ok(invoke(council["alice"], "roster", "revoke", "dave", "--reason", "lost"))
    sync(*council.values())
    st = json_out(invoke(council["erin"], "vote", "status", vid[:8], "--json"))
    seats = {t["name"]: t["seat_gone"] for t in st["tellers_detail"]}
    assert seats == {"bob": None, "carol": None, "dave": "seat key revoked"}
    human = " ".join(ok(invoke(council["erin"], "vote", "status", vid[:8])).split())
    assert "dave (seat key revoked: seat empty)" in human and "dave (open)" not in human


def run_into_closed_pipe(*args: str) -> tuple[int, str]:
    """Run plurictl in a real process whose stdout's reader is already gone."""
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "plurictl", *args],
            stdout=write, stderr=subprocess.PIPE, timeout=120, check=False,
        )  # fmt: skip
    finally:
        os.close(write)
    return proc.returncode, proc.stderr.decode()


@pytest.mark.parametrize("command", ["status", "result", "verify"])
def test_a_human_read_command_exits_141_quietly_when_stdout_is_closed(
    council: dict[str, Path], invoke: Invoke, command: str
) -> None:
    vid = closed_secret_vote(invoke, council)
    code, err = run_into_closed_pipe("--home", str(council["erin"]), "vote", command, vid[:8])
    assert (code, err) == (141, "")


def test_ceremony_start_prints_the_teller_numbers_status_uses(
    council: dict[str, Path], invoke: Invoke
) -> None:
    a = council["alice"]
    args = [x for t in ("dave", "bob", "carol") for x in ("--teller", t)]
    human = ok(invoke(a, "vote", "ceremony", "start", *args))
    cid = next(w for w in human.split() if len(w) == 64)
    st = json_out(invoke(a, "vote", "ceremony", "status", cid[:12], "--json"))
    numbered = ", ".join(f"{t['index']}. {t['name']}" for t in st["tellers"])
    assert f"tellers, numbered in member id order: {numbered}" in " ".join(human.split())


def test_a_secret_sheet_of_one_or_two_ballots_is_closed_and_sealed_only_on_purpose(
    council: dict[str, Path], invoke: Invoke
) -> None:
    a = council["alice"]
    cid = secret.ceremony(invoke, council)
    vid: str = json_out(secret.open_secret(invoke, a, cid))["vote"]
    sync(*council.values())
    ok(invoke(council["erin"], "vote", "cast", vid[:8], "north"))
    ok(invoke(council["erin"], "vote", "cast", vid[:8], "south"))  # a revote: still one voter
    ok(invoke(a, "vote", "cast", vid[:8], "east"))
    sync(*council.values())
    r = invoke(a, "vote", "close", vid[:8])
    assert r.exit_code == 5, r.output
    said = " ".join(r.output.split())
    assert "only 2 ballot(s) would count" in said and "show who chose what" in said
    assert "--reveal-small" in said and feed(a, "alice").count("vote.close") == 0
    ok(invoke(a, "vote", "close", vid[:8], "--reveal-small"))
    sync(*council.values())
    r = invoke(council["bob"], "vote", "seal", vid[:8])  # a teller guards the voters too
    assert r.exit_code == 5 and "show who chose what" in r.output, r.output
    assert feed(council["bob"], "bob").count("vote.seal") == 0
    for teller in ("bob", "carol", "bob"):  # bob's second run: his share
        ok(invoke(council[teller], "vote", "seal", vid[:8], "--reveal-small"))
        sync(*council.values())
    res = json_out(invoke(council["dave"], "vote", "result", vid[:8], "--json"))
    assert res["state"] == "FINAL" and res["result"]["counts"] == {
        "north": 0, "south": 1, "east": 1,
    }  # fmt: skip


def test_a_ceremony_whose_teller_was_rotated_opens_no_vote_and_says_so(
    council: dict[str, Path], invoke: Invoke, tmp_path: Path
) -> None:
    """After `roster rotate dave NEWKEY`: ceremony status says the ceremony can no longer open
    a vote (the vote opened on it keeps its key), vote open says why, and "dave" still names
    dave (his new key) in a new ceremony."""
    a = council["alice"]
    cid = secret.ceremony(invoke, council)
    vid: str = json_out(secret.open_secret(invoke, a, cid))["vote"]
    before = json_out(invoke(a, "vote", "ceremony", "status", cid[:12], "--json"))
    assert before["can_open"] and before["votes"] == [
        {"vote": vid, "title": "Who chairs the council?", "joint_key": before["joint_key"]}
    ]
    ok(invoke(tmp_path / "dave2", "init", "--name", "dave-new-laptop"))
    new = json_out(invoke(tmp_path / "dave2", "whoami", "--json"))["public_key"]
    ok(invoke(a, "roster", "rotate", "dave", new))
    st = json_out(invoke(a, "vote", "ceremony", "status", cid[:12], "--json"))
    assert st["complete"] and not st["can_open"] and st["votes"] == before["votes"]
    human = " ".join(ok(invoke(a, "vote", "ceremony", "status", cid[:12])).split())
    assert "seat key rotated" in human
    d = next(t["index"] for t in st["tellers"] if t["name"] == "dave")
    assert f"(seat key rotated: dave, teller {d}), so it can no longer open a vote; start" in human
    assert "open the vote:" not in human
    assert f"vote {vid[:12]} (Who chairs the council?) was opened on this ceremony" in human
    assert "keeps the joint key it was opened with" in human
    listed = " ".join(ok(invoke(a, "vote", "ceremony", "list")).split())
    assert "can no longer open a vote" in listed and "each keeps its joint key" in listed
    r = secret.open_secret(invoke, a, cid)
    said = " ".join(r.output.split())  # type: ignore[attr-defined]
    assert r.exit_code == 5, said  # type: ignore[attr-defined]
    assert "a teller's key changed since the key ceremony" in said
    assert "does not hold the teller role" not in said
    args = [x for t in secret.TELLERS for x in ("--teller", t)]
    again = json_out(invoke(a, "vote", "ceremony", "start", *args, "--json"))
    assert sorted(again["tellers"]) == ["bob", "carol", "dave"]
    with Store.open(a) as s:
        body = s.get(bytes.fromhex(again["ceremony"])).body  # type: ignore[union-attr]
    assert new in body["teller_keys"].values()  # dave's seat: his current key


def test_a_ballot_without_a_choice_is_told_the_options_and_blank_only_where_it_works(
    council: dict[str, Path], invoke: Invoke
) -> None:
    a, erin = council["alice"], council["erin"]
    cid = secret.ceremony(invoke, council)
    plurality = json_out(secret.open_secret(invoke, a, cid))["vote"]
    approval = json_out(secret.open_secret(invoke, a, cid, "--method", "approval"))["vote"]
    sync(*council.values())
    r = invoke(erin, "vote", "cast", plurality[:8])
    said = " ".join(r.output.split())
    assert r.exit_code == 5 and "options: north, south, east" in said, said
    assert "--blank" not in said  # a secret plurality ballot has no blank (it is refused)
    r = invoke(erin, "vote", "cast", approval[:8])
    said = " ".join(r.output.split())
    assert r.exit_code == 5 and "options: north, south, east" in said and "--blank" in said
    human = ok(invoke(erin, "vote", "cast", approval[:8], "--blank"))
    assert "Who chairs the council?: no option approved (encrypted" in " ".join(human.split())
    assert ":  (" not in human


def test_a_dealer_whose_own_box_does_not_open_says_the_ceremony_can_never_complete(
    council: dict[str, Path], invoke: Invoke
) -> None:
    """Review 21b N8: dave's dealing carries a box for carol that opens for nobody (another
    tool); carol complains; dave can never answer: his `deal` says so (exit 6, nothing
    written) instead of "run this again"."""
    import dataclasses

    from ledger.votes.secret import deal
    from ledger.votes.writer import load_ceremonies

    args = [x for t in secret.TELLERS for x in ("--teller", t)]
    cid = json_out(invoke(council["alice"], "vote", "ceremony", "start", *args, "--json"))
    cid = cid["ceremony"]
    sync(*council.values())
    with Home(council["dave"]) as home:
        c = load_ceremonies(home.store)[0].ceremonies[bytes.fromhex(cid)]
        carol = next(
            i for i, m in enumerate(c.tellers, 1) if home.store.roster().name_of(m) == "carol"
        )
        d = deal(c.params, c.index_of_key(home.identity.public), home.identity.signing_key)
        boxes = tuple((j, n, b"\x00" * 48 if j == carol else b) for j, n, b in d.boxes)
        home.append(
            "vote.deal",
            {"ceremony": cid, "dealing": dataclasses.replace(d, boxes=boxes).to_bytes()},
        )
    sync(*council.values())
    for name in ("bob", "carol"):
        ok(invoke(council[name], "vote", "ceremony", "deal", cid[:12]))
    sync(*council.values())
    before = feed(council["dave"], "dave")
    r = invoke(council["dave"], "vote", "ceremony", "deal", cid[:12])
    said = " ".join(r.output.split())
    assert r.exit_code == 6, said
    assert f"cannot answer the complaint of teller {carol}" in said
    assert "can never complete" in said and "new ceremony" in said
    assert feed(council["dave"], "dave") == before  # nothing written (exit-codes.md)


def test_a_teller_revoked_after_the_vote_opened_does_not_hide_it_from_a_late_laptop(
    council: dict[str, Path], invoke: Invoke, tmp_path: Path
) -> None:
    """Review 21b N9: erin's laptop was away during the ceremony and the opening; then bob
    (a dealer) is revoked with --at 0. His dealing is still kept and passed on (the charter's
    keys come from it), so erin's laptop shows the vote, casts, and sees it FINAL."""
    away = {n: h for n, h in council.items() if n != "erin"}
    a, erin = council["alice"], council["erin"]
    cid = secret.ceremony(invoke, away)
    vid: str = json_out(secret.open_secret(invoke, a, cid))["vote"]
    sync(*away.values())
    ok(invoke(a, "roster", "revoke", "bob", "--reason", "stolen", "--at", "0"))
    ok(invoke(a, "bundle", "export", "-o", str(tmp_path / "alice.plb")))
    ok(invoke(erin, "bundle", "import", str(tmp_path / "alice.plb")))
    st = json_out(invoke(erin, "vote", "status", vid[:8], "--json"))
    assert st["state"] == "PROVISIONAL"
    ok(invoke(erin, "vote", "cast", vid[:8], "north"))
    for name in ("alice", "carol"):
        ok(invoke(council[name], "vote", "cast", vid[:8], "south"))
    sync(*council.values())
    ok(invoke(a, "vote", "close", vid[:8]))
    sync(*council.values())
    for teller in ("carol", "dave", "carol"):  # seal, seal (and share), share
        ok(invoke(council[teller], "vote", "seal", vid[:8]))
        sync(*council.values())
    res = json_out(invoke(erin, "vote", "result", vid[:8], "--json"))
    assert res["state"] == "FINAL" and res["result"]["counts"] == {
        "north": 1, "south": 2, "east": 0,
    }  # fmt: skip


def test_small_things_read_right(council: dict[str, Path], invoke: Invoke) -> None:
    """Review 21b N11: f=0 is said at ceremony start (mending it later means a new
    ceremony); a spoiled secret ballot reads "sealed (no tracker)" in verify; `vote --help`
    states the real seal rule."""
    a = council["alice"]
    args = [x for t in secret.TELLERS for x in ("--teller", t)]
    human = " ".join(ok(invoke(a, "vote", "ceremony", "start", *args)).split())
    assert "Warning: every vote on this ceremony tolerates no equivocating teller (f=0" in human
    data = json_out(invoke(a, "vote", "ceremony", "start", *args, "--json"))
    assert len(data["warnings"]) == 1 and "f=0" in data["warnings"][0]
    cid = secret.ceremony(invoke, council)
    vid: str = json_out(secret.open_secret(invoke, a, cid))["vote"]
    sync(*council.values())
    with Home(council["erin"]) as home:  # another tool: bytes that are no ballot
        home.append("vote.ballot", {"vote": vid, "sealed": b"\x42\x01garbage", "replaces": []})
    sync(*council.values())
    audit = " ".join(ok(invoke(a, "vote", "verify", vid[:8], "--all")).split())
    assert "sealed (no tracker)" in audit and "sealed: " not in audit
    helped = " ".join(ok(invoke(None, "vote", "--help")).split())
    assert "more than half" not in helped and "2k - n >= F + 1" in helped


def test_a_secret_sheet_whose_heaviest_voter_outweighs_the_rest_is_sealed_only_on_purpose(
    council: dict[str, Path], invoke: Invoke
) -> None:
    """Review 21b N12: with bob at weight 10 and three others at 1, the counts (b 10+,
    the rest 3) told everyone what bob chose; nothing warned."""
    a = council["alice"]
    cid = secret.ceremony(invoke, council)
    vid: str = json_out(secret.open_secret(invoke, a, cid, "--weight", "bob=10"))["vote"]
    sync(*council.values())
    for name, choice in (("bob", "south"), ("carol", "north"), ("dave", "east"), ("erin", "north")):
        ok(invoke(council[name], "vote", "cast", vid[:8], choice))
    sync(*council.values())
    r = invoke(a, "vote", "close", vid[:8])
    said = " ".join(r.output.split())
    assert r.exit_code == 5 and "one voter's weight (10) is more than all the other" in said
    assert feed(a, "alice").count("vote.close") == 0
    ok(invoke(a, "vote", "close", vid[:8], "--reveal-small"))
    sync(*council.values())
    r = invoke(council["bob"], "vote", "seal", vid[:8])
    assert r.exit_code == 5 and feed(council["bob"], "bob").count("vote.seal") == 0


def test_once_a_sheet_carries_shares_no_second_sheet_is_closed_or_sealed(
    council: dict[str, Path], invoke: Invoke
) -> None:
    """Review 21c C3/C3b: with honest shares on two sheets (a second close for a late
    ballot, as the seal hint advised), k - 1 tellers decrypted the sheet that did not
    become the result. Seal, then share: bob's seal on the first sheet carries no share,
    so the second sheet may be sealed; the shares all go to the sealed sheet, and once it
    carries them no new sheet is closed."""
    a = council["alice"]
    cid = secret.ceremony(invoke, council)
    vid: str = json_out(secret.open_secret(invoke, a, cid))["vote"]
    sync(*council.values())
    for name, choice in (("bob", "north"), ("carol", "south"), ("dave", "east")):
        ok(invoke(council[name], "vote", "cast", vid[:8], choice))
    sync(*council.values())
    first = json_out(invoke(a, "vote", "close", vid[:8], "--json"))
    ok(invoke(council["erin"], "vote", "cast", vid[:8], "north"))  # a late ballot
    sync(*council.values())
    second = json_out(invoke(a, "vote", "close", vid[:8], "--json"))  # no share yet: allowed
    sheet_a = first["sheet"][:12] if "sheet" in first else first["id"][:12]
    sheet_b = second["sheet"][:12] if "sheet" in second else second["id"][:12]
    sync(*council.values())
    ok(invoke(council["bob"], "vote", "seal", vid[:8], "--sheet", sheet_a, "--accept-late"))
    sync(*council.values())
    for teller in ("carol", "dave"):  # a seal without a share blocks nothing
        ok(invoke(council[teller], "vote", "seal", vid[:8], "--sheet", sheet_b))
        sync(*council.values())
    r = invoke(a, "vote", "close", vid[:8])  # sheet b is sealed and carries dave's share
    assert r.exit_code == 5, r.output
    said = " ".join(ok(invoke(council["bob"], "vote", "seal", vid[:8])).split())
    assert f"share of sealed sheet {sheet_b}" in said  # bob shares on the sealed sheet only
    sync(*council.values())
    with Store.open(council["erin"]) as s:
        carriers = [e for e in s.entries(kinds=["vote.seal", "vote.share"]) if "share" in e.body]
    assert {e.body["sheet"][:12] for e in carriers} == {sheet_b}  # none on sheet a
    res = json_out(invoke(council["erin"], "vote", "result", vid[:8], "--json"))
    assert res["state"] == "FINAL"
