"""No half-empty trucks: every departure is 0 or at least its route's minimum load.

The LP moves fuel in any amount. After the stages, each departure below its route's
``min_litres_per_trip`` is, in this order: merged into the route's previous departure
(the same fuel, earlier, in fewer trips) or into its next one (later), raised to the
minimum (more fuel moved from the source to the target), moved to the nearest period
where it can be raised, or dropped. A change is made only where every tank it
touches stays between its reserve and its capacity in every period, so burns, served
load and the fuel left in all tanks together are unchanged: every priority still holds.
What cannot be changed that way is left, and the plan's notes say how many.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.formulation import Problem
from planner.scenario import Route, Scenario

ZERO_KL = 0.0005  # half a litre: nothing departs


@dataclass
class _Fuel:
    """Tank levels (T x n_tank, kL) and departures (T x n_route, kL): views into x."""

    L: np.ndarray
    X: np.ndarray
    lo: np.ndarray  # n_tank reserve (kL)
    hi: np.ndarray  # n_tank capacity
    cap: np.ndarray  # T x n_route, most a departure can carry

    def shift(self, tank: int, t0: int, t1: int, delta: float) -> bool:
        """Can tank levels in periods t0..t1-1 move by delta and stay within limits?"""
        if t0 >= t1:
            return True
        seg = self.L[t0:t1, tank] + delta
        return bool(np.all(seg >= self.lo[tank] - 1e-9) and np.all(seg <= self.hi[tank] + 1e-9))

    def move(self, tank: int, t0: int, t1: int, delta: float) -> None:
        self.L[t0:t1, tank] += delta


def consolidate(
    problem: Problem, scenario: Scenario, x: np.ndarray
) -> tuple[np.ndarray, list[str]]:
    """The plan vector with departures below their minimum merged, raised or dropped."""
    routes = list(scenario.routes)
    if not routes or not any(r.min_litres_per_trip > 0 for r in routes):
        return x, []
    x = x.copy()
    T, xb, Lb = problem.T, problem.blocks["x"], problem.blocks["L"]
    fuel = _Fuel(
        L=x[Lb.off : Lb.off + Lb.size].reshape(T, Lb.n),
        X=x[xb.off : xb.off + xb.size].reshape(T, xb.n),
        lo=problem.col_lo[Lb.off : Lb.off + Lb.n],
        hi=problem.col_hi[Lb.off : Lb.off + Lb.n],
        cap=problem.col_hi[xb.off : xb.off + xb.size].reshape(T, xb.n),
    )
    left = 0
    for r, route in enumerate(routes):
        src = problem.tank_keys.index(f"{route.source}/{route.source_tank}")
        dst = problem.tank_keys.index(f"{route.target}/{route.target_tank}")
        for t in range(T):
            v = float(fuel.X[t, r])
            m = route.min_litres_per_trip / 1000.0
            if v <= ZERO_KL or v >= m - ZERO_KL:
                continue
            if not (
                _merge(fuel, route, r, t, src, dst, T)
                or _change(fuel, route, r, t, src, dst, T, m - v)
                or _relocate(fuel, route, r, t, src, dst, T, m)
                or _change(fuel, route, r, t, src, dst, T, -v)
            ):
                left += 1
    notes = []
    if left:
        notes.append(
            f"{left} truck departures are below their route's minimum load: "
            "tank limits left no way to merge, fill or drop them"
        )
    return x, notes


def _move(fuel: _Fuel, route: Route, r: int, t: int, t1: int, src: int, dst: int, T: int) -> bool:
    """Send departure t's fuel at t1 instead (added to what leaves then), if tanks allow."""
    v, lead = float(fuel.X[t, r]), route.lead_periods
    if fuel.X[t1, r] + v > fuel.cap[t1, r] + 1e-9:
        return False
    a, b = min(t, t1), max(t, t1)
    sign = 1.0 if t1 > t else -1.0  # later: the source keeps it longer, the target waits
    if not (
        fuel.shift(src, a, b, sign * v)
        and fuel.shift(dst, min(a + lead, T), min(b + lead, T), -sign * v)
    ):
        return False
    fuel.move(src, a, b, sign * v)
    fuel.move(dst, min(a + lead, T), min(b + lead, T), -sign * v)
    fuel.X[t1, r] += v
    fuel.X[t, r] = 0.0
    return True


def _merge(fuel: _Fuel, route: Route, r: int, t: int, src: int, dst: int, T: int) -> bool:
    """Send this departure's fuel with the route's previous or else its next departure."""
    earlier = [t0 for t0 in range(t) if fuel.X[t0, r] > ZERO_KL]
    later = [t1 for t1 in range(t + 1, T) if fuel.X[t1, r] > ZERO_KL]
    return bool(
        (earlier and _move(fuel, route, r, t, earlier[-1], src, dst, T))
        or (later and _move(fuel, route, r, t, later[0], src, dst, T))
    )


def _relocate(
    fuel: _Fuel, route: Route, r: int, t: int, src: int, dst: int, T: int, m: float
) -> bool:
    """Move the departure to the nearest period where it can then be raised to ``m``."""
    for t1 in sorted(range(T), key=lambda k: (abs(k - t), k < t)):
        if t1 == t or fuel.X[t1, r] > ZERO_KL or fuel.cap[t1, r] < m - 1e-9:
            continue
        v = float(fuel.X[t, r])
        if not _move(fuel, route, r, t, t1, src, dst, T):
            continue
        if _change(fuel, route, r, t1, src, dst, T, m - v):
            return True
        if not _move(fuel, route, r, t1, t, src, dst, T):  # pragma: no cover - undo
            raise AssertionError("undoing a trip move failed")
    return False


def _change(
    fuel: _Fuel, route: Route, r: int, t: int, src: int, dst: int, T: int, delta: float
) -> bool:
    """Send ``delta`` kL more (or less) at t: the source from t on, the target from arrival."""
    if fuel.X[t, r] + delta > fuel.cap[t, r] + 1e-9:
        return False
    arrive = t + route.lead_periods
    if not (fuel.shift(src, t, T, -delta) and fuel.shift(dst, arrive, T, delta)):
        return False
    fuel.move(src, t, T, -delta)
    fuel.move(dst, arrive, T, delta)
    fuel.X[t, r] += delta
    return True
