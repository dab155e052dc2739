"""Selective ack and retry: every message arrives whole, whatever the channel dropped before
it became clean."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from mesh.radio import wire
from mesh.radio.arq import AckState, Inbox, Outbox


def _run(messages: list[bytes], drops: list[bool], ack_drops: list[bool], mtu_room: int) -> None:
    out = Outbox(initial_turn=3.6)
    delivered_tags: list[int] = []
    for i, m in enumerate(messages):
        out.add(i % 9, i, lambda m=m: m)
    inbox, acks = Inbox(), AckState()
    received: dict[int, bytes] = {}
    now, counter = 0.0, 0
    frame_i = ack_i = 0
    for _ in range(2000):
        if len(delivered_tags) == len(messages):
            break
        now += 1.0
        poll, _lost = out.expire(now)
        segs, spans = ([], [])
        if out.can_send(out.most_urgent()):
            segs, spans = out.fill(mtu_room)
        ask = poll or (bool(spans) and out.want_ack())
        if not segs and not ask:
            continue
        counter += 1
        out.sent(counter, now, spans, urgent=False, asked=ask)
        data = wire.encode_records(list(segs))
        dropped = drops[frame_i] if frame_i < len(drops) else False  # then a clean link
        frame_i += 1
        if dropped:
            continue
        for r in wire.decode_records(data):
            assert isinstance(r, wire.Segment)
            msg = inbox.add(r, now)
            if msg is not None:
                received[len(received)] = msg
        if segs:
            acks.record(counter, now, urgent=ask, delay=0.0)
        elif ask and acks.high is not None:
            acks.owed_at = now
        if acks.due(now):
            ack = acks.take()
            lost_ack = ack_drops[ack_i] if ack_i < len(ack_drops) else False
            ack_i += 1
            if ack is not None and not lost_ack:
                delivered_tags += out.on_ack(ack, now + 0.5)
    assert sorted(delivered_tags) == list(range(len(messages)))
    assert sorted(received.values()) == sorted(messages)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.binary(min_size=1, max_size=700), min_size=1, max_size=12),
    st.lists(st.booleans(), max_size=40),
    st.lists(st.booleans(), max_size=10),
    st.integers(30, 230),
)
def test_everything_arrives_whole(messages, drops, ack_drops, room) -> None:  # type: ignore[no-untyped-def]
    _run(messages, drops, ack_drops, room)


def test_urgent_messages_fill_frames_first() -> None:
    out = Outbox()
    out.add(8, "bulk", lambda: b"b" * 100)
    out.add(0, "revocation", lambda: b"r" * 100)
    segs, _ = out.fill(60)
    assert all(s.data.startswith(b"r") for s in segs)


def test_fill_never_exceeds_the_room() -> None:
    rng = random.Random(3)
    out = Outbox()
    for i in range(30):
        size = rng.randrange(1, 400)
        out.add(rng.randrange(9), i, lambda n=size: b"x" * n)
    while out.waiting():
        room = rng.randrange(20, 200)
        segs, spans = out.fill(room)
        assert len(wire.encode_records(list(segs))) <= room
        out.sent(len(out.inflight) + 1000 * rng.random(), 0.0, spans, urgent=False, asked=False)


def test_a_lost_ack_costs_a_poll_not_the_burst() -> None:
    out = Outbox(initial_turn=3.0)
    out.add(6, "m", lambda: b"x" * 300)
    _segs, spans = out.fill(180)
    out.sent(1, 0.0, spans, urgent=False, asked=False, airtime=1.0)
    _segs, spans = out.fill(180)
    out.sent(2, 1.0, spans, urgent=False, asked=True, airtime=1.0)  # leaves the air at 2.0
    assert out.paused(4.0) and not out.paused(5.3)  # the channel is left to the peer's answer
    assert out.expire(5.0) == (False, 0)
    assert out.expire(5.3) == (True, 0)  # the answer is late: poll first
    out.sent(3, 5.3, [], urgent=False, asked=True, airtime=0.2)  # the poll
    assert out.on_ack(wire.Ack(3, 0b11), 7.0) == ["m"]  # the answer: both arrived
    assert out.lost_frames == 0


def test_an_unanswered_poll_means_lost() -> None:
    out = Outbox(initial_turn=3.0)
    out.add(6, "m", lambda: b"x" * 100)
    _segs, spans = out.fill(180)
    out.sent(1, 0.0, spans, urgent=False, asked=True, airtime=1.0)
    assert out.expire(4.3) == (True, 0)
    out.sent(2, 4.3, [], urgent=False, asked=True, airtime=0.2)
    assert out.expire(7.8) == (False, 1)
    assert out.waiting()  # its bytes go out again
    assert out.backoff == 1.0  # lost is lost: no answer came late, the timeout stays


def test_our_own_next_frame_does_not_make_the_answer_late() -> None:
    """Half duplex: while we transmit the peer cannot answer, so a frame's deadline moves
    past every frame we send after it (else an urgent message two frames long is resent
    forever: each copy blocks the answer to the one before)."""
    out = Outbox(initial_turn=1.0)
    out.add(0, "revocation", lambda: b"r" * 300)
    _segs, spans = out.fill(180)
    out.sent(1, 0.0, spans, urgent=True, asked=True, airtime=1.33)  # answer due ~2.6
    _segs, spans = out.fill(180)
    out.sent(2, 1.33, spans, urgent=True, asked=True, airtime=1.33)  # we talk until 2.66
    assert out.expire(3.0) == (False, 0)
    assert out.on_ack(wire.Ack(2, 0b1), 3.5) == ["revocation"]
    assert out.lost_frames == 0


def test_discard_unstarted_keeps_what_is_on_its_way() -> None:
    out = Outbox()
    out.add(6, ("entry", 1), lambda: b"a" * 300)
    out.add(6, ("entry", 2), lambda: b"b" * 50)
    out.fill(100)  # the first message has started
    assert out.discard_unstarted(lambda t: t[0] == "entry") == [("entry", 2)]
    assert {m.tag for m in out.messages.values()} == {("entry", 1)}


def test_answers_later_than_the_timeout_make_it_grow_instead_of_resending_forever() -> None:
    """The livelock the station property found: with entries going both ways, the peer's ACK
    waits behind a full frame of its own (half duplex), so it always arrived after our
    timeout; the frame was given up, sent again, its ACK late again, forever. Now the late
    ACK of a frame given up on doubles the timeout and teaches the real turnaround."""
    out = Outbox(initial_turn=1.0)  # a quick first exchange measured a short turnaround
    out.add(0, "revocation", lambda: b"r" * 150)
    turnaround = 3.5  # the peer's own 1.33 s frame, then its ACK
    t, delivered = 0.0, []
    for counter in range(1, 6):
        _segs, spans = out.fill(180)
        out.sent(counter, t, spans, urgent=True, asked=True, airtime=1.33)
        answer = t + 1.33 + turnaround
        out.expire(answer - 0.01)
        delivered = out.on_ack(wire.Ack(counter, 0), answer)
        t = answer
        if delivered:
            break
    assert delivered == ["revocation"] and counter <= 2, counter
    assert out.srtt is not None and out.srtt >= 0.25 * turnaround  # learnt from the late ACK
    assert out.backoff == 1.0  # answered in time: back to the measured turnaround
