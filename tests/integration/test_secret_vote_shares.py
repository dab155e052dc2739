"""Seal, then share (issue #21, review 21c C3): a teller's decryption share goes out only on
a sheet with k seals, so during a split no honest share sits on either side's sheet, and
after the heal the sheet that reaches k is decrypted from share entries."""

from __future__ import annotations

from pathlib import Path

from ledger.store import Store
from tests.conftest import Invoke, json_out
from tests.integration import test_secret_vote_cli as secret
from tests.integration import test_vote_cli as base

sync = base.sync
council_template = base.council_template  # the council's homes (pytest fixtures)
council = base.council
ok = secret.ok


def carriers(h: Path) -> list[tuple[str, str, str]]:
    """(kind, signer, sheet) of every entry holding a decryption share, on laptop ``h``."""
    with Store.open(h) as s:
        names = {k: info.name for k, info in s.roster().keys.items()}
        held = s.entries(kinds=["vote.seal", "vote.share"])
    return sorted((e.kind, names[e.author], e.body["sheet"]) for e in held if "share" in e.body)


def voted_secret(invoke: Invoke, council: dict[str, Path], choices: dict[str, str]) -> str:
    """A secret vote on a fresh key ceremony, opened by alice, with ``choices`` cast and
    every laptop in sync; its id."""
    cid = secret.ceremony(invoke, council)
    vid: str = json_out(secret.open_secret(invoke, council["alice"], cid))["vote"]
    sync(*council.values())
    for name, choice in choices.items():
        ok(invoke(council[name], "vote", "cast", vid[:8], choice))
    sync(*council.values())
    return vid


def said(r: object) -> str:
    return " ".join(ok(r).split())


def test_a_split_puts_no_share_on_either_sheet_and_the_heal_decrypts_from_share_entries(
    council: dict[str, Path], invoke: Invoke
) -> None:
    """k = 2 of bob, carol, dave. Sheet B (4 ballots) reaches only carol and dave's side;
    after erin's revote alice closes sheet A on her side. bob seals A and dave seals B, each
    1 of 2: neither seal carries a share. After the heal carol seals A (its k-th seal
    carries her share) and dave, who sealed the other sheet, adds his share to A as a
    ``vote.share``: every laptop shows the same FINAL counts, and no share is on B."""
    a = council["alice"]
    cid = secret.ceremony(invoke, council)
    vid: str = json_out(secret.open_secret(invoke, a, cid))["vote"]
    sync(*council.values())
    for name, choice in {
        "alice": "north",
        "bob": "south",
        "carol": "north",
        "erin": "east",
    }.items():
        ok(invoke(council[name], "vote", "cast", vid[:8], choice))
    sync(*council.values())
    sheet_b = json_out(invoke(a, "vote", "close", vid[:8], "--json"))["sheet"]
    side_a = [council[n] for n in ("alice", "bob", "erin")]
    side_b = [council[n] for n in ("carol", "dave")]
    sync(a, *side_b)  # sheet B reaches carol and dave; then the mesh splits
    ok(invoke(council["erin"], "vote", "cast", vid[:8], "south"))  # erin's revote, side A only
    sync(*side_a)
    sheet_a = json_out(invoke(a, "vote", "close", vid[:8], "--json"))["sheet"]
    sync(*side_a)
    text = said(invoke(council["bob"], "vote", "seal", vid[:8], "--sheet", sheet_a[:12]))
    assert "1 of 2 seals" in text and "held back" in text
    text = said(invoke(council["dave"], "vote", "seal", vid[:8], "--sheet", sheet_b[:12]))
    assert "1 of 2 seals" in text and "held back" in text
    sync(*side_a)
    sync(*side_b)
    for h in council.values():
        assert carriers(h) == []  # no share on either side's sheet
    r = invoke(council["dave"], "vote", "seal", vid[:8])  # no sheet sealed: refused
    text = " ".join(r.output.split())  # waiting is nothing wrong: exit 0 (review 21e, low)
    assert r.exit_code == 0 and text.startswith("Nothing to write: your seal is on this sheet")
    assert "held back until the sheet is sealed" in text, text
    sync(*council.values())  # the heal
    assert all(carriers(h) == [] for h in council.values())
    text = said(invoke(council["carol"], "vote", "seal", vid[:8], "--sheet", sheet_a[:12]))
    assert "2 of 2 seals" in text and "held back" not in text
    sync(*council.values())
    res = json_out(invoke(council["erin"], "vote", "result", vid[:8], "--json"))
    assert res["state"] == "SEALED" and res["sealed_sheet"] == sheet_a
    assert res["waiting"].startswith("sealed; decrypting: 1 of 2 shares; waiting for ")
    r = invoke(council["dave"], "vote", "seal", vid[:8], "--sheet", sheet_b[:12])
    assert r.exit_code == 5 and "not the sealed sheet" in " ".join(r.output.split())
    text = said(invoke(council["dave"], "vote", "seal", vid[:8]))  # the other side's teller
    assert f"share of sealed sheet {sheet_a[:12]}" in text and "FINAL" in text
    sync(*council.values())
    expected = {"north": 2, "south": 2, "east": 0}
    assert secret.finals(invoke, council, vid) == dict.fromkeys(council, expected)
    for h in council.values():
        assert carriers(h) == [("vote.seal", "carol", sheet_a), ("vote.share", "dave", sheet_a)]
    audit = json_out(invoke(council["alice"], "vote", "verify", vid[:8], "--json"))
    assert audit["ok"] and audit["secret"]["shares_check"] is True
    assert sorted(s["kind"] for s in audit["secret"]["shares"]) == ["vote.seal", "vote.share"]
    text = said(invoke(council["bob"], "vote", "seal", vid[:8]))  # decrypted already
    assert text.startswith("Nothing to write: the counts are decrypted")


def test_the_kth_seal_carries_the_share_and_earlier_sealers_share_after(
    council: dict[str, Path], invoke: Invoke
) -> None:
    a = council["alice"]
    vid = voted_secret(invoke, council, {"alice": "east", "bob": "east", "carol": "north"})
    sheet = json_out(invoke(a, "vote", "close", vid[:8], "--json"))["sheet"]
    sync(*council.values())
    first = json_out(invoke(council["dave"], "vote", "seal", vid[:8], "--json"))
    assert first["share"] == "held" and first["state"] == "PROVISIONAL"
    sync(*council.values())
    kth = json_out(invoke(council["bob"], "vote", "seal", vid[:8], "--json"))
    assert kth["share"] == "carried" and kth["state"] == "SEALED"
    assert kth["waiting"].startswith("sealed; decrypting: 1 of 2 shares; waiting for ")
    sync(*council.values())
    assert carriers(a) == [("vote.seal", "bob", sheet)]
    st = json_out(invoke(a, "vote", "status", vid[:8], "--json"))
    waiting = st["secret"]["decryption"]["waiting"]
    assert waiting.startswith("sealed; decrypting: 1 of 2 shares; waiting for ")
    assert "bob" not in waiting and "carol" in waiting and "dave" in waiting
    human = ok(invoke(a, "vote", "status", vid[:8]))
    assert human.count("decrypting:") == 1 and "not decrypted yet" not in human  # 21d L2
    # review 36b M2: dave sealed first (share held back): his status names the step left
    step = json_out(invoke(council["dave"], "vote", "status", vid[:8], "--json"))["next_seal"]
    assert step is not None and step["command"] == f"plurictl vote seal {vid[:8]}"
    assert step["sheet"] == sheet and "adds your decryption share" in step["why"]
    assert (
        json_out(invoke(council["bob"], "vote", "status", vid[:8], "--json"))["next_seal"] is None
    )
    again = json_out(invoke(council["dave"], "vote", "seal", vid[:8], "--json"))
    assert again["share"] == "written" and again["share_entry"] and again["state"] == "FINAL"
    sync(*council.values())
    assert carriers(a) == [("vote.seal", "bob", sheet), ("vote.share", "dave", sheet)]
    res = json_out(invoke(council["erin"], "vote", "result", vid[:8], "--json"))
    assert res["state"] == "FINAL"
    assert res["result"]["counts"] == {"north": 1, "south": 0, "east": 2}
    nothing = json_out(invoke(council["dave"], "vote", "seal", vid[:8], "--json"))
    assert nothing["share"].startswith("nothing") and nothing["share_entry"] is None
    assert (
        json_out(invoke(council["dave"], "vote", "status", vid[:8], "--json"))["next_seal"] is None
    )


def test_k_minus_1_colluders_with_a_private_copy_cannot_decrypt_the_earlier_sheet(
    council: dict[str, Path], invoke: Invoke, tmp_path: Path
) -> None:
    """Review 21c C3b, the guide's own "close again" workflow: dave (honest) sealed sheet A
    before erin's late ballot made alice close sheet B, which bob and carol seal. bob
    (k - 1 = 1 colluder) had copied his laptop before sealing B and privately seals A:
    his view now shows A with k seals, but the only share on A is his own (dave's seal
    carries none), so A's counts, and erin's choice with them, stay secret."""
    import shutil

    a = council["alice"]
    vid = voted_secret(invoke, council, {"alice": "north", "bob": "south", "carol": "north"})
    sheet_a = json_out(invoke(a, "vote", "close", vid[:8], "--json"))["sheet"]
    sync(*council.values())
    assert json_out(invoke(council["dave"], "vote", "seal", vid[:8], "--json"))["share"] == "held"
    sync(*council.values())
    ok(invoke(council["erin"], "vote", "cast", vid[:8], "east"))  # a late ballot
    sync(*council.values())
    sheet_b = json_out(invoke(a, "vote", "close", vid[:8], "--json"))["sheet"]
    sync(*council.values())
    bob_x = tmp_path / "bob-private"
    shutil.copytree(council["bob"], bob_x)  # before bob seals B
    for name in ("bob", "carol", "bob"):  # seal, seal (carol's share), bob's share
        ok(invoke(council[name], "vote", "seal", vid[:8], "--sheet", sheet_b[:12]))
        sync(*council.values())
    res = json_out(invoke(a, "vote", "result", vid[:8], "--json"))
    assert res["state"] == "FINAL" and res["result"]["counts"]["east"] == 1
    # bob's private copy seals A (its seal is A's k-th there, so it carries his share)
    ok(invoke(bob_x, "vote", "seal", vid[:8], "--sheet", sheet_a[:12], "--accept-late"))
    private = json_out(invoke(bob_x, "vote", "result", vid[:8], "--json"))
    assert private["state"] == "SEALED" and private["result"] is None
    assert private["sealed_sheet"] == sheet_a
    assert private["waiting"].startswith("sealed; decrypting: 1 of 2 shares")
    assert [c for c in carriers(bob_x) if c[2] == sheet_a] == [("vote.seal", "bob", sheet_a)]
    for h in council.values():  # no honest share on A anywhere
        assert all(sheet != sheet_a for _, _, sheet in carriers(h))


def test_a_stuck_vote_says_stuck_to_the_teller_and_the_coordinator(
    council: dict[str, Path], invoke: Invoke
) -> None:
    """Review 21d D1: k = 2 of bob, carol, dave, and each sealed a different sheet (closes
    crossed seals in flight): no sheet can ever reach 2 seals. `vote seal` and `vote close`
    said "run it again" and "tellers seal it"; they now say Stuck and the way out, and
    write nothing."""
    a = council["alice"]
    vid = voted_secret(invoke, council, {"alice": "north", "bob": "south", "carol": "north"})
    sheets = [json_out(invoke(a, "vote", "close", vid[:8], "--json"))["sheet"]]
    sync(*council.values())
    ok(invoke(council["bob"], "vote", "seal", vid[:8]))
    ok(invoke(council["erin"], "vote", "cast", vid[:8], "east"))
    sync(*council.values())
    sheets.append(json_out(invoke(a, "vote", "close", vid[:8], "--json"))["sheet"])
    sync(*council.values())
    ok(invoke(council["carol"], "vote", "seal", vid[:8], "--sheet", sheets[1][:12]))
    not_carol = [council[n] for n in ("alice", "bob", "dave", "erin")]  # her seal in flight
    ok(invoke(council["dave"], "vote", "cast", vid[:8], "south"))
    sync(*not_carol)
    sheets.append(json_out(invoke(a, "vote", "close", vid[:8], "--json"))["sheet"])
    sync(*not_carol)
    ok(invoke(council["dave"], "vote", "seal", vid[:8], "--sheet", sheets[2][:12]))
    sync(*council.values())
    status = json_out(invoke(a, "vote", "status", vid[:8], "--json"))
    assert status["stuck"] is True, status
    assert status["stuck_detail"]["unless_they_seal"] == []  # nobody left who could
    with Store.open(council["bob"]) as s:
        before = s.count()
    for home, args in (
        (council["bob"], ("seal", vid[:8])),
        (a, ("close", vid[:8])),
    ):
        r = invoke(home, "vote", *args)
        text = " ".join(r.output.split())
        assert r.exit_code == 5 and "this vote is Stuck" in text, text
        assert "Open a new vote" in text and "run `plurictl vote seal" not in text, text
        assert "tellers seal it" not in text
    with Store.open(council["bob"]) as s:
        assert s.count() == before
    _dashboard_says_stuck(council["bob"])


def _api_votes(home: Path) -> list[dict[str, object]]:
    """The dashboard's /api/votes rows (review 21f LOW: a script tells "stuck unless a gone
    teller seals" from stuck for good by ``stuck_unless``, as in `vote list --json`)."""
    from starlette.testclient import TestClient

    from tests.dashboard_ledger import dashboard_app

    app, dash = dashboard_app(home)
    try:
        with TestClient(app, base_url="http://127.0.0.1") as c:
            rows: list[dict[str, object]] = c.get("/api/votes").json()["votes"]
    finally:
        dash.live.stop()
    return rows


def _dashboard_says_stuck(home: Path) -> None:
    """Review 21e E5: bob's dashboard asked for his seal on a Stuck vote the CLI refuses;
    it shows Stuck with the advice instead."""
    from tests.dashboard_ledger import pages

    front, votes = pages(home, "/", "/votes")
    assert "waiting for your seal" not in front and "Waiting for your seal" not in votes
    assert "Stuck: " in votes and "Open a new vote" in votes


def test_a_revoked_teller_that_has_not_heard_can_still_finish_a_vote_called_stuck(
    council: dict[str, Path], invoke: Invoke
) -> None:
    """Review 21e E1: bob sealed sheet A, carol sheet B (k = 2), and dave's key is revoked.
    His laptop, not yet told, seals A: that seal counts (a cut never cancels a seal), and
    the vote goes FINAL. So the laptop holding the revocation must not call the vote
    stuck outright: it says it can still finish only if dave seals anyway, and neither
    `vote close` nor `vote seal` says "stuck"."""
    a = council["alice"]
    vid = base.open_vote(invoke, a)
    sync(*council.values())
    for name, choice in {"alice": "north", "bob": "south", "dave": "north"}.items():
        ok(invoke(council[name], "vote", "cast", vid[:8], choice))
    sync(*council.values())
    sheet_a = json_out(invoke(a, "vote", "close", vid[:8], "--json"))["sheet"]
    sync(*council.values())
    ok(invoke(council["bob"], "vote", "seal", vid[:8]))
    ok(invoke(council["erin"], "vote", "cast", vid[:8], "south"))
    sync(*council.values())
    sheet_b = json_out(invoke(a, "vote", "close", vid[:8], "--json"))["sheet"]
    sync(*council.values())
    ok(invoke(council["carol"], "vote", "seal", vid[:8], "--sheet", sheet_b[:12]))
    ok(invoke(a, "roster", "revoke", "dave", "--reason", "laptop stolen"))
    told = [council[n] for n in ("alice", "bob", "carol", "erin")]
    sync(*told)
    status = json_out(invoke(a, "vote", "status", vid[:8], "--json"))
    detail = status["stuck_detail"]
    assert status["stuck"] is True and detail["unless_they_seal"] == ["dave"], detail
    listed = json_out(invoke(a, "vote", "list", "--json"))["votes"]  # for scripts (21f)
    assert [v["stuck_unless"] for v in listed if v["id"] == vid] == [["dave"]]
    assert [v["stuck_unless"] for v in _api_votes(a) if v["id"] == vid] == [["dave"]]
    assert detail["advice"].startswith("it can still finish only if dave seals anyway")
    r = invoke(a, "vote", "close", vid[:8])
    text = " ".join(r.output.split())
    assert r.exit_code == 5 and "Stuck" not in text and "can still be sealed" in text, text
    text = said(invoke(council["dave"], "vote", "seal", vid[:8], "--sheet", sheet_a[:12],
                       "--accept-late"))  # fmt: skip
    sync(*council.values())
    assert json_out(invoke(a, "vote", "status", vid[:8], "--json"))["state"] == "FINAL"


def test_a_teller_running_seal_again_on_an_open_vote_has_nothing_to_write(
    council: dict[str, Path], invoke: Invoke
) -> None:
    """Review 21d (low): a teller's second `vote seal` on the sheet it sealed is nothing to
    do (exit 0), not a trust refusal (exit 7) about "another sheet"."""
    a = council["alice"]
    vid = base.open_vote(invoke, a)
    sync(*council.values())
    ok(invoke(council["bob"], "vote", "cast", vid[:8], "north"))
    sync(*council.values())
    ok(invoke(a, "vote", "close", vid[:8]))
    sync(*council.values())
    ok(invoke(council["bob"], "vote", "seal", vid[:8]))
    r = invoke(council["bob"], "vote", "seal", vid[:8])
    text = " ".join(r.output.split())
    assert r.exit_code == 0 and "Nothing to write: you already sealed this sheet" in text, text


def test_a_laptop_lacking_the_sealed_sheet_is_told_to_sync_to_add_its_share(
    council: dict[str, Path], invoke: Invoke
) -> None:
    """Review 21e: bob and carol sealed sheet B (k = 2: SEALED); a courier brought their
    seals to dave, not the sheet. dave's `vote seal` said only "already sealed on sheet B"
    and status "no counts before k tellers seal it"; both now say this laptop lacks the
    sealed sheet and to sync (dave's share is still useful)."""
    vid = voted_secret(invoke, council, {"alice": "north", "bob": "south", "carol": "north"})
    from tests.integration.test_vote_seats import seals_without_their_sheet

    sheet_b = seals_without_their_sheet(invoke, council, vid, "erin", "east")
    st = json_out(invoke(council["dave"], "vote", "status", vid[:8], "--json"))
    assert st["state"] == "SEALED" and "which this laptop lacks" in st["secret"]["provisional"]
    r = invoke(council["dave"], "vote", "seal", vid[:8])
    text = " ".join(r.output.split())
    assert r.exit_code == 5 and f"lacks sheet {sheet_b[:12]}: sync" in text, text
    assert "to add your decryption share" in text
