"""Playbooks across a partition: both sides sign, heal, and every laptop shows the same status."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.entry import Entry
from ledger.errors import InvalidInput, TrustError
from ledger.playbooks import view
from ledger.playbooks.checks import StaticFacts
from tests.playbook_helpers import Runner

MIN = 60_000
FACTS = StaticFacts(fuel={"north": 900})


def snapshot(r: Runner, entries: Sequence[Entry], now_ms: int) -> str:
    state = view.fold(entries, r.mesh.roster(), FACTS)
    return json.dumps(state.to_json(now_ms), sort_keys=True)


def partition() -> tuple[Runner, list[Entry], list[Entry], Entry]:
    """alice+bob on one side, carol+dave on the other, each signing what they can see."""
    r = Runner(facts=FACTS)
    left, right = list(r.mesh.entries), list(r.mesh.entries)

    def on(side: list[Entry], who: str, *args: object) -> Entry:
        e = r.act(who, *args, visible=side)  # type: ignore[arg-type]
        side.append(e)
        return e

    on(left, "bob", "sign", "a")
    on(right, "carol", "sign", "a")
    on(right, "dave", "sign", "b")
    on(left, "alice", "sign", "b")  # alice is an operator too: b gets two signers
    # bob cannot see 'a' complete on his side; a modified client signs 'c' anyway.
    heads = r.run(left).heads
    premature = r.mesh.write(
        "bob",
        view.SIGN,
        {
            "run": r.run_id.hex(),
            "seen": [h.hex() for h in heads],
            "step": "c",
            "checks": [{"index": 0, "status": "pass"}],
        },
    )
    left.append(premature)
    return r, left, right, premature


def test_two_operators_sign_on_both_sides_and_converge() -> None:
    r, left, right, premature = partition()
    # Before heal each side sees only its half.
    assert r.run(left).steps["a"].state == view.READY
    assert r.run(right).steps["a"].state == view.READY
    assert r.run(right).steps["b"].state == view.DONE
    # Heal: each side receives the other's entries (in opposite orders).
    healed_left = left + [e for e in reversed(right) if e not in left]
    healed_right = right + [e for e in left if e not in right]
    now = r.now_ms()
    assert snapshot(r, healed_left, now) == snapshot(r, healed_right, now)
    run = r.run(healed_left)
    assert run.steps["a"].state == view.DONE
    assert {s.name for s in run.steps["a"].signers} == {"bob", "carol"}
    assert run.steps["b"].state == view.DONE
    rec = next(x for x in run.records if x.id == premature.id)
    assert not rec.counted and rec.problems[0].code == "premature"
    # After heal, and after the hold, bob signs 'c' again and it counts.
    r.mesh.tick(11 * MIN)
    again = r.act("bob", "sign", "c")
    r.act("dave", "sign", "c")
    run = r.run()
    assert run.state == view.COMPLETE
    assert again.id in {s.id for s in run.steps["c"].signers}


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32), dups=st.integers(0, 6), cut=st.floats(0, 1))
def test_same_status_for_every_arrival_order(seed: int, dups: int, cut: float) -> None:
    r, _, _, _ = partition()
    r.mesh.tick(11 * MIN)
    r.act("bob", "sign", "c")
    everything = list(r.mesh.entries)
    now = r.now_ms()
    expected = snapshot(r, everything, now)
    rng = random.Random(seed)
    arrival = everything + rng.sample(everything, dups)
    rng.shuffle(arrival)
    assert snapshot(r, arrival, now) == expected
    # Partial delivery, then the rest: same end state.
    k = int(len(arrival) * cut)
    snapshot(r, arrival[:k], now)
    assert snapshot(r, arrival[:k] + arrival[k:], now) == expected


PEOPLE = ["alice", "bob", "carol", "dave", "olga"]
STEPS = ["a", "b", "c"]
ACTION = st.tuples(
    st.sampled_from(["left", "right", "heal"]),
    st.sampled_from(PEOPLE),
    st.sampled_from(["sign", "sign", "raw", "raw", "fail", "skip", "abort", "resume", "retry"]),
    st.sampled_from(STEPS),
)


def _args(action: str, step: str) -> tuple[str, tuple[object, ...]]:
    if action == "sign":
        return "sign", (step,)
    if action in ("fail", "skip"):
        return action, (step, f"{action} {step}")
    if action == "abort":
        return "abort", ("stop",)
    if action == "resume":
        return "resume", ("go on",)
    return "resume", ("retry", step)


@settings(max_examples=30, deadline=None)
@given(script=st.lists(ACTION, max_size=14), seed=st.integers(0, 2**32))
def test_random_partitioned_runs_converge(
    script: list[tuple[str, str, str, str]], seed: int
) -> None:
    r = Runner(facts=FACTS)
    sides = {"left": list(r.mesh.entries), "right": list(r.mesh.entries)}
    for where, who, action, step in script:
        if where == "heal":
            merged = sides["left"] + [e for e in sides["right"] if e not in sides["left"]]
            sides = {"left": list(merged), "right": list(merged)}
            continue
        if action == "raw":  # a modified client: no pre-checks, honest about what it saw
            heads = r.run(sides[where]).heads
            body = {"run": r.run_id.hex(), "seen": [h.hex() for h in heads], "step": step}
            body["checks"] = [{"index": 0, "status": "pass"}]
            sides[where].append(r.mesh.write(who, view.SIGN, body))
            continue
        name, args = _args(action, step)
        try:
            e = (
                r.act(who, name, *args, visible=sides[where], early=True)
                if name == "sign"
                else r.act(who, name, *args, visible=sides[where])
            )
        except (InvalidInput, TrustError):
            continue
        sides[where].append(e)
        r.mesh.tick(3 * MIN)
    everything = list(r.mesh.entries)
    now = r.now_ms()
    expected = snapshot(r, everything, now)
    rng = random.Random(seed)
    for _ in range(3):
        order = list(everything)
        rng.shuffle(order)
        assert snapshot(r, order, now) == expected
    run = r.run()
    for st_ in run.steps.values():
        members = [s.member for s in st_.signers]
        assert len(members) == len(set(members))
        assert all(not s.problems for s in st_.signers)
        if st_.state == view.DONE:
            assert len(members) >= st_.needed
    for rec in run.records:
        assert rec.counted == (
            rec.kind == view.SIGN
            and rec.id in {s.id for st_ in run.steps.values() for s in st_.signers}
        )
