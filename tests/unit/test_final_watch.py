"""The drill checker's FINAL watch: a FINAL result is its sheet, outcome, winner, counts
and counted ballots; a change in any of them is a violation (the winner alone was not
enough: a FINAL result whose numbers changed under the same winner passed)."""

from __future__ import annotations

from plurictl.drills.checker import FinalWatch


def test_same_winner_other_counts_is_a_change() -> None:
    watch = FinalWatch()
    watch.record("bob", "v1", "FINAL", ("s1", "winner", "b", '{"a": 1, "b": 2}', "c1"), "step 3")
    watch.record("bob", "v1", "FINAL", ("s1", "winner", "b", '{"a": 1, "b": 2}', "c1"), "step 4")
    assert watch.invariant().ok
    watch.record("bob", "v1", "FINAL", ("s1", "winner", "b", '{"a": 1, "b": 3}', "c2"), "step 5")
    inv = watch.invariant()
    assert not inv.ok and "changed vote v1" in inv.detail
