"""The airtime budget: parsing, and never exceeded over any window, whatever is offered."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mesh.radio.budget import Budget, BudgetSpec, parse_budget
from mesh.radio.errors import LinkSpecError


def airtime(n: int) -> float:
    return n * 8 / 1200


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("20%", BudgetSpec(duty=0.2)),
        (" 1 % ", BudgetSpec(duty=0.01)),
        ("100%", BudgetSpec()),
        ("off", BudgetSpec()),
        ("5000B/h", BudgetSpec(bytes_per_hour=5000)),
        ("5kB/h", BudgetSpec(bytes_per_hour=5000)),
        ("2 kib / hour", BudgetSpec(bytes_per_hour=2048)),
    ],
)
def test_parse(text: str, spec: BudgetSpec) -> None:
    assert parse_budget(text) == spec


@pytest.mark.parametrize("text", ["0%", "150%", "fast", "-3kB/h", ""])
def test_parse_refuses(text: str) -> None:
    with pytest.raises(LinkSpecError):
        parse_budget(text)


@pytest.mark.parametrize(
    "spec", [BudgetSpec(duty=0.2), BudgetSpec(duty=0.01), BudgetSpec(bytes_per_hour=9000)]
)
def test_window_divides_an_hour_and_fits_ten_frames(spec: BudgetSpec) -> None:
    b = Budget(spec, airtime, 200)
    assert 3600 % b.window == 0 and b.window >= 60
    assert b.allowance >= 10 * b.cost(200) * 0.99


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(
        [BudgetSpec(duty=0.2), BudgetSpec(duty=0.05), BudgetSpec(bytes_per_hour=20_000)]
    ),
    st.lists(st.tuples(st.floats(0, 5), st.integers(20, 200)), min_size=1, max_size=300),
)
def test_never_exceeded_over_any_window(spec: BudgetSpec, offers: list[tuple[float, int]]) -> None:
    b = Budget(spec, airtime, 200)
    now = 0.0
    charged: list[tuple[float, float]] = []
    for gap, size in offers:
        now += gap
        if b.allows(now, size):
            b.charge(now, size)
            charged.append((now, b.cost(size)))
        else:
            later = b.next_allowed(now, size)
            assert later > now and b.allows(later, size)
    for t, _ in charged:
        in_window = sum(c for s, c in charged if t <= s < t + b.window)
        assert in_window <= b.allowance + 1e-6


def test_no_budget_allows_everything() -> None:
    b = Budget(BudgetSpec(), airtime, 200)
    for i in range(1000):
        assert b.allows(i * 0.01, 200)
        b.charge(i * 0.01, 200)
    assert b.used(10.0) == 0.0
