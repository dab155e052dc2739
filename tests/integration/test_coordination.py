"""The coordination loop through the CLI: fuel reports -> plan from the ledger -> propose ->
adopt -> orders -> acknowledgements; roles; tampered plans; transfers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledger.store import Store
from tests.conftest import Invoke, json_out, new_home

SCENARIO = Path(__file__).resolve().parents[2] / "field_guides" / "scenarios" / "three-bases.toml"
pytestmark = pytest.mark.timeout(300)


def copy_ledger(src: Path, dst: Path) -> None:
    with Store.open(src) as a, Store.open(dst) as b:
        b.ingest(raw for raw, _ in a.iter_raw())


@pytest.fixture
def plan_file(home: Path, invoke: Invoke, tmp_path: Path) -> Path:
    for site, litres in (("alpha", 15000), ("bravo", 4000), ("charlie", 2500), ("depot", 50000)):
        r = invoke(home, "fuel", "report", site, "--litres", str(litres))
        assert r.exit_code == 0, r.output
    out = tmp_path / "plan.json"
    r = invoke(
        home,
        "plan",
        "run",
        str(SCENARIO),
        "--from-ledger",
        "--periods",
        "8",
        "--no-ac",
        "--out",
        str(out),
    )
    assert r.exit_code == 0, r.output + r.stderr
    assert "fuel from the ledger" in r.stderr
    return out


def test_plan_from_ledger_uses_exactly_the_views_inventory(
    home: Path, invoke: Invoke, plan_file: Path
) -> None:
    fuel = json_out(invoke(home, "fuel", "status", "--json"))
    inventory = {s["site"]: s["inventory_litres"] for s in fuel["sites"]}
    plan = json.loads(plan_file.read_text())
    start = {s["name"]: s["start_litres"] for s in plan["sites"]}
    assert start == inventory == {"alpha": 15000, "bravo": 4000, "charlie": 2500, "depot": 50000}


def test_propose_adopt_orders_ack(
    home: Path, invoke: Invoke, plan_file: Path, tmp_path: Path
) -> None:
    r = invoke(home, "plan", "propose", str(plan_file))
    assert r.exit_code == 0, r.output + r.stderr
    plans = json_out(invoke(home, "plan", "list", "--json"))
    assert len(plans["proposals"]) == 1 and plans["proposals"][0]["complete"]
    pid = plans["proposals"][0]["id"]
    r = invoke(home, "plan", "propose", str(plan_file))
    assert r.exit_code == 5 and "already proposed" in r.stderr
    assert "No plan is adopted" in invoke(home, "orders").output
    assert invoke(home, "plan", "adopt", pid[:10]).exit_code == 0
    plans = json_out(invoke(home, "plan", "list", "--json"))
    assert [d["plan"] for d in plans["adopted"]] == [pid]
    orders = json_out(invoke(home, "orders", "--site", "alpha", "--json"))
    assert orders and all(o["site"] == "alpha" and o["status"] == "open" for o in orders)
    oid = orders[0]["order_id"]
    assert invoke(home, "orders", "ack", oid[:10], "--note", "G1 set").exit_code == 0
    again = {o["order_id"]: o for o in json_out(invoke(home, "orders", "--json"))}
    assert again[oid]["status"] == "acknowledged" and again[oid]["acks"][0]["note"] == "G1 set"
    assert "acknowledged" in invoke(home, "orders", "--site", "alpha").output
    # an operator on another laptop sees the same orders, and cannot adopt
    bob, bkey = new_home(tmp_path, invoke, "bob")
    invoke(home, "roster", "add", bkey, "--name", "bob", "--role", "operator")
    mesh_id = json_out(invoke(home, "mesh", "show", "--json"))["mesh_id"]
    invoke(bob, "mesh", "join", mesh_id)
    copy_ledger(home, bob)
    assert {o["order_id"] for o in json_out(invoke(bob, "orders", "--json"))} == set(again)
    r = invoke(bob, "plan", "adopt", pid[:10])
    assert r.exit_code == 7 and "coordinator" in r.stderr
    assert invoke(home, "plan", "withdraw", pid[:10], "--reason", "new readings").exit_code == 0
    assert json_out(invoke(home, "plan", "list", "--json"))["adopted"] == []


def test_tampered_or_foreign_plan_files_are_refused(
    home: Path, invoke: Invoke, plan_file: Path, tmp_path: Path
) -> None:
    plan = json.loads(plan_file.read_text())
    plan["sites"][0]["start_litres"] = 999999
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(plan))
    r = invoke(home, "plan", "propose", str(bad))
    assert r.exit_code == 5 and "changed after it was made" in r.stderr
    (tmp_path / "junk.json").write_text("[1,2")
    assert invoke(home, "plan", "propose", str(tmp_path / "junk.json")).exit_code == 5
    with Store.open(home) as s:
        assert not s.entries(kind_prefix="plan.")


def test_fuel_transfers_and_conflicts_via_cli(home: Path, invoke: Invoke) -> None:
    assert invoke(home, "fuel", "report", "depot", "--litres", "9000").exit_code == 0
    assert (
        invoke(home, "fuel", "report", "clinic", "--litres", "100", "--tank", "day").exit_code == 0
    )
    r = invoke(
        home,
        "fuel",
        "transfer",
        "plan",
        "--from",
        "depot",
        "--to",
        "clinic",
        "--litres",
        "800",
        "--tank",
        "day",
    )
    assert r.exit_code == 0, r.output
    tid = json_out(invoke(home, "fuel", "status", "--json"))["transfers"][0]["id"]
    assert invoke(home, "fuel", "transfer", "dispatch", tid[:8]).exit_code == 0
    assert invoke(home, "fuel", "transfer", "receive", tid[:8], "--litres", "790").exit_code == 0
    r = invoke(home, "fuel", "transfer", "cancel", tid[:8], "--reason", "late")
    assert r.exit_code == 5 and "received" in r.stderr
    sites = {s["site"]: s for s in json_out(invoke(home, "fuel", "status", "--json"))["sites"]}
    assert sites["depot"]["inventory_litres"] == 8200 and sites["clinic"]["inventory_litres"] == 890
    assert invoke(home, "fuel", "burn", "clinic", "--litres-per-hour", "12").exit_code == 0
    r = invoke(home, "fuel", "report", "x", "--litres", "-5")
    assert r.exit_code == 5 and "out of range (0 to 1e+07 L)" in r.stderr
    # nan, inf and -1 alike: a bad number is exit 5 (#24 hostile review: inf was exit 2)
    for bad in ("nan", "inf", "-1", "1e30"):
        r = invoke(home, "fuel", "burn", "clinic", "--litres-per-hour", bad)
        assert r.exit_code == 5 and "--litres-per-hour" in r.stderr, bad
    r = invoke(home, "fuel", "transfer", "receive", "ffff", "--litres", "1")
    assert r.exit_code == 5 and "no single transfer" in r.stderr
    assert "clinic" in invoke(home, "fuel", "status").output


def test_orders_read_as_sentences_in_the_table_the_json_and_playbook_facts(
    home: Path, invoke: Invoke, plan_file: Path
) -> None:
    from ledger.playbooks.facts import LedgerFacts

    r = invoke(home, "plan", "propose", str(plan_file))
    assert r.exit_code == 0, r.output + r.stderr
    pid = json_out(invoke(home, "plan", "list", "--json"))["proposals"][0]["id"]
    assert invoke(home, "plan", "adopt", pid[:10]).exit_code == 0
    orders = json_out(invoke(home, "orders", "--json"))
    sends = [o for o in orders if o["kind"] == "send"]
    assert sends, "the three-bases plan moves fuel"
    for o in sends:  # structured: what, from where, to where, how much, by when
        assert o["from_tank"].startswith("depot/") and "/" in o["to_tank"]
        assert o["litres"] > 0 and o["depart_at"] and o["arrive_at"]
        assert o["text"].startswith(f"Send {o['litres']:,.0f} L of diesel from {o['from_tank']}")
        assert f"to {o['to_tank']}" in o["text"] and f"arrive by {o['arrive_at']}" in o["text"]
        assert "None" not in o["text"]
    for o in orders:
        assert o["text"].endswith(".") and "None" not in o["text"], o["text"]
        assert "=" not in o["text"], o["text"]  # no raw "limit: community=..." dumps
    table = invoke(home, "orders", "--site", "depot").output
    assert "Send" in table and "from None to None" not in table
    # playbook plan facts list the site's orders in the same words
    with Store.open(home) as store:
        said = LedgerFacts(store).orders_for("alpha")
    assert said == [
        o["text"]
        for o in sorted(
            (o for o in orders if o["site"] == "alpha"),
            key=lambda o: (o["from_period"], o["order_id"]),
        )
    ]


def test_a_partial_plan_is_proposed_only_with_allow_partial(
    home: Path, invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import plurictl.commands.plan as plan_cmd
    from planner.api import load_scenario, solve
    from planner.result import PlanResult

    real = solve(load_scenario(SCENARIO), periods=4, validate=False)
    partial = PlanResult(
        "partial", "time limit reached during stage 'fuel kept'", real.data, real.timings
    )
    monkeypatch.setattr(plan_cmd, "run_plan", lambda *a, **k: partial)
    r = invoke(home, "plan", "run", str(SCENARIO), "--propose", "--no-ac")
    assert r.exit_code == 11 and "Not proposed" in r.stderr and "--allow-partial" in r.stderr
    assert json_out(invoke(home, "plan", "list", "--json"))["proposals"] == []
    r = invoke(home, "plan", "run", str(SCENARIO), "--propose", "--allow-partial", "--no-ac")
    assert r.exit_code == 11 and "plan proposed" in r.stderr
    proposals = json_out(invoke(home, "plan", "list", "--json"))["proposals"]
    assert len(proposals) == 1 and proposals[0]["status"] == "partial"
    # the same rule for a partial plan file proposed later
    partial_file = tmp_path / "partial.json"
    other = PlanResult("partial", "time limit reached during stage 'fuel kept'", real.data)
    body = other.to_json()
    body["scenario"] = dict(body["scenario"], name="another look")
    from planner.api import plan_hash

    body["plan_hash"] = plan_hash(body)
    partial_file.write_text(json.dumps(body))
    r = invoke(home, "plan", "propose", str(partial_file))
    assert r.exit_code == 11 and "partial" in r.stderr and "--allow-partial" in r.stderr
    r = invoke(home, "plan", "propose", str(partial_file), "--allow-partial")
    assert r.exit_code == 0, r.output + r.stderr


def test_fuel_hours_say_why_they_are_unknown(home: Path, invoke: Invoke) -> None:
    """#24 hostile review F9: a declared burn rate of 0 L/h was blamed on a missing report."""
    from ledger.playbooks.checks import evaluate_fact as evaluate_check
    from ledger.playbooks.facts import LedgerFacts
    from ledger.playbooks.model import Check

    with Store.open(home) as store:
        facts = LedgerFacts(store)
        check = Check(type="fuel_hours_at_least", site="clinic", hours=96)
        assert "no fuel report from clinic" in evaluate_check(check, None, facts)[1]
    assert invoke(home, "fuel", "report", "clinic", "--litres", "1000").exit_code == 0
    with Store.open(home) as store:
        said = evaluate_check(check, None, LedgerFacts(store))[1]
    assert "no burn rate declared" in said and "no fuel report" not in said
    assert invoke(home, "fuel", "burn", "clinic", "--litres-per-hour", "0").exit_code == 0
    with Store.open(home) as store:
        status, said = evaluate_check(check, None, LedgerFacts(store))
    assert status == "unknown" and "burn rate declared is 0 L/h" in said
    assert invoke(home, "fuel", "burn", "clinic", "--litres-per-hour", "10").exit_code == 0
    with Store.open(home) as store:
        status, said = evaluate_check(check, None, LedgerFacts(store))
    assert status == "pass" and "lasts 100.0 h" in said


def test_a_blocked_step_shows_its_passing_checks_too(
    home: Path, invoke: Invoke, tmp_path: Path
) -> None:
    """#24 hostile review F10: a blocked step listed only its failing checks."""
    assert invoke(home, "fuel", "report", "clinic", "--litres", "500").exit_code == 0
    pb = tmp_path / "two.toml"
    pb.write_text(
        'id = "two"\ntitle = "Two checks"\nversion = "1"\nroles = ["coordinator"]\n\n'
        '[[steps]]\nid = "go"\ntitle = "Go"\nrole = "coordinator"\ninstructions = "Go."\n'
        'checks = [{ type = "fuel_at_least", site = "clinic", litres = 100 }, { type = "plan_adopted" }]\n'
    )
    run = json_out(invoke(home, "playbook", "start", str(pb), "--json"))["run"]["id"]
    table = " ".join(invoke(home, "playbook", "status", run[:8]).stdout.split())
    assert "check #0 pass" in table and "check #1 fail" in table
