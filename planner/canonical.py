"""Canonical JSON and hashes: the same plan gives the same bytes on every laptop.

Floats are rounded to a documented number of decimals per quantity before they
reach JSON (``PRECISION``), keys are sorted, separators fixed, no NaN. Hashes are
blake2b-256 of those bytes, in hex.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

# decimals kept in plans, by quantity (documented in field_guides/planner.md)
PRECISION = {
    "mw": 4,  # power, MW (0.1 kW)
    "mwh": 3,  # energy, MWh (1 kWh)
    "pct": 2,  # percentages (served %, loading %)
    "litres": 0,  # fuel, whole litres
    "pu": 4,  # voltages, per unit
    "value": 6,  # objective values and other plain numbers
}


def rnd(value: float | None, kind: str) -> float | None:
    """Round for a plan: fixed decimals, no negative zero, None for NaN/inf."""
    if value is None:
        return None
    v = float(value)
    if not math.isfinite(v):
        return None
    digits = PRECISION[kind]
    out = round(v, digits)
    if out == 0:
        out = 0.0
    return int(out) if digits == 0 else out


def rnd_list(values: Any, kind: str) -> list[float | None]:
    return [rnd(v, kind) for v in values]


def canonical_bytes(data: Any) -> bytes:
    """Sorted keys, compact separators, UTF-8, NaN refused."""
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def blake_hex(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=32).hexdigest()


def plan_hash(plan_json: dict[str, Any]) -> str:
    """blake2b-256 of the canonical plan JSON, without its own ``plan_hash`` field."""
    body = {k: v for k, v in plan_json.items() if k != "plan_hash"}
    return blake_hex(canonical_bytes(body))
