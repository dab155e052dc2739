"""Per-peer budgets: what one member may cost this node before it is cut off for a while.

Pure bookkeeping over a clock (no sockets), so it is tested with plain numbers.

- :class:`TokenBucket` limits how often a peer may ask for work that needs a
  reply (digests, heads, pings) and how often anyone may ask the UDP key
  service; requests over the limit are dropped.
- :class:`Conduct` keeps a leaky score of the invalid data a peer sent: each
  kind of invalid item has a cost (:data:`COSTS`), the score drains at
  :data:`DRAIN_PER_S`, and a peer whose score passes :data:`BAN_SCORE` is
  disconnected and not admitted again for a back-off that doubles with each
  offence (:data:`FIRST_BAN_S` up to :data:`MAX_BAN_S`).

Only data an honest node never sends costs anything: entries that fail to
decode or carry a bad signature, entries of another mesh, messages that are
not our protocol, requests over the rate limit. Entries an honest node may
relay while its view lags (a gap, a revoked author, the second branch of a
fork, a duplicate) cost nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

#: cost of one invalid item, by category
COSTS: dict[str, float] = {
    "malformed message": 10.0,
    "protocol version": 10.0,
    "too many connections": 25.0,
    "over rate limit": 1.0,
    "unreadable entry": 1.0,
    "bad signature": 1.0,
    "another mesh": 1.0,
    "bad fork proof": 1.0,
    "unknown author": 0.05,
}
BAN_SCORE = 100.0
DRAIN_PER_S = 10.0
FIRST_BAN_S = 30.0
MAX_BAN_S = 3600.0


def rejection_category(reason: str) -> str | None:
    """The cost category of a store rejection reason, or None when an honest peer may send it."""
    if reason.startswith("unreadable entry"):
        return "unreadable entry"
    if reason.startswith("bad signature"):
        return "bad signature"
    if "another mesh" in reason or reason.startswith("genesis of mesh"):
        return "another mesh"
    if reason.startswith("unknown author"):
        return "unknown author"
    return None


@dataclass
class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up."""

    rate: float
    burst: float
    tokens: float = -1.0
    updated: float = 0.0

    def take(self, now: float, n: float = 1.0) -> bool:
        if self.tokens < 0:
            self.tokens, self.updated = self.burst, now
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= n:
            self.tokens -= n
            return True
        return False


@dataclass
class Conduct:
    """The invalid data one peer sent, and whether it is cut off right now."""

    score: float = 0.0
    updated: float = 0.0
    invalid: int = 0  # invalid items, all time
    penalties: int = 0  # times cut off
    banned_until: float = 0.0
    reasons: Counter[str] = field(default_factory=Counter)
    last_reason: str = ""

    def charge(self, category: str, now: float, count: int = 1) -> bool:
        """Record ``count`` invalid items; True when this pushes the peer over the limit."""
        if count <= 0:
            return False
        self._drain(now)
        self.invalid += count
        self.reasons[category] += count
        self.last_reason = category
        self.score += COSTS.get(category, 1.0) * count
        if self.score < BAN_SCORE or self.banned(now):
            return False
        self.penalties += 1
        self.banned_until = now + min(MAX_BAN_S, FIRST_BAN_S * 2 ** (self.penalties - 1))
        self.score = 0.0
        return True

    def banned(self, now: float) -> bool:
        return now < self.banned_until

    def ban_left(self, now: float) -> float:
        return max(0.0, self.banned_until - now)

    def current(self, now: float) -> float:
        self._drain(now)
        return self.score

    def _drain(self, now: float) -> None:
        if now > self.updated:
            self.score = max(0.0, self.score - (now - self.updated) * DRAIN_PER_S)
            self.updated = now

    def summary(self) -> str:
        """'bad signature ×120, malformed message ×3' (most frequent first)."""
        return ", ".join(f"{k} ×{n}" for k, n in self.reasons.most_common(3))
