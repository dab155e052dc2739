"""Teller seats that can no longer help a vote finish say so (review 21c C2, C6): a sheet
listing a ballot whose voter was revoked below it is refused by every teller holding the
revocation, and a teller whose teller role was removed sits in an empty seat."""

from __future__ import annotations

from pathlib import Path

from ledger.store import Store
from tests.conftest import Invoke, json_out
from tests.integration import test_vote_cli as base

sync = base.sync
council_template = base.council_template  # the council's homes (pytest fixtures)
council = base.council


def ok(r: object) -> str:
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    return " ".join(r.output.split())  # type: ignore[attr-defined]


def ballot_seq(h: Path, name: str) -> int:
    with Store.open(h) as s:
        keys = {k for k, info in s.roster().keys.items() if info.name == name}
        return next(e.seq for e in s.entries(kind_prefix="vote.ballot") if e.author in keys)


def test_a_sheet_listing_a_ballot_revoked_below_it_is_refused_and_the_vote_says_stuck(
    council: dict[str, Path], invoke: Invoke
) -> None:
    """k = 2 of bob, carol, dave. dave (a teller and a voter) is revoked below his ballot
    after carol sealed the sheet listing it: bob, holding the revocation, refuses that
    sheet for ever, dave's seat is empty, so no sheet can reach 2 seals: Stuck, with the
    way out; bob's refusal names dave's ballot and the revocation."""
    a = council["alice"]
    vid = base.open_vote(invoke, a)
    sync(*council.values())
    for name, choice in (("alice", "north"), ("carol", "north"), ("dave", "south")):
        ok(invoke(council[name], "vote", "cast", vid[:8], choice))
    sync(*council.values())
    ok(invoke(a, "vote", "close", vid[:8]))
    sync(*council.values())
    ok(invoke(council["carol"], "vote", "seal", vid[:8]))  # 1 of 2
    seq = ballot_seq(a, "dave")
    ok(invoke(a, "roster", "revoke", "dave", "--reason", "stolen", "--at", str(seq - 1)))
    sync(*council.values())
    r = invoke(council["bob"], "vote", "seal", vid[:8])
    said = " ".join(r.output.split())
    assert r.exit_code == 5, said
    assert f"lists dave's ballot (seq {seq})" in said and "revoked" in said
    assert "opens a new vote" in said
    st = json_out(invoke(a, "vote", "status", vid[:8], "--json"))
    assert st["state"] == "PROVISIONAL" and st["stuck"] is True, st["stuck_detail"]
    advice = st["stuck_detail"]["advice"]
    assert "Open a new vote" in advice and "lists dave's ballot" in advice
    assert {"name": "dave", "why": "seat key revoked"} in st["stuck_detail"]["cannot_seal"]
    human = ok(invoke(a, "vote", "status", vid[:8]))
    assert "Stuck" in human


def test_a_teller_whose_role_was_removed_sits_in_an_empty_seat(
    council: dict[str, Path], invoke: Invoke
) -> None:
    a = council["alice"]
    vid = base.open_vote(invoke, a)
    sync(*council.values())
    for name, choice in (("alice", "north"), ("carol", "north"), ("erin", "south")):
        ok(invoke(council[name], "vote", "cast", vid[:8], choice))
    sync(*council.values())
    ok(invoke(a, "vote", "close", vid[:8]))
    r = invoke(a, "roster", "remove-role", "dave", "teller")
    assert r.exit_code == 0 and "sign anyway with another tool, still counts" in " ".join(
        r.output.split()
    )
    sync(*council.values())
    human = ok(invoke(a, "vote", "status", vid[:8]))
    assert "dave (teller role removed: seat empty)" in human
    assert "Stuck" not in human  # bob and carol can still seal
    r = invoke(council["dave"], "vote", "seal", vid[:8])
    assert r.exit_code == 7, r.output
    ok(invoke(a, "roster", "remove-role", "carol", "teller"))
    sync(*council.values())
    st = json_out(invoke(a, "vote", "status", vid[:8], "--json"))
    assert st["stuck"] is True and st["stuck_detail"]["can_still_seal"] == ["bob"]
    gone = {x["name"]: x["why"] for x in st["stuck_detail"]["cannot_seal"]}
    assert gone == {"carol": "teller role removed", "dave": "teller role removed"}
