"""Link faults for drills and tests: partitions, loss and delay, without root.

Each node applies its own policy to what it sends (loss, delay, partition) and
receives (partition). A drill sets the same partition on every node, so
traffic across the cut is dropped in both directions.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LinkPolicy:
    #: groups of member names; empty = no partition
    groups: list[list[str]] = field(default_factory=list)
    loss: float = 0.0  # probability of dropping an outgoing message
    delay_ms: int = 0  # added to every outgoing message

    def to_json(self) -> dict[str, Any]:
        return {"groups": self.groups, "loss": self.loss, "delay_ms": self.delay_ms}

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
        return cls(groups=[list(g) for g in groups], loss=loss, delay_ms=delay)

    @property
    def active(self) -> bool:
        return bool(self.groups) or self.loss > 0 or self.delay_ms > 0


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
    if not same_side(policy, me, peer):
        return None
    if policy.loss and rng.random() < policy.loss:
        return None
    return policy.delay_ms


def incoming(policy: LinkPolicy, me: str, peer: str) -> bool:
    """Whether to accept a message from ``peer`` (partitions only; loss is applied on send)."""
    return same_side(policy, me, peer)


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
