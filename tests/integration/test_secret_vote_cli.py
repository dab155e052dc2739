"""Secret votes end to end on real homes: ceremony -> open -> cast -> close -> seal ->
result -> verify -> receipt, and the refusals (exit codes) on the way."""

from __future__ import annotations

from pathlib import Path

from ledger.store import Store
from tests.conftest import Invoke, json_out
from tests.integration import test_vote_cli as base

sync = base.sync
council_template = base.council_template  # the council's homes (pytest fixtures)
council = base.council

TELLERS = ("bob", "carol", "dave")


def ok(r: object) -> str:
    assert r.exit_code == 0, r.output  # type: ignore[attr-defined]
    return r.output  # type: ignore[attr-defined]


def ceremony(invoke: Invoke, homes: dict[str, Path], *, deal: tuple[str, ...] = TELLERS) -> str:
    a = homes["alice"]
    args = [x for t in TELLERS for x in ("--teller", t)]
    cid: str = json_out(invoke(a, "vote", "ceremony", "start", *args, "--json"))["ceremony"]
    sync(*homes.values())
    for name in deal:
        ok(invoke(homes[name], "vote", "ceremony", "deal", cid[:12]))
        sync(*homes.values())
    # every dealing is here now: a second pass checks the shares the others sealed (only
    # the last dealer had seen them all already); a third pass writes nothing
    for name in deal:
        data = json_out(invoke(homes[name], "vote", "ceremony", "deal", cid[:12], "--json"))
        assert {w["kind"] for w in data["written"]} <= {"vote.checked"}
        assert bool(data["written"]) == (name != deal[-1])
    sync(*homes.values())
    for name in deal:
        data = json_out(invoke(homes[name], "vote", "ceremony", "deal", cid[:12], "--json"))
        assert data["written"] == []
    return cid


def open_secret(invoke: Invoke, a: Path, cid: str, *extra: str) -> object:
    return invoke(
        a, "vote", "open", "--title", "Who chairs the council?",
        "--option", "north=North", "--option", "south=South", "--option", "east=East",
        "--roll", "role:operator", "--secret", "--ceremony", cid[:12], *extra, "--json",
    )  # fmt: skip


def test_secret_vote_from_ceremony_to_receipt(council: dict[str, Path], invoke: Invoke) -> None:
    a = council["alice"]
    cid = ceremony(invoke, council)
    status = json_out(invoke(a, "vote", "ceremony", "status", cid[:12], "--json"))
    assert status["complete"] and status["awaited"] == [] and status["joint_key"]
    vid: str = json_out(open_secret(invoke, a, cid))["vote"]
    sync(*council.values())
    choices = {"alice": "north", "bob": "south", "carol": "north", "dave": "east", "erin": "north"}
    for name, choice in choices.items():
        ok(invoke(council[name], "vote", "cast", vid[:8], choice))
    ok(invoke(council["erin"], "vote", "cast", vid[:8], "south"))  # a revote: the newest counts
    sync(*council.values())
    with Store.open(council["erin"]) as s:
        ballots = [e for e in s.entries(kind_prefix="vote.ballot")]
    assert ballots and all("choice" not in e.body for e in ballots)
    assert all(b"north" not in e.body["sealed"] for e in ballots)
    st = json_out(invoke(council["dave"], "vote", "status", vid[:8], "--json"))
    assert st["state"] == "PROVISIONAL" and st["provisional_counts"] is None
    assert st["secret"]["provisional"].startswith("none")
    human = " ".join(ok(invoke(council["dave"], "vote", "status", vid[:8])).split())
    assert "no counts before k tellers seal it" in human and "provisional counts" not in human
    ok(invoke(a, "vote", "close", vid[:8]))
    sync(*council.values())
    said = " ".join(ok(invoke(council["bob"], "vote", "seal", vid[:8])).split())
    assert "1 of 2 seals" in said and "share is held back until the sheet is sealed" in said
    sync(*council.values())
    said = " ".join(ok(invoke(council["dave"], "vote", "seal", vid[:8])).split())
    assert "2 of 2 seals" in said and "held back" not in said  # the k-th seal carries it
    sync(*council.values())
    res = json_out(invoke(council["erin"], "vote", "result", vid[:8], "--json"))
    assert res["state"] == "SEALED", res  # one share of two: sealed, not decrypted yet
    human = " ".join(ok(invoke(council["erin"], "vote", "result", vid[:8])).split())
    assert "Sealed; decrypting: 1 of 2 shares; waiting for " in human
    assert f"to run `plurictl vote seal {vid[:8]}`" in human
    waiting = human.split("waiting for ")[1].split(" to run")[0]
    assert sorted(waiting.split(", ")) == ["bob", "carol"]  # no valid share yet; dave has one
    said = " ".join(ok(invoke(council["bob"], "vote", "seal", vid[:8])).split())
    assert "Shared" in said and "FINAL" in said  # seal, then share: the same command
    said = " ".join(ok(invoke(council["bob"], "vote", "seal", vid[:8])).split())
    assert said.startswith("Nothing to write")
    sync(*council.values())
    res = json_out(invoke(council["erin"], "vote", "result", vid[:8], "--json"))
    assert res["state"] == "FINAL", res
    assert res["result"]["counts"] == {"north": 2, "south": 2, "east": 1}
    assert res["result"]["outcome"] == "tie"
    audit = invoke(council["carol"], "vote", "verify", vid[:8], "--json")
    data = json_out(audit)
    assert audit.exit_code == 0, audit.output
    assert data["secret"]["counts_check"] is True
    assert data["secret"]["valid_shares"] == 2 and data["secret"]["ballots_verified"] == 6
    human = " ".join(ok(invoke(council["carol"], "vote", "verify", vid[:8])).split())
    assert "homomorphic product of the counted ballots: checked" in human
    assert "counts (north 2, south 2, east 1): checked" in human
    human = " ".join(ok(invoke(council["carol"], "vote", "status", vid[:8])).split())
    assert "secret ballot" in human and "decryption share of teller" in human
    assert "): counts decrypted" in human and "no counts before" not in human  # it is FINAL
    rec = json_out(invoke(council["erin"], "vote", "receipt", vid[:8], "--json"))
    assert rec["in_sealed_set"] and len(rec["tracker"]) == 64
    human = " ".join(ok(invoke(council["erin"], "vote", "receipt", vid[:8])).split())
    assert "tracker" in human and "is in the sealed set" in human


def test_secret_refusals(council: dict[str, Path], invoke: Invoke) -> None:
    a = council["alice"]
    args = [x for t in TELLERS for x in ("--teller", t)]
    cid = json_out(invoke(a, "vote", "ceremony", "start", *args, "--json"))["ceremony"]
    sync(*council.values())
    ok(invoke(council["bob"], "vote", "ceremony", "deal", cid[:12]))
    sync(*council.values())
    r = open_secret(invoke, a, cid)
    assert r.exit_code == 5, r.output  # type: ignore[attr-defined]
    assert "not complete" in r.output and "carol" in r.output and "dave" in r.output  # type: ignore[attr-defined]
    r = open_secret(invoke, a, cid, "--method", "ranked-choice")
    assert r.exit_code == 5 and "plurality and approval" in r.output  # type: ignore[attr-defined]
    r = invoke(a, "vote", "open", "--title", "x", "--option", "a", "--option", "b",
               "--roll", "role:operator", "--secret", "--method", "quadratic")  # fmt: skip
    assert r.exit_code == 5 and "plurality and approval" in r.output
    st = json_out(invoke(a, "vote", "ceremony", "status", cid[:12], "--json"))
    assert not st["complete"] and sorted(st["awaited"]) == ["carol", "dave"]
    r = invoke(council["erin"], "vote", "ceremony", "deal", cid[:12])
    assert r.exit_code == 7, r.output  # not a teller of this ceremony
    for name in ("carol", "dave"):
        ok(invoke(council[name], "vote", "ceremony", "deal", cid[:12]))
    sync(*council.values())
    r = open_secret(invoke, a, cid, "--method", "plurality")  # dealt, but not all checked
    assert r.exit_code == 5 and "to check the shares" in r.output  # type: ignore[attr-defined]
    for name in TELLERS:
        ok(invoke(council[name], "vote", "ceremony", "deal", cid[:12]))
    sync(*council.values())
    vid = json_out(open_secret(invoke, a, cid, "--method", "plurality"))["vote"]
    sync(*council.values())
    r = invoke(council["erin"], "vote", "cast", vid[:8], "--blank")
    assert r.exit_code == 5 and "exactly one" in r.output
    r = invoke(council["erin"], "vote", "cast", vid[:8], "north", "south")
    assert r.exit_code == 5


def finals(invoke: Invoke, homes: dict[str, Path], vid: str) -> dict[str, object]:
    """Each laptop's FINAL counts (laptops not FINAL left out)."""
    out = {}
    for name, h in homes.items():
        res = json_out(invoke(h, "vote", "result", vid[:8], "--json"))
        if res["state"] == "FINAL":
            out[name] = res["result"]["counts"]
    return out


def test_a_partition_only_the_side_with_k_tellers_decrypts(
    council: dict[str, Path], invoke: Invoke
) -> None:
    """bob and carol (2 of 3 tellers) with alice on one side, dave and erin on the other:
    one side seals and decrypts, the other stays PROVISIONAL; after the heal every laptop
    shows the same FINAL counts, which are the choices the sealed side made."""
    cid = ceremony(invoke, council)
    vid: str = json_out(open_secret(invoke, council["alice"], cid))["vote"]
    sync(*council.values())
    side_a = {n: council[n] for n in ("alice", "bob", "carol")}
    side_b = {n: council[n] for n in ("dave", "erin")}
    made = {"alice": "north", "bob": "south", "carol": "north", "dave": "east", "erin": "east"}
    for name, choice in made.items():
        ok(invoke(council[name], "vote", "cast", vid[:8], choice))
    sync(*side_a.values())
    sync(*side_b.values())
    assert finals(invoke, council, vid) == {}
    r = invoke(council["dave"], "vote", "seal", vid[:8])
    assert r.exit_code == 5 and "no close sheet" in r.output  # nothing to seal on this side
    ok(invoke(council["alice"], "vote", "close", vid[:8]))
    sync(*side_a.values())
    ok(invoke(council["bob"], "vote", "seal", vid[:8]))
    sync(*side_a.values())
    assert finals(invoke, council, vid) == {}  # one seal of two: nobody decrypts yet
    ok(invoke(council["carol"], "vote", "seal", vid[:8]))  # the k-th seal: carol's share
    sync(*side_a.values())
    assert finals(invoke, council, vid) == {}  # sealed; bob's share is held back
    ok(invoke(council["bob"], "vote", "seal", vid[:8]))  # seal, then share
    sync(*side_a.values())
    seen = finals(invoke, council, vid)
    expected = {"north": 2, "south": 1, "east": 0}
    assert seen == dict.fromkeys(side_a, expected)
    for name in side_b:
        st = json_out(invoke(council[name], "vote", "status", vid[:8], "--json"))
        assert st["state"] == "PROVISIONAL" and st["provisional_counts"] is None
    sync(*council.values())  # the heal
    assert finals(invoke, council, vid) == dict.fromkeys(council, expected)
    res = json_out(invoke(council["erin"], "vote", "result", vid[:8], "--json", "--ballots"))
    late = [u for u in res["result"]["uncounted"] if u["reason"].startswith("uncounted (late)")]
    assert sorted(u["name"] for u in late) == ["dave", "erin"]
    # dave's seal after the heal adds a third share: the same counts
    ok(invoke(council["dave"], "vote", "seal", vid[:8], "--accept-late"))
    sync(*council.values())
    assert finals(invoke, council, vid) == dict.fromkeys(council, expected)
    audit = json_out(invoke(council["erin"], "vote", "verify", vid[:8], "--json"))
    assert audit["ok"] and audit["secret"]["valid_shares"] == 3


def test_ceremony_refusals_have_documented_exit_codes(
    council: dict[str, Path], invoke: Invoke
) -> None:
    a = council["alice"]
    r = invoke(a, "vote", "ceremony", "status", "abcdef12")
    assert r.exit_code == 5 and "no key ceremony matches" in r.output
    cid = ceremony(invoke, council, deal=())
    r = invoke(a, "vote", "ceremony", "status", cid[:3])  # it does match: too short to say
    assert r.exit_code == 5 and "give at least 4 hex characters" in r.output, r.output
    assert "no key ceremony matches" not in r.output
    r = invoke(a, "vote", "ceremony", "start", "--teller", "erin", "--teller", "bob")
    assert r.exit_code == 7 and "erin does not hold the teller role" in r.output
    r = invoke(council["bob"], "vote", "ceremony", "start", "--teller", "bob")
    assert r.exit_code == 7 and "only a coordinator" in r.output
    r = invoke(a, "vote", "ceremony", "start", "--teller", "bob", "--teller", "carol",
               "--tolerate", "5")  # fmt: skip
    assert r.exit_code == 5 and "--tolerate 5" in r.output
    r = invoke(a, "vote", "open", "--title", "x", "--option", "a", "--option", "b",
               "--roll", "role:operator", "--ceremony", "abcd")  # fmt: skip
    assert r.exit_code == 5 and "add --secret" in r.output
    r = invoke(a, "vote", "open", "--title", "x", "--option", "a", "--option", "b",
               "--roll", "role:operator", "--secret")  # fmt: skip
    assert r.exit_code == 5 and "--ceremony ID" in r.output
    with Store.open(a) as s:
        before = s.count()
    cid = ceremony(invoke, council)
    r = open_secret(invoke, a, cid, "--teller", "bob")
    assert r.exit_code == 5 and "its key ceremony's" in r.output  # type: ignore[attr-defined]
    r = open_secret(invoke, a, cid, "--seal-threshold", "3")
    assert r.exit_code == 5 and "fixed k=2" in r.output  # type: ignore[attr-defined]
    with Store.open(a) as s:
        # the ceremony, its dealings and each teller's signed check only
        assert s.count() == before + 1 + 2 * len(TELLERS)


def test_an_independent_verifier_recomputes_the_result_from_the_ledger(
    council: dict[str, Path], invoke: Invoke
) -> None:
    """Plain Python integers (tests/unit/ballotcrypto/independent.py, no code shared with
    plurictl) follow field_guides/secret-ballots.md over the raw entries of a real ledger:
    the ceremony's keys, every ballot's proofs, the product, each seal's share, the counts."""
    from tests.unit.ballotcrypto import independent as ind

    a = council["alice"]
    cid = ceremony(invoke, council)
    vid: str = json_out(open_secret(invoke, a, cid))["vote"]
    sync(*council.values())
    for name, choice in {"alice": "east", "bob": "east", "carol": "north", "erin": "south"}.items():
        ok(invoke(council[name], "vote", "cast", vid[:8], choice))
    ok(invoke(council["erin"], "vote", "cast", vid[:8], "east"))  # a revote
    sync(*council.values())
    ok(invoke(a, "vote", "close", vid[:8]))
    sync(*council.values())
    for teller in ("carol", "dave", "carol"):  # carol's second run adds her share
        ok(invoke(council[teller], "vote", "seal", vid[:8]))
        sync(*council.values())
    claimed = json_out(invoke(a, "vote", "result", vid[:8], "--json"))["result"]["counts"]
    with Store.open(council["erin"]) as s:
        entries = {e.id: e for e in s.entries(kind_prefix="vote.")}
    cer = entries[bytes.fromhex(cid)]
    charter = entries[bytes.fromhex(vid)]
    tellers = cer.body["tellers"]
    keys = [bytes.fromhex(cer.body["teller_keys"][t]) for t in tellers]
    k = cer.body["k"]
    dealings = [e.body["dealing"] for e in entries.values() if e.kind == "vote.deal"]
    joint, public = ind.ceremony_keys(bytes.fromhex(cid), k, keys, dealings)
    assert (k, joint, public) == ind.parse_keyset(charter.body["secret"]["keys"])
    spec = ind.Spec(3, 1, 1)
    (sheet,) = [e for e in entries.values() if e.kind == "vote.close"]
    listed = [entries[bytes.fromhex(b)] for b in sheet.body["ballots"]]
    replaced = {r for b in listed for r in b.body["replaces"]}
    counted = [b for b in listed if b.id.hex() not in replaced]  # newest per voter
    roll = charter.body["roll"]
    ballots = []
    for b in counted:
        cts = ind.verify_ballot(charter.id, joint, spec, b.author, b.body["sealed"])
        assert cts is not None
        ballots.append((cts, roll[b.author.hex()]))
    tally, weight = ind.aggregate(spec, ballots)
    ctx = ind.context_digest(charter.id, joint, spec)
    shares = {}
    carriers = [e for e in entries.values() if e.kind in ("vote.seal", "vote.share")]
    assert sorted(e.kind for e in carriers if "share" in e.body) == ["vote.seal", "vote.share"]
    for e in carriers:
        if "share" not in e.body:  # a seal before the sheet had k: its share came later
            continue
        assert (e.body["sheet"], e.body["root"]) == (sheet.id.hex(), sheet.body["root"])
        checked = ind.verify_decryption_share(ctx, tally, public, e.body["share"])
        assert checked is not None
        shares[checked[0]] = checked[1]
    counts = [claimed[o] for o in ("north", "south", "east")]
    assert counts == [1, 0, 3]
    assert ind.check_counts(spec, tally, weight, shares, k, counts)


def test_a_courier_carries_a_secret_ballot_and_a_teller_seal_across_the_gap(
    council: dict[str, Path], invoke: Invoke, tmp_path: Path
) -> None:
    """No mesh between the sides: a USB bundle carries erin's encrypted ballot to the
    coordinator and dave's seal (with its decryption share) back: counted, decrypted."""
    cid = ceremony(invoke, council)
    a = council["alice"]
    vid: str = json_out(open_secret(invoke, a, cid))["vote"]
    sync(*council.values())
    ok(invoke(council["bob"], "vote", "cast", vid[:8], "south"))
    ok(invoke(council["erin"], "vote", "cast", vid[:8], "east"))
    ok(invoke(council["carol"], "vote", "cast", vid[:8], "north"))
    sync(a, council["bob"], council["carol"])  # erin and dave are on the other side
    stick = tmp_path / "stick"
    stick.mkdir()
    ok(invoke(council["erin"], "bundle", "export", "-o", str(stick / "erin.plb")))
    ok(invoke(a, "bundle", "import", str(stick / "erin.plb")))
    ok(invoke(a, "vote", "close", vid[:8]))
    ok(invoke(a, "bundle", "export", "-o", str(stick / "alice.plb")))
    ok(invoke(council["dave"], "bundle", "import", str(stick / "alice.plb")))
    ok(invoke(council["dave"], "vote", "seal", vid[:8]))
    ok(invoke(council["dave"], "bundle", "export", "-o", str(stick / "dave.plb")))
    sync(a, council["bob"], council["carol"])
    ok(invoke(council["bob"], "vote", "seal", vid[:8]))
    ok(invoke(a, "bundle", "import", str(stick / "dave.plb")))
    sync(a, council["bob"])
    # neither seal was a second one where it was made: both shares were held back
    assert json_out(invoke(a, "vote", "result", vid[:8], "--json"))["state"] == "SEALED"
    ok(invoke(council["bob"], "vote", "seal", vid[:8]))  # now sealed here: bob's share
    ok(invoke(council["bob"], "bundle", "export", "-o", str(stick / "bob.plb")))
    ok(invoke(council["dave"], "bundle", "import", str(stick / "bob.plb")))
    ok(invoke(council["dave"], "vote", "seal", vid[:8]))  # and dave's, carried back
    ok(invoke(council["dave"], "bundle", "export", "-o", str(stick / "dave2.plb")))
    ok(invoke(a, "bundle", "import", str(stick / "dave2.plb")))
    res = json_out(invoke(a, "vote", "result", vid[:8], "--json"))
    assert res["state"] == "FINAL"
    assert res["result"]["counts"] == {"north": 1, "south": 1, "east": 1}


def test_a_ceremony_where_one_teller_could_decrypt_alone_is_refused(
    council: dict[str, Path], invoke: Invoke
) -> None:
    """k = 1 (a single teller) would let that teller decrypt every ballot by itself."""
    a = council["alice"]
    with Store.open(a) as s:
        before = s.count()
    r = invoke(a, "vote", "ceremony", "start", "--teller", "bob")
    assert r.exit_code == 5 and "one teller alone" in r.output
    with Store.open(a) as s:
        assert s.count() == before


def test_deal_says_complete_once(council: dict[str, Path], invoke: Invoke) -> None:
    """Run again after everyone dealt: 'complete', not 'complete: complete'."""
    cid = ceremony(invoke, council)
    text = ok(invoke(council["bob"], "vote", "ceremony", "deal", cid[:12]))
    assert f"Ceremony {cid[:12]} complete" in text and "complete: complete" not in text


def test_a_ceremony_naming_a_key_no_share_can_be_sealed_to_names_that_teller(
    council: dict[str, Path], invoke: Invoke
) -> None:
    """A ceremony written by another tool whose seat key for carol is no ed25519 point:
    `deal` names carol and says the ceremony can never complete, before writing anything
    (it used to say only "teller key is not a usable ed25519 key")."""
    from ledger.home import Home

    a = council["alice"]
    cid = ceremony(invoke, council, deal=())
    with Store.open(a) as s:
        body = dict(next(e for e in s.entries(kind_prefix="vote.") if e.id.hex() == cid).body)
        names = {k.hex(): info.name for k, info in s.roster().keys.items()}
    i, carol = next((i, m) for i, m in enumerate(body["tellers"], 1) if names.get(m) == "carol")
    body["teller_keys"] = {**body["teller_keys"], carol: (bytes([2]) + bytes(31)).hex()}
    with Home(a) as h:
        forged = h.append("vote.ceremony", body).id.hex()
    sync(*council.values())
    with Store.open(council["bob"]) as s:
        before = s.count()
    r = invoke(council["bob"], "vote", "ceremony", "deal", forged[:12])
    assert r.exit_code == 5, r.output
    assert f"carol (teller {i})" in r.output and "can never complete" in r.output, r.output
    with Store.open(council["bob"]) as s:
        assert s.count() == before  # nothing written
