"""A station on the air: frames in, frames out, for every peer it hears (sans I/O).

The station owns the keys, the frame counter, the airtime budget and one
:class:`~mesh.radio.session.PeerSession` per member heard. It never touches
a device or a clock: the bridge (or the simulator's driver) hands it frames
with :meth:`Station.receive`, asks for the next frame with
:meth:`Station.next_frame` whenever the link can take one, and calls
:meth:`Station.tick` at :meth:`Station.wakeup`.

Admission: a frame is read only if its sender's key is in the roster (active,
or frozen by a fork so that it learns of the fork) and its tag checks with the
pair key; a hello only if its signature does. Everything else is dropped and
counted: ``non_member``, ``bad_auth``, ``replayed``, ``garbled``,
``other_mesh``, ``stale_epoch`` (a hello of a peer's run that has been replaced),
``other_version`` (another radio protocol version; reported once). Frames
addressed to someone else are ``for_others``.

Run epochs (:mod:`mesh.radio.epochs`): a station seals to a peer only once it
knows the peer's current epoch for sure. A hello that does not prove the sender
knows our epoch (a boot hello, a new epoch) is answered with a hello echoing
its epoch; a frame from a member that opens under no epoch we hold makes us ask
for hellos (at most every :data:`ASK_GAP` seconds).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import nacl.signing

from mesh.radio import summary, wire
from mesh.radio.budget import Budget, BudgetSpec
from mesh.radio.crypto import NO_EPOCH, AuthFailed, Hello, Keyring, key_prefix, read_hello
from mesh.radio.epochs import PeerEpochs
from mesh.radio.ledger_port import LocalLedger
from mesh.radio.session import PeerSession, SessionConfig

HELLO_INTERVAL = 600.0
HELLO_ALONE = 30.0  # while no peer has been heard
ANSWER_GAP = 5.0  # at most one answering hello per peer this often
ASK_GAP = 30.0  # at most one "say hello" this often (frames we cannot open ask for it)
COUNTER_END = 2**32  # frame counters are 4 bytes on the air
Reserve = Callable[[int], int]  # (frames wanted) -> first counter of a fresh block


@dataclass
class StationConfig:
    cleartext: bool = False
    budget: BudgetSpec = field(default_factory=BudgetSpec)
    session: SessionConfig = field(default_factory=SessionConfig)


@dataclass
class Drops:
    garbled: int = 0
    non_member: int = 0
    bad_auth: int = 0
    replayed: int = 0
    other_mesh: int = 0
    for_others: int = 0
    stale_epoch: int = 0
    other_version: int = 0


@dataclass
class Airtime:
    frames: int = 0
    bytes: int = 0
    seconds: float = 0.0
    hellos: int = 0


class Station:
    def __init__(
        self,
        ledger: LocalLedger,
        signing_key: nacl.signing.SigningKey,
        config: StationConfig,
        *,
        mtu: int,
        airtime: Callable[[int], float],
        reserve: Reserve | None = None,
        names: Callable[[bytes], str] | None = None,
        events: Callable[[str], None] | None = None,
    ) -> None:
        ledger.refresh()
        if ledger.mesh_id is None:
            raise ValueError("the station needs a ledger in a mesh")
        self.ledger = ledger
        self.keyring = Keyring(signing_key, ledger.mesh_id)
        self.me = self.keyring.me
        self.config = config
        self.mtu = mtu
        self.airtime = airtime
        self.budget = Budget(config.budget, airtime, mtu)
        self._reserve = reserve or _memory_reserve()
        self._counter, self._counter_end = 0, 0
        self.epochs: dict[bytes, PeerEpochs] = {}
        self._answers: dict[bytes, bytes] = {}  # peer -> its epoch, to echo in a hello
        self._answered: dict[bytes, float] = {}
        self._nudged: dict[bytes, float] = {}  # peer -> when its hello last brought a summary
        self._ask_due, self._ask_after = False, 0.0
        self.peers: dict[bytes, PeerSession] = {}
        self.names = names or (lambda k: k.hex()[:12])
        self.events = events or (lambda _m: None)
        self.drops = Drops()
        self.sent = Airtime()
        self.heard = Airtime()
        self.next_hello = 0.0
        self._booted = False
        self._rr = 0
        #: until measured: a second each way and a short ACK
        self.initial_turn = 2.0 + airtime(48)
        #: "rotated" or "revoked" once the roster retires our own key: nothing more goes out
        self.retired: str | None = None
        self._check_own_key()

    # --- counters ----------------------------------------------------------------------

    def _next_counter(self) -> int:
        """A counter this run has not used. Keys are bound to this run's epoch, so a
        counter reused from an older run (a restored backup) is under another key."""
        if self._counter >= self._counter_end:
            start = self._reserve(4096)
            if start < self._counter or start + 4096 > COUNTER_END:
                raise RuntimeError("frame counters of this run used up: restart the bridge")
            self._counter, self._counter_end = start, start + 4096
        self._counter += 1
        return self._counter

    # --- peers -------------------------------------------------------------------------

    def session(self, key: bytes, now: float) -> PeerSession:
        s = self.peers.get(key)
        if s is None:
            s = PeerSession(
                key,
                self.ledger,
                self.config.session,
                initial_turn=self.initial_turn,
                name=self.names(key),
                next_summary=now,
                on_event=self.events,
            )
            self.peers[key] = s
            self.events(f"heard {s.name} on the air")
        return s

    def _epochs(self, key: bytes) -> PeerEpochs:
        if key not in self.epochs:
            self.epochs[key] = PeerEpochs()
        return self.epochs[key]

    def _sealing_epoch(self, key: bytes) -> bytes | None:
        eps = self.epochs.get(key)
        return None if eps is None else eps.current

    def _members_with_prefix(self, prefix: bytes) -> list[bytes]:
        return sorted(k for k in self.ledger.members if k[:2] == prefix and k != self.me)

    # --- receiving -----------------------------------------------------------------------

    def receive(self, frame: bytes, now: float) -> None:
        self.heard.frames += 1
        self.heard.bytes += len(frame)
        self.heard.seconds += self.airtime(len(frame))
        try:
            kind = wire.frame_kind(frame)
            if kind == wire.HELLO:
                self._on_hello(frame, now)
                return
            header = wire.parse_header(frame)
        except wire.OtherVersion as e:
            if not self.drops.other_version:
                self.events(f"a frame was refused: {e}")
            self.drops.other_version += 1
            return
        except wire.WireError:
            self.drops.garbled += 1
            return
        if header.recipient != key_prefix(self.me):
            self.drops.for_others += 1
            return
        candidates = self._members_with_prefix(header.sender)
        if not candidates:
            self.drops.non_member += 1
            return
        opened = self._open(candidates, frame)
        if opened is None:
            self.drops.bad_auth += 1
            self._ask_after_failure(now)
            return
        key, epoch, plaintext = opened
        if not self.epochs[key].window(epoch).accept(header.counter):
            self.drops.replayed += 1
            return
        try:
            records = wire.decode_records(plaintext)
        except wire.WireError:
            self.drops.garbled += 1
            return
        s = self.session(key, now)
        if self.epochs[key].promote(epoch):  # the peer restarted: it holds none of our frames
            s.restarted(now)
        s.counters.frames_in += 1
        s.counters.bytes_in += len(frame)
        s.receive(records, header, now)
        self._after_ingest(now)

    def _open(self, keys: list[bytes], frame: bytes) -> tuple[bytes, bytes, bytes] | None:
        """(sender, its epoch, plaintext) of a frame, trying each run of each candidate."""
        for key in keys:
            eps = self.epochs.get(key)
            for epoch in eps.order() if eps is not None else []:
                try:
                    return key, epoch, self.keyring.open(key, epoch, frame)
                except AuthFailed:
                    continue
        return None

    def _ask_after_failure(self, now: float) -> None:
        """A member's frame we cannot open: maybe its hello (a new run) was lost, or it
        does not know ours. Ask everyone for a hello, at most every ASK_GAP seconds."""
        if now >= self._ask_after:
            self._ask_due, self._ask_after = True, now + ASK_GAP

    def _on_hello(self, frame: bytes, now: float) -> None:
        try:
            hello = read_hello(frame)
        except AuthFailed:
            self.drops.bad_auth += 1
            return
        except wire.OtherVersion as e:
            if not self.drops.other_version:
                self.events(f"a hello was refused: {e}")
            self.drops.other_version += 1
            return
        except wire.WireError:
            self.drops.garbled += 1
            return
        if hello.key == self.me:
            return
        if hello.mesh_prefix != self.ledger.mesh_id[: len(hello.mesh_prefix)]:  # type: ignore[index]
            self.drops.other_mesh += 1
            return
        if hello.key not in self.ledger.members:
            self.drops.non_member += 1
            return
        eps = self._epochs(hello.key)
        before = eps.current
        result = eps.heard_hello(hello.epoch, proven=hello.echo == self.keyring.epoch)
        if result == "stale":
            self.drops.stale_epoch += 1
            return
        self.heard.hellos += 1
        s = self.session(hello.key, now)
        s.last_heard = now
        s.cleartext_peer = hello.cleartext
        if before is not None and eps.current != before:
            s.restarted(now)
        self._answer(hello, result, now)

    def _answer(self, hello: Hello, result: str, now: float) -> None:
        """Whoever says hello (a new bridge, a link check) hears from us at once: a hello
        echoing its epoch if it may not know ours, else a summary. A hello that answers
        another station (it echoes that station's epoch) is not answered: with three
        stations or more, hellos would answer each other forever. Nor is a boot hello of
        a run already proven (the peer knows our epoch: it is a copy played back)."""
        unproven = self.epochs[hello.key].current != hello.epoch
        wanted = (
            hello.ask or result == "new" or (unproven and (hello.boot or hello.echo == NO_EPOCH))
        )
        if wanted and now - self._answered.get(hello.key, -ANSWER_GAP) >= ANSWER_GAP:
            self._answers[hello.key] = hello.epoch
            self._answered[hello.key] = now
        if now - self._nudged.get(hello.key, -ANSWER_GAP) >= ANSWER_GAP:
            self._nudged[hello.key] = now  # a hello played back buys no frame at every copy
            s = self.peers[hello.key]
            s.next_summary = min(s.next_summary, now)

    def _after_ingest(self, now: float) -> None:
        if self.ledger.refresh():
            self.ledger_changed(now)

    def _check_own_key(self) -> None:
        """A key the roster rotated or revoked is heard by nobody: stop talking with it."""
        if self.retired is not None or self.me not in self.ledger.known_keys:
            return  # (a new laptop whose roster has not arrived yet is not retired)
        if self.me not in self.ledger.members:
            self.retired = self.ledger.store.roster().keys[self.me].status
            self.events(
                f"this laptop's key was {self.retired} in the roster: the other stations no "
                "longer hear it, nothing more goes on the air"
            )

    def ledger_changed(self, now: float) -> None:
        """Our ledger changed (radio, mesh or a command): tell every peer what it lacks."""
        self._check_own_key()
        gone = [k for k in self.peers if k not in self.ledger.members]
        for key in gone:
            self.events(f"{self.peers[key].name} is no longer a member: dropped")
            del self.peers[key]
            self.epochs.pop(key, None)
            self._answers.pop(key, None)
            self.keyring.forget(key)
        for s in self.peers.values():
            s.release()
        for s in self.peers.values():
            s.ledger_changed(now)

    def poll_ledger(self, now: float) -> bool:
        """Notice changes other processes made to the ledger; True if there were any."""
        if self.ledger.refresh():
            self.ledger_changed(now)
            return True
        return False

    # --- sending --------------------------------------------------------------------------

    def next_frame(self, now: float) -> bytes | None:
        """The next frame to put on the air now, or None (nothing to say, or over budget)."""
        if self.retired is not None:
            return None
        frame = self._owed_hello(now)
        if frame is not None:
            return frame
        if now >= self.next_hello:
            frame = self._hello(now)
            if frame is not None:
                return frame
        order = self._by_urgency(now)
        for s in order:
            urgency = s.urgency(now)
            control_only = False
            if not self.budget.allows(now, self.mtu):
                small = wire.OVERHEAD + wire.Ack.size() + 8 + 2 * summary.MAX_BUCKETS
                if urgency is None or urgency > -2 or not self.budget.allows(now, small):
                    continue
                control_only = True
            frame = self._frame_for(s, now, control_only=control_only)
            if frame is not None:
                return frame
        return None

    def _by_urgency(self, now: float) -> list[PeerSession]:
        ranked = []
        for i, s in enumerate(self.peers.values()):
            if self._sealing_epoch(s.key) is None:
                continue  # its run is not proven yet: nothing can be sealed to it
            u = s.urgency(now)
            if u is not None:
                ranked.append((u, (i - self._rr) % max(1, len(self.peers)), s))
        ranked.sort(key=lambda t: (t[0], t[1]))
        self._rr += 1
        return [s for _, _, s in ranked]

    def _frame_for(self, s: PeerSession, now: float, *, control_only: bool) -> bytes | None:
        room = self.mtu - wire.OVERHEAD
        records, spans, ask, urgent = s.compose(now, room, control_only=control_only)
        if not records and not ask:
            return None  # an empty frame that asks for an ACK is a poll: it goes out
        epoch = self._sealing_epoch(s.key)
        assert epoch is not None, "sealing to a peer whose run is not proven"
        counter = self._next_counter()
        plaintext = wire.encode_records(records)
        frame = self.keyring.seal(
            s.key, epoch, counter, plaintext, cleartext=self.config.cleartext, ack_requested=ask
        )
        assert len(frame) <= self.mtu, "a frame larger than the link's MTU"
        s.sent(counter, now, spans, urgent=urgent, ask=ask, airtime=self.airtime(len(frame)))
        s.counters.frames_out += 1
        s.counters.bytes_out += len(frame)
        self._account(now, frame)
        return frame

    def _hello(self, now: float) -> bytes | None:
        """Say who we are: at start, every 30 s while nobody answers, and every 10 minutes
        when no station has been heard for that long (peers in touch need no hellos). A
        peer heard but whose run is not proven is not in touch: while there is one, the
        hello comes every 30 s and echoes its epoch (which proves ours to it)."""
        heard = [
            s.last_heard
            for s in self.peers.values()
            if s.last_heard is not None and self._sealing_epoch(s.key) is not None
        ]
        unproven = sorted(
            k
            for k, e in self.epochs.items()
            if e.current is None and e.candidates and k in self.peers
        )
        if self._booted and heard and not unproven and now - max(heard) < HELLO_INTERVAL:
            self.next_hello = max(heard) + HELLO_INTERVAL
            return None
        if not self.budget.allows(now, wire.HELLO_BYTES):
            return None
        self.next_hello = now + (HELLO_INTERVAL if heard and not unproven else HELLO_ALONE)
        if not unproven:
            return self._say_hello(now)
        peer = unproven[self.sent.hellos % len(unproven)]
        return self._say_hello(now, echo=self.epochs[peer].candidates[-1])

    def _owed_hello(self, now: float) -> bytes | None:
        """An answering hello (echoing a peer's epoch) or a request for hellos, if due."""
        if not (self._answers or self._ask_due) or not self.budget.allows(now, wire.HELLO_BYTES):
            return None
        if self._answers:
            peer = next(iter(self._answers))
            return self._say_hello(now, echo=self._answers.pop(peer))
        self._ask_due = False
        return self._say_hello(now, ask=True)

    def _say_hello(self, now: float, *, echo: bytes = NO_EPOCH, ask: bool = False) -> bytes:
        frame = self.keyring.hello(
            cleartext=self.config.cleartext, boot=not self._booted, echo=echo, ask=ask
        )
        self._booted = True
        self.sent.hellos += 1
        self._account(now, frame)
        return frame

    def _account(self, now: float, frame: bytes) -> None:
        self.budget.charge(now, len(frame))
        self.sent.frames += 1
        self.sent.bytes += len(frame)
        self.sent.seconds += self.airtime(len(frame))

    # --- timers -------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        for s in self.peers.values():
            s.tick(now)

    def wakeup(self, now: float) -> float:
        """When :meth:`tick` / :meth:`next_frame` next have something to do."""
        times = [self.next_hello] + [
            s.wakeup(now) for s in self.peers.values() if self._sealing_epoch(s.key) is not None
        ]
        if self._answers or self._ask_due:
            times.append(now)
        t = min(times)
        if t <= now and not self.budget.allows(now, self.mtu):
            t = self.budget.next_allowed(now, wire.OVERHEAD + 16)
        return t

    # --- status ----------------------------------------------------------------------------

    def status(self, now: float) -> dict[str, Any]:
        peers = []
        for s in sorted(self.peers.values(), key=lambda p: p.name):
            peers.append(
                {
                    "key": s.key.hex(),
                    "name": s.name,
                    "last_heard_s": None if s.last_heard is None else round(now - s.last_heard, 1),
                    "in_sync": s.in_sync,
                    "cleartext": s.cleartext_peer,
                    "queued": s.queued(),
                    "in_flight_frames": len(s.outbox.inflight),
                    "waiting_entries": len(s.waiting),
                    "rtt_s": None if s.outbox.srtt is None else round(s.outbox.srtt, 2),
                    "lost_frames": s.outbox.lost_frames,
                    "resent_bytes": s.outbox.resent_bytes,
                    **asdict(s.counters),
                }
            )
        return {
            "key": self.me.hex(),
            "epoch": self.keyring.epoch.hex(),
            "digest": self.ledger.digest.hex(),
            "cleartext": self.config.cleartext,
            "mtu": self.mtu,
            "budget": {
                "spec": self.config.budget.to_json(),
                "describe": self.config.budget.describe(),
                "window_s": self.budget.window,
                "used": round(self.budget.used(now), 4),
            },
            "sent": asdict(self.sent),
            "heard": asdict(self.heard),
            "dropped": asdict(self.drops),
            "peers": peers,
        }


def _memory_reserve() -> Reserve:
    state = {"next": 0}

    def reserve(n: int) -> int:
        start = state["next"]
        state["next"] += n
        return start

    return reserve
