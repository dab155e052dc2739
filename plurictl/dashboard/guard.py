"""Who may see and who may write: access tokens, device tokens, rate limits.

* On 127.0.0.1 (the default) anyone on this laptop may look; nobody may write
  unless intake is on and the request carries a device token.
* With ``--lan`` every request needs the access token printed at start-up (or a
  device token): a phone opens the printed link once, the token moves into a
  cookie, and the address bar no longer shows it.
* Tokens are compared in constant time (:func:`hmac.compare_digest`); wrong
  tokens are counted per client address and refused for a while after too many.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from plurictl.dashboard.devices import Device, DeviceBook

VIEW_COOKIE = "pluri_view"
DEVICE_COOKIE = "pluri_device"


class RateLimiter:
    """A token bucket per key: ``burst`` at once, then ``per_minute`` on average."""

    def __init__(
        self, per_minute: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, cost: float = 1.0) -> bool:
        with self._lock:
            now = self.clock()
            tokens, at = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - at) * self.rate)
            if len(self._buckets) > 10_000:  # forget idle keys rather than grow forever
                self._buckets.clear()
            if tokens < cost:
                self._buckets[key] = (tokens, now)
                return False
            self._buckets[key] = (tokens - cost, now)
            return True

    def refund(self, key: str, cost: float = 1.0) -> None:
        """Give back what :meth:`allow` took (for an attempt that did not count)."""
        with self._lock:
            if key in self._buckets:
                tokens, at = self._buckets[key]
                self._buckets[key] = (min(self.burst, tokens + cost), at)

    def spent(self, key: str) -> bool:
        """True if ``key`` has nothing left right now (without spending)."""
        with self._lock:
            now = self.clock()
            tokens, at = self._buckets.get(key, (self.burst, now))
            return min(self.burst, tokens + (now - at) * self.rate) < 1.0


@dataclass
class Who:
    """Who is asking: 'local' (this laptop), 'token' (the access link) or 'device'."""

    kind: str
    device: Device | None = None


@dataclass
class Access:
    """The rules of one running dashboard."""

    devices: DeviceBook
    view_token: str | None = None  # None: no token needed to look (bound to 127.0.0.1)
    intake: bool = False
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    #: wrong tokens per client address: 10 at once, then 10 a minute
    failures: RateLimiter = field(default_factory=lambda: RateLimiter(10, 10))
    #: fuel readings per device: 6 at once, then 6 a minute
    writes: RateLimiter = field(default_factory=lambda: RateLimiter(6, 6))

    def token_ok(self, presented: str | None) -> bool:
        if self.view_token is None or not presented or len(presented) > 200:
            return False
        return hmac.compare_digest(presented.encode(), self.view_token.encode())

    def who(self, view: str | None, device_token: str | None) -> Who | None:
        """Who the cookies (or link) say this is; None if a token is needed and missing."""
        device = self.devices.match(device_token) if device_token else None
        if device is not None:
            return Who("device", device)
        if self.view_token is None:
            return Who("local")
        if self.token_ok(view):
            return Who("token")
        return None

    def csrf(self, device: Device) -> str:
        """The hidden form field proving a form was served to this device by this run."""
        return hmac.new(self.secret, device.token_hash.encode(), hashlib.sha256).hexdigest()[:32]

    def csrf_ok(self, device: Device, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(self.csrf(device), str(presented))
