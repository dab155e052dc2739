"""One peer heard on the air: what it has, what it lacks, what is on its way (no I/O).

The conversation with a peer, each step only when the one before shows a difference:

* both sides send a 6-byte summary now and then (once a minute in sync);
* when the digests differ, the idle side sends a long summary (per-bucket
  digests); the other answers with the heads of the differing buckets and
  asks for the same back;
* from the heads each side computes what the other lacks with the shared
  frontier decision (:func:`mesh.sync.missing_ranges` over
  :func:`ledger.courier.frontier.plan`) and sends those entries, most urgent first;
* once a peer's heads are known, entries written here (or arriving from the
  mesh) are pushed at once, without waiting for a summary.

Delivered entries move our belief of the peer's heads forward; anything the
peer did not in fact keep shows up as a digest difference and is sent again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ledger.entry import decode, signature_valid
from ledger.errors import PluriError
from ledger.forks import ForkProof
from ledger.store import Head
from mesh import sync
from mesh.radio import compact, priority, summary, wire
from mesh.radio.arq import AckState, Inbox, Outbox
from mesh.radio.ledger_port import LocalLedger

M_ENTRY, M_HEADS, M_FORK = 0x01, 0x02, 0x03


@dataclass
class SessionConfig:
    summary_interval: float = 60.0  # in sync: one short summary per peer this often
    retry_interval: float = 10.0  # out of sync and idle: a long summary this often
    min_gap: float = 3.0  # at least this long between long summaries / heads to one peer
    ack_delay: float = 3.0  # an ACK nobody asked for waits this long after the last frame
    max_entry_bytes: int = 64 * 1024  # larger entries (and what follows them) stay here
    plan_limit: int = 2000  # entries per feed queued at a time
    max_waiting: int = 4000  # received entries waiting for the one before them


@dataclass
class PeerCounters:
    frames_in: int = 0
    bytes_in: int = 0
    frames_out: int = 0
    bytes_out: int = 0
    entries_in: int = 0  # accepted by our store
    entries_refused: int = 0  # refused by our store (or not rebuildable)
    entries_out: int = 0  # delivered to the peer
    held_back: int = 0  # too large to send (with what follows them)


@dataclass
class _Waiting:
    parsed: compact.Compact
    authors: list[bytes]


@dataclass
class PeerSession:
    key: bytes
    ledger: LocalLedger
    config: SessionConfig
    initial_turn: float = 3.0  # expected time from the end of a frame to its ACK
    name: str = ""
    outbox: Outbox = field(init=False)
    inbox: Inbox = field(default_factory=Inbox)
    acks: AckState = field(default_factory=AckState)
    counters: PeerCounters = field(default_factory=PeerCounters)
    believed: dict[bytes, Head] | None = None
    remote_forks: dict[bytes, tuple[int, bytes, bytes]] = field(default_factory=dict)
    promised: dict[bytes, int] = field(default_factory=dict)
    outstanding: dict[bytes, int] = field(default_factory=dict)
    peer_digest: bytes | None = None
    told_digest: bytes | None = None
    in_sync: bool = False
    last_heard: float | None = None
    last_segment_in: float | None = None
    cleartext_peer: bool = False
    next_summary: float = 0.0
    long_summary_due: bool = True
    last_long: float = -1e9
    last_heads: float = -1e9
    poll_due: bool = False
    waiting: dict[tuple[bytes, int], _Waiting] = field(default_factory=dict)
    on_event: Callable[[str], None] = field(default=lambda _m: None)

    def __post_init__(self) -> None:
        self.outbox = Outbox(self.initial_turn)

    # --- what we send ------------------------------------------------------------------

    def urgency(self, now: float) -> int | None:
        """How urgently this peer needs a frame now (lower first), None if it does not."""
        if self.acks.due(now) or self.poll_due:
            return -3
        if now >= self.next_summary:
            if not self._busy(now):
                return -2
            # a transfer is under way: it is the conversation (ACKs carry our digest)
            self.next_summary = now + self.config.retry_interval
        return self._sendable(now)

    def _busy(self, now: float) -> bool:
        """Sending to this peer, or receiving from it lately."""
        receiving = self.last_segment_in is not None and (
            now - self.last_segment_in < self.config.retry_interval
        )
        return receiving or self.outbox.waiting() or bool(self.outbox.inflight)

    def _sendable(self, now: float) -> int | None:
        """The class of the next message we may send now, if any.

        After asking for an ACK we leave the channel to the peer for a turnaround
        (half duplex: otherwise its ACK could never get a word in); revocations,
        roster entries, fork proofs and votes do not wait.
        """
        cls = self.outbox.most_urgent()
        if cls is None or not self.outbox.can_send(cls):
            return None
        if cls > priority.VOTES and self.outbox.paused(now):
            return None
        return cls

    def wakeup(self, now: float) -> float:
        times = [self.next_summary]
        if self.acks.owed_at is not None:
            times.append(self.acks.owed_at)
        expiry = self.outbox.next_expiry()
        if expiry is not None:
            times.append(expiry)
        pause = self.outbox.pause_until()
        if pause is not None and self.outbox.waiting():
            times.append(pause)
        return min(times)

    def compose(
        self, now: float, room: int, *, control_only: bool
    ) -> tuple[list[wire.Record], list[tuple[int, int, int]], bool, bool]:
        """(records, segment spans, ask for an ACK, urgent) for one frame to this peer."""
        records: list[wire.Record] = []
        if self.acks.owed_at is not None:
            ack = self.acks.take()
            if ack is not None:
                records.append(ack)
        digest = summary.digest(self.ledger.digest)
        if now >= self.next_summary:
            records.append(self._summary(now, digest))
        room -= len(wire.encode_records(records))
        spans: list[tuple[int, int, int]] = []
        segments: list[wire.Segment] = []
        urgent = False
        cls = None if control_only else self._sendable(now)
        if cls is not None:
            segments, spans = self.outbox.fill(room)
            urgent = cls <= priority.VOTES
        used = len(wire.encode_records(list(segments)))
        if self.told_digest != digest and room - used >= wire.DIGEST_BYTES + 3:
            self.told_digest = digest  # our ledger moved: say so in passing, if it fits
            records.append(wire.Summary(digest))
        records.extend(segments)
        last_urgent = urgent and (self.outbox.most_urgent() or 99) > priority.VOTES
        ask = self.poll_due or (bool(spans) and (self.outbox.want_ack() or last_urgent))
        self.poll_due = False
        return records, spans, ask, urgent

    def _summary(self, now: float, digest: bytes) -> wire.Summary:
        self.told_digest = digest
        long = self.long_summary_due or self.believed is None or self.peer_digest != digest
        if long and now - self.last_long >= self.config.min_gap:
            self.last_long = now
            self.long_summary_due = False
            nb = summary.bucket_count(len(self.ledger.heads))
            buckets = summary.bucket_digests(self.ledger.heads, self.ledger.forks, nb)
            rec = wire.Summary(digest, buckets)
        else:
            rec = wire.Summary(digest)
        interval = self.config.summary_interval if self.in_sync else self.config.retry_interval
        self.next_summary = now + interval
        return rec

    def sent(
        self,
        counter: int,
        now: float,
        spans: list[tuple[int, int, int]],
        *,
        urgent: bool,
        ask: bool,
        airtime: float,
    ) -> None:
        self.outbox.sent(counter, now, spans, urgent=urgent, asked=ask, airtime=airtime)

    # --- what we receive -----------------------------------------------------------------

    def receive(self, records: list[wire.Record], header: wire.Header, now: float) -> None:
        self.last_heard = now
        self.cleartext_peer = header.kind == wire.CLEAR
        reliable = any(isinstance(r, wire.Segment) for r in records)
        if reliable:
            self.last_segment_in = now
            self.acks.record(
                header.counter, now, urgent=header.ack_requested, delay=self.config.ack_delay
            )
        elif header.ack_requested and self.acks.high is not None:
            self.acks.owed_at = now  # a poll: say again what we have
        for r in records:
            if isinstance(r, wire.Ack):
                for tag in self.outbox.on_ack(r, now):
                    self._delivered(tag)
            elif isinstance(r, wire.Segment):
                data = self.inbox.add(r, now)
                if data:
                    self._on_message(data, now)
        for r in records:  # after the entries: the digest describes the ledger with them
            if isinstance(r, wire.Summary):
                self._on_summary(r, now)

    def _on_summary(self, s: wire.Summary, now: float) -> None:
        self.peer_digest = s.digest
        mine = summary.digest(self.ledger.digest)
        if s.digest == mine:
            if not self.in_sync:
                self.on_event(f"in sync with {self.name}")
            self.in_sync = True
            self.believed = dict(self.ledger.heads)
            self.remote_forks = dict(self.ledger.forks)
            for tag in self.outbox.discard_unstarted(lambda t: t[0] == "entry"):
                self._forget_queued(tag[1])  # it got them another way (the mesh, a bundle)
            self.next_summary = max(self.next_summary, now + self.config.retry_interval)
            return
        self.in_sync = False
        busy = self.outbox.waiting() or bool(self.outbox.inflight)
        if busy:
            return  # a transfer is under way: compare again when it is done
        if s.buckets is None:
            self.long_summary_due = True
            self.next_summary = min(self.next_summary, now + 0.2)
            return
        if now - self.last_heads < self.config.min_gap:
            return
        nb = len(s.buckets)
        if nb < 1 or nb > summary.MAX_BUCKETS or nb & (nb - 1):
            return
        mine_b = summary.bucket_digests(self.ledger.heads, self.ledger.forks, nb)
        diff = summary.differing(mine_b, s.buckets) or list(range(nb))
        self._send_heads(nb, diff, reply=True, now=now)

    def _send_heads(self, nb: int, buckets: list[int], *, reply: bool, now: float) -> None:
        self.last_heads = now
        ledger = self.ledger

        def make() -> bytes:  # the heads as they are when the message goes out
            body = summary.encode_heads(ledger.heads, ledger.forks, nb, buckets, reply=reply)
            return bytes([M_HEADS]) + body

        self.outbox.add(priority.CONTROL, ("heads",), make)

    def _on_message(self, data: bytes, now: float) -> None:
        kind, body = data[0], data[1:]
        try:
            if kind == M_ENTRY:
                self._on_entry(compact.parse(body))
            elif kind == M_HEADS:
                self._on_heads(summary.decode_heads(body), now)
            elif kind == M_FORK:
                self._on_fork(body)
        except (wire.WireError, compact.CompactError, PluriError) as e:
            self.counters.entries_refused += 1
            self.on_event(f"dropped a message from {self.name}: {e}")

    def _on_heads(self, msg: summary.HeadsMessage, now: float) -> None:
        local = self.ledger.heads
        rebuilt = summary.rebuild_remote(msg, local, self.ledger.id_at)
        self.believed = summary.merge_believed(msg, rebuilt, local)
        theirs = summary.remote_forks(msg, self.ledger.forks)
        for a in summary.covered_forks(msg, self.ledger.forks):
            self.remote_forks.pop(a, None)
        self.remote_forks.update(theirs)
        self._queue_forks(summary.covered_forks(msg, self.ledger.forks), theirs)
        self.plan()
        if msg.reply and now - self.last_heads >= self.config.min_gap:
            self._send_heads(msg.nb, sorted(msg.buckets), reply=False, now=now)

    def _queue_forks(self, mine: summary.Forks, theirs: summary.Forks) -> None:
        for author in sync.forks_to_send(mine, theirs):
            proof = self.ledger.proofs.get(author)
            if proof is None:
                continue
            a, b = proof.a.raw, proof.b.raw
            data = bytes([M_FORK]) + wire.put_varint(len(a)) + a + b
            self.outbox.add(priority.FORKS, ("fork", author), functools.partial(bytes, data))

    def _on_fork(self, body: bytes) -> None:
        n, pos = wire.get_varint(body, 0)
        proof = ForkProof.from_raw(body[pos : pos + n], body[pos + n :])
        if self.ledger.add_fork_proofs([proof]):
            self.on_event(f"fork proof of {proof.author.hex()[:12]} received from {self.name}")

    # --- entries in ----------------------------------------------------------------------

    def _on_entry(self, c: compact.Compact) -> None:
        authors = compact.candidates(c, self.ledger.keys_with_prefix)
        self.waiting[(c.author_ref, c.seq)] = _Waiting(c, authors)
        while len(self.waiting) > self.config.max_waiting:
            self.waiting.pop(next(iter(self.waiting)))
            self.counters.entries_refused += 1
        self.release()

    def release(self) -> int:
        """Ingest every waiting entry whose author and predecessor are now known."""
        total = 0
        progress = True
        while progress:
            progress = False
            for key in sorted(self.waiting, key=lambda k: k[1]):
                item = self.waiting[key]
                raw = self._rebuild(item)
                if raw is None:
                    continue
                del self.waiting[key]
                report = self.ledger.ingest([raw])
                self.ledger.refresh()
                self.counters.entries_in += len(report.accepted)
                self.counters.entries_refused += len(report.rejected)
                total += len(report.accepted)
                for e in report.accepted:
                    self._learned(e.author, e.seq, e.id)
                progress = True
        return total

    def _rebuild(self, item: _Waiting) -> bytes | None:
        c = item.parsed
        if not item.authors:
            item.authors = compact.candidates(c, self.ledger.keys_with_prefix)
        options = []
        for author in item.authors:
            if author not in self.ledger.known_keys:
                continue  # its roster entry has not arrived yet
            before = self.ledger.id_at(author, c.seq - 1) if c.seq > 1 else self.ledger.mesh_id
            if c.seq > 1 and before is None:
                continue  # the entry before it has not arrived yet
            prev = None if c.prev_raw is not None else before
            options.append(compact.rebuild(c, author, prev))
        if len(options) > 1:
            options = [raw for raw in options if _signed(raw)][:1]
        return options[0] if options else None

    def _learned(self, author: bytes, seq: int, eid: bytes) -> None:
        """The peer holds this entry (it sent it, or acknowledged it)."""
        if self.believed is None:
            return
        cur = self.believed.get(author)
        if (cur is None and seq == 1) or (cur is not None and cur.seq == seq - 1):
            self.believed[author] = Head(seq, eid)

    # --- entries out ---------------------------------------------------------------------

    def plan(self) -> int:
        """Queue what the peer lacks (by our belief of its heads); returns entries queued."""
        if self.believed is None:
            return 0
        local = self.ledger.heads
        ranges = sync.missing_ranges(local, self.believed, self.ledger.id_at, self.promised)
        queued = 0
        for r in ranges:
            queued += self._queue_range(r)
        return queued

    def _queue_range(self, r: sync.Range) -> int:
        limit = min(r.count, self.config.plan_limit)
        infos = self.ledger.entries(r.author, r.start, r.end, limit)
        classes = priority.inherit([i.cls for i in infos])
        queued = 0
        for info, cls in zip(infos, classes, strict=True):
            if len(info.raw) > self.config.max_entry_bytes:
                self.counters.held_back += r.end - info.seq + 1
                self.on_event(
                    f"{r.end - info.seq + 1} entries of {r.author.hex()[:12]} held back "
                    f"behind one of {len(info.raw):,} bytes (--max-entry-bytes)"
                )
                break
            tag = ("entry", r.author, info.seq, r.fork)
            self.outbox.add(cls, tag, self._maker(info.raw, r.author, fork=r.fork))
            self.promised[r.author] = max(self.promised.get(r.author, 0), info.seq)
            self.outstanding[r.author] = self.outstanding.get(r.author, 0) + 1
            queued += 1
        return queued

    def _maker(self, raw: bytes, author: bytes, *, fork: bool) -> Callable[[], bytes]:
        def make() -> bytes:
            known = self.believed is not None and author in self.believed
            body = compact.compact(raw, author_prefix=known and not fork, elide_prev=not fork)
            return bytes([M_ENTRY]) + body

        return make

    def _delivered(self, tag: Any) -> None:
        if tag[0] != "entry":
            return
        _, author, seq, _fork = tag
        self.counters.entries_out += 1
        eid = self.ledger.id_at(author, seq)
        if eid is not None:
            self._learned(author, seq, eid)
        self._forget_queued(author)

    def _forget_queued(self, author: bytes) -> None:
        """One queued entry of ``author`` is done with (delivered or no longer needed)."""
        left = self.outstanding.get(author, 1) - 1
        if left <= 0:
            self.outstanding.pop(author, None)
            self.promised.pop(author, None)
        else:
            self.outstanding[author] = left

    # --- timers --------------------------------------------------------------------------

    def tick(self, now: float) -> None:
        poll, lost = self.outbox.expire(now)
        if poll:
            self.poll_due = True
        if lost:
            self.on_event(f"{lost} frame(s) to {self.name} lost; sending their contents again")
        self.inbox.expire(now)

    def ledger_changed(self, now: float) -> None:
        """Our ledger moved on: push what the peer lacks, or ask what it has."""
        if self.believed is None:
            self.long_summary_due = True
            self.next_summary = min(self.next_summary, now + 0.5)
            return
        self.plan()

    def restarted(self, now: float) -> None:
        """The peer says it has just started: its half-received messages are gone."""
        for counter in sorted(self.outbox.inflight):
            self.outbox._lost(self.outbox.inflight.pop(counter))
        self.inbox.reset()
        self.long_summary_due = True
        self.next_summary = now

    def queued(self) -> dict[str, int]:
        return {priority.name(c): n for c, n in sorted(self.outbox.classes().items())}


def _signed(raw: bytes) -> bool:
    try:
        return signature_valid(decode(raw))
    except PluriError:
        return False
