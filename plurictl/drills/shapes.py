"""Fault shapes disasters bring, beyond a clean partition: one-way links, bandwidth caps,
flapping links, wrong clocks, and a courier that walks between two sites on a cadence.

``do_<action>(runner, args) -> short result text``, as in :mod:`plurictl.drills.actions`.
Flapping and the courier cadence run in the background while the next steps go on; the
drill waits for them before its final heal (:meth:`DrillRunner.final_phase`).
"""

from __future__ import annotations

import random
import re
import threading
import time
from typing import TYPE_CHECKING, Any

from ledger.errors import InvalidInput

if TYPE_CHECKING:
    from plurictl.drills.runner import DrillRunner

_OFFSET = re.compile(r"^\s*([+-]?)\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|y)\s*$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "y": 365 * 86_400_000}
#: a clock more than this far off is refused (the packed stamp must stay a positive
#: 64-bit SQLite integer, and nothing after 1990 is that wrong)
MAX_OFFSET_MS = 30 * _UNIT_MS["y"]


def clock_offset_ms(value: Any, where: str) -> int:
    """'9h', '-9h', '+2y', '-3d', '45m': how far a clock is off, in ms."""
    m = _OFFSET.match(str(value))
    if not m:
        raise InvalidInput(
            f"{where}: {value!r} is not a clock offset (use e.g. 9h, -9h, +2y, -3d, 45m)"
        )
    ms = round(float(m.group(2)) * _UNIT_MS[m.group(3)]) * (-1 if m.group(1) == "-" else 1)
    if abs(ms) > MAX_OFFSET_MS:
        raise InvalidInput(f"{where}: {value!r} is more than 30 years off")
    return ms


def do_one_way(r: DrillRunner, args: dict[str, Any]) -> str:
    r.cluster.oneway(args["from"], args["to"])
    return f"{args['to']} no longer hears {args['from']} ({args['from']} still hears {args['to']})"


def do_bandwidth(r: DrillRunner, args: dict[str, Any]) -> str:
    kbit = int(args["kbit"])
    nodes = list(args.get("nodes") or r.drill.names)
    r.cluster.degrade(nodes, rate_kbit=kbit)
    return f"{kbit} kbit/s out of {', '.join(nodes)}" if kbit else "bandwidth cap removed"


def do_clock(r: DrillRunner, args: dict[str, Any]) -> str:
    """Set a node's clock wrong: what it writes from now on (here and in its node process,
    which restarts to take it) carries the wrong time."""
    name = args["node"]
    offset = clock_offset_ms(args["offset"], "clock offset")
    r.cluster.clock_offsets[name] = offset
    r.skews[r.member_key(name)] = offset
    if r.cluster.running(name):
        r.collect_traffic(name)
        r.cluster.stop(name)
        r.cluster.start(name, extra=r.node_extra(name))
    return f"{name}'s clock is {args['offset']} off"


def do_flap(r: DrillRunner, args: dict[str, Any]) -> str:
    """A link that goes down and up, on a schedule (``up``/``down`` durations) or at random
    around them (``seed``), for ``duration``; the next steps run meanwhile."""
    name = args["node"]
    duration = r.duration(args["duration"], "duration")
    up, down = r.duration(args.get("up", "2s"), "up"), r.duration(args.get("down", "2s"), "down")
    rng = random.Random(args["seed"]) if "seed" in args else None

    def flap(stop: threading.Event) -> str:
        end, flips = time.monotonic() + duration, 0
        while time.monotonic() < end and not stop.is_set():
            r.cluster.link(name, up=False)
            flips += 1
            stop.wait(min(_jitter(down, rng), max(0.0, end - time.monotonic())))
            r.cluster.link(name, up=True)
            stop.wait(min(_jitter(up, rng), max(0.0, end - time.monotonic())))
        return f"{name}'s link went down {flips} time(s)"

    r.background(f"flap {name}", flap)
    how = "at random" if rng else "on a schedule"
    return f"{name}'s link flaps {how} (down ~{down:g} s, up ~{up:g} s) for {duration:g} s"


def do_courier_every(r: DrillRunner, args: dict[str, Any]) -> str:
    """A courier carries a bundle from ``from`` to ``to`` every ``every`` (a "day" of drill
    time) for ``duration``; the next steps run meanwhile."""
    from plurictl.drills.actions import do_courier

    every = r.duration(args["every"], "every")
    duration = r.duration(args["duration"], "duration")

    def walk(stop: threading.Event) -> str:
        end, trips, carried = time.monotonic() + duration, 0, []
        while not stop.wait(min(every, max(0.0, end - time.monotonic()))):
            carried.append(do_courier(r, {"from": args["from"], "to": args["to"]}))
            trips += 1
            if time.monotonic() >= end:
                break
        return f"{trips} courier trip(s) {args['from']} -> {args['to']}" + (
            f"; last: {carried[-1]}" if carried else ""
        )

    r.background(f"courier {args['from']} -> {args['to']}", walk)
    return f"a courier {args['from']} -> {args['to']} every {every:g} s for {duration:g} s"


def _jitter(seconds: float, rng: random.Random | None) -> float:
    return seconds if rng is None else rng.uniform(0.5 * seconds, 1.5 * seconds)
