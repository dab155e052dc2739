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
