"""ZAP: who may complete a CurveZMQ handshake with this node.

libzmq asks this handler (over ``inproc://zeromq.zap.01``) about every
handshake. It admits a key only while it is a connectable member of the
roster, not cut off for misbehaving (:mod:`mesh.conduct`), and not
handshaking faster than :data:`HANDSHAKES_PER_S` allows (a member opening
connection after connection to multiply its receive queues). The admitted
ed25519 key becomes the connection's User-Id: every inbound message is
attributed to it.
"""

from __future__ import annotations

from collections.abc import Callable

import zmq

from ledger.identity import curve_public_from_ed25519, z85_decode
from mesh.conduct import TokenBucket

#: Handshakes one key may make: a burst of 10, then one every 2 s.
HANDSHAKES_PER_S, HANDSHAKE_BURST = 0.5, 10.0
#: ZAP requests answered per loop turn (each is cheap; the rest wait for the next turn).
ZAP_BATCH = 64


class Admission:
    def __init__(
        self,
        zap: zmq.Socket[bytes],
        banned: Callable[[bytes, float], bool],
        events: Callable[[str], None] | None = None,
    ) -> None:
        self.zap = zap
        self.banned = banned
        self.events = events or (lambda _msg: None)
        self._told: dict[bytes, float] = {}  # member key -> when we last reported refusing it
        self.allowed: dict[bytes, bytes] = {}  # raw curve public key -> ed25519 key
        self.rates: dict[bytes, TokenBucket] = {}
        self.refused = 0
        self.refused_rate = 0

    def set_members(self, keys: set[bytes], me: bytes) -> None:
        self.allowed = {z85_decode(curve_public_from_ed25519(k)): k for k in keys if k != me}
        self.rates = {k: b for k, b in self.rates.items() if k in keys}

    def serve(self, now: float) -> int:
        """Answer the pending ZAP requests (at most ZAP_BATCH); returns how many."""
        for n in range(ZAP_BATCH):
            try:
                frames = self.zap.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                return n
            self._answer(frames, now)
        return ZAP_BATCH

    def _answer(self, frames: list[bytes], now: float) -> None:
        if len(frames) < 6:
            return
        version, request_id, _domain, _address, _identity, mechanism = frames[:6]
        credentials = frames[6:]
        key = None
        if mechanism == b"CURVE" and credentials and len(credentials[0]) == 32:
            key = self.allowed.get(credentials[0])
        reason = b"not a member of this mesh"
        if key is not None and self.banned(key, now):
            key, reason = None, b"cut off for sending invalid data; retry later"
        elif key is not None and not self._rate(key).take(now):
            self.refused_rate += 1
            key, reason = None, b"too many connections; retry later"
        if key is not None:
            self.zap.send_multipart([version, request_id, b"200", b"OK", key.hex().encode(), b""])
            return
        self.refused += 1
        self.zap.send_multipart([version, request_id, b"400", reason, b"", b""])
        member = self.allowed.get(credentials[0]) if credentials else None
        if member is not None and now - self._told.get(member, -60.0) >= 60.0:
            self._told[member] = now  # a member refused: say why, once a minute
            self.events(f"refused a connection from {member.hex()[:12]}: {reason.decode()}")

    def _rate(self, key: bytes) -> TokenBucket:
        if key not in self.rates:
            self.rates[key] = TokenBucket(HANDSHAKES_PER_S, HANDSHAKE_BURST)
        return self.rates[key]
