"""Nemesis mode: random partitions, one-way links, loss, delay, bandwidth caps and kills,
with concurrent writes.

Reproducible from the seed: the same seed gives the same sequence of faults
and writes (timings still vary with the machine).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from plurictl import lifeline

if TYPE_CHECKING:
    from plurictl.drills.runner import DrillRunner


def run_nemesis(r: DrillRunner, args: dict[str, Any]) -> str:
    import random

    duration = r.duration(args["duration"], "duration")
    rng = random.Random(int(args.get("seed", r.seed)))
    rate = float(args.get("writes_per_second", 5))
    allow_kills = bool(args.get("kills", True))
    names = r.drill.names
    killed: list[str] = []
    counts = {
        "writes": 0,
        "partitions": 0,
        "loss": 0,
        "delay": 0,
        "one-way": 0,
        "bandwidth": 0,
        "kills": 0,
        "restarts": 0,
        "heals": 0,
    }
    end = time.monotonic() + duration
    next_fault = time.monotonic()
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= next_fault:
            _fault(r, rng, names, killed, counts, allow_kills)
            next_fault = now + rng.uniform(1.0, 3.0)
        who = rng.choice(names)
        with r.member_home(who) as h:
            e = h.append("note", {"nemesis": counts["writes"], "by": who})
        r.ack(who, e)
        counts["writes"] += 1
        lifeline.sleep(1.0 / rate)
    for name in killed:
        r.cluster.start(name, extra=r.node_extra(name))
    r.cluster.heal()
    took = r.wait_converged(None, max(60.0, 100 * r.drill.interval), "after the nemesis (heal)")
    return (
        ", ".join(f"{k} {v}" for k, v in counts.items())
        + f"; converged {took:.2f} s after the heal"
    )


def _fault(
    r: DrillRunner,
    rng: Any,
    names: list[str],
    killed: list[str],
    counts: dict[str, int],
    allow_kills: bool,
) -> None:
    choice = rng.choice(
        [
            "partition",
            "partition",
            "loss",
            "delay",
            "kill",
            "restart",
            "heal",
            "one-way",
            "bandwidth",
        ]
    )
    running = [n for n in names if r.cluster.running(n)]
    if choice == "kill" and allow_kills and len(running) > 2:
        victim = rng.choice(running)
        r.collect_traffic(victim)
        r.cluster.kill(victim)
        killed.append(victim)
        counts["kills"] += 1
    elif choice == "restart" and killed:
        name = killed.pop(rng.randrange(len(killed)))
        r.cluster.start(name, extra=r.node_extra(name))
        counts["restarts"] += 1
    elif choice == "partition":
        shuffled = names[:]
        rng.shuffle(shuffled)
        cut = rng.randint(1, len(shuffled) - 1)
        r.cluster.partition([shuffled[:cut], shuffled[cut:]])
        counts["partitions"] += 1
    elif choice == "loss":
        pct = rng.choice([5, 10, 20, 30])
        r.cluster.degrade(running, loss=pct / 100)
        counts["loss"] += 1
    elif choice == "delay":
        ms = rng.choice([50, 100, 200, 300])
        r.cluster.degrade(running, delay_ms=ms)
        counts["delay"] += 1
    elif choice == "one-way":
        sender, receiver = rng.sample(names, 2)
        r.cluster.oneway(sender, receiver)
        counts["one-way"] += 1
    elif choice == "bandwidth":
        r.cluster.degrade(running, rate_kbit=rng.choice([64, 256, 1024]))
        counts["bandwidth"] += 1
    else:
        r.cluster.heal()
        counts["heals"] += 1
