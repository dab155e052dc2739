"""Numbers that carry one stage's optimum into the next, made the same on every laptop.

A stage's optimum becomes a bound of every later stage. If that number differed in its
last bits between two laptops (a dense dot product rounds differently with 1 or 2
BLAS threads), HiGHS would see two different models and could take two different
paths to two different plans. So:

* values are summed exactly (``math.fsum`` of elementwise products: correctly rounded,
  whatever the order or the number of threads);
* a fixed optimum is rounded *down* to a binary grid of 2^-32 of its magnitude after
  subtracting the stated tolerance (``REL_TOL`` relative for energies and fuel,
  ``FRACTION_TOL`` absolute for served fractions), so it never cuts off the optimum
  and a last-bit difference almost never changes the bound;
* the last stage minimises a fixed, generic cost over the remaining ties
  (``vertex_costs``): its optimum is a single vertex, whatever path led there.
"""

from __future__ import annotations

import math

import numpy as np

REL_TOL = 1e-6  # fixing tolerance of a stage's optimum, relative to max(1, |optimum|)
FRACTION_TOL = 1e-7  # fixing tolerance of a served fraction (fairness levels, spread floors)
GRID_BITS = 32  # fixed bounds are multiples of 2^-32 of the value's binary magnitude


def exact_dot(cost: np.ndarray, x: np.ndarray) -> float:
    """``cost . x`` correctly rounded: the same on every machine and thread count."""
    nz = np.flatnonzero(cost)
    return math.fsum((cost[nz] * x[nz]).tolist())


def _grid_floor(v: float) -> float:
    step = 2.0 ** (math.floor(math.log2(max(1.0, abs(v)))) - GRID_BITS)
    return math.floor(v / step) * step


def floor_fix(value: float) -> float:
    """A stage optimum as a lower bound for the stages after it: at most ``value`` minus
    ``REL_TOL`` (relative), on a fixed binary grid."""
    return _grid_floor(value - REL_TOL * max(1.0, abs(value)))


def floor_fraction(value: float) -> float:
    """A served fraction (0..1) as a floor for later stages: ``FRACTION_TOL`` below, >= 0."""
    return max(_grid_floor(value - FRACTION_TOL), 0.0)


def generic(n: int, salt: int = 0) -> np.ndarray:
    """n numbers in [0, 1) from a fixed integer hash of the position (splitmix64):
    the same everywhere, and with no linear relation a tie could hide behind."""
    with np.errstate(over="ignore"):
        z = np.arange(n, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15) * np.uint64(salt + 1)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53)
