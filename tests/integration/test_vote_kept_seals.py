"""A revoked teller's seal on a vote not sealed yet is kept and passed on (review 21f F1):
laptops that heard of the revocation used to drop it unless it completed a sheet, so the
other tellers could not see which sheet it joined, sealed another one, and the vote said
"it can still finish only if dave seals" for ever. And the laptop of a teller whose seat is
gone never invites it to seal around the revocation (review 21f F2)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ledger.store import Store
from tests.conftest import Invoke, json_out
from tests.integration import test_vote_cli as base
from tests.integration.test_vote_seats import ok, voted_open

sync = base.sync
council_template = base.council_template  # the council's homes (pytest fixtures)
council = base.council


def raws(h: Path) -> list[bytes]:
    with Store.open(h) as s:
        return [raw for raw, _ in s.iter_raw()]


def split_sheets(invoke: Invoke, council: dict[str, Path]) -> tuple[str, str, str]:
    """k = 3 of bob, carol, dave, erin. Sheet A, then carol's ballot, then sheet B (which
    lists it); carol seals A, erin seals B; every laptop holds that. Then alice revokes
    dave, and dave's laptop, not told, seals A. Returns (vote, A, B)."""
    a = council["alice"]
    ok(invoke(a, "roster", "grant", "erin", "teller"))
    sync(*council.values())
    choices = {"alice": "north", "bob": "south", "dave": "north"}
    vid = voted_open(invoke, council, choices, "--teller", "erin", "--seal-threshold", "3")
    sheet_a: str = json_out(invoke(a, "vote", "close", vid[:8], "--json"))["sheet"]
    sync(*council.values())
    ok(invoke(council["carol"], "vote", "cast", vid[:8], "south"))
    sync(*council.values())
    sheet_b: str = json_out(invoke(a, "vote", "close", vid[:8], "--json"))["sheet"]
    sync(*council.values())
    ok(invoke(council["carol"], "vote", "seal", vid[:8], "--sheet", sheet_a[:12], "--accept-late"))
    ok(invoke(council["erin"], "vote", "seal", vid[:8], "--sheet", sheet_b[:12]))
    sync(*council.values())
    ok(invoke(a, "roster", "revoke", "dave", "--reason", "laptop lost"))
    sync(*[council[n] for n in ("alice", "bob", "carol", "erin")])
    return vid, sheet_a, sheet_b


def seals_on(h: Path, invoke: Invoke, vid: str) -> tuple[dict[str, int], dict[str, object]]:
    st = json_out(invoke(h, "vote", "status", vid[:8], "--json"))
    return {s["id"][:12]: s["seals"] for s in st["sheets"]}, st


def test_a_revoked_tellers_seal_is_kept_and_the_default_seal_finishes_the_vote(
    council: dict[str, Path], invoke: Invoke
) -> None:
    """The w5x case: dave's unaware laptop seals A (2 of 3 with carol's). carol keeps and
    passes on that seal, so bob's laptop shows A 2/3, no "only if dave", and bob's plain
    `vote seal` picks A (B can no longer reach 3) instead of the newest sheet: FINAL on
    every laptop."""
    vid, sheet_a, sheet_b = split_sheets(invoke, council)
    dave, carol, bob = council["dave"], council["carol"], council["bob"]
    ok(invoke(dave, "vote", "seal", vid[:8], "--sheet", sheet_a[:12], "--accept-late"))
    with Store.open(carol) as s:
        report = s.ingest(raws(dave))
    assert not report.rejected, report.rejected  # was: refused (past the cut)
    checked = ok(invoke(carol, "log", "verify"))  # says why an entry past a cut is stored
    assert "kept for the vote it belongs to" in checked and "ignored by views" not in checked
    sync(carol, bob)
    seals, st = seals_on(bob, invoke, vid)
    assert seals == {sheet_a[:12]: 2, sheet_b[:12]: 1}, seals
    assert st["stuck"] is False and st["state"] == "PROVISIONAL", st["stuck_detail"]
    human = ok(invoke(bob, "vote", "status", vid[:8]))
    assert "only if dave" not in human and "Stuck" not in human
    # review 21j: status names bob's next step, the only one left (was: no line at all)
    step = st["next_seal"]
    assert step is not None and step["accept_late"] and step["sheet"] == sheet_a, step
    assert step["command"] == f"plurictl vote seal {vid[:8]} --accept-late"
    assert "it is the only way left" in step["why"] and "leaves out 1 ballot(s)" in step["why"]
    flat = " ".join(human.split())
    assert f"Your seal: `plurictl vote seal {vid[:8]} --accept-late`" in flat, flat
    r = invoke(bob, "vote", "seal", vid[:8])  # the sheet the dashboard's advice seals
    said = " ".join(r.output.split())
    assert r.exit_code == 5 and f"sealing sheet {sheet_a[:12]} makes them" in said, said
    assert (
        "only 1 teller(s) who have not sealed are left, you included, and a sheet needs 3" in said
    )
    text = ok(invoke(bob, "vote", "seal", vid[:8], "--accept-late"))
    assert f"Sealed sheet {sheet_a[:12]}" in text and "FINAL" in text, text
    sync(*council.values())
    for name, home in council.items():
        st = json_out(invoke(home, "vote", "status", vid[:8], "--json"))
        assert st["state"] == "FINAL" and st["sealed_sheet"] == sheet_a, name
        assert st["next_seal"] is None, name  # nothing left to seal anywhere


def test_a_revoked_key_that_wrote_something_else_first_keeps_no_seal_past_the_cut(
    council: dict[str, Path], invoke: Invoke
) -> None:
    """Stores keep a chain contiguously, so a seal is kept past the cut only if the key
    wrote nothing but ballots, seals and shares after it: dave's laptop reports a fuel
    reading, then seals A. That seal is refused (not the k-th), the advice stays "only if
    dave seals", bob seals A, and `vote close` does not send "tellers" to A (none may seal
    it any more). dave's seal, arriving again, completes A: FINAL."""
    vid, sheet_a, _ = split_sheets(invoke, council)
    a, dave, carol, bob = (council[n] for n in ("alice", "dave", "carol", "bob"))
    ok(invoke(dave, "fuel", "report", "north", "--litres", "1200"))
    ok(invoke(dave, "vote", "seal", vid[:8], "--sheet", sheet_a[:12], "--accept-late"))
    with Store.open(carol) as s:
        assert s.ingest(raws(dave)).rejected  # the fuel reading and the seal: past the cut
    bundle = dave.parent / "dave.plb"  # the same through the CLI: no "all here already"
    ok(invoke(dave, "bundle", "export", "-o", str(bundle), "--force"))
    said = " ".join(ok(invoke(carol, "bundle", "import", str(bundle))).split())
    assert "Refused 2 entries" in said and "all here already" not in said, said
    sync(carol, bob)
    seals, st = seals_on(bob, invoke, vid)
    assert seals[sheet_a[:12]] == 1 and st["stuck_detail"]["unless_they_seal"] == ["dave"]
    ok(invoke(bob, "vote", "seal", vid[:8], "--sheet", sheet_a[:12], "--accept-late"))
    sync(bob, carol, a)
    with Store.open(a) as s:
        before = s.count()
    r = invoke(a, "vote", "close", vid[:8])
    said = " ".join(r.output.split())
    assert r.exit_code == 5 and "no teller who may seal is left" in said, said
    assert "tellers seal it" not in said and "only if dave seals it anyway" in said
    with Store.open(a) as s:
        assert s.count() == before
    with Store.open(carol) as s:  # now the k-th seal: kept (a sealed vote depends on it)
        s.ingest(raws(dave))
    sync(carol, bob, a)
    assert json_out(invoke(a, "vote", "status", vid[:8], "--json"))["state"] == "FINAL"


def test_the_laptop_of_a_revoked_teller_never_says_only_if_it_seals(
    council: dict[str, Path], invoke: Invoke
) -> None:
    """k = 3 of bob, carol, dave; bob and carol sealed, then dave was revoked. Every other
    laptop says the vote can still finish only if dave seals anyway (a laptop of his that
    has not heard could); dave's own laptop, which has heard, says Stuck for his seat
    without inviting him to sign around the revocation (review 21f F2)."""
    a = council["alice"]
    choices = {"alice": "north", "bob": "south", "dave": "north"}
    vid = voted_open(invoke, council, choices, "--seal-threshold", "3")
    ok(invoke(a, "vote", "close", vid[:8]))
    sync(*council.values())
    for teller in ("bob", "carol"):
        ok(invoke(council[teller], "vote", "seal", vid[:8]))
    ok(invoke(a, "roster", "revoke", "dave", "--reason", "laptop lost"))
    sync(*council.values())
    st = json_out(invoke(a, "vote", "status", vid[:8], "--json"))
    assert st["stuck_detail"]["unless_they_seal"] == ["dave"]
    st = json_out(invoke(council["dave"], "vote", "status", vid[:8], "--json"))
    detail = st["stuck_detail"]
    assert st["stuck"] is True and detail["unless_they_seal"] == [], detail
    assert "only if dave" not in detail["advice"]
    assert "the seat of this laptop (dave: seat key revoked) stays empty" in detail["advice"]
    human = ok(invoke(council["dave"], "vote", "status", vid[:8]))
    assert "Stuck" in human and "only if dave" not in human


@pytest.mark.parametrize("recasts", [1, 2])
def test_a_revoked_key_keeps_at_most_one_ballot_per_vote_before_its_seal(
    council: dict[str, Path], invoke: Invoke, recasts: int
) -> None:
    """The bound on what a thief holding the revoked key can make stores keep: one ballot,
    seal and share per vote. dave's laptop recasts once: kept with the seal that follows;
    twice: nothing past the cut is kept, and A keeps carol's seal only."""
    vid, sheet_a, _ = split_sheets(invoke, council)
    dave, carol = council["dave"], council["carol"]
    for choice in ("south", "north")[:recasts]:
        ok(invoke(dave, "vote", "cast", vid[:8], choice))
    ok(invoke(dave, "vote", "seal", vid[:8], "--sheet", sheet_a[:12], "--accept-late"))
    with Store.open(carol) as s:
        refused = s.ingest(raws(dave)).rejected
    seals, _ = seals_on(carol, invoke, vid)
    if recasts == 1:
        assert not refused and seals[sheet_a[:12]] == 2, refused
    else:
        assert len(refused) == 3 and seals[sheet_a[:12]] == 1  # two ballots and the seal


@pytest.mark.parametrize(
    "change",
    [
        ["roster", "revoke", "bob", "--reason", "lost", "--at", "0"],
        ["roster", "remove-role", "bob", "teller"],
    ],
    ids=["revoked", "role-removed"],
)
def test_status_never_advises_a_seal_the_key_may_no_longer_make(
    council: dict[str, Path], invoke: Invoke, change: list[str]
) -> None:
    """Review 36 H1: bob's laptop, told that his key was revoked (or lost the teller
    role), said "Your seal: plurictl vote seal ..." and that seal then exited 7."""
    a, bob = council["alice"], council["bob"]
    vid = voted_open(invoke, council, {"alice": "north", "carol": "south"})
    ok(invoke(a, "vote", "close", vid[:8]))
    sync(*council.values())
    step = json_out(invoke(bob, "vote", "status", vid[:8], "--json"))["next_seal"]
    assert step is not None and step["command"] == f"plurictl vote seal {vid[:8]}"
    assert _dashboard_wants_a_seal(bob)
    ok(invoke(a, *change))
    sync(a, bob)
    st = json_out(invoke(bob, "vote", "status", vid[:8], "--json"))
    assert st["next_seal"] is None
    assert "Your seal" not in ok(invoke(bob, "vote", "status", vid[:8]))
    assert invoke(bob, "vote", "seal", vid[:8]).exit_code == 7  # what the advice would run
    assert not _dashboard_wants_a_seal(bob)  # nor does bob's dashboard ask for his seal


def _dashboard_wants_a_seal(home: Path) -> bool:
    from tests.dashboard_ledger import pages

    front, votes = pages(home, "/", "/votes")
    banner = "waiting for your seal" in front  # the front page's banner
    assert banner == ("Waiting for your seal" in votes)  # and the votes page's line
    return banner
