"""Counting methods against hand-worked examples (weights, ties, IRV rounds, quadratic)."""

from __future__ import annotations

from ledger.votes import tally as vote_tally
from ledger.votes.bodies import Option, check_choice, quadratic_swing

CID = bytes(range(32))


def many(n: int, choice: object, weight: int = 1) -> list[tuple[int, object]]:
    return [(weight, choice)] * n


def test_plurality_weights_decide() -> None:
    ballots = many(3, ["a"]) + many(1, ["b"], weight=5)
    t = vote_tally.count("plurality", ["a", "b"], ballots, CID)
    assert t.counts == {"a": 3, "b": 5}
    assert (t.outcome, t.winner, t.margin) == ("winner", "b", 2)


def test_plurality_tie_has_no_winner() -> None:
    t = vote_tally.count("plurality", ["a", "b", "c"], [(1, ["a"]), (1, ["b"])], CID)
    assert t.outcome == "tie" and t.winner is None and t.tied == ["a", "b"]


def test_blank_only_is_no_votes() -> None:
    t = vote_tally.count("plurality", ["a", "b"], [], CID)
    assert t.outcome == "no votes" and t.winner is None


def test_approval_counts_every_approved_option() -> None:
    t = vote_tally.count(
        "approval", ["a", "b", "c"], [(1, ["a", "b"]), (1, ["b"]), (1, ["b", "c"])], CID
    )
    assert t.counts == {"a": 1, "b": 3, "c": 1}
    assert t.winner == "b" and t.margin == 2
    tie = vote_tally.count(
        "approval", ["a", "b", "c"], [(1, ["a", "b"]), (1, ["b"]), (1, ["a", "c"])], CID
    )
    assert tie.outcome == "tie" and tie.tied == ["a", "b"]


def test_irv_with_elimination_rounds() -> None:
    """15 voters, 4 options. Worked by hand:

    round 1: a 5, b 4, c 4, d 2  -> nobody above 7.5, d out (its 2 go to c)
    round 2: a 5, b 4, c 6       -> b out (its 4 go to c, their next choice)
    round 3: a 5, c 10           -> c wins with 10 of 15
    """
    ballots = (
        many(5, ["a", "b", "c"])
        + many(4, ["b", "c", "a"])
        + many(3, ["c", "b", "a"])
        + many(2, ["d", "c", "b"])
        + many(1, ["c"])
    )
    t = vote_tally.count("ranked-choice", ["a", "b", "c", "d"], ballots, CID)
    assert [r.counts for r in t.rounds] == [
        {"a": 5, "b": 4, "c": 4, "d": 2},
        {"a": 5, "b": 4, "c": 6},
        {"a": 5, "c": 10},
    ]
    assert [r.eliminated for r in t.rounds] == [["d"], ["b"], []]
    assert t.winner == "c" and t.margin == 5
    assert t.first_preferences == 4  # c's first-round count
    assert t.counts == {"a": 5, "b": 4, "c": 4, "d": 2}  # first preferences


def test_irv_exhausted_ballots_leave_the_count() -> None:
    """a 4, b 3, c 2 (c voters ranked only c). c out: 2 exhausted; a 4 of 7 wins."""
    ballots = many(4, ["a"]) + many(3, ["b", "a"]) + many(2, ["c"])
    t = vote_tally.count("ranked-choice", ["a", "b", "c"], ballots, CID)
    assert t.rounds[1].counts == {"a": 4, "b": 3} and t.rounds[1].exhausted == 2
    assert t.winner == "a"


def test_irv_elimination_tie_broken_backwards() -> None:
    """round 1: a 7, b 5, c 4, d 1 -> d out (to c)
    round 2: a 7, b 5, c 5 -> b and c tie for last; in round 1 c had fewer: c out
    round 3: a 8, b 9 -> b wins (9 of 17)."""
    ballots = many(7, ["a"]) + many(5, ["b"]) + many(4, ["c", "b"]) + many(1, ["d", "c", "a"])
    t = vote_tally.count("ranked-choice", ["a", "b", "c", "d"], ballots, CID)
    assert [r.eliminated for r in t.rounds] == [["d"], ["c"], []]
    assert "fewer votes in round 1" in (t.rounds[1].tie_break or "")
    assert t.rounds[2].counts == {"a": 8, "b": 9}
    assert t.winner == "b"


def test_irv_tie_in_every_round_needs_no_lot_when_it_cannot_matter() -> None:
    """b and c tie in the only round there is; whichever goes, a wins 2 of 3."""
    ballots = many(2, ["a"]) + many(1, ["b"]) + many(1, ["c"])
    t = vote_tally.count("ranked-choice", ["a", "b", "c"], ballots, CID)
    assert (t.outcome, t.winner) == ("winner", "a")
    assert "no lot needed" in (t.rounds[0].tie_break or "")
    assert not hasattr(vote_tally, "lot")  # no lot anywhere in the count


def test_irv_final_tie_and_all_tied() -> None:
    t = vote_tally.count("ranked-choice", ["a", "b"], many(2, ["a"]) + many(2, ["b"]), CID)
    assert t.outcome == "tie" and t.tied == ["a", "b"]
    t3 = vote_tally.count(
        "ranked-choice", ["a", "b", "c"], [(1, ["a"]), (1, ["b"]), (1, ["c"])], CID
    )
    # three ways, three winners: the result names the first two it finds
    assert t3.outcome == "tie" and t3.tied == ["a", "c"] and len(t3.rounds) == 1


def test_irv_weighted() -> None:
    """Weights move first preferences: a (w3) beats b+c (w1 each) in round 1."""
    t = vote_tally.count(
        "ranked-choice", ["a", "b", "c"], [(3, ["a"]), (1, ["b", "c"]), (1, ["c", "b"])], CID
    )
    assert t.winner == "a" and len(t.rounds) == 1 and t.first_preferences == 3


def test_quadratic_counts_votes_not_credits() -> None:
    """Budget 9: {a:3} costs 9; {b:2, a:-2} costs 8; {b:1} costs 1. a = 3-2, b = 2+1."""
    ballots = [(1, {"a": 3}), (1, {"b": 2, "a": -2}), (1, {"b": 1})]
    t = vote_tally.count("quadratic", ["a", "b"], ballots, CID)
    assert t.counts == {"a": 1, "b": 3} and t.winner == "b" and t.margin == 2
    weighted = vote_tally.count("quadratic", ["a", "b"], [(4, {"a": 1}), (1, {"b": 3})], CID)
    assert weighted.counts == {"a": 4, "b": 3}


def test_quadratic_budget_and_validity() -> None:
    opts = (Option("a", "A"), Option("b", "B"))
    assert check_choice("quadratic", opts, 9, {"a": 3})[1] is None
    _normal, why = check_choice("quadratic", opts, 9, {"a": 3, "b": 1})
    assert why is not None and "over budget" in why and "10" in why
    assert check_choice("quadratic", opts, 9, {"z": 1})[1] == "unknown option 'z'"
    assert check_choice("quadratic", opts, 9, ["a"])[1] is not None
    assert check_choice("quadratic", opts, 9, {"a": 0, "b": -3})[0] == {"b": -3}


def test_quadratic_swing_by_hand() -> None:
    # 9 credits: 2 for the runner-up and 2 against the winner (4+4=8) move the margin by 4
    assert quadratic_swing(9) == 4
    assert quadratic_swing(100) == 14  # 7 and 7 (98 credits)
    assert quadratic_swing(1) == 1


def test_choice_rules_per_method() -> None:
    opts = (Option("a", "A"), Option("b", "B"), Option("c", "C"))
    assert check_choice("plurality", opts, None, ["a", "b"])[1] == "plurality: choose one option"
    assert check_choice("plurality", opts, None, [])[1] is None  # blank
    assert check_choice("approval", opts, None, ["a", "a"])[1] == "an option is named twice"
    assert check_choice("ranked-choice", opts, None, ["c", "a"]) == (["c", "a"], None)
    assert check_choice("ranked-choice", opts, None, "a")[1] is not None
    assert check_choice("approval", opts, None, ["x"])[1] == "unknown option 'x'"


def test_a_lot_never_picks_the_irv_winner() -> None:
    """a and b tie for last in every round; eliminating a elects b, eliminating b elects c."""
    from ledger.votes import tally as vote_tally

    ballots = [(1, ["a", "b"])] * 3 + [(1, ["b", "c"])] * 3 + [(1, ["c"])] * 4
    for charter in (b"\x00" * 32, b"\x01" * 32, b"\xff" * 32, b"\x42" * 32):
        t = vote_tally.count("ranked-choice", ["a", "b", "c"], ballots, charter)
        assert t.outcome == "tie" and t.tied == ["b", "c"]
        assert "no lot decides" in (t.rounds[0].tie_break or "")
        assert "e.g. b or c" in (t.rounds[0].tie_break or "")


def test_an_irrelevant_lot_still_gives_the_winner() -> None:
    """x and y tie for last in every round, but c wins whichever of them goes."""
    from ledger.votes import tally as vote_tally

    ballots = [(1, ["x", "c"])] * 2 + [(1, ["y", "c"])] * 2 + [(1, ["c"])] * 3 + [(1, ["d"])] * 4
    t = vote_tally.count("ranked-choice", ["x", "y", "c", "d"], ballots, b"\x00" * 32)
    assert t.outcome == "winner" and t.winner == "c"
    assert "no lot needed" in (t.rounds[0].tie_break or "")


# --- the defects of issue 14 (each failed before the count followed the guide) -------


def test_two_options_tied_now_but_not_before_are_decided_backwards() -> None:
    """a, a, a, b, b, (c then b). Round 1: a 3, b 2, c 1 -> c goes. Round 2: a 3, b 3: b had
    fewer in round 1, so b goes (the guide's rule), and a wins. It used to say TIE."""
    ballots = many(3, ["a"]) + many(2, ["b"]) + many(1, ["c", "b"])
    t = vote_tally.count("ranked-choice", ["a", "b", "c"], ballots, CID)
    assert (t.outcome, t.winner) == ("winner", "a")
    assert [r.eliminated for r in t.rounds] == [["c"], ["b"], []]
    assert "b had fewer votes in round 1" in (t.rounds[1].tie_break or "")


def test_an_option_the_backward_rule_spared_is_never_tried() -> None:
    """b, c and d tie in round 1, so each is tried in turn. Later in those ways three
    options tie for fewest again, but one of them had more votes the round before: only
    the other two may be tried. Trying the spared one too gave a false TIE; a wins."""
    ballots = [
        (1, ["a"]), (1, ["a"]), (1, ["c"]), (1, ["c"]), (1, ["a", "b", "c"]),
        (1, ["b", "d", "a"]), (1, ["d", "b"]), (1, ["d", "c"]), (1, ["b"]),
    ]  # fmt: skip
    t = vote_tally.count("ranked-choice", ["a", "b", "c", "d"], ballots, CID)
    assert (t.outcome, t.winner) == ("winner", "a"), t.rounds
    assert "no lot needed" in (t.rounds[0].tie_break or "")


def test_options_with_no_votes_go_together() -> None:
    """8 options, ballots c, b, d, d: the five options nobody chose go in one step, then b
    and c tie in every round and d wins whichever goes. It used to say "TIE between d"."""
    ballots = [(1, ["c"]), (1, ["b"]), (1, ["d"]), (1, ["d"])]
    t = vote_tally.count("ranked-choice", list("abcdefgh"), ballots, CID)
    assert (t.outcome, t.winner) == ("winner", "d")
    assert t.rounds[0].eliminated == ["a", "e", "f", "g", "h"]
    assert "no lot needed" in (t.rounds[1].tie_break or "")


def test_ten_options_two_ballots_count_without_crashing() -> None:
    t = vote_tally.count("ranked-choice", [f"o{i}" for i in range(10)], [(1, ["o3"]), (1, ["o7"])])
    assert t.outcome == "tie" and t.tied == ["o3", "o7"]


def test_many_options_tied_in_every_round_are_quick() -> None:
    """64 voters, each with a different favourite and a full ranking: every round is a tie
    in every round. Decided (a TIE) without any budget, in well under a second."""
    import random
    import time

    rng = random.Random(64)
    opts = [f"o{i}" for i in range(64)]
    ballots = [(1, [o, *rng.sample([x for x in opts if x != o], 63)]) for o in opts]
    t0 = time.perf_counter()
    t = vote_tally.count("ranked-choice", opts, ballots)
    assert t.outcome == "tie" and len(t.tied) == 2
    assert time.perf_counter() - t0 < 5  # generous: the machine may be loaded
