"""Hybrid logical clock: monotonic under wall-clock jumps, merges, packs into one int."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ledger.clock import MAX_FORWARD_DRIFT_MS, HybridClock, pack, unpack


class FakeWall:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def test_pack_roundtrip() -> None:
    assert unpack(pack(1_767_225_600_000, 7)) == (1_767_225_600_000, 7)
    assert pack(1, 0) > pack(0, 65535)


def test_follows_the_wall_clock_when_it_moves_forward() -> None:
    wall = FakeWall(1000)
    c = HybridClock(wall=wall)
    a = c.now()
    wall.ms = 2000
    b = c.now()
    assert unpack(a) == (1000, 0) and unpack(b) == (2000, 0)


def test_monotonic_when_the_wall_clock_jumps_back() -> None:
    wall = FakeWall(5000)
    c = HybridClock(wall=wall)
    first = c.now()
    wall.ms = 1000  # someone fixed the laptop clock backwards
    later = [c.now() for _ in range(5)]
    assert all(x > first for x in later)
    assert later == sorted(set(later))
    assert unpack(later[-1])[0] == 5000


def test_merge_moves_past_a_received_stamp() -> None:
    wall = FakeWall(1000)
    c = HybridClock(wall=wall)
    remote = pack(4000, 3)
    c.merge(remote)
    assert c.now() > remote


def test_merge_ignores_stamps_from_far_in_the_future() -> None:
    wall = FakeWall(1000)
    c = HybridClock(wall=wall)
    c.merge(pack(1000 + MAX_FORWARD_DRIFT_MS + 1, 0))
    assert unpack(c.now())[0] == 1000


def test_logical_overflow_borrows_a_millisecond() -> None:
    c = HybridClock(last=pack(1000, 65535), wall=FakeWall(0))
    assert unpack(c.now()) == (1001, 0)


@given(st.lists(st.tuples(st.sampled_from(["tick", "merge"]), st.integers(0, 10**7)), max_size=60))
def test_strictly_increasing_whatever_happens(ops: list[tuple[str, int]]) -> None:
    wall = FakeWall(10**6)
    c = HybridClock(wall=wall)
    last = 0
    for op, value in ops:
        if op == "tick":
            wall.ms = value  # arbitrary jumps, forwards and backwards
            stamp = c.now()
            assert stamp > last
            last = stamp
        else:
            c.merge(pack(value, 0))
            last = max(last, c.last)
