"""Playbook run view: two-person rule, prerequisites, holds, abort/resume, fail/retry, checks."""

from __future__ import annotations

import pytest

from ledger.errors import TrustError
from ledger.playbooks import view, writer
from ledger.playbooks.checks import StaticFacts
from tests.playbook_helpers import Runner

MIN = 60_000


def codes(record: view.Record) -> set[str]:
    return {p.code for p in record.problems}


def flags(record: view.Record) -> set[str]:
    return {f.code for f in record.flags}


def finish_a(r: Runner) -> None:
    r.act("bob", "sign", "a")
    r.act("carol", "sign", "a")


# --- two-person rule ---------------------------------------------------------------------


def test_one_signer_twice_counts_once() -> None:
    r = Runner()
    first = r.act("bob", "sign", "a")
    second = r.raw("bob", "sign", seen=[first], step="a")  # the writer would refuse it
    run = r.run()
    a = run.steps["a"]
    assert a.state == view.READY and len(a.signers) == 1
    assert r.record(first).counted and not r.record(second).counted
    assert codes(r.record(second)) == {"duplicate"}
    with pytest.raises(writer.PlaybookRefused, match="already signed"):
        r.act("bob", "sign", "a")


def test_signer_without_the_role_does_not_count() -> None:
    r = Runner()
    r.act("bob", "sign", "a")
    by_observer = r.raw("olga", "sign", step="a")
    by_coordinator = r.raw("alice", "sign", step="a")  # alice is coordinator AND operator
    run = r.run()
    assert "no_role" in codes(r.record(by_observer))
    assert r.record(by_coordinator).counted
    assert run.steps["a"].state == view.DONE
    with pytest.raises(TrustError, match="operator"):
        r.act("olga", "sign", "b")


def test_rotated_key_is_the_same_member() -> None:
    r = Runner()
    r.act("bob", "sign", "a")
    rot = r.mesh.change(
        "alice",
        {
            "op": "rotate",
            "key": r.mesh.key("bob").hex(),
            "successor": r.mesh.key("bob2").hex(),
            "at": 1,
        },
    )
    assert rot is not None
    again = r.raw("bob2", "sign", seen=[r.mesh.entries[-2]], step="a")
    run = r.run()
    assert run.steps["a"].state == view.READY and len(run.steps["a"].signers) == 1
    assert codes(r.record(again)) == {"duplicate"}


def test_revoked_signer_after_revocation_does_not_count() -> None:
    r = Runner()
    r.mesh.revoke("carol", at=0)
    late = r.raw("carol", "sign", step="a")
    assert "no_role" in codes(r.record(late))


# --- prerequisites -------------------------------------------------------------------------


def test_premature_sign_off_is_flagged_and_not_counted() -> None:
    r = Runner(facts=StaticFacts(fuel={"north": 900}))
    early = r.raw("bob", "sign", step="c", checks=[{"index": 0, "status": "pass"}])
    assert "premature" in codes(r.record(early))
    finish_a(r)
    r.act("dave", "sign", "b")
    # Everything is done now, but the early sign-off never saw it: still not counted.
    run = r.run()
    assert not r.record(early).counted
    assert run.steps["c"].signers == []
    with pytest.raises(writer.PlaybookRefused, match="hold"):
        r.act("bob", "sign", "c")  # 'a' was just completed: its 10 min hold runs
    r.mesh.tick(11 * MIN)
    r.act("bob", "sign", "c", note="gen 1 on the bus")
    r.act("carol", "sign", "c")
    run = r.run()
    assert run.steps["c"].state == view.DONE and run.state == view.COMPLETE
    assert [s.name for s in run.steps["c"].signers] == ["bob", "carol"]


def test_writer_refuses_blocked_steps_naming_what_is_missing() -> None:
    r = Runner(facts=StaticFacts(fuel={"north": 900}))
    with pytest.raises(writer.PlaybookRefused, match=r"waiting for step 'a'.*waiting for step 'b'"):
        r.act("bob", "sign", "c")
    with pytest.raises(writer.PlaybookRefused, match="no step 'z'"):
        r.act("bob", "sign", "z")


# --- holds ---------------------------------------------------------------------------------


def test_hold_counts_down_on_display_only() -> None:
    r = Runner(facts=StaticFacts(fuel={"north": 900}))
    r.act("dave", "sign", "b")
    finish_a(r)
    run = r.run()
    done_ms = run.steps["a"].completed_hlc >> 16  # type: ignore[operator]
    assert run.steps["a"].hold_until_ms == done_ms + 10 * MIN
    assert run.steps["c"].state == view.READY  # the fold itself knows no clock
    assert run.display("c", done_ms + 4 * MIN) == (view.HOLDING, 360)
    assert run.display("c", done_ms + 10 * MIN) == (view.READY, None)
    assert run.display("c", None) == (view.READY, None)
    assert run.to_json(done_ms + 9 * MIN)["steps"][2]["state"] == view.HOLDING


def test_sign_off_during_hold_counts_and_is_flagged() -> None:
    r = Runner(facts=StaticFacts(fuel={"north": 900}))
    r.act("dave", "sign", "b")
    finish_a(r)
    declared = r.act("bob", "sign", "c", early=True)
    # A modified client that does not declare it: the HLC gap gives it away.
    undeclared = r.raw(
        "carol",
        "sign",
        seen=[declared],
        step="c",
        checks=[{"index": 0, "status": "pass"}],
    )
    run = r.run()
    assert r.record(declared).counted and "during_hold" in flags(r.record(declared))
    assert r.record(undeclared).counted and "during_hold" in flags(r.record(undeclared))
    assert run.steps["c"].state == view.DONE
    r2 = Runner(facts=StaticFacts(fuel={"north": 900}))
    r2.act("dave", "sign", "b")
    finish_a(r2)
    r2.mesh.tick(11 * MIN)
    assert "during_hold" not in flags(r2.record(r2.act("bob", "sign", "c")))


# --- abort and resume ----------------------------------------------------------------------


def test_abort_blocks_and_resume_continues() -> None:
    r = Runner()
    r.act("bob", "sign", "a")
    abort = r.act("dave", "abort", "smoke at genset 1")  # operators may stop the work
    run = r.run()
    assert run.state == view.ABORTED
    assert run.steps["b"].state == view.BLOCKED and "aborted" in run.steps["b"].blocked_by[0]
    with pytest.raises(writer.PlaybookRefused, match="aborted"):
        r.act("carol", "sign", "a")
    after = r.raw("carol", "sign", seen=[abort], step="a")
    assert "after_abort" in codes(r.record(after))
    with pytest.raises(TrustError, match="coordinator"):
        r.act("bob", "resume", "all clear")
    r.act("alice", "resume", "fire service: false alarm")
    run = r.run()
    assert run.state == view.RUNNING and not run.open_aborts
    assert not r.record(after).counted  # it saw the abort and no resume: never counts
    r.act("carol", "sign", "a")
    assert r.run().steps["a"].state == view.DONE
    with pytest.raises(writer.PlaybookRefused, match="not aborted"):
        r.act("alice", "resume", "again")


def test_sign_off_concurrent_with_abort_counts_with_a_flag() -> None:
    r = Runner()
    before = list(r.mesh.entries)
    abort = r.act("alice", "abort", "line crew reports a backfeed", visible=before)
    unaware = r.act("bob", "sign", "b", visible=before)  # other side of a partition
    rec = r.record(unaware)
    assert rec.counted and "concurrent_abort" in flags(rec)
    assert r.run().state == view.ABORTED
    assert abort.id.hex()[:12] in rec.flags[0].text


# --- fail, retry, skip -----------------------------------------------------------------------


def test_fail_voids_the_attempt_and_retry_starts_over() -> None:
    r = Runner()
    first = r.act("bob", "sign", "a")
    r.act("carol", "fail", "a", "breaker 3 will not open")
    run = r.run()
    assert run.steps["a"].state == view.FAILED
    assert "voided_by_fail" in codes(r.record(first))
    with pytest.raises(writer.PlaybookRefused, match="failed"):
        r.act("dave", "sign", "a")
    with pytest.raises(TrustError):
        r.act("bob", "resume", "fixed", "a")
    r.act("alice", "resume", "breaker 3 racked out by hand", "a")
    assert r.run().steps["a"].state == view.READY
    r.act("bob", "sign", "a")
    r.act("carol", "sign", "a")
    run = r.run()
    assert run.steps["a"].state == view.DONE
    assert not r.record(first).counted


def test_skip_is_coordinator_only_and_satisfies_prerequisites() -> None:
    r = Runner()
    with pytest.raises(TrustError, match="coordinator"):
        r.act("bob", "skip", "b", "not needed")
    with pytest.raises(Exception, match="reason"):
        r.act("alice", "skip", "b", "  ")
    r.act("alice", "skip", "b", "genset walked down at shift change")
    late = r.raw("bob", "sign", seen=[r.mesh.entries[-1]], step="b")
    run = r.run()
    assert run.steps["b"].state == view.SKIPPED
    assert "step_skipped" in codes(r.record(late))
    finish_a(r)
    assert "waiting for step" not in " ".join(r.run().steps["c"].blocked_by)


# --- checks -----------------------------------------------------------------------------------


def test_unknown_fact_blocks_until_waived() -> None:
    r = Runner()  # NoFacts: fuel is unknown
    r.act("dave", "sign", "b")
    finish_a(r)
    r.mesh.tick(11 * MIN)
    c = r.run().steps["c"]
    assert c.state == view.BLOCKED
    assert c.checks[0].status == "unknown" and "unknown" in c.blocked_by[0]
    assert c.checks[1].status == "attest" and not c.checks[1].blocking
    with pytest.raises(writer.PlaybookRefused, match="unknown") as info:
        r.act("bob", "sign", "c")
    assert "playbook waive" in str(info.value.hint)
    with pytest.raises(writer.PlaybookRefused, match="only fuel and plan"):
        r.act("alice", "waive", "c", 1, "no")
    r.act("alice", "waive", "c", 0, "radio: 3,000 L in the day tank")
    c = r.run().steps["c"]
    assert c.state == view.READY and c.checks[0].status == "waived"
    signed = r.act("bob", "sign", "c")
    assert r.record(signed).counted
    assert r.record(signed).body["checks"][0]["status"] == "waived"


def test_failing_fact_blocks_and_unrecorded_check_is_not_counted() -> None:
    r = Runner(facts=StaticFacts(fuel={"north": 100}))
    r.act("dave", "sign", "b")
    finish_a(r)
    r.mesh.tick(11 * MIN)
    c = r.run().steps["c"]
    assert c.checks[0].status == "fail" and "100 L" in c.checks[0].detail
    sneaky = r.raw("bob", "sign", seen=r.mesh.entries[-3:], step="c")
    assert "check_not_passed" in codes(r.record(sneaky))
    r.facts = StaticFacts(fuel={"north": 2000})
    # The sign-off's own record decides, not today's facts: still not counted.
    assert not r.record(sneaky).counted
    assert r.run().steps["c"].state == view.READY


# --- runs that do not count -------------------------------------------------------------------


def test_invalid_runs_and_orphans_are_reported() -> None:
    r = Runner()
    good = r.run_entry.body
    by_operator = r.mesh.write("bob", view.RUN, dict(good))
    tampered = r.mesh.write("alice", view.RUN, {**good, "hash": "0" * 64})
    orphan = r.mesh.write("bob", view.SIGN, {"run": "ab" * 32, "seen": [], "step": "a"})
    child = r.mesh.write("bob", view.SIGN, {"run": tampered.id.hex(), "seen": [], "step": "a"})
    state = r.state()
    assert set(state.runs) == {r.run_id}
    reasons = {i.id: i.reason for i in state.ignored}
    assert "coordinator" in reasons[by_operator.id]
    assert "hash" in reasons[tampered.id]
    assert "invalid" in reasons[child.id]
    assert state.waiting == [orphan.id]


def test_reference_to_an_entry_not_yet_arrived_waits() -> None:
    r = Runner()
    first = r.act("bob", "sign", "a")
    second = r.act("carol", "sign", "a")
    without_first = [e for e in r.mesh.entries if e.id != first.id]
    run = r.run(without_first)
    assert run.waiting == [second.id]
    waiting = run.to_json()["records"][0]
    assert waiting["waiting"] and not waiting["took_effect"] and waiting["seen"] == [first.id.hex()]
    assert run.steps["a"].signers == []
    assert len(r.run().steps["a"].signers) == 2


def test_malformed_follow_ups_take_no_effect() -> None:
    r = Runner()
    bad_step = r.raw("bob", "sign", step="nope")
    no_seen_needed = r.raw("bob", "sign", step="a", seen=[])
    seen_not_list = r.mesh.write(
        "dave", view.SIGN, {"run": r.run_id.hex(), "seen": "x", "step": "a"}
    )
    no_reason = r.raw("alice", "skip", step="b")
    bad_ref = r.mesh.write("carol", view.SIGN, {"run": r.run_id.hex(), "seen": ["zz"], "step": "a"})
    assert "malformed" in codes(r.record(bad_step))
    assert r.record(no_seen_needed).counted
    assert "malformed" in codes(r.record(seen_not_list))
    assert "malformed" in codes(r.record(no_reason))
    assert "malformed" in codes(r.record(bad_ref))
    assert r.run().steps["b"].state == view.READY
