"""An in-memory network for sync engines: tests of the sync logic without sockets or sleeps.

Messages go through the real wire encoding (``mesh.protocol``) and the real
fault policy (``mesh.faults``), so partitions, loss and version handling are
exercised exactly as on the wire; only ZeroMQ is left out.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ledger.store import Store
from mesh import faults, protocol
from mesh.engine import Out, SyncEngine


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class MemoryNode:
    name: str
    key: bytes
    store: Store
    engine: SyncEngine
    policy: faults.LinkPolicy = field(default_factory=faults.LinkPolicy)


class MemoryNetwork:
    """Engines connected all-to-all; ``round()`` runs one gossip interval."""

    def __init__(self, seed: int = 0) -> None:
        self.nodes: dict[str, MemoryNode] = {}
        self.by_key: dict[bytes, str] = {}
        self.rng = random.Random(seed)
        self.clock = FakeClock()
        self.queue: deque[tuple[str, str, bytes]] = deque()
        self.bytes_sent = 0
        self.messages = 0
        self.down: set[str] = set()

    def add(self, name: str, store: Store, key: bytes, **engine_options: Any) -> MemoryNode:
        engine = SyncEngine(
            store, key, clock=self.clock, rng=random.Random(self.rng.random()), **engine_options
        )
        node = MemoryNode(name, key, store, engine)
        self.nodes[name] = node
        self.by_key[key] = name
        return node

    def partition(self, *groups: list[str]) -> None:
        for node in self.nodes.values():
            node.policy = faults.LinkPolicy(groups=[list(g) for g in groups])

    def heal(self) -> None:
        for node in self.nodes.values():
            node.policy = faults.LinkPolicy()

    def live_peers(self, name: str) -> list[bytes]:
        return [
            n.key for other, n in self.nodes.items() if other != name and other not in self.down
        ]

    def send(self, src: str, outs: list[Out]) -> None:
        node = self.nodes[src]
        for key, msg_type, fields in outs:
            dst = self.by_key.get(key)
            if dst is None or dst in self.down:
                continue
            if faults.outgoing(node.policy, src, dst, self.rng) is None:
                continue
            data = protocol.encode(msg_type, **fields)
            self.bytes_sent += len(data)
            self.messages += 1
            self.queue.append((src, dst, data))

    def deliver(self, limit: int = 1_000_000) -> int:
        """Deliver queued messages (and the replies they cause) until quiet."""
        n = 0
        while self.queue and n < limit:
            src, dst, data = self.queue.popleft()
            node = self.nodes[dst]
            if dst in self.down or not faults.incoming(node.policy, dst, src):
                continue
            msg = protocol.decode(data)
            self.send(dst, node.engine.handle(self.nodes[src].key, msg["t"], msg))
            n += 1
        return n

    def round(self) -> None:
        """One gossip interval: every node pushes, pumps and starts one anti-entropy round."""
        self.clock.advance(1.0)
        for name, node in self.nodes.items():
            if name in self.down:
                continue
            live = self.live_peers(name)
            self.send(name, node.engine.local_push(live))
            self.send(name, node.engine.pump())
            peer = self.rng.choice(live) if live else None
            if peer is not None:
                self.send(name, node.engine.start_round(peer))
        self.deliver()

    def converged(self) -> bool:
        digests = {n.store.digest() for name, n in self.nodes.items() if name not in self.down}
        return len(digests) == 1

    def run_until_converged(self, max_rounds: int = 50) -> int:
        for i in range(1, max_rounds + 1):
            self.round()
            if self.converged():
                return i
        raise AssertionError(f"not converged after {max_rounds} rounds")
