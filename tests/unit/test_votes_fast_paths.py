"""Fast paths of the 100,000-ballot fold (issue 14) answer exactly as the slow ones."""

from __future__ import annotations

import gc

from ledger.stored import gc_paused
from ledger.votes.bodies import Option, check_choice, choice_checker
from ledger.votes.result import sheet_problem

OPTIONS = (Option("a", "A"), Option("b", "B"))


class Marker:
    """A gc-tracked object we can find among the collector's generations."""


def test_gc_paused_leaves_what_it_built_in_the_oldest_generation() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        built = [Marker() for _ in range(3)]
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0  # promoted, not left frozen
    young = {id(o) for o in gc.get_objects(0)} | {id(o) for o in gc.get_objects(1)}
    assert not young & {id(o) for o in built}
    assert {id(o) for o in built} <= {id(o) for o in gc.get_objects(2)}


def test_gc_paused_keeps_what_others_froze() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with gc_paused():
            Marker()
        assert gc.get_freeze_count() == frozen and gc.isenabled()
    finally:
        gc.unfreeze()


def test_gc_paused_leaves_the_collector_off_when_it_was_off() -> None:
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_quadratic_cache_never_answers_for_an_equal_but_different_vote() -> None:
    check = choice_checker("quadratic", OPTIONS, 9)
    choices = [
        {"a": 1},
        {"a": True},
        {"a": 1.0},
        {"a": 1},
        {"a": 3, "b": 1},
        {"b": 1, "a": 3},
        {"a": 3, "b": 1},
        {"z": 1},
        {"a": [1]},
        {"a": 2, "b": 2},
        {"a": 2, "b": 2},
    ]
    for choice in choices:  # the same answers as the uncached check, in any repetition
        assert check(choice) == check_choice("quadratic", OPTIONS, 9, choice), choice
    assert check({"a": True})[1] == "votes for a must be a whole number"
    assert check({"a": 1})[1] is None


def test_sheet_order_check() -> None:
    ids = [bytes([i]) * 32 for i in (1, 2, 3)]
    assert sheet_problem([ids[0], ids[2], ids[1]], 3, b"") == (
        "ballot ids are not in ascending order without repeats"
    )
    assert sheet_problem([ids[0], ids[0]], 2, b"") == (
        "ballot ids are not in ascending order without repeats"
    )
    assert sheet_problem(ids, 3, b"\0" * 32) == "the Merkle root does not match the listed ballots"
