"""Stations on the simulator under a simulated clock: minutes of radio in milliseconds.

Used by the tests and the benchmark. Each station has its own real store;
the loop jumps the clock from one event to the next (a frame's end, a
delivery, a timer), so a 1,200 bit/s link is simulated exactly, only fast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import nacl.signing

from ledger.store import Store
from mesh.radio.ledger_port import LocalLedger
from mesh.radio.sim import Fate, SimAir, SimEndpoint, SimParams
from mesh.radio.station import Station, StationConfig

POLL = 0.25  # how often a bridge looks for entries written by other processes


class SimClock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class SimNode:
    name: str
    store: Store
    station: Station
    endpoint: SimEndpoint
    up: bool = True


@dataclass
class SimNet:
    params: SimParams
    fate: Fate | None = None
    clock: SimClock = field(default_factory=SimClock)
    nodes: dict[str, SimNode] = field(default_factory=dict)
    air: SimAir = field(init=False)
    _next_poll: float = 0.0
    _turn: int = 0

    def __post_init__(self) -> None:
        self.air = SimAir(self.params, self.clock, self.fate)

    @property
    def now(self) -> float:
        return self.clock.now

    def add(
        self,
        name: str,
        store: Store,
        signing_key: nacl.signing.SigningKey,
        config: StationConfig | None = None,
        events: Callable[[str], None] | None = None,
    ) -> SimNode:
        endpoint = self.air.attach(name)
        station = Station(
            LocalLedger(store),
            signing_key,
            config or StationConfig(),
            mtu=self.params.mtu,
            airtime=self.params.airtime,
            names=lambda k: _name_of(store, k),
            events=events,
        )
        node = SimNode(name, store, station, endpoint)
        self.nodes[name] = node
        return node

    def step(self) -> None:
        """Everything that happens at the current instant."""
        now = self.clock.now
        self.air.advance()
        for node in self._up():
            for frame in node.endpoint.receive():
                node.station.receive(frame, now)
        if now >= self._next_poll:
            self._next_poll = now + POLL
            for node in self._up():
                node.station.poll_ledger(now)
        for node in self._up():
            node.station.tick(now)
            while node.endpoint.ready():
                out = node.station.next_frame(now)
                if out is None:
                    break
                node.endpoint.send(out)

    def _up(self) -> list[SimNode]:
        """Stations that are on, in turns (no station always gets the channel first)."""
        nodes = [n for n in self.nodes.values() if n.up]
        self._turn += 1
        k = self._turn % max(1, len(nodes))
        return nodes[k:] + nodes[:k]

    def next_time(self) -> float:
        now = self.clock.now
        times = [self._next_poll]
        event = self.air.next_event()
        if event is not None:
            times.append(event)
        for node in self._up():
            times.append(node.station.wakeup(now))
        t = min(times)
        return t if t > now + 1e-9 else now + 0.01

    def run_until(self, done: Callable[[], bool], limit: float) -> float:
        """Run until ``done()`` (returns the simulated seconds it took) or ``limit`` seconds."""
        start = self.clock.now
        while True:
            self.step()
            if done():
                return self.clock.now - start
            if self.clock.now - start >= limit:
                raise TimeoutError(f"not done after {limit:.0f} simulated seconds")
            self.clock.now = min(self.next_time(), start + limit)

    def run_for(self, seconds: float) -> None:
        end = self.clock.now + seconds
        while self.clock.now < end:
            self.step()
            self.clock.now = min(self.next_time(), end)
        self.step()

    def in_sync(self, names: list[str] | None = None) -> bool:
        chosen = [self.nodes[n] for n in names] if names else list(self.nodes.values())
        return len({n.store.digest() for n in chosen}) == 1


def _name_of(store: Store, key: bytes) -> str:
    return store.roster().name_of(key)
