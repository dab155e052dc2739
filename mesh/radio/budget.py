"""The airtime budget: a duty cycle (``20%``) or bytes per hour (``5kB/h``) never exceeded.

The budget holds over every sliding window of ``window`` seconds, and the
window length divides an hour, so it also holds over every hour (an hour is
a whole number of windows, each within budget). The window is at least a
minute and long enough for ten full frames, so even a 1 % duty cycle lets a
frame through. A budget too small to let one full frame through in an hour
(``1B/h``) is refused instead of silently never sending. A frame may wait for the channel after the budget let it go;
one frame of headroom keeps that wait from ever pushing the airtime over.
"""

from __future__ import annotations

import math
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from mesh.radio.errors import LinkSpecError

_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")
_PER_HOUR = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|kib|mb)?\s*/\s*h(our)?\s*$", re.IGNORECASE)
_UNITS = {None: 1, "b": 1, "kb": 1000, "kib": 1024, "mb": 1_000_000}


@dataclass(frozen=True)
class BudgetSpec:
    """``duty`` (fraction of airtime) or ``bytes_per_hour``; neither: no budget."""

    duty: float | None = None
    bytes_per_hour: float | None = None

    @property
    def unlimited(self) -> bool:
        return self.duty is None and self.bytes_per_hour is None

    def describe(self) -> str:
        if self.duty is not None:
            return f"{self.duty * 100:g}% of airtime"
        if self.bytes_per_hour is not None:
            return f"{self.bytes_per_hour:,.0f} bytes per hour"
        return "no budget (the channel is the limit)"

    def to_json(self) -> dict[str, float | None]:
        return {"duty": self.duty, "bytes_per_hour": self.bytes_per_hour}


def parse_budget(text: str) -> BudgetSpec:
    """``20%``, ``100%``/``off`` (no budget), or ``5000B/h``, ``5kB/h``."""
    t = text.strip().lower()
    if t in ("off", "none", "100%"):
        return BudgetSpec()
    m = _PERCENT.match(t)
    if m:
        duty = float(m.group(1)) / 100
        if not 0 < duty <= 1:
            raise LinkSpecError(f"budget {text!r}: a duty cycle is more than 0% and at most 100%")
        return BudgetSpec(duty=None if duty >= 1 else duty)
    m = _PER_HOUR.match(t)
    if m:
        value = float(m.group(1)) * _UNITS[m.group(2)]
        if value < 1:
            raise LinkSpecError(f"budget {text!r}: at least one byte per hour")
        return BudgetSpec(bytes_per_hour=value)
    raise LinkSpecError(
        f"budget {text!r} is neither a duty cycle nor bytes per hour",
        hint="use e.g. --budget 20% (share of airtime) or --budget 50kB/h; 100% means no budget",
    )


def _least(spec: BudgetSpec, frame_cost: float) -> str:
    """The smallest budget of this kind that lets a full frame (and its headroom) through."""
    if spec.bytes_per_hour is not None:
        return f"{math.ceil(2 * frame_cost):,} bytes per hour"
    return f"{math.ceil(2 * frame_cost / 3600 * 100 * 1000) / 1000:g}% of airtime"


def _window_for(minimum: float) -> float:
    """The shortest divisor of 3600 s at or above ``minimum`` (capped at an hour)."""
    for d in range(60, 3601):
        if 3600 % d == 0 and d >= minimum:
            return float(d)
    return 3600.0


class Budget:
    """Sliding-window accounting of what this station put on the air."""

    def __init__(
        self, spec: BudgetSpec, airtime: Callable[[int], float], max_frame: int = 256
    ) -> None:
        self.spec = spec
        self.airtime = airtime
        frame_cost = self.cost(max_frame)
        if spec.duty is not None:
            self.window = _window_for(max(60.0, 10 * frame_cost / spec.duty))
            self.allowance = spec.duty * self.window
        elif spec.bytes_per_hour is not None:
            self.window = _window_for(max(60.0, 10 * frame_cost * 3600 / spec.bytes_per_hour))
            self.allowance = spec.bytes_per_hour * self.window / 3600
        else:
            self.window, self.allowance = 60.0, math.inf
        self.headroom = frame_cost if not spec.unlimited else 0.0
        if self.allowance < self.headroom + frame_cost:
            raise LinkSpecError(
                f"budget {spec.describe()} lets no frame on the air: a {max_frame}-byte frame "
                f"needs at least {_least(spec, frame_cost)}",
                hint="raise --budget; 100% means no budget",
            )
        self.log: deque[tuple[float, float]] = deque()

    def cost(self, nbytes: int) -> float:
        """Seconds of airtime (duty cycle) or bytes (bytes per hour)."""
        return float(nbytes) if self.spec.bytes_per_hour is not None else self.airtime(nbytes)

    def _spent(self, now: float) -> float:
        """Cost charged in the window ending at ``now`` (older entries are dropped)."""
        horizon = now - self.window
        while self.log and self.log[0][0] <= horizon - self.window:
            self.log.popleft()  # older than any window we may still be asked about
        return sum(cost for t, cost in self.log if t > horizon)

    def allows(self, now: float, nbytes: int) -> bool:
        if self.spec.unlimited:
            return True
        return self._spent(now) + self.cost(nbytes) <= self.allowance - self.headroom + 1e-9

    def charge(self, now: float, nbytes: int) -> None:
        if not self.spec.unlimited:
            self.log.append((now, self.cost(nbytes)))

    def next_allowed(self, now: float, nbytes: int) -> float:
        """The earliest time a frame of ``nbytes`` fits (``now`` if it fits now)."""
        if self.allows(now, nbytes):
            return now
        horizon = now - self.window
        live = [(t, c) for t, c in self.log if t > horizon]
        need = sum(c for _, c in live) + self.cost(nbytes) - (self.allowance - self.headroom)
        freed = 0.0
        for t, cost in live:
            freed += cost
            if freed >= need - 1e-9:
                return t + self.window + 1e-6
        return now + self.window

    def used(self, now: float) -> float:
        """Share of the window's allowance used now (0 with no budget)."""
        if self.spec.unlimited:
            return 0.0
        return self._spent(now) / self.allowance
