"""Per-peer budgets as plain data: token buckets, the invalid-data score and its cut-off,
and which store rejections an honest peer may cause (those cost nothing)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mesh.conduct import (
    BAN_SCORE,
    COSTS,
    DRAIN_PER_S,
    FIRST_BAN_S,
    MAX_BAN_S,
    Conduct,
    TokenBucket,
    rejection_category,
)


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    b = TokenBucket(rate=2.0, burst=4.0)
    assert [b.take(0.0) for _ in range(5)] == [True] * 4 + [False]
    assert not b.take(0.4)  # 0.8 token
    assert b.take(0.5)  # 1 token
    assert not b.take(0.5)
    assert [b.take(100.0) for _ in range(5)] == [True] * 4 + [False]  # never more than the burst


@given(st.lists(st.floats(min_value=0, max_value=0.5), min_size=1, max_size=200))
def test_token_bucket_never_exceeds_rate_times_time_plus_burst(gaps: list[float]) -> None:
    b = TokenBucket(rate=3.0, burst=5.0)
    now, granted = 0.0, 0
    for gap in gaps:
        now += gap
        granted += b.take(now)
    assert granted <= 5.0 + 3.0 * now + 1e-9


def test_a_peer_sending_bad_signatures_is_cut_off_and_backs_off_longer_each_time() -> None:
    c = Conduct()
    per_msg = 1000  # one push of 1,000 forged entries
    assert c.charge("bad signature", 0.0, per_msg)  # over the limit at once
    assert c.banned(1.0) and c.ban_left(0.0) == FIRST_BAN_S
    assert not c.banned(FIRST_BAN_S + 0.1)
    assert c.charge("bad signature", 100.0, per_msg)
    assert c.ban_left(100.0) == 2 * FIRST_BAN_S
    for i in range(20):
        c.charge("bad signature", 1000.0 + 10_000 * i, per_msg)
    assert c.ban_left(1000.0 + 190_000) == MAX_BAN_S
    assert c.penalties == 22 and c.invalid == 22 * per_msg
    assert "bad signature ×22000" in c.summary()


def test_occasional_mistakes_drain_away() -> None:
    c = Conduct()
    # one malformed message a second stays under the limit for ever: the score drains
    for t in range(1000):
        assert not c.charge("malformed message", float(t))
    assert c.current(1000.0) <= COSTS["malformed message"]
    # a burst just under the limit, then the same burst after it drained: no cut-off
    burst = int(BAN_SCORE / COSTS["malformed message"]) - 1
    assert not c.charge("malformed message", 2000.0, burst)
    assert not c.charge("malformed message", 2000.0 + BAN_SCORE / DRAIN_PER_S + 1, burst)
    assert c.penalties == 0


def test_charges_while_cut_off_do_not_extend_the_ban() -> None:
    c = Conduct()
    assert c.charge("too many connections", 0.0, 10)
    assert not c.charge("too many connections", 1.0, 10)
    assert c.penalties == 1 and c.ban_left(1.0) == FIRST_BAN_S - 1


@pytest.mark.parametrize(
    ("reason", "category"),
    [
        ("unreadable entry: not msgpack", "unreadable entry"),
        ("bad signature (forged or damaged)", "bad signature"),
        ("belongs to another mesh (ab12, this is cd34)", "another mesh"),
        ("genesis of mesh ab12, but this laptop is joining mesh cd34", "another mesh"),
        ("unknown author ab12: not in this mesh's roster (yet)", "unknown author"),
        # what an honest node relays while its view lags: free
        ("gap: this laptop has this author up to seq 3", None),
        ("equivocation: a different entry already holds seq 4 (fork proof kept)", None),
        ("feed frozen at seq 4 (equivocation)", None),
        ("author's key is revoked: last valid seq 2", None),
        ("broken chain: prev does not match the entry before it", None),
        ("this laptop is not in a mesh yet (it needs the mesh's genesis first)", None),
    ],
)
def test_what_costs_and_what_is_free(reason: str, category: str | None) -> None:
    assert rejection_category(reason) == category
