"""Drill durations: a number or a text, finite, from 0 to a week (issue 24 hostile review:
``duration = nan`` passed ``drill validate`` and the drill then tested nothing;
``1e20`` ran forever)."""

from __future__ import annotations

import math

import pytest

from ledger.errors import InvalidInput
from plurictl.drills.model import MAX_DURATION_S, seconds


@pytest.mark.parametrize(
    "value", [math.nan, math.inf, -math.inf, -5, 1e30, "99999999999999999999s", "-5s", "8d", True]
)
def test_nonsense_durations_are_refused(value: object) -> None:
    with pytest.raises(InvalidInput, match="duration"):
        seconds(value, "step 1 (flap): duration")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0.0),
        (2.5, 2.5),
        ("200ms", 0.2),
        ("5s", 5.0),
        ("2m", 120.0),
        (MAX_DURATION_S, MAX_DURATION_S),
    ],
)
def test_good_durations(value: object, expected: float) -> None:
    assert seconds(value, "x") == pytest.approx(expected)


def test_a_drill_stopped_by_our_own_error_says_it_in_words() -> None:
    """#24 hostile review F7: "TimeoutError: ... {'a': '4fc0...'}" and "TrustError: ..."."""
    from ledger.errors import TrustError
    from plurictl.drills.runner import _error_text

    said = _error_text(TimeoutError("not converged within 5 s: a agree (ledger 4fc0); b agree"))
    assert said.startswith("not converged within 5 s") and "TimeoutError" not in said
    assert _error_text(TrustError("only coordinator can sign step 'brief'")).startswith("only")
    assert _error_text(KeyError("x")) == "KeyError: 'x'"  # a bug: the type helps the report
