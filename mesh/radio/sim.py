"""The link simulator: a shared channel with a bit rate, an MTU, loss, latency,
duplication, reordering and half-duplex airtime (pure: time comes from a clock).

Model. Each endpoint queues frames to send. Half duplex (the default), the
channel carries one transmission at a time: a frame waits until the channel
is free (every station hears the carrier at once, so there are no
collisions), then occupies it for ``len * 8 / bitrate`` seconds. When the
transmission ends, every other endpoint receives the frame ``latency``
seconds later, unless it is lost (``loss``, per receiver); it may arrive
twice (``duplicate``) or be held back ``reorder_delay`` seconds so that later
frames overtake it (``reorder``). Full duplex, each endpoint has its own
channel. Frames larger than the MTU are refused: the protocol must never
build one.

The same simulator runs under a fake clock in tests and benchmarks
(:mod:`mesh.radio.simnet`) and in real time behind ``plurictl radio sim``
(:mod:`mesh.radio.simhub`).
"""

from __future__ import annotations

import heapq
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

from mesh.radio.errors import LinkSpecError, RadioError
from mesh.radio.links import check_mtu

#: fate(transmission number, sender, receiver) -> extra delays of the copies delivered
#: ([] lost, [0.0] on time, [0.0, 0.0] twice, [3.0] late). Tests use it to script losses.
Fate = Callable[[int, str, str], list[float]]


@dataclass
class SimParams:
    bitrate: float = 1200.0
    mtu: int = 200
    loss: float = 0.0
    latency: float = 0.5
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_delay: float = 2.0
    half_duplex: bool = True
    seed: int = 0

    def airtime(self, nbytes: int) -> float:
        return nbytes * 8 / self.bitrate

    def check(self) -> SimParams:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, float) and not math.isfinite(value):
                raise LinkSpecError(f"simulator {f.name} must be a finite number, not {value}")
        if not self.bitrate > 0:
            raise LinkSpecError("simulator bitrate must be more than 0 bit/s")
        check_mtu(self.mtu, "simulator mtu")
        for name in ("loss", "duplicate", "reorder"):
            if not 0 <= getattr(self, name) < 1:
                raise LinkSpecError(f"simulator {name} is a fraction from 0 to below 1")
        if self.latency < 0 or self.reorder_delay < 0:
            raise LinkSpecError("simulator delays cannot be negative")
        return self

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SimParams:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known}).check()


@dataclass
class Transmission:
    """One frame on the air (for accounting and the budget check)."""

    sender: str
    start: float
    end: float
    nbytes: int


@dataclass
class SimEndpoint:
    """One station's radio on the simulated channel (the Link interface)."""

    name: str
    air: SimAir
    txq: deque[tuple[float, bytes]] = field(default_factory=deque)
    rxq: deque[bytes] = field(default_factory=deque)
    busy_until: float = 0.0  # own transmitter (full duplex)

    @property
    def mtu(self) -> int:
        return self.air.params.mtu

    def airtime(self, nbytes: int) -> float:
        return self.air.params.airtime(nbytes)

    def describe(self) -> str:
        p = self.air.params
        return f"simulator {p.bitrate:g} bit/s, MTU {p.mtu}, loss {p.loss:.0%}"

    def ready(self) -> bool:
        """Could a frame handed over now go on the air at once?"""
        self.air.advance()
        return not self.txq and self.air.free_at(self) <= self.air.clock()

    def send(self, frame: bytes) -> None:
        if len(frame) > self.mtu:
            raise RadioError(f"frame of {len(frame)} bytes exceeds the simulator's MTU {self.mtu}")
        self.txq.append((self.air.clock(), bytes(frame)))
        self.air.advance()

    def receive(self) -> list[bytes]:
        self.air.advance()
        out = list(self.rxq)
        self.rxq.clear()
        return out

    def close(self) -> None:
        self.air.detach(self.name)


class SimAir:
    """The channel all endpoints share. ``advance()`` brings it up to the clock's time."""

    def __init__(
        self, params: SimParams, clock: Callable[[], float], fate: Fate | None = None
    ) -> None:
        self.params = params.check()
        self.clock = clock
        self.rng = random.Random(params.seed)
        self.fate = fate or self._random_fate
        self.endpoints: dict[str, SimEndpoint] = {}
        self.busy_until = 0.0  # the shared channel (half duplex)
        self.deliveries: list[tuple[float, int, str, bytes]] = []
        self._n = 0
        self._seq = 0
        self.log: list[Transmission] = []

    @property
    def transmissions(self) -> int:
        """Frames put on the air so far (the ``n`` that :data:`Fate` is called with)."""
        return self._n

    def attach(self, name: str) -> SimEndpoint:
        if name in self.endpoints:
            raise RadioError(f"an endpoint named {name!r} is already on this channel")
        ep = SimEndpoint(name, self)
        self.endpoints[name] = ep
        return ep

    def detach(self, name: str) -> None:
        self.endpoints.pop(name, None)

    def free_at(self, ep: SimEndpoint) -> float:
        return self.busy_until if self.params.half_duplex else ep.busy_until

    def _random_fate(self, n: int, sender: str, receiver: str) -> list[float]:
        p = self.params
        if self.rng.random() < p.loss:
            return []
        delay = p.reorder_delay if self.rng.random() < p.reorder else 0.0
        copies = [delay]
        if self.rng.random() < p.duplicate:
            copies.append(delay + self.rng.random() * p.reorder_delay)
        return copies

    def advance(self) -> None:
        """Start queued transmissions whose turn has come and deliver frames that arrived."""
        now = self.clock()
        while True:
            nxt = self._next_sender(now)
            if nxt is None:
                break
            ep, start = nxt
            _, frame = ep.txq.popleft()
            self._transmit(ep, start, frame)
        while self.deliveries and self.deliveries[0][0] <= now:
            _, _, name, frame = heapq.heappop(self.deliveries)
            dest = self.endpoints.get(name)
            if dest is not None:
                dest.rxq.append(frame)

    def _next_sender(self, now: float) -> tuple[SimEndpoint, float] | None:
        best: tuple[float, float, str] | None = None
        for name, ep in self.endpoints.items():
            if not ep.txq:
                continue
            queued = ep.txq[0][0]
            start = max(queued, self.free_at(ep))
            if start <= now and (best is None or (queued, start, name) < best):
                best = (queued, start, name)
        if best is None:
            return None
        return self.endpoints[best[2]], best[1]

    def _transmit(self, ep: SimEndpoint, start: float, frame: bytes) -> None:
        end = start + self.params.airtime(len(frame))
        if self.params.half_duplex:
            self.busy_until = end
        else:
            ep.busy_until = end
        self.log.append(Transmission(ep.name, start, end, len(frame)))
        n = self._n
        self._n += 1
        for name in sorted(self.endpoints):
            if name == ep.name:
                continue
            for extra in self.fate(n, ep.name, name):
                self._seq += 1
                at = end + self.params.latency + extra
                heapq.heappush(self.deliveries, (at, self._seq, name, frame))

    def next_event(self) -> float | None:
        """When something next happens on the channel (a delivery, or it frees up)."""
        times = [d[0] for d in self.deliveries[:1]]
        now = self.clock()
        for ep in self.endpoints.values():
            free = self.free_at(ep)
            if free > now:
                times.append(free)
        return min(times) if times else None


def parse_params(options: dict[str, str], base: SimParams | None = None) -> SimParams:
    """Simulator settings from ``key=value`` options (``bitrate=1200 mtu=200 loss=0.1``)."""
    p = base or SimParams()
    values = p.to_json()
    for key, text in options.items():
        name = {"half-duplex": "half_duplex", "reorder-delay": "reorder_delay"}.get(key, key)
        if name not in values:
            known = ", ".join(sorted(values))
            raise LinkSpecError(f"unknown simulator setting {key!r} (known: {known})")
        values[name] = _value(name, text)
    return SimParams(**values).check()


def _value(name: str, text: str) -> Any:
    t = str(text).strip().lower()
    try:
        if name == "half_duplex":
            if t in ("1", "true", "yes", "on"):
                return True
            if t in ("0", "false", "no", "off"):
                return False
            raise ValueError(t)
        if name in ("mtu", "seed"):
            return int(t)
        if name in ("latency", "reorder_delay"):
            if t.endswith("ms"):
                return float(t[:-2]) / 1000
            return float(t.removesuffix("s"))
        if t.endswith("%"):
            return float(t[:-1]) / 100
        return float(t)
    except ValueError as e:
        raise LinkSpecError(f"simulator setting {name}={text!r} is not a valid value") from e
