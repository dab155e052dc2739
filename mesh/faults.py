"""Link faults for drills and tests: partitions, loss and delay, without root.

Each node applies its own policy to what it sends (loss, delay, partition) and
receives (partition). A drill sets the same partition on every node, so
traffic across the cut is dropped in both directions.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LinkPolicy:
    #: groups of member names; empty = no partition
    groups: list[list[str]] = field(default_factory=list)
    loss: float = 0.0  # probability of dropping an outgoing message
    delay_ms: int = 0  # added to every outgoing message
    #: one-way links: [sender, receiver] pairs whose messages are dropped (the other way works)
    oneway: list[list[str]] = field(default_factory=list)
    rate_kbit: int = 0  # outgoing bandwidth cap per link (0: none), as a slow radio or satellite

    def to_json(self) -> dict[str, Any]:
        return {
            "groups": self.groups,
            "loss": self.loss,
            "delay_ms": self.delay_ms,
            "oneway": self.oneway,
            "rate_kbit": self.rate_kbit,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LinkPolicy:
        groups = data.get("groups") or []
        if not isinstance(groups, list) or not all(
            isinstance(g, list) and all(isinstance(n, str) for n in g) for g in groups
        ):
            raise ValueError("groups must be a list of lists of member names")
        loss = float(data.get("loss", 0.0))
        delay = int(data.get("delay_ms", 0))
        if not 0.0 <= loss <= 1.0:
            raise ValueError("loss must be between 0 and 1")
        if not 0 <= delay <= 600_000:
            raise ValueError("delay must be between 0 and 600000 ms")
        oneway = data.get("oneway") or []
        if not isinstance(oneway, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(n, str) for n in p)
            for p in oneway
        ):
            raise ValueError("oneway must be a list of [sender, receiver] pairs")
        rate = int(data.get("rate_kbit", 0))
        if not 0 <= rate <= 10_000_000:
            raise ValueError("rate_kbit must be between 0 (no cap) and 10000000")
        return cls([list(g) for g in groups], loss, delay, [list(p) for p in oneway], rate)

    @property
    def active(self) -> bool:
        return (
            bool(self.groups or self.oneway)
            or self.loss > 0
            or self.delay_ms > 0
            or (self.rate_kbit > 0)
        )


class RateCap:
    """A bandwidth cap per link (drills): a message leaves once the messages before it on
    its link have gone out at ``rate_kbit``."""

    def __init__(self) -> None:
        self.free_at: dict[bytes, float] = {}  # link -> when its capped bandwidth is free

    def delay(self, key: bytes, size: int, delay_ms: float, rate_kbit: int) -> float:
        """The message's delay in ms: the policy's delay, or longer while the link is busy."""
        if rate_kbit <= 0:
            return delay_ms
        now = time.monotonic()
        start = max(now, self.free_at.get(key, 0.0))
        self.free_at[key] = start + size * 8 / (rate_kbit * 1000)
        return max(delay_ms, (self.free_at[key] - now) * 1000)


def same_side(policy: LinkPolicy, me: str, peer: str) -> bool:
    """False if a partition separates ``me`` from ``peer``.

    A name that appears in no group is on its own island.
    """
    if not policy.groups:
        return True
    for group in policy.groups:
        if me in group:
            return peer in group
    return False


def outgoing(policy: LinkPolicy, me: str, peer: str, rng: random.Random) -> int | None:
    """None to drop the message, else the delay in ms before it goes out."""
    if not same_side(policy, me, peer) or [me, peer] in policy.oneway:
        return None
    if policy.loss and rng.random() < policy.loss:
        return None
    return policy.delay_ms


def incoming(policy: LinkPolicy, me: str, peer: str) -> bool:
    """Whether to accept a message from ``peer`` (partitions and one-way links; loss is
    applied on send)."""
    return same_side(policy, me, peer) and [peer, me] not in policy.oneway


def parse_groups(specs: Iterable[str]) -> list[list[str]]:
    """``["a,b", "c"]`` -> ``[["a", "b"], ["c"]]``; a name may appear in one group only."""
    groups = [[n.strip() for n in spec.split(",") if n.strip()] for spec in specs]
    seen: set[str] = set()
    for g in groups:
        if not g:
            raise ValueError("empty partition group")
        dup = seen.intersection(g)
        if dup:
            raise ValueError(f"{', '.join(sorted(dup))} appears in two groups")
        seen.update(g)
    return groups
