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


def voted_open(
    invoke: Invoke, council: dict[str, Path], choices: dict[str, str], *extra: str
) -> str:
    """An open vote by alice (bob, carol, dave tellers) with ``choices`` cast, all in sync."""
    vid = base.open_vote(invoke, council["alice"], *extra)
    sync(*council.values())
    for name, choice in choices.items():
        ok(invoke(council[name], "vote", "cast", vid[:8], choice))
    sync(*council.values())
    return vid


def ballot_seq(h: Path, name: str) -> int:
    with Store.open(h) as s:
        keys = {k for k, info in s.roster().keys.items() if info.name == name}
        return next(e.seq for e in s.entries(kind_prefix="vote.ballot") if e.author in keys)


def seals_without_their_sheet(
    invoke: Invoke, council: dict[str, Path], vid: str, late: str, choice: str
) -> str:
    """alice closes sheet A; ``late`` casts ``choice``; alice closes sheet B, which reaches
    bob and carol only; both seal B, and a courier carries their seals, not sheet B, to
    dave. Returns B's id."""
    a = council["alice"]
    ok(invoke(a, "vote", "close", vid[:8]))
    sync(*council.values())
    ok(invoke(council[late], "vote", "cast", vid[:8], choice))
    sync(*council.values())
    sheet_b: str = json_out(invoke(a, "vote", "close", vid[:8], "--json"))["sheet"]
    sync(a, council["bob"], council["carol"])
    for teller in ("bob", "carol"):
        ok(invoke(council[teller], "vote", "seal", vid[:8], "--sheet", sheet_b[:12]))
    seals = []
    for teller in ("bob", "carol"):
        with Store.open(council[teller]) as s:
            seals += [e.raw for e in s.entries(kinds=["vote.seal"]) if e.body["sheet"] == sheet_b]
    with Store.open(council["dave"]) as s:  # the courier carried the seals, not the sheet
        assert not s.ingest(seals).rejected
    return sheet_b


def test_a_sheet_listing_a_ballot_revoked_below_it_is_refused_and_the_vote_says_stuck(
    council: dict[str, Path], invoke: Invoke
) -> None:
    """k = 2 of bob, carol, dave. dave (a teller and a voter) is revoked below his ballot
    after carol sealed the sheet listing it: bob, holding the revocation, refuses that
    sheet for ever, dave's seat is empty, so no sheet can reach 2 seals: Stuck, with the
    way out; bob's refusal names dave's ballot and the revocation."""
    a = council["alice"]
    vid = voted_open(invoke, council, {"alice": "north", "carol": "north", "dave": "south"})
    ok(invoke(a, "vote", "close", vid[:8]))
    sync(*council.values())
    ok(invoke(council["carol"], "vote", "seal", vid[:8]))  # 1 of 2
    seq = ballot_seq(a, "dave")
    ok(invoke(a, "roster", "revoke", "dave", "--reason", "stolen", "--at", str(seq - 1)))
    sync(*council.values())
    r = invoke(council["bob"], "vote", "seal", vid[:8])
    said = " ".join(r.output.split())
    assert r.exit_code == 5, said
    assert f"lists dave's ballot (seq {seq})" in said and "revoked" in said, said
    assert "opens a new vote" in said
    st = json_out(invoke(a, "vote", "status", vid[:8], "--json"))
    assert st["state"] == "PROVISIONAL" and st["stuck"] is True, st["stuck_detail"]
    advice = st["stuck_detail"]["advice"]
    assert "Open a new vote" in advice and "lists dave's ballot" in advice
    # dave's own laptop, not yet told of the revocation, could still seal (review 21e E1)
    assert st["stuck_detail"]["unless_they_seal"] == ["dave"]
    assert {"name": "dave", "why": "seat key revoked"} in st["stuck_detail"]["cannot_seal"]
    human = ok(invoke(a, "vote", "status", vid[:8]))
    assert "Stuck" in human


def test_a_teller_whose_role_was_removed_sits_in_an_empty_seat(
    council: dict[str, Path], invoke: Invoke
) -> None:
    a = council["alice"]
    vid = voted_open(invoke, council, {"alice": "north", "carol": "north", "erin": "south"})
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


def test_a_sheet_that_can_never_be_sealed_is_not_closed_and_points_at_one_that_can(
    council: dict[str, Path], invoke: Invoke
) -> None:
    """Review 21d D2: k = 2 of bob, carol, dave. bob sealed sheet A, carol sheet B; sheet C
    (closed where carol's seal had not arrived) can get dave's seal only. `vote seal` on C
    said "this vote is stuck; open a new one" although A or B can still finish with
    dave's seal, and `vote close` wrote more sheets no teller could seal. Both now refuse
    (exit 5, nothing written) and name the sheet that can still be sealed."""
    a = council["alice"]
    vid = base.open_vote(invoke, a)
    sync(*council.values())

    def cast_and_close(name: str, choice: str, *homes: Path) -> str:
        ok(invoke(council[name], "vote", "cast", vid[:8], choice))
        sync(*(homes or council.values()))
        sheet: str = json_out(invoke(a, "vote", "close", vid[:8], "--json"))["sheet"]
        sync(*(homes or council.values()))
        return sheet

    ok(invoke(a, "vote", "cast", vid[:8], "north"))
    cast_and_close("bob", "south")
    ok(invoke(council["bob"], "vote", "seal", vid[:8]))
    sync(*council.values())
    sheet_b = cast_and_close("carol", "north")
    ok(invoke(council["carol"], "vote", "seal", vid[:8], "--sheet", sheet_b[:12]))
    others = [council[n] for n in ("alice", "bob", "dave", "erin")]  # carol's seal stays home
    sheet_c = cast_and_close("dave", "south", *others)
    sync(*council.values())
    ok(invoke(council["erin"], "vote", "cast", vid[:8], "north"))
    sync(*council.values())
    with Store.open(a) as s:
        before = s.count()
    r = invoke(a, "vote", "close", vid[:8])
    said = " ".join(r.output.split())
    assert r.exit_code == 5 and "a new sheet can never reach 2 seals" in said, said
    assert "can still be sealed" in said and "--accept-late" in said
    with Store.open(a) as s:
        assert s.count() == before
    r = invoke(council["dave"], "vote", "seal", vid[:8], "--sheet", sheet_c[:12])
    said = " ".join(r.output.split())
    assert r.exit_code == 5 and f"sheet {sheet_c[:12]} can never reach 2 seals" in said, said
    assert "can still be sealed" in said and "opens a new" not in said
    text = ok(invoke(council["dave"], "vote", "seal", vid[:8], "--sheet", sheet_b[:12],
                     "--accept-late"))  # fmt: skip
    assert "FINAL" in text


def test_seals_on_a_sheet_this_laptop_lacks_send_the_teller_to_sync_not_to_a_new_vote(
    council: dict[str, Path], invoke: Invoke
) -> None:
    """Review 21e E2: k = 3 of bob, carol, dave. bob and carol sealed sheet B; a courier
    brought their seals to dave, but not sheet B itself. dave's `vote seal` said "no sheet
    can: this vote is stuck; open a new vote" although B needs only his seal: it now says
    B is sealed by others and not here yet, and to sync first."""
    vid = voted_open(invoke, council, {"alice": "north", "bob": "south"}, "--seal-threshold", "3")
    sheet_b = seals_without_their_sheet(invoke, council, vid, "erin", "north")
    text = ok(invoke(council["dave"], "vote", "status", vid[:8]))  # says sync too (21f LOW)
    assert f"Sheet {sheet_b[:12]} is not on this laptop (2 seal(s) seen on it): sync" in text
    st = json_out(invoke(council["dave"], "vote", "status", vid[:8], "--json"))
    assert st["sheets_not_here"] == [{"id": sheet_b, "seals": 2}]
    r = invoke(council["dave"], "vote", "seal", vid[:8], "--accept-late")
    said = " ".join(r.output.split())
    assert r.exit_code == 5 and f"sealed sheet {sheet_b[:12]} (2 seal(s))" in said, said
    assert "does not hold yet" in said and "sync" in said and "stuck" not in said.lower()
    sync(*council.values())
    text = ok(invoke(council["dave"], "vote", "seal", vid[:8], "--sheet", sheet_b[:12]))
    assert "FINAL" in text
    assert "is not on this laptop" not in ok(invoke(council["dave"], "vote", "status", vid[:8]))


def test_a_late_ballot_hint_never_sends_the_teller_to_a_close_that_cannot_help(
    council: dict[str, Path], invoke: Invoke
) -> None:
    """Review 21e E4: k = 3 of bob, carol, dave; bob and carol sealed sheet A, and a late
    ballot reached dave. A new sheet could get dave's seal only, so "ask the coordinator
    to close again" cannot help: the hint says to seal with --accept-late."""
    a = council["alice"]
    vid = voted_open(invoke, council, {"alice": "north", "bob": "south"}, "--seal-threshold", "3")
    ok(invoke(a, "vote", "close", vid[:8]))
    sync(*council.values())
    for teller in ("bob", "carol"):
        ok(invoke(council[teller], "vote", "seal", vid[:8]))
    sync(*council.values())
    ok(invoke(council["erin"], "vote", "cast", vid[:8], "north"))
    sync(council["erin"], council["dave"])
    r = invoke(council["dave"], "vote", "seal", vid[:8])
    said = " ".join(r.output.split())
    assert r.exit_code == 5 and "leaves out 1 ballot(s)" in said, said
    assert "close again" not in said and "a new sheet could not be sealed" in said, said
    assert "FINAL" in ok(invoke(council["dave"], "vote", "seal", vid[:8], "--accept-late"))


def test_a_revoked_tellers_seal_that_completes_the_sheet_finishes_the_vote(
    council: dict[str, Path], invoke: Invoke
) -> None:
    """Review 21e E3: k = 3 of bob, carol, dave; carol sealed sheet A, dave's key was
    revoked, and dave's laptop (not yet told) sealed A too. bob's `vote seal` was refused
    as "Stuck", so the vote could never finish. Laptops holding the revocation now keep
    that seal (review 21f F1: a vote not sealed yet depends on it), so bob sees A 2 of 3
    and seals it: FINAL on every laptop."""
    a = council["alice"]
    vid = voted_open(invoke, council, {"alice": "north", "dave": "south"}, "--seal-threshold", "3")
    ok(invoke(a, "vote", "close", vid[:8]))
    sync(*council.values())
    ok(invoke(council["carol"], "vote", "seal", vid[:8]))
    sync(*council.values())
    ok(invoke(a, "roster", "revoke", "dave", "--reason", "laptop lost"))
    told = [council[n] for n in ("alice", "bob", "carol", "erin")]
    sync(*told)
    ok(invoke(council["dave"], "vote", "seal", vid[:8]))  # dave's laptop has not heard
    with Store.open(council["dave"]) as s:
        raws = [raw for raw, _ in s.iter_raw()]
    with Store.open(council["bob"]) as s:
        assert not s.ingest(raws).rejected  # past the cut, but a counting seal: kept
    st = json_out(invoke(council["bob"], "vote", "status", vid[:8], "--json"))
    assert st["stuck"] is False and [x["seals"] for x in st["sheets"]] == [2], st
    ok(invoke(council["bob"], "vote", "seal", vid[:8]))  # was: "refusing to seal: Stuck"
    sync(*council.values())
    for home in council.values():
        assert json_out(invoke(home, "vote", "status", vid[:8], "--json"))["state"] == "FINAL"


def test_a_refused_seal_or_close_with_json_prints_one_json_object(
    council: dict[str, Path], invoke: Invoke
) -> None:
    """Review 21e LOW: `vote seal --json` and `vote close --json` refusals printed only the
    text error. Now one JSON object on stdout: the error, its hint, its exit code (the
    exit code itself unchanged); without --json the text error as before."""
    import json

    vid = voted_open(invoke, council, {"alice": "north"})
    r = invoke(council["erin"], "vote", "seal", vid[:8], "--json")  # erin is no teller
    assert r.exit_code == 7
    said = json.loads(r.stdout)
    assert said["exit_code"] == 7 and said["error"].startswith("only a teller can seal")
    assert "hint" in said and "Error:" not in r.stdout
    r = invoke(council["bob"], "vote", "close", vid[:8], "--json")  # bob is no coordinator
    assert r.exit_code == 7 and json.loads(r.stdout)["exit_code"] == 7
    ok(invoke(council["alice"], "vote", "close", vid[:8]))
    sync(*council.values())
    ok(invoke(council["bob"], "vote", "seal", vid[:8]))
    r = invoke(council["carol"], "vote", "seal", vid[:8], "--sheet", "ffff", "--json")
    said = json.loads(r.stdout)
    assert r.exit_code == 5 == said["exit_code"], r.output
    r = invoke(council["erin"], "vote", "seal", vid[:8])  # text as before, nothing on stdout
    assert r.exit_code == 7 and r.stdout == "" and "Error: only a teller" in r.stderr
