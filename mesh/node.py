"""A mesh node: ZeroMQ sockets, CURVE/ZAP admission, timers, control socket.

One thread, one poll loop. The node binds a ROUTER as CurveZMQ server (keys
derived from the laptop's identity) and dials every known member with a
DEALER as CurveZMQ client. Its own ZAP handler admits only keys that are
active in the roster view, and every inbound message is attributed to the key
the handshake proved. A key revoked while connected is cut off at the next
tick: its DEALER is closed, its messages are dropped, and the ROUTER is
re-bound so its TCP connection goes (ZeroMQ never drops it by itself).

Sync logic lives in :mod:`mesh.engine`; this module only moves bytes.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import os
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgpack
import zmq
import zmq.utils.monitor

from ledger.errors import NotInitialised, PluriError
from ledger.home import Home
from ledger.identity import curve_public_from_ed25519
from mesh import discovery, faults, protocol
from mesh.control import NODE_FILE, control_endpoint, pid_alive, read_node_file, remove_stale
from mesh.engine import Out, SyncEngine
from mesh.errors import AddressInUse, MeshError, ProtocolError
from mesh.peers import PeerBook, check_address, check_listen, host_port, parse_peer, peer_row

DEFAULT_PORT = 7800
ZAP_DOMAIN = b"plurigrid"
_MONITOR_EVENTS = (
    zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_DISCONNECTED
    | zmq.EVENT_CONNECT_RETRIED
)


@dataclass
class NodeConfig:
    listen: str = f"tcp://0.0.0.0:{DEFAULT_PORT}"
    peers: list[str] = field(default_factory=list)
    discover: bool = False
    discover_port: int = discovery.BEACON_PORT
    discover_targets: list[str] = field(default_factory=lambda: ["255.255.255.255"])
    interval: float = 1.0
    batch_entries: int = 500
    window: int = 3
    #: tell peers our listen address (off for one-shot syncs on an ephemeral port)
    advertise: bool = True
    #: testing only: member names whose entries this node silently drops (a broken node
    #: that drills use to prove their checker can fail)
    drop_feeds: list[str] = field(default_factory=list)

    @classmethod
    def from_home(cls, home: Path) -> NodeConfig:
        """Settings from ``config.toml`` in the home ([node] table), if present."""
        import tomllib

        path = Path(home) / "config.toml"
        cfg = cls()
        if not path.exists():
            return cfg
        try:
            data = tomllib.loads(path.read_text()).get("node", {})
        except (OSError, tomllib.TOMLDecodeError) as e:
            raise MeshError(f"{path}: {e}", hint="fix the file or move it away") from e
        for key in ("listen", "discover", "discover_port", "interval", "batch_entries", "window"):
            if key in data:
                setattr(cfg, key, data[key])
        if "peers" in data:
            if not isinstance(data["peers"], list):
                raise MeshError(f"{path}: node.peers must be a list of tcp://HOST:PORT")
            cfg.peers = [str(p) for p in data["peers"]]
        if "discover_targets" in data:
            cfg.discover_targets = [str(t) for t in data["discover_targets"]]
        return cfg


@dataclass
class PeerRuntime:
    """Live state of one peer during this run (the peer book keeps what lasts)."""

    key: bytes
    name: str = ""
    addr: str | None = None
    state: str = "idle"  # connecting | live | silent | refused | revoked | another mesh
    note: str = ""
    last_heard: float | None = None  # monotonic
    hello_sent: bool = False
    dialled_at: float | None = None  # monotonic
    bytes_in: int = 0
    bytes_out: int = 0
    msgs_in: int = 0
    msgs_out: int = 0
    bad: int = 0


@dataclass
class Counters:
    bad_messages: int = 0
    unauthorised: int = 0
    zap_refused: int = 0
    dropped_by_faults: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    router_rebinds: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    #: message type -> [messages, bytes] sent, for traffic accounting
    sent_by_type: dict[str, list[int]] = field(default_factory=dict)

    def bad(self, reason: str) -> None:
        self.bad_messages += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1


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
        )
        self.engine.on_ingest = self._on_ingest
        self.book = PeerBook(home.path)
        self.policy = faults.LinkPolicy()
        self.counters = Counters()
        self.peers: dict[bytes, PeerRuntime] = {}
        self.dealers: dict[bytes, zmq.Socket] = {}
        self.dealers_addr: dict[bytes, str] = {}
        self.monitors: dict[zmq.Socket, bytes] = {}
        self.inbound: dict[bytes, bytes] = {}  # key -> ROUTER routing id
        self.unresolved: dict[str, list[float]] = {}  # static address -> [next try, back-off]
        self.delayed: list[tuple[float, int, bytes, bytes]] = []
        self._delay_seq = 0
        self.allowed: dict[bytes, bytes] = {}  # curve public key (raw) -> ed25519 key
        self.active: set[bytes] = set()
        self.stopping = False
        self.started = time.time()
        self._generation = -1
        self._data_version = -1
        self._next_tick = 0.0
        self._next_check = 0.0
        self._ticks = 0
        self.ctx: zmq.Context | None = None
        self._name = self.identity.name
        self._dropped: set[bytes] = set()

    # --- life cycle ---------------------------------------------------------------

    @property
    def name(self) -> str:
        """This laptop's member name (what partition groups refer to)."""
        return self._name

    @property
    def mesh_id(self) -> bytes | None:
        return self.store.mesh_id

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
            if self.ctx is not None:
                self.ctx.destroy(linger=0)
                self.ctx = None
            raise
        self._refresh_roster(force=True)
        for text in self.config.peers:
            self.add_peer(text)
        for rec in self.book.records:
            if rec.key and (rec.good_addr or rec.addr):
                self._maybe_dial(rec.key, rec.good_addr or rec.addr)  # type: ignore[arg-type]
        self._write_node_file()
        self.events(f"listening on {self.listen_endpoint} as {self.name} ({self.me.hex()[:12]})")

    def _open_sockets(self) -> None:
        self.udp: socket.socket | None = None
        self.beacon: socket.socket | None = None
        self.ctx = zmq.Context()
        self.poller = zmq.Poller()
        self.curve_public, self.curve_secret = self.identity.curve_keypair()
        # The ZAP handler must exist before the first CURVE handshake.
        self.zap = self.ctx.socket(zmq.REP)
        self.zap.linger = 0
        self.zap.bind("inproc://zeromq.zap.01")
        self.poller.register(self.zap, zmq.POLLIN)
        self._bind_router(self.config.listen)
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
        try:
            self.udp = discovery.udp_socket(host, port)
            self.poller.register(self.udp.fileno(), zmq.POLLIN)
        except OSError as e:
            self.events(f"key service not available on UDP {port}: {e.strerror}")
        if self.config.discover:
            try:
                self.beacon = discovery.udp_socket(
                    "", self.config.discover_port, broadcast=True, reuse=True
                )
                self.poller.register(self.beacon.fileno(), zmq.POLLIN)
            except OSError as e:
                self.events(
                    f"LAN discovery off: cannot listen on UDP {self.config.discover_port}: {e.strerror}"
                )

    def _bind_router(self, endpoint: str) -> None:
        assert self.ctx is not None
        router = self.ctx.socket(zmq.ROUTER)
        router.linger = 0
        router.curve_server = True
        router.curve_publickey = self.curve_public
        router.curve_secretkey = self.curve_secret
        router.zap_domain = ZAP_DOMAIN
        router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        router.setsockopt(zmq.MAXMSGSIZE, protocol.MAX_MESSAGE_BYTES)
        router.rcvhwm = protocol.RECEIVE_QUEUE
        router.sndhwm = 10_000
        try:
            router.bind(endpoint)
        except zmq.ZMQError as e:
            router.close(linger=0)
            raise AddressInUse(
                f"cannot listen on {endpoint}: {e.strerror}",
                hint="another program uses that port; pick another with --listen tcp://0.0.0.0:PORT",
            ) from e
        self.router = router
        self.listen_endpoint = router.getsockopt_string(zmq.LAST_ENDPOINT)
        self.poller.register(router, zmq.POLLIN)

    def _rebind_router(self) -> None:
        """Drop every inbound connection (ZeroMQ cannot drop just one); members reconnect.

        Closing a ZeroMQ socket is asynchronous: the port is free a moment later,
        so binding again is retried briefly.
        """
        self.poller.unregister(self.router)
        self.router.close(linger=0)
        self.inbound.clear()
        deadline = time.monotonic() + 3.0
        while True:
            try:
                self._bind_router(self.listen_endpoint)
                break
            except AddressInUse:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
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
        if self.ctx is None:
            return
        for sock in list(self.dealers.values()):
            with contextlib.suppress(zmq.ZMQError):
                sock.disable_monitor()
            sock.close(linger=0)
        for mon in list(self.monitors):
            mon.close(linger=0)
        for s in (self.udp, self.beacon):
            if s is not None:
                s.close()
        self.router.close(linger=0)
        self.control.close(linger=0)
        self.zap.close(linger=0)
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
        for sock, _ in self.poller.poll(int(wait * 1000)):
            self._guarded(self._readable, sock)
        now = time.monotonic()
        self._flush_delayed(now)
        if now >= self._next_check:
            self._next_check = now + 0.1
            self._guarded(self._check_store)
            self._guarded(lambda: self._send_all(self.engine.pump()))
        if now >= self._next_tick:
            self._next_tick = now + self.config.interval
            self._guarded(self._tick, now)

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

    def _readable(self, sock: Any) -> None:
        if sock is self.router:
            self._recv_router()
        elif sock is self.zap:
            self._handle_zap()
        elif sock is self.control:
            self._handle_control()
        elif isinstance(sock, zmq.Socket) and sock in self.monitors:
            self._handle_monitor(sock)
        elif isinstance(sock, zmq.Socket):
            for key, dealer in list(self.dealers.items()):
                if dealer is sock:
                    self._recv_dealer(key, dealer)
                    break
        elif self.udp is not None and sock == self.udp.fileno():
            self._recv_udp(self.udp)
        elif self.beacon is not None and sock == self.beacon.fileno():
            self._recv_udp(self.beacon)

    def _tick(self, now: float) -> None:
        self._ticks += 1
        live = self.live_peers()
        for key in self._reachable():
            self._send(key, "ping", {})
        peer = self.rng.choice(sorted(live)) if live else None
        if peer is not None:
            self._send_all(self.engine.start_round(peer))
        self._resolve_static(now)
        self._fall_back(now)
        if self._ticks % 10 == 1:
            self._exchange_peers(live)
        if self.beacon is not None and self._ticks % 2 == 1:
            self._send_beacon()
        for rt in self.peers.values():
            if rt.state == "live" and (
                rt.last_heard is None or now - rt.last_heard > 3 * self.config.interval
            ):
                rt.state = "silent"
        if self._ticks % 5 == 0:
            self.book.save()

    def _check_store(self) -> None:
        # The generation changes with every roster entry or fork proof, from any
        # source (this process's ingest included): cheap to read, so read it always.
        self._refresh_roster()
        version = self.store.data_version()
        if version != self._data_version:
            self._data_version = version
            self._send_all(self.engine.local_push(self.live_peers()))

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
        self.allowed = {
            _z85_raw(curve_public_from_ed25519(k)): k for k in self.active if k != self.me
        }
        cut = False
        for key in list(self.dealers):
            if key not in self.active and self.mesh_id is not None:
                self._close_dealer(key)
                self.peers[key].state = "revoked" if key in roster.keys else "not a member"
                self.engine.forget(key)
                self.events(f"cut off {roster.name_of(key)}: no longer an active member")
        for key in list(self.inbound):
            if key not in self.active:
                cut = True
                self.engine.forget(key)
                self.peers.setdefault(key, PeerRuntime(key)).state = "revoked"
        if cut:
            self._rebind_router()
        for key, rt in self.peers.items():
            if rt.name == "" and key in roster.keys:
                rt.name = roster.name_of(key)
        for rec in self.book.records:
            if rec.key in self.active and rec.addr and rec.key not in self.dealers:
                self._maybe_dial(rec.key, rec.addr)

    def _handle_zap(self) -> None:
        frames = self.zap.recv_multipart()
        if len(frames) < 6:
            return
        version, request_id, _domain, _address, _identity, mechanism = frames[:6]
        credentials = frames[6:]
        key = None
        if mechanism == b"CURVE" and credentials and len(credentials[0]) == 32:
            key = self.allowed.get(credentials[0])
        if key is not None:
            self.zap.send_multipart([version, request_id, b"200", b"OK", key.hex().encode(), b""])
        else:
            self.counters.zap_refused += 1
            self.zap.send_multipart(
                [version, request_id, b"400", b"not a member of this mesh", b"", b""]
            )

    # --- peers -----------------------------------------------------------------------------

    def add_peer(self, text: str) -> None:
        """A static peer: dial it if its key is known, else ask its key service over UDP."""
        addr, key = parse_peer(text)
        if key is None:
            rec = self.book.by_addr(addr)
            key = rec.key if rec else None
        if key is not None:
            self.book.learn(addr=addr, key=key, source="static")
            self._maybe_dial(key, addr)
        else:
            self.book.learn(addr=addr, key=None, source="static")
            self.unresolved[addr] = [0.0, 0.5]

    def _resolve_static(self, now: float) -> None:
        if self.udp is None:
            return
        for addr, (next_try, backoff) in list(self.unresolved.items()):
            if now < next_try:
                continue
            host, port = host_port(addr)
            with contextlib.suppress(OSError):
                self.udp.sendto(discovery.QUERY, (host, port))
            self.unresolved[addr] = [now + backoff, min(backoff * 2, 8.0)]

    def _recv_udp(self, sock: socket.socket) -> None:
        try:
            data, (host, port, *_) = sock.recvfrom(2048)
        except OSError:
            return
        if data == discovery.QUERY:
            if sock is self.udp:
                _, my_port = host_port(self.listen_endpoint)
                with contextlib.suppress(OSError):
                    sock.sendto(
                        discovery.encode_announcement(self.me, self.mesh_id, my_port, self.name),
                        (host, port),
                    )
            return
        ann = discovery.decode_announcement(data)
        if ann is None or ann.key == self.me:
            return
        expected = self.mesh_id or self.store.expected_mesh
        if expected is None or ann.mesh != discovery.mesh_tag(expected):
            return  # another mesh on the same LAN (or an announcement without one)
        addr = f"tcp://{host}:{ann.port}"
        via_query = addr in self.unresolved
        self.unresolved.pop(addr, None)
        rec = self.book.learn(
            addr=addr, key=ann.key, name=ann.name, source="static" if via_query else "discovered"
        )
        if rec.key and rec.addr:
            self._maybe_dial(rec.key, rec.addr)

    def _fall_back(self, now: float) -> None:
        """A dial that has not completed a handshake in 10 s goes back to the good address."""
        for key, addr in list(self.dealers_addr.items()):
            rt = self.peers.get(key)
            rec = self.book.by_key(key)
            if rt is None or rec is None or not rec.good_addr or rec.good_addr == addr:
                continue
            if rt.state != "live" and rt.dialled_at is not None and now - rt.dialled_at > 10:
                self._close_dealer(key)
                self._maybe_dial(key, rec.good_addr)

    def _send_beacon(self) -> None:
        if self.udp is None:
            return
        _, port = host_port(self.listen_endpoint)
        data = discovery.encode_announcement(self.me, self.mesh_id, port, self.name)
        for target in self.config.discover_targets:
            host, _, beacon_port = target.partition(":")
            with contextlib.suppress(OSError):
                self.udp.sendto(data, (host, int(beacon_port or self.config.discover_port)))

    def _maybe_dial(self, key: bytes, addr: str) -> None:
        """Dial ``key`` at ``addr``, unless a working link to it exists.

        Addresses from beacons and peer exchange are hints nobody signed: they
        never replace a live link, and a wrong one is abandoned for the last
        address where a handshake succeeded (see :meth:`_fall_back`).
        """
        if key == self.me:
            return
        rt = self.peers.setdefault(key, PeerRuntime(key))
        if self.mesh_id is not None and key not in self.active:
            rt.state = "not a member"
            return
        if key in self.dealers:
            if self.dealers_addr.get(key) == addr or rt.state == "live":
                return
            self._close_dealer(key)
        rt.addr = addr
        rt.dialled_at = time.monotonic()
        assert self.ctx is not None
        dealer = self.ctx.socket(zmq.DEALER)
        dealer.linger = 0
        dealer.curve_serverkey = curve_public_from_ed25519(key)
        dealer.curve_publickey = self.curve_public
        dealer.curve_secretkey = self.curve_secret
        dealer.setsockopt(zmq.IMMEDIATE, 1)
        dealer.setsockopt(zmq.RECONNECT_IVL, 100)
        dealer.setsockopt(zmq.RECONNECT_IVL_MAX, 5000)  # capped exponential back-off
        dealer.setsockopt(zmq.MAXMSGSIZE, protocol.MAX_MESSAGE_BYTES)
        dealer.rcvhwm = protocol.RECEIVE_QUEUE
        dealer.sndhwm = 10_000
        monitor = dealer.get_monitor_socket(_MONITOR_EVENTS)
        dealer.connect(addr)
        self.dealers[key] = dealer
        self.dealers_addr[key] = addr
        self.monitors[monitor] = key
        self.poller.register(dealer, zmq.POLLIN)
        self.poller.register(monitor, zmq.POLLIN)
        rt.state = "connecting"
        rt.hello_sent = False

    def _close_dealer(self, key: bytes) -> None:
        dealer = self.dealers.pop(key, None)
        self.dealers_addr.pop(key, None)
        if dealer is None:
            return
        for mon, k in list(self.monitors.items()):
            if k == key:
                self.poller.unregister(mon)
                mon.close(linger=0)
                del self.monitors[mon]
        self.poller.unregister(dealer)
        with contextlib.suppress(zmq.ZMQError):
            dealer.disable_monitor()
        dealer.close(linger=0)

    def _handle_monitor(self, mon: zmq.Socket) -> None:
        key = self.monitors[mon]
        try:
            event = zmq.utils.monitor.recv_monitor_message(mon, zmq.NOBLOCK)
        except zmq.ZMQError:
            return
        rt = self.peers.setdefault(key, PeerRuntime(key))
        kind = event["event"]
        if kind == zmq.EVENT_HANDSHAKE_SUCCEEDED:
            rt.note = ""
            if key in self.dealers_addr:
                self.book.confirm(key, self.dealers_addr[key])
            self._send(key, "hello", self._hello())
            rt.hello_sent = True
        elif kind == zmq.EVENT_HANDSHAKE_FAILED_AUTH:
            rt.state = "refused"
            rt.note = "the peer refused us (is this laptop in its roster?)"
        elif kind in (zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL, zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL):
            rt.state = "refused"
            rt.note = "handshake failed (wrong key for that address?)"
        elif kind == zmq.EVENT_DISCONNECTED and rt.state == "live":
            rt.state = "connecting"

    def _hello(self) -> dict[str, Any]:
        return {"mesh": self.mesh_id, "name": self.name, "listen": self._advertised_listen()}

    def _advertised_listen(self) -> str | None:
        if not self.config.advertise:
            return None
        host, port = host_port(self.listen_endpoint)
        if host in ("0.0.0.0", "::", "*"):
            return f"tcp://*:{port}"  # the peer fills in the address it reached us from
        return self.listen_endpoint

    def _exchange_peers(self, live: list[bytes]) -> None:
        known = [
            [r.key, r.addr, r.name]
            for r in self.book.records
            if r.key and r.addr and (self.mesh_id is None or r.key in self.active)
        ]
        if not known:
            return
        for key in live:
            self._send(key, "peers", {"p": known})

    # --- receiving ---------------------------------------------------------------------------

    def _recv_router(self) -> None:
        while True:
            try:
                frames = self.router.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            if len(frames) != 2:
                self.counters.bad("wrong frame count")
                continue
            try:
                user = frames[1].get("User-Id")
                key = bytes.fromhex(user)
            except (zmq.ZMQError, ValueError, TypeError):
                self.counters.unauthorised += 1
                continue
            try:
                address = frames[1].get("Peer-Address")
            except zmq.ZMQError:
                address = None
            self._deliver(key, frames[1].bytes, routing_id=frames[0].bytes, peer_address=address)

    def _recv_dealer(self, key: bytes, dealer: zmq.Socket) -> None:
        while True:
            try:
                frames = dealer.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return
            if len(frames) != 1:
                self.counters.bad("wrong frame count")
                continue
            self._deliver(key, frames[0])

    def _deliver(
        self,
        key: bytes,
        data: bytes,
        routing_id: bytes | None = None,
        peer_address: str | None = None,
    ) -> None:
        if self.mesh_id is not None and key not in self.active:
            self.counters.unauthorised += 1
            return
        rt = self.peers.setdefault(key, PeerRuntime(key))
        if not rt.name:
            rt.name = self.store.roster().name_of(key)
        if not faults.incoming(self.policy, self.name, rt.name):
            self.counters.dropped_by_faults += 1
            return
        rt.bytes_in += len(data)
        rt.msgs_in += 1
        self.counters.bytes_in += len(data)
        if routing_id is not None:
            self.inbound[key] = routing_id
        try:
            msg = protocol.decode(data)
        except protocol.VersionMismatch as e:
            self.counters.bad("protocol version")
            rt.bad += 1
            self._send(key, "refuse", {"reason": str(e)})
            return
        except ProtocolError as e:
            self.counters.bad(str(e).split(":")[0])
            rt.bad += 1
            return
        rt.last_heard = time.monotonic()
        if rt.state in ("connecting", "silent", "idle"):
            rt.state = "live"
        msg_type = msg["t"]
        if msg_type == "hello":
            self._on_hello(key, msg, rt, peer_address)
        elif msg_type == "refuse":
            rt.note = f"refused by peer: {msg['reason']}"
        elif msg_type == "ping":
            self._send(key, "pong", {})
        elif msg_type == "peers":
            self._on_peers(msg)
        elif msg_type != "pong":
            if self.mesh_id is None and msg_type not in (
                "digest",
                "heads",
                "entries",
                "forks",
                "in_sync",
                "ack",
            ):
                return
            if self._dropped and msg_type in ("entries", "push"):
                # raw = 0x98 0x01 0xc4 0x20 author...: drop by author without decoding
                msg["b"] = [raw for raw in msg["b"] if raw[4:36] not in self._dropped]
            self._send_all(self.engine.handle(key, msg_type, msg))

    def _on_hello(
        self, key: bytes, msg: dict[str, Any], rt: PeerRuntime, peer_address: str | None
    ) -> None:
        theirs = msg.get("mesh")
        expected = self.mesh_id or self.store.expected_mesh
        if theirs is not None and expected is not None and theirs != expected:
            rt.state = "another mesh"
            rt.note = f"belongs to mesh {theirs.hex()[:16]}"
            self._send(key, "refuse", {"reason": "this node belongs to another mesh"})
            self._close_dealer(key)
            return
        roster = self.store.roster()
        # The roster's name is the truth; a name a peer announces is only a fallback
        # (partition groups and the peer list must not be spoofable).
        rt.name = roster.name_of(key) if key in roster.keys else (msg.get("name") or rt.name)
        listen = msg.get("listen")
        if listen and listen.startswith("tcp://*:"):
            listen = f"tcp://{peer_address}:{listen.rsplit(':', 1)[1]}" if peer_address else None
        if listen:
            with contextlib.suppress(MeshError):
                check_address(listen)
                self.book.learn(addr=listen, key=key, name=rt.name, source="exchange")
                if key not in self.dealers:
                    self._maybe_dial(key, listen)
        if not rt.hello_sent:
            rt.hello_sent = True
            self._send(key, "hello", self._hello())
        self.events(f"connected to {rt.name or key.hex()[:12]}")
        self._send_all(self.engine.start_round(key))  # first sync right away

    def _on_peers(self, msg: dict[str, Any]) -> None:
        for key, addr, name in msg["p"]:
            if key == self.me:
                continue
            try:
                check_address(addr)
            except MeshError:
                continue
            self.book.learn(addr=addr, key=key, name=str(name or ""), source="exchange")
            if key not in self.dealers:
                self._maybe_dial(key, addr)

    def _on_ingest(self, key: bytes, report: Any) -> None:
        if report.accepted:
            self.events(
                f"received {len(report.accepted)} entries from {self.peers.get(key, PeerRuntime(key)).name}"
            )
        if report.forks:
            self.events(f"FORK detected: {len(report.forks)} proof(s) (see `plurictl forks list`)")
        if any(e.kind.startswith(("roster.", "mesh.")) for e in report.accepted):
            self._refresh_roster()

    # --- sending -------------------------------------------------------------------------------

    def _send_all(self, outs: list[Out]) -> None:
        for key, msg_type, fields in outs:
            self._send(key, msg_type, fields)

    def _send(self, key: bytes, msg_type: str, fields: dict[str, Any]) -> None:
        rt = self.peers.setdefault(key, PeerRuntime(key))
        delay = faults.outgoing(self.policy, self.name, rt.name, self.rng)
        if delay is None:
            self.counters.dropped_by_faults += 1
            return
        data = protocol.encode(msg_type, **fields)
        tally = self.counters.sent_by_type.setdefault(msg_type, [0, 0])
        tally[0] += 1
        tally[1] += len(data)
        if delay > 0:
            self._delay_seq += 1
            heapq.heappush(
                self.delayed, (time.monotonic() + delay / 1000, self._delay_seq, key, data)
            )
            return
        self._transmit(key, data)

    def _transmit(self, key: bytes, data: bytes) -> bool:
        rt = self.peers.setdefault(key, PeerRuntime(key))
        dealer = self.dealers.get(key)
        sent = False
        if dealer is not None:
            try:
                dealer.send(data, zmq.NOBLOCK)
                sent = True
            except zmq.ZMQError:
                sent = False
        if not sent and key in self.inbound:
            try:
                self.router.send_multipart([self.inbound[key], data], zmq.NOBLOCK)
                sent = True
            except zmq.ZMQError:
                self.inbound.pop(key, None)
        if sent:
            rt.bytes_out += len(data)
            rt.msgs_out += 1
            self.counters.bytes_out += len(data)
        return sent

    def _next_delayed(self, now: float) -> float:
        return (self.delayed[0][0] - now) if self.delayed else 1.0

    def _flush_delayed(self, now: float) -> None:
        while self.delayed and self.delayed[0][0] <= now:
            _, _, key, data = heapq.heappop(self.delayed)
            self._transmit(key, data)

    def _reachable(self) -> list[bytes]:
        return sorted(set(self.dealers) | set(self.inbound))

    def live_peers(self) -> list[bytes]:
        now = time.monotonic()
        horizon = 3 * self.config.interval
        return sorted(
            k
            for k, rt in self.peers.items()
            if rt.last_heard is not None
            and now - rt.last_heard <= horizon
            and (k in self.dealers or k in self.inbound)
            and (self.mesh_id is None or k in self.active)
        )

    # --- control --------------------------------------------------------------------------------

    def _handle_control(self) -> None:
        try:
            frames = self.control.recv_multipart(zmq.NOBLOCK)
        except zmq.Again:
            return
        if len(frames) < 3:
            return
        try:
            req = msgpack.unpackb(frames[-1], raw=False)
            cmd, args = req["cmd"], req.get("args") or {}
            result = self.command(str(cmd), dict(args))
            reply = {"ok": True, "result": result}
        except (PluriError, ValueError, KeyError, TypeError) as e:
            reply = {"ok": False, "error": str(e)}
        self.control.send_multipart([*frames[:-1], msgpack.packb(reply, use_bin_type=True)])

    def command(self, cmd: str, args: dict[str, Any]) -> Any:
        """Run one control command (also used by tests without a socket)."""
        if cmd == "status":
            return self.status()
        if cmd == "peers":
            return self.peers_status()
        if cmd == "nudge":
            self._data_version = -1
            self._check_store()
            return {"ok": True}
        if cmd == "sync":
            if args.get("peer"):
                self.add_peer(str(args["peer"]))
            targets = self.live_peers()
            for key in targets:
                self._send_all(self.engine.start_round(key))
            return {"rounds": len(targets)}
        if cmd == "faults.set":
            current = self.policy.to_json()
            current.update({k: v for k, v in args.items() if v is not None})
            self.policy = faults.LinkPolicy.from_json(current)
            self.events(f"link policy: {self.policy.to_json()}")
            return self.policy.to_json()
        if cmd == "faults.clear":
            self.policy = faults.LinkPolicy()
            self.events("link policy cleared (healed)")
            return self.policy.to_json()
        if cmd == "heads":
            return {
                "digest": self.store.digest().hex(),
                "heads": {
                    a.hex(): [h.seq, h.id.hex()] for a, h in sorted(self.store.heads().items())
                },
            }
        if cmd == "stop":
            self.stopping = True
            return {"stopping": True}
        raise ValueError(f"unknown control command {cmd!r}")

    def status(self) -> dict[str, Any]:
        live = self.live_peers()
        roster = self.store.roster()
        return {
            "name": self.name,
            "key": self.me.hex(),
            "mesh_id": self.mesh_id.hex() if self.mesh_id else None,
            "mesh_name": roster.name,
            "listen": self.listen_endpoint,
            "pid": os.getpid(),
            "uptime_s": round(time.time() - self.started, 1),
            "interval_s": self.config.interval,
            "entries": self.store.count(),
            "feeds": len(self.store.heads()),
            "digest": self.store.digest().hex(),
            "peers_live": len(live),
            "connections": {"outbound": len(self.dealers), "inbound": len(self.inbound)},
            "peers_known": len([r for r in self.book.records if r.key]),
            "faults": self.policy.to_json(),
            "traffic": {
                "bytes_in": self.counters.bytes_in,
                "bytes_out": self.counters.bytes_out,
                "bad_messages": self.counters.bad_messages,
                "bad_reasons": dict(self.counters.reasons),
                "unauthorised": self.counters.unauthorised,
                "zap_refused": self.counters.zap_refused,
                "dropped_by_faults": self.counters.dropped_by_faults,
                "router_rebinds": self.counters.router_rebinds,
                "sent_by_type": {k: list(v) for k, v in sorted(self.counters.sent_by_type.items())},
            },
            "sync": {
                "accepted": self.engine.stats.accepted,
                "refused": self.engine.stats.refused,
                "duplicates": self.engine.stats.duplicates,
                "forks": self.engine.stats.forks,
                "transfers_aborted": self.engine.stats.transfers_aborted,
            },
        }

    def peers_status(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        out = []
        keys = {r.key for r in self.book.records if r.key} | set(self.peers)
        for key in sorted(k for k in keys if k and k != self.me):
            rt = self.peers.get(key, PeerRuntime(key))
            rec = self.book.by_key(key)
            sync_state = self.engine.peers.get(key)
            state = rt.state
            if (
                rt.last_heard is None
                and key not in self.dealers
                and state in ("idle", "connecting")
            ):
                state = "not connected"
            out.append(
                peer_row(
                    key=key.hex(),
                    name=rt.name or (rec.name if rec else ""),
                    addr=rt.addr or (rec.addr if rec else None),
                    source=rec.source if rec else "inbound",
                    state=state,
                    note=rt.note,
                    last_heard_s=None if rt.last_heard is None else round(now - rt.last_heard, 1),
                    behind=sync_state.behind if sync_state else None,
                    ahead=sync_state.ahead if sync_state else None,
                    in_sync=bool(sync_state and sync_state.in_sync),
                    bytes_in=rt.bytes_in,
                    bytes_out=rt.bytes_out,
                    bad=rt.bad,
                )
            )
        for addr in sorted(self.unresolved):
            out.append(
                peer_row(addr=addr, state="resolving", note="asking the address for its key (UDP)")
            )
        return out


def _z85_raw(z85: bytes) -> bytes:
    from ledger.identity import z85_decode

    return z85_decode(z85)
