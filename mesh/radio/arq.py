"""Selective acknowledgement and retry (pure, no I/O; time is passed in).

The sender cuts messages into segments and fills each frame to the MTU,
most urgent message first (:class:`Outbox`). Every frame carrying segments is
remembered by its counter until the receiver acknowledges it. An ACK names the
highest counter received and, in a bitmap, which of the 32 before it arrived;
a frame the ACK shows missing, or one unanswered for longer than the
retransmission timeout, is lost: its segments go back into their messages
and are sent again in new frames (repacked, so nothing is sent twice that
arrived once). The receiver (:class:`Inbox`) puts messages back together from
whatever segments arrive, in any order, duplicates included.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mesh.radio import wire

#: Frames carrying segments that may be unacknowledged at once (per peer).
WINDOW = 8
#: Extra frames allowed past the window for revocations, roster and votes.
URGENT_EXTRA = 2
#: Ask for an ACK every this many frames.
ACK_EVERY = 4
MIN_SEGMENT = 12
#: The retransmission timeout doubles after each late answer, up to this many times the turnaround.
MAX_BACKOFF = 32.0
#: Frames given up on that are remembered, so that their late ACK still teaches the turnaround.
KEEP_LOST = 64


@dataclass
class OutMessage:
    """A message being sent: its bytes, its class, and which byte ranges still need sending."""

    id: int
    cls: int
    order: int
    tag: Any
    make: Callable[[], bytes | None]
    data: bytes | None = None
    pending: list[tuple[int, int]] = field(default_factory=list)  # [start, end)
    inflight: int = 0  # segments in frames not yet acknowledged
    started: bool = False
    dropped: bool = False

    def materialise(self) -> bool:
        if self.data is None and not self.dropped:
            data = self.make()
            if data is None:
                self.dropped = True
                return False
            self.data = data
            self.pending = [(0, len(data))]
        return not self.dropped

    @property
    def done(self) -> bool:
        return self.data is not None and not self.pending and not self.inflight


@dataclass
class InFlight:
    counter: int
    sent_at: float
    segments: list[tuple[int, int, int]]  # (message id, start, end)
    urgent: bool
    asked: bool  # this frame asked for an ACK
    ends: float = 0.0  # when its transmission ends (handed over + airtime)
    deadline: float | None = None  # set once a frame at or after it asked for an ACK
    polled: bool = False


class Outbox:
    """Messages to one peer, the frames in flight, and what their acknowledgements mean."""

    def __init__(self, initial_turn: float = 3.0) -> None:
        self.messages: dict[int, OutMessage] = {}
        self._heap: list[tuple[int, int, int]] = []  # (class, order, message id)
        self._ids = itertools.count()
        self._order = itertools.count()
        self.inflight: dict[int, InFlight] = {}
        self.initial_turn = initial_turn
        #: smoothed turnaround: from the end of our frame to the peer's ACK arriving
        self.srtt: float | None = None
        self.frames_since_ack_request = 0
        self.lost_frames = 0
        self.resent_bytes = 0
        #: when we last asked for an ACK that has not come yet, and in which frame
        #: (half duplex: give the peer the channel to answer before sending more)
        self.awaiting_since: float | None = None
        self.awaiting_counter = -1
        #: Doubled by every answer that came after we had given its frame up (a spurious
        #: timeout: the peer was busy on the air with a frame of its own when our question
        #: ended), back to 1 by an answer in time. Without it such a turnaround makes every
        #: answer late and every frame "lost", forever. A frame really lost (no answer at
        #: all) does not grow it: on a lossy link urgent entries are sent again at once.
        self.backoff = 1.0
        #: counter -> end of transmission, for frames given up on by timeout (late ACKs)
        self.given_up: dict[int, float] = {}

    # --- queueing ----------------------------------------------------------------------

    def add(self, cls: int, tag: Any, make: Callable[[], bytes | None]) -> OutMessage:
        mid = next(self._ids) & 0xFFFF
        while mid in self.messages:  # 65,536 messages in flight would be absurd; stay safe
            mid = next(self._ids) & 0xFFFF
        msg = OutMessage(mid, cls, next(self._order), tag, make)
        self.messages[mid] = msg
        heapq.heappush(self._heap, (cls, msg.order, mid))
        return msg

    def discard_unstarted(self, wanted: Callable[[Any], bool]) -> list[Any]:
        """Forget queued messages nothing of which has gone out yet; returns their tags."""
        gone = [m for m in self.messages.values() if not m.started and wanted(m.tag)]
        for m in gone:
            del self.messages[m.id]
        return [m.tag for m in gone]

    def waiting(self) -> bool:
        return any(not m.dropped and (m.data is None or m.pending) for m in self.messages.values())

    def most_urgent(self) -> int | None:
        """The class of the most urgent message with bytes still to send."""
        self._clean_heap()
        return self._heap[0][0] if self._heap else None

    def _clean_heap(self) -> None:
        while self._heap:
            _, _, mid = self._heap[0]
            msg = self.messages.get(mid)
            if msg is not None and not msg.dropped and (msg.data is None or msg.pending):
                return
            heapq.heappop(self._heap)

    def classes(self) -> dict[int, int]:
        """Messages still to send per class (for status)."""
        out: dict[int, int] = {}
        for m in self.messages.values():
            if not m.dropped and (m.data is None or m.pending):
                out[m.cls] = out.get(m.cls, 0) + 1
        return out

    # --- filling a frame -----------------------------------------------------------------

    def can_send(self, cls: int | None) -> bool:
        limit = WINDOW + (URGENT_EXTRA if cls is not None and cls <= 3 else 0)
        return len(self.inflight) < limit

    def fill(self, room: int) -> tuple[list[wire.Segment], list[tuple[int, int, int]]]:
        """Segments for a frame with ``room`` bytes left, most urgent first."""
        segments: list[wire.Segment] = []
        spans: list[tuple[int, int, int]] = []
        while room >= MIN_SEGMENT:
            msg = self._next_message()
            if msg is None:
                break
            start, end = msg.pending[0]
            assert msg.data is not None
            total = len(msg.data) if start == 0 else None
            last_head = wire.Segment(msg.id, start, b"", total).size(last=True)
            length = end - start
            with_len = last_head + wire.varint_size(length) + length
            if with_len + MIN_SEGMENT <= room:
                take, room = length, room - with_len
            else:
                take = min(length, room - last_head)
                room = 0
            if take <= 0:
                break
            segments.append(wire.Segment(msg.id, start, msg.data[start : start + take], total))
            spans.append((msg.id, start, start + take))
            msg.pending[0] = (start + take, end)
            if start + take >= end:
                msg.pending.pop(0)
            msg.inflight += 1
            msg.started = True
        return segments, spans

    def _next_message(self) -> OutMessage | None:
        while True:
            self._clean_heap()
            if not self._heap:
                return None
            msg = self.messages[self._heap[0][2]]
            if msg.materialise() and msg.pending:
                return msg
            if msg.dropped:
                del self.messages[msg.id]

    def want_ack(self) -> bool:
        """Ask for an ACK on this frame: every few frames, and on the last of a burst."""
        return self.frames_since_ack_request >= ACK_EVERY - 1 or not self.waiting()

    def sent(
        self,
        counter: int,
        now: float,
        spans: list[tuple[int, int, int]],
        *,
        urgent: bool,
        asked: bool,
        airtime: float = 0.0,
    ) -> None:
        """Remember a frame carrying segments (``spans``) until it is acknowledged."""
        ends = now + airtime
        for f in self.inflight.values():  # half duplex: no answer can come while we talk
            if f.deadline is not None:
                f.deadline = max(f.deadline, ends + self.rto())
        if spans:
            self.inflight[counter] = InFlight(counter, now, spans, urgent, asked, ends)
            self.frames_since_ack_request += 1
        if asked:
            self.frames_since_ack_request = 0
            self.awaiting_since, self.awaiting_counter = ends, counter
            self.asked_now(ends)

    def asked_now(self, ends: float) -> None:
        """A frame asking for an ACK left the air at ``ends``: earlier frames wait for the answer."""
        for f in self.inflight.values():
            if f.deadline is None:
                f.deadline = ends + self.rto()

    # --- acknowledgements and losses ---------------------------------------------------

    def turn(self) -> float:
        """Expected time from the end of our frame to the peer's ACK, with a margin."""
        return (self.srtt if self.srtt is not None else self.initial_turn) + 0.25

    def pause_until(self) -> float | None:
        return None if self.awaiting_since is None else self.awaiting_since + self.turn()

    def paused(self, now: float) -> bool:
        """Waiting for the answer to our last ACK request (at most a turnaround)."""
        until = self.pause_until()
        return until is not None and now < until

    def rto(self) -> float:
        """How long after a question left the air to wait before polling (then giving up):
        as soon as the answer is late (a poll is a 25-byte frame), longer after answers
        that came after we had given up on them."""
        return min(60.0, max(1.0, self.turn()) * self.backoff)

    def _sample(self, sample: float) -> None:
        self.srtt = sample if self.srtt is None else 0.75 * self.srtt + 0.25 * sample

    def on_ack(self, ack: wire.Ack, now: float) -> list[Any]:
        """Apply an ACK; returns the tags of messages now fully delivered."""
        if ack.high >= self.awaiting_counter:
            self.awaiting_since = None  # the answer to our last question
        late = self.given_up.pop(ack.high, None)
        if late is not None:  # we gave up on it too early: the turnaround is longer
            self._sample(max(0.0, now - late))
            self.backoff = min(MAX_BACKOFF, self.backoff * 2)
        done: list[Any] = []
        for counter in sorted(self.inflight):
            verdict = ack.covers(counter)
            if verdict is None:
                continue
            frame = self.inflight.pop(counter)
            if verdict:
                if counter == ack.high and frame.asked and not frame.polled:
                    self._sample(max(0.0, now - frame.ends))
                self.backoff = 1.0  # an answer in time
                done += self._delivered(frame)
            else:
                self._lost(frame)
        return done

    def expire(self, now: float) -> tuple[bool, int]:
        """(poll needed, frames lost) for frames past their deadline.

        The first time a frame's answer is late the peer is polled (a frame asking
        for an ACK); only if that goes unanswered too is the frame lost, so a lost
        ACK costs one small poll, not the whole burst again. Frames carrying urgent
        messages (revocations, roster, votes) are sent again at once instead: a
        duplicate costs less than the wait.
        """
        poll, lost = False, 0
        for c in sorted(self.inflight):
            f = self.inflight[c]
            if f.deadline is None or now < f.deadline:
                continue
            if not f.polled and not f.urgent:
                f.polled = True
                f.deadline = None
                poll = True
            else:
                self._lost(self.inflight.pop(c))
                self.given_up[c] = f.ends
                lost += 1
        while len(self.given_up) > KEEP_LOST:
            del self.given_up[min(self.given_up)]
        return poll, lost

    def next_expiry(self) -> float | None:
        deadlines = [f.deadline for f in self.inflight.values() if f.deadline is not None]
        return min(deadlines) if deadlines else None

    def _delivered(self, frame: InFlight) -> list[Any]:
        done = []
        for mid, _, _ in frame.segments:
            msg = self.messages.get(mid)
            if msg is None:
                continue
            msg.inflight -= 1
            if msg.done:
                done.append(msg.tag)
                del self.messages[mid]
        return done

    def _lost(self, frame: InFlight) -> None:
        self.lost_frames += 1
        for mid, start, end in frame.segments:
            msg = self.messages.get(mid)
            if msg is None:
                continue
            msg.inflight -= 1
            msg.pending.append((start, end))
            msg.pending.sort()
            self.resent_bytes += end - start
            heapq.heappush(self._heap, (msg.cls, msg.order, mid))

    def reset(self) -> list[Any]:
        """Forget everything (the peer restarted); returns the tags that were not delivered."""
        tags = [m.tag for m in self.messages.values()]
        self.messages.clear()
        self._heap.clear()
        self.inflight.clear()
        return tags


# --- the receiving side -------------------------------------------------------------------


class AckState:
    """Which reliable frames arrived from one peer, and whether an ACK is owed."""

    def __init__(self) -> None:
        self.high: int | None = None
        self.bits = 0
        self.owed_at: float | None = None  # send an ACK at or after this time

    def record(self, counter: int, now: float, *, urgent: bool, delay: float) -> None:
        if self.high is None:
            self.high, self.bits = counter, 0
        elif counter > self.high:
            shift = counter - self.high
            self.bits = ((self.bits << shift) | (1 << (shift - 1))) & 0xFFFFFFFF
            self.high = counter
        elif counter < self.high and self.high - 1 - counter < wire.ACK_WINDOW:
            self.bits |= 1 << (self.high - 1 - counter)
        if urgent:
            self.owed_at = now
        elif self.owed_at is None or self.owed_at > now:
            self.owed_at = now + delay  # unasked: wait until the burst is over

    def due(self, now: float) -> bool:
        return self.owed_at is not None and now >= self.owed_at

    def take(self) -> wire.Ack | None:
        if self.high is None:
            return None
        self.owed_at = None
        return wire.Ack(self.high, self.bits)


@dataclass
class _Partial:
    total: int | None
    chunks: dict[int, bytes] = field(default_factory=dict)  # offset -> data
    first_seen: float = 0.0


class Inbox:
    """Messages from one peer put back together from their segments."""

    KEEP_DONE = 512
    MAX_PARTIAL = 256
    MAX_MESSAGE = 80 * 1024

    def __init__(self) -> None:
        self.partial: dict[int, _Partial] = {}
        self.done_ids: deque[int] = deque()
        self._done_set: set[int] = set()

    def add(self, seg: wire.Segment, now: float) -> bytes | None:
        """Take one segment; returns the whole message when this completes it."""
        if seg.msg in self._done_set:
            return None
        p = self.partial.get(seg.msg)
        if p is None:
            if len(self.partial) >= self.MAX_PARTIAL:
                oldest = min(self.partial, key=lambda k: self.partial[k].first_seen)
                del self.partial[oldest]
            p = self.partial[seg.msg] = _Partial(None, first_seen=now)
        if seg.total is not None:
            if seg.total > self.MAX_MESSAGE or (p.total is not None and p.total != seg.total):
                del self.partial[seg.msg]
                return None
            p.total = seg.total
        p.chunks.setdefault(seg.offset, seg.data)
        data = _assemble(p)
        if data is None:
            return None
        del self.partial[seg.msg]
        self._done_set.add(seg.msg)
        self.done_ids.append(seg.msg)
        while len(self.done_ids) > self.KEEP_DONE:
            self._done_set.discard(self.done_ids.popleft())
        return data

    def expire(self, now: float, older_than: float = 600.0) -> None:
        for mid in [m for m, p in self.partial.items() if now - p.first_seen > older_than]:
            del self.partial[mid]

    def reset(self) -> None:
        self.partial.clear()
        self.done_ids.clear()
        self._done_set.clear()


def _assemble(p: _Partial) -> bytes | None:
    """The message if its chunks cover 0..total without a gap (overlaps allowed)."""
    if p.total is None:
        return None
    out = bytearray(p.total)
    reached = 0
    for offset in sorted(p.chunks):
        if offset > reached:
            return None
        chunk = p.chunks[offset]
        end = min(p.total, offset + len(chunk))
        if end > reached:
            out[reached:end] = chunk[reached - offset : end - offset]
            reached = end
    return bytes(out) if reached >= p.total else None
