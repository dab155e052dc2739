"""Hybrid logical clock (Kulkarni et al., 2014), packed into one integer.

Packed value: ``physical_ms << 16 | logical``. It orders and displays entries;
it never decides validity (clocks are wrong after disasters). It stays
monotonic when the wall clock jumps backwards, and merges the clocks of
received entries so causally later entries get larger stamps.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

LOGICAL_BITS = 16
LOGICAL_MASK = (1 << LOGICAL_BITS) - 1
#: A remote stamp further ahead of our wall clock than this is not merged:
#: one laptop with its clock set to 2035 must not drag everyone's clock along.
MAX_FORWARD_DRIFT_MS = 24 * 3600 * 1000


def pack(physical_ms: int, logical: int) -> int:
    return (physical_ms << LOGICAL_BITS) | logical


def unpack(hlc: int) -> tuple[int, int]:
    return hlc >> LOGICAL_BITS, hlc & LOGICAL_MASK


#: Drills set this (milliseconds, either sign) on a node to run it with a wrong clock:
#: clocks order and display entries, and must never decide anything.
OFFSET_ENV = "PLURI_CLOCK_OFFSET_MS"


def _offset_from_env() -> int:
    try:
        return int(os.environ.get(OFFSET_ENV, "0"))
    except ValueError:
        return 0


_OFFSET_MS = _offset_from_env()


def wall_ms() -> int:
    return time.time_ns() // 1_000_000 + _OFFSET_MS


class HybridClock:
    """A hybrid logical clock; ``wall`` is injectable for tests."""

    def __init__(self, last: int = 0, wall: Callable[[], int] = wall_ms) -> None:
        self._last = last
        self._wall = wall

    @property
    def last(self) -> int:
        return self._last

    def now(self) -> int:
        """A stamp strictly greater than every stamp issued or merged before."""
        wall = self._wall()
        pt, lc = unpack(self._last)
        if wall > pt:
            self._last = pack(wall, 0)
        else:
            self._last = _bump(pt, lc)
        return self._last

    def merge(self, remote: int) -> int:
        """Take a received stamp into account; returns the clock's new value.

        Stamps implausibly far in the future are ignored (see MAX_FORWARD_DRIFT_MS).
        """
        wall = self._wall()
        rpt, _ = unpack(remote)
        if rpt - wall > MAX_FORWARD_DRIFT_MS:
            return self._last
        if remote > self._last:
            self._last = remote
        return self._last

    def observe(self, stamp: int) -> None:
        """Raise the floor without the drift check (our own stamps from the store)."""
        if stamp > self._last:
            self._last = stamp


def _bump(pt: int, lc: int) -> int:
    if lc >= LOGICAL_MASK:  # logical counter overflow: borrow a millisecond
        return pack(pt + 1, 0)
    return pack(pt, lc + 1)
