"""A futures vote option keeps its figures whole, however long what it changes is
(review 22c C1: the cost note pushed out the tier-3 share, the fuel left and the plan)."""

from __future__ import annotations

from ledger.plans import view
from ledger.plans.writer import LABEL_MAX, _future_label


def test_a_long_policy_is_shortened_never_the_figures() -> None:
    long_words = "keep 48 h of tier-1 burn in every site's tanks; " + "x" * 400
    p = view.Proposal(
        id=bytes(32), author=bytes(32), by="alice", hlc=0, plan_hash="h", scenario="s",
        horizon="72h", status="solved", blob={},
        summary={
            "tiers": {"1": 97.02, "2": 98.03, "3": 3.43},
            "fuel_end_litres": 26696.0,
            "future": {"id": "f-1", "label": "reserve-48h", "policy": long_words},
        },
    )  # fmt: skip
    text = _future_label(p)
    assert len(text) <= LABEL_MAX
    assert text.endswith(
        ": tiers 97.02% / 98.03% / 3.43% served, 26,696 L fuel left (plan 00000000)"
    )
    assert text.startswith("reserve-48h (keep 48 h") and "…)" in text


def test_plan_list_never_rounds_a_shed_up_to_all_and_the_cost_comes_first() -> None:
    """Review 22c C4 and the C1 addendum: 99.73 % read "100%" in `plan list`, and a swap
    option's "sheds life-safety loads" was cut to "she"."""
    from plurictl.commands.plan_futures import _in_words
    from plurictl.commands.plan_ledger import _pct

    assert [_pct(v) for v in (100.0, 99.73, 99.999, 59.0, 0.0)] == [
        "100%", "99.73%", "99.99%", "59%", "0%",
    ]  # fmt: skip
    row = {"policy": "water-plant and east-homes-5 exchange tiers " * 5,
           "cost": "sheds tier 1: water-plant 11.52% served"}  # fmt: skip
    assert _in_words(row).startswith("SHEDS tier 1: water-plant 11.52% served; water-plant")
    assert len(_in_words(row)) <= 160
