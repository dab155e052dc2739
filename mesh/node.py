"""A mesh node: one thread, one poll loop, serving every peer fairly.

The node binds a ROUTER as CurveZMQ server (keys derived from the laptop's
identity) and dials every known member with a DEALER as CurveZMQ client
(:mod:`mesh.transport`). Its ZAP handler (:mod:`mesh.admission`) admits only
connectable roster members, and every inbound message is attributed to the key
the handshake proved. A key revoked while connected is cut off at the next
check: its DEALER is closed, its messages are dropped, and the ROUTER is
re-bound so its TCP connection goes (ZeroMQ never drops just one).

Each turn of the loop answers ZAP and control requests first, then reads peer
messages round-robin (one per connection per pass) for at most
:data:`TURN_BUDGET_S`, answering ZAP and control again between messages: a
member who floods the node gets its share of turns, not the node. Invalid
data is charged to its sender (:mod:`mesh.conduct`); past the limit the
sender is cut off for a while.

Sync logic lives in :mod:`mesh.engine`; link facts in :mod:`mesh.links`;
UDP in :mod:`mesh.keyservice`; what `status` shows in :mod:`mesh.status`.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import json
import os
import random
import time
from collections.abc import Callable
from typing import Any

import zmq

from ledger.errors import NotInitialised, PluriError
from ledger.home import Home
from mesh import control_server, faults, protocol
from mesh.admission import Admission
from mesh.config import DEFAULT_PORT, NodeConfig
from mesh.control import NODE_FILE, control_endpoint, pid_alive, read_node_file, remove_stale
from mesh.engine import Out, SyncEngine
from mesh.errors import AddressInUse
from mesh.keyservice import KeyService
from mesh.links import Dialer, PeerLink, describe
from mesh.peer_exchange import PeerExchange
from mesh.peers import PeerBook, check_listen, host_port, parse_peer
from mesh.receive import Receiver
from mesh.status import Counters
from mesh.transport import CurveKeys, bind_router
from mesh.upkeep import keep_links

__all__ = ["DEFAULT_PORT", "Node", "NodeConfig"]

#: Longest a turn spends on peer messages before timers and a fresh poll.
TURN_BUDGET_S = 0.05
#: ZAP and control are served again after this long between peer messages.
PRIORITY_EVERY_S = 0.005
#: Messages that expect an answer: if none comes, the link may be dead (see NodeConfig.silence).
_EXPECT_REPLY = frozenset({"digest", "ping", "entries", "hello", "push"})


class Node:
    """A running mesh node on one home. Use :meth:`start`, :meth:`step` / :meth:`run`, :meth:`close`."""

    def __init__(
        self,
        home: Home,
        config: NodeConfig,
        *,
        events: Callable[[str], None] | None = None,
        seed: int | None = None,
    ) -> None:
        config.check()
        self.home = home
        self.config = config
        self.events = events or (lambda _msg: None)
        self.identity = home.identity
        self.store = home.store
        self.me = self.identity.public
        self.rng = random.Random(seed)
        self.engine = SyncEngine(
            self.store,
            self.me,
            batch_entries=config.batch_entries,
            window=config.window,
            transfer_timeout=max(4.0, 8 * config.interval),
            rng=random.Random(self.rng.random()),
            background_verify=True,
        )
        self.book = PeerBook(home.path)
        self.keys = KeyService(self.events)
        self.policy = faults.LinkPolicy()
        self.counters = Counters()
        self.links: dict[bytes, PeerLink] = {}
        self.active: set[bytes] = set()
        self.delayed: list[tuple[float, int, bytes, bytes]] = []
        self._delay_seq = 0
        self.rate_cap = faults.RateCap()
        self.stopping = False
        self.started = time.time()
        self.round_every = config.interval
        self._round_peer: bytes | None = None
        self._unanswered_rounds: set[bytes] = set()
        self._generation = -1
        self._data_version = -1
        self._next_tick = self._next_check = self._next_round = 0.0
        self._ticks = 0
        self._rr = 0
        self._last_priority = 0.0
        self.ctx: zmq.Context[zmq.Socket[bytes]] | None = None
        self._name = self.identity.name
        self._dropped: set[bytes] = set()
        self.dialer = Dialer(None, CurveKeys(b"", b""), config.heartbeat, config.heartbeat_timeout)
        self.receiver = Receiver(self)
        self.exchange = PeerExchange(self)
        self.engine.on_ingest = self.receiver.on_ingest
        self.engine.on_invalid = self.receiver.on_invalid

    # --- life cycle ---------------------------------------------------------------

    @property
    def name(self) -> str:
        """This laptop's member name (what partition groups refer to)."""
        return self._name

    @property
    def mesh_id(self) -> bytes | None:
        return self.store.mesh_id

    @property
    def fresh(self) -> float:
        """A peer heard this recently is live even without an outbound link we know is up."""
        return 3 * self.config.interval

    @property
    def fresh_inbound(self) -> float:
        """For a peer that reaches us only on its own connection (quiet while in sync)."""
        return max(self.fresh, 2 * self.config.idle_interval + self.config.interval)

    # Names older code and tests use.
    @property
    def dealers(self) -> dict[bytes, zmq.Socket[bytes]]:
        return self.dialer.dealers

    @property
    def dealers_addr(self) -> dict[bytes, str]:
        return self.dialer.addr

    def peer_state(self, key: bytes) -> str:
        link = self.links.get(key)
        return describe(link, time.monotonic(), self.fresh, self.fresh_inbound)[0] if link else ""

    def start(self) -> None:
        check_listen(self.config.listen)
        info = read_node_file(self.home.path)
        if (
            info is not None
            and pid_alive(int(info.get("pid", -1)))
            and int(info["pid"]) != os.getpid()
        ):
            raise AddressInUse(
                f"a node is already running on this home (pid {info['pid']})",
                hint="use `plurictl node status`, or stop that node first",
            )
        remove_stale(self.home.path)
        if self.store.mesh_id is None and self.store.expected_mesh is None:
            # Without a mesh id to check, the first genesis offered would be taken.
            raise NotInitialised(
                "this laptop is not in a mesh yet",
                hint="found one (`plurictl mesh create NAME`) or join one "
                "(`plurictl mesh join MESH_ID`, the id read from a member's `mesh show`)",
            )
        try:
            self._open_sockets()
        except BaseException:
            self.keys.close()
            if self.ctx is not None:
                self.ctx.destroy(linger=0)
                self.ctx = None
            raise
        self._refresh_roster(force=True)
        for text in self.config.peers:
            self.add_peer(text)
        for rec in self.book.records:
            if rec.key and (rec.good_addr or rec.addr):
                self.dial(rec.key, rec.good_addr or rec.addr)  # type: ignore[arg-type]
        self._write_node_file()
        self.events(f"listening on {self.listen_endpoint} as {self.name} ({self.me.hex()[:12]})")

    def _open_sockets(self) -> None:
        self.ctx = zmq.Context()
        self.poller = zmq.Poller()
        public, secret = self.identity.curve_keypair()
        self.curve = CurveKeys(public, secret)
        # The ZAP handler must exist before the first CURVE handshake.
        zap = self.ctx.socket(zmq.REP)
        zap.linger = 0
        zap.bind("inproc://zeromq.zap.01")
        self.admission = Admission(zap, self._banned, self.events)
        self.poller.register(zap, zmq.POLLIN)
        self.router, self.listen_endpoint = bind_router(self.ctx, self.config.listen, self.curve)
        self.poller.register(self.router, zmq.POLLIN)
        self.dialer.ctx, self.dialer.keys, self.dialer.poller = self.ctx, self.curve, self.poller
        self.control = self.ctx.socket(zmq.ROUTER)
        self.control.linger = 0
        self.control_endpoint = control_endpoint(self.home.path)
        ipc_path = self.control_endpoint.removeprefix("ipc://")
        with contextlib.suppress(OSError):
            os.unlink(ipc_path)
        self.control.bind(self.control_endpoint)
        with contextlib.suppress(OSError):
            os.chmod(ipc_path, 0o600)
        self.poller.register(self.control, zmq.POLLIN)
        host, port = host_port(self.listen_endpoint)
        discover_port = self.config.discover_port if self.config.discover else None
        self.keys.open(host, port, discover_port=discover_port)
        for sock in self.keys.sockets():
            self.poller.register(sock.fileno(), zmq.POLLIN)

    def _rebind_router(self) -> None:
        """Drop every inbound connection (ZeroMQ cannot drop just one); members reconnect.

        Closing a ZeroMQ socket is asynchronous: the port is free a moment later,
        so binding again is retried briefly.
        """
        assert self.ctx is not None
        self.poller.unregister(self.router)
        self.router.close(linger=0)
        for link in self.links.values():
            link.routing_id = None
            link.inbound_seen.clear()
        deadline = time.monotonic() + 3.0
        while True:
            try:
                self.router, _ = bind_router(self.ctx, self.listen_endpoint, self.curve)
                break
            except AddressInUse:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        self.poller.register(self.router, zmq.POLLIN)
        self.counters.router_rebinds += 1

    def _write_node_file(self) -> None:
        data = {
            "pid": os.getpid(),
            "control": self.control_endpoint,
            "listen": self.listen_endpoint,
            "key": self.me.hex(),
            "started": self.started,
        }
        path = self.home.path / NODE_FILE
        tmp = path.with_name(NODE_FILE + ".tmp")
        tmp.write_text(json.dumps(data))
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)

    def close(self) -> None:
        self.book.save()
        self.engine.close()
        if self.ctx is None:
            return
        self.dialer.close_all()
        self.keys.close()
        self.router.close(linger=0)
        self.control.close(linger=0)
        self.admission.zap.close(linger=0)
        self.ctx.term()
        self.ctx = None
        info = read_node_file(self.home.path)
        if info is not None and int(info.get("pid", -1)) == os.getpid():
            with contextlib.suppress(OSError):
                (self.home.path / NODE_FILE).unlink()
        with contextlib.suppress(OSError):
            os.unlink(self.control_endpoint.removeprefix("ipc://"))
        self.events("node stopped")

    def run(self, until: Callable[[], bool] | None = None) -> None:
        while not self.stopping and not (until and until()):
            self.step()

    # --- the loop -------------------------------------------------------------------

    def step(self, max_wait: float = 0.05) -> None:
        now = time.monotonic()
        wait = max(
            0.0,
            min(max_wait, self._next_tick - now, self._next_check - now, self._next_delayed(now)),
        )
        if self.engine.backlog:
            wait = min(wait, 0.002)  # batches being checked: write them as soon as they are
        ready = self.poller.poll(int(wait * 1000))
        self._serve_priority(force=True)
        self._guarded(self.receiver.serve, [sock for sock, _ in ready], TURN_BUDGET_S)
        self._guarded(lambda: self.send_all(self.engine.finish()))
        now = time.monotonic()
        self._flush_delayed(now)
        if now >= self._next_check:
            self._next_check = now + 0.1
            self._guarded(self._check_store)
            self._guarded(lambda: self.send_all(self.engine.pump()))
        if now >= self._next_tick:
            self._next_tick = now + self.config.interval
            self._guarded(self._tick, now)

    def _serve_priority(self, force: bool = False) -> None:
        """Handshakes (ZAP) and control requests: served between any two peer messages."""
        now = time.monotonic()
        if not force and now - self._last_priority < PRIORITY_EVERY_S:
            return
        self._last_priority = now
        self._guarded(self.admission.serve, now)
        self._guarded(control_server.serve, self, self.control)

    def _guarded(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run one piece of the loop; a failure is reported and counted, never fatal.

        One bad message or a busy disk must not take a field laptop off the mesh.
        """
        try:
            fn(*args)
        except PluriError as e:  # a store problem (busy, full): report, keep serving
            self.counters.bad(f"store: {type(e).__name__}")
            self.events(f"error: {e}")
        except Exception as e:
            self.counters.bad(f"internal: {type(e).__name__}")
            self.events(f"internal error (kept running): {type(e).__name__}: {e}")

    def _tick(self, now: float) -> None:
        self._ticks += 1
        for sock in self.keys.tick(now):
            self.poller.register(sock.fileno(), zmq.POLLIN)
        keep_links(self, now)
        if now >= self._next_round:
            self._gossip_round(now)
        self.exchange.tick(now)
        if self.config.discover and self._ticks % max(1, round(2 / self.config.interval)) == 1:
            self.exchange.send_beacon()
        if self._ticks % 5 == 0:
            self.book.save()

    def _gossip_round(self, now: float) -> None:
        live = self.live_peers()
        self._unanswered_rounds &= set(live)
        peer = self.rng.choice(live) if live else None
        if peer is not None:
            self._round_peer = peer
            self._unanswered_rounds.add(peer)
            self.send_all(self.engine.start_round(peer))
            self._next_round = now + self.round_every
        else:
            self._next_round = now + self.config.interval

    def busy(self) -> None:
        """Something changed (new entries, a new peer, a heal): gossip at full pace again."""
        if self.round_every != self.config.interval:
            self.round_every = self.config.interval
            self._next_round = min(self._next_round, time.monotonic() + self.round_every)

    def round_answered(self, key: bytes, digest: bytes | None) -> None:
        """A peer answered a round of ours. When the peer of our last round says both
        ledgers are equal and no live peer left a round unanswered, the next round can wait
        longer. (An ``in_sync`` nobody asked for changes nothing; a peer that never answers,
        e.g. across a simulated partition, keeps the pace up.)"""
        self._unanswered_rounds.discard(key)
        if digest is None or key != self._round_peer or digest != self.store.digest():
            return
        self._round_peer = None
        if not self._unanswered_rounds:
            self.round_every = min(self.round_every * 2, self.config.idle_interval)

    def sync_now(self) -> int:
        """Start a round with every live peer now (`plurictl sync` with a running node, heal)."""
        self.busy()
        targets = self.live_peers()
        self._unanswered_rounds.update(targets)  # full pace until each has answered
        for key in targets:
            self.send_all(self.engine.start_round(key))
        return len(targets)

    def set_policy(self, policy: faults.LinkPolicy) -> None:
        self.policy = policy
        self.events(f"link policy: {policy.to_json()}")
        self.sync_now()

    def store_changed(self) -> None:
        self._data_version = -1
        self._check_store()

    def _check_store(self) -> None:
        self.engine.advance_scan()  # a slice of the damage scan between turns (no stall)
        # Roster generation: changes with any roster entry or fork proof; cheap, read always.
        self._refresh_roster()
        version = self.store.data_version()
        if version != self._data_version:
            self._data_version = version
            self.busy()
            self.send_all(self.engine.local_push(self.push_targets()))

    # --- links ------------------------------------------------------------------------

    def link(self, key: bytes) -> PeerLink:
        link = self.links.get(key)
        if link is None:
            roster = self.store.roster()
            name = roster.name_of(key) if key in roster.keys else ""
            link = self.links[key] = PeerLink(key, name=name)
        return link

    def _banned(self, key: bytes, now: float) -> bool:
        link = self.links.get(key)
        return link is not None and link.conduct.banned(now)

    def live_peers(self) -> list[bytes]:
        """Peers to gossip with: a link that works, heard or connected recently."""
        now = time.monotonic()
        return sorted(
            k
            for k, p in self.links.items()
            if describe(p, now, self.fresh, self.fresh_inbound)[0] == "live"
            and (k in self.dialer.dealers or p.routing_id is not None)
            and (self.mesh_id is None or k in self.active)
        )

    def push_targets(self) -> list[bytes]:
        """Every peer we can reach at all: new entries go to each at once."""
        now = time.monotonic()
        return sorted(
            k
            for k, p in self.links.items()
            if (p.out == "up" or p.routing_id is not None)
            and not p.fixed
            and not p.conduct.banned(now)
            and (self.mesh_id is None or k in self.active)
        )

    def add_peer(self, text: str) -> None:
        """A static peer: dial it if its key is known, else ask its key service over UDP."""
        addr, key = parse_peer(text)
        if key is None:
            rec = self.book.by_addr(addr)
            key = rec.key if rec else None
        if key is not None:
            self.book.learn(addr=addr, key=key, source="static")
            self.dial(key, addr, urgent=True)
        else:
            self.book.learn(addr=addr, key=None, source="static")
            self.keys.resolve(addr)

    def dial(self, key: bytes, addr: str, *, urgent: bool = False) -> None:
        """Dial ``key`` at ``addr``, unless a working link to it exists.

        Addresses from beacons and peer exchange are hints nobody signed: they
        never replace a link that is up, and a wrong one is abandoned for the
        last address where a handshake succeeded (see :mod:`mesh.upkeep`). A
        peer that refused us is dialled again after its back-off, or at once
        when ``urgent`` (it just contacted us, or the operator asked).
        """
        if key == self.me or self.ctx is None:
            return
        link = self.link(key)
        now = time.monotonic()
        if self.mesh_id is not None and key not in self.active:
            link.fixed = link.fixed or "not a member"
            return
        if link.fixed or link.conduct.banned(now):
            return
        if link.out == "refused" and not urgent and (link.retry_at or 0) > now:
            return
        if key in self.dialer.dealers and (self.dialer.addr[key] == addr or link.out == "up"):
            return
        self.counters.dials += 1
        self.dialer.dial(key, addr)
        link.addr, link.dialled_at, link.out, link.hello_sent = addr, now, "connecting", False

    # --- roster and admission -----------------------------------------------------------

    def _refresh_roster(self, force: bool = False) -> None:
        generation = self.store.generation()
        if generation == self._generation and not force:
            return
        self._generation = generation
        roster = self.store.roster()
        if self.me in roster.keys:
            self._name = roster.name_of(self.me)
        self.active = roster.connectable_keys()
        self._dropped = {
            k for k, info in roster.keys.items() if info.name in self.config.drop_feeds
        }
        self.admission.set_members(self.active, self.me)
        if self.mesh_id is not None:
            self._cut_off_non_members(roster)
        for key, link in self.links.items():
            if key in roster.keys:
                link.name = roster.name_of(key)
                if link.fixed == "not a member" and key in self.active:
                    link.fixed = ""
        for rec in self.book.records:
            addr = rec.good_addr or rec.addr
            if rec.key in self.active and addr and rec.key not in self.dialer.dealers:
                self.dial(rec.key, addr)

    def _cut_off_non_members(self, roster: Any) -> None:
        cut = False
        for key, link in self.links.items():
            if key in self.active:
                continue
            link.fixed = "revoked" if key in roster.keys else "not a member"
            if key in self.dialer.dealers:
                self.dialer.close(key)
                self.events(f"cut off {roster.name_of(key)}: no longer an active member")
            link.out = "none"
            self.engine.forget(key)
            cut = cut or link.routing_id is not None
        if cut:
            self._rebind_router()

    def cut_off(self, link: PeerLink, why: str) -> None:
        """Disconnect a misbehaving peer; ZAP refuses it until its ban ends."""
        self.counters.penalties += 1
        self.dialer.close(link.key)
        link.out = "none"
        self.engine.forget(link.key)
        left = link.conduct.ban_left(time.monotonic())
        self.events(f"cut off {link.name or link.key.hex()[:12]} for {left:.0f} s: {why}")
        if link.routing_id is not None or link.inbound_seen:
            self._rebind_router()

    # --- sending -------------------------------------------------------------------------------

    def send_all(self, outs: list[Out]) -> None:
        for key, msg_type, fields in outs:
            self.send(key, msg_type, fields)

    def send(self, key: bytes, msg_type: str, fields: dict[str, Any]) -> None:
        link = self.link(key)
        delay = faults.outgoing(self.policy, self.name, link.name, self.rng)
        if delay is None:
            self.counters.dropped_by_faults += 1
            return
        data = protocol.encode(msg_type, **fields)
        tally = self.counters.sent_by_type.setdefault(msg_type, [0, 0])
        tally[0] += 1
        tally[1] += len(data)
        expects = msg_type in _EXPECT_REPLY or (msg_type == "heads" and fields.get("reply"))
        wait_ms = self.rate_cap.delay(key, len(data), delay, self.policy.rate_kbit)
        if wait_ms > 0:
            self._delay_seq += 1
            item = (time.monotonic() + wait_ms / 1000, self._delay_seq, key, data)
            heapq.heappush(self.delayed, item)
            return
        if self.transmit(key, data) and expects and link.unanswered_since is None:
            link.unanswered_since = time.monotonic()

    def transmit(self, key: bytes, data: bytes) -> bool:
        link = self.link(key)
        if link.fixed or link.conduct.banned(time.monotonic()):
            return False
        sent = False
        dealer = self.dialer.dealers.get(key)
        if dealer is not None:
            with contextlib.suppress(zmq.ZMQError):
                dealer.send(data, zmq.NOBLOCK)
                sent = True
        if not sent and link.routing_id is not None:
            try:
                self.router.send_multipart([link.routing_id, data], zmq.NOBLOCK)
                sent = True
            except zmq.ZMQError as e:
                if e.errno == errno.EHOSTUNREACH:
                    link.lost_inbound()  # that connection is gone
        if sent:
            link.bytes_out += len(data)
            link.msgs_out += 1
            self.counters.bytes_out += len(data)
        return sent

    def _next_delayed(self, now: float) -> float:
        return (self.delayed[0][0] - now) if self.delayed else 1.0

    def _flush_delayed(self, now: float) -> None:
        while self.delayed and self.delayed[0][0] <= now:
            _, _, key, data = heapq.heappop(self.delayed)
            self.transmit(key, data)

    # --- status (see mesh.status and mesh.control_server) ----------------------------------------

    def command(self, cmd: str, args: dict[str, Any]) -> Any:
        return control_server.command(self, cmd, args)

    def status(self) -> dict[str, Any]:
        from mesh.status import status

        return status(self)

    def peers_status(self) -> list[dict[str, Any]]:
        from mesh.status import peers_status

        return peers_status(self)
