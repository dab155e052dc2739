"""A user-space link shaper: forwards Ethernet frames between two interfaces, with delay, loss, rate.

For drills on kernels without netem (``tc qdisc add ... netem`` fails with
"Specified qdisc kind is unknown"). The drill network (:mod:`plurictl.drills.netns`)
puts it between a node's veth and the bridge::

    node ns: eth ── veth ── NODE_SIDE  [shaper]  BRIDGE_SIDE ── veth ── bridge

Frames going out of the node (NODE_SIDE → BRIDGE_SIDE) get the delay and the
loss; both directions share the rate limit (a slow radio link). Run as
``python -m plurictl.drills.shaper NODE_SIDE BRIDGE_SIDE --delay-ms 200 --loss 0.1
--rate-kbit 256``; SIGTERM stops it. Needs root (raw sockets).
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import random
import select
import signal
import socket
import threading
import time
from dataclasses import dataclass, field

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
#: Frames queued per direction before the rate limit drops them (a router's buffer).
QUEUE_LIMIT = 1000


@dataclass
class Direction:
    """One direction of the link: frames read on ``src`` leave on ``dst``."""

    src: socket.socket
    dst: socket.socket
    delay_s: float = 0.0
    loss: float = 0.0
    queue: list[tuple[float, int, bytes]] = field(default_factory=list)
    seq: int = 0
    dropped: int = 0

    def offer(self, frame: bytes, now: float, rng: random.Random) -> None:
        if self.loss and rng.random() < self.loss:
            self.dropped += 1
            return
        if len(self.queue) >= QUEUE_LIMIT:
            self.dropped += 1
            return
        self.seq += 1
        heapq.heappush(self.queue, (now + self.delay_s, self.seq, frame))


@dataclass
class Rate:
    """A shared token bucket in bytes (0 = unlimited)."""

    bytes_per_s: float
    tokens: float = 0.0
    updated: float = 0.0

    def allow(self, size: int, now: float) -> bool:
        if self.bytes_per_s <= 0:
            return True
        burst = max(3000.0, self.bytes_per_s / 10)
        self.tokens = min(burst, self.tokens + (now - self.updated) * self.bytes_per_s)
        self.updated = now
        if self.tokens >= size:
            self.tokens -= size
            return True
        return False


def raw_socket(interface: str) -> socket.socket:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((interface, 0))
    s.setblocking(False)
    return s


def _read(d: Direction, now: float, rng: random.Random) -> None:
    for _ in range(256):
        try:
            frame, address = d.src.recvfrom(65536)
        except BlockingIOError:
            return
        except OSError:  # the interface went down a moment (a port moved): keep going
            return
        if address[2] != PACKET_OUTGOING:  # our own transmissions show up too: skip them
            d.offer(frame, now, rng)


def _release(d: Direction, rate: Rate, now: float) -> None:
    while d.queue and d.queue[0][0] <= now:
        frame = d.queue[0][2]
        if not rate.allow(len(frame), now):
            return
        heapq.heappop(d.queue)
        try:
            d.dst.send(frame)
        except OSError:
            d.dropped += 1


def run(node_side: str, bridge_side: str, delay_ms: int, loss: float, rate_kbit: int) -> None:
    a, b = raw_socket(node_side), raw_socket(bridge_side)
    out = Direction(a, b, delay_ms / 1000, loss)
    back = Direction(b, a)
    rate = Rate(rate_kbit * 1000 / 8)
    rng = random.Random()
    stop = [False]
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.__setitem__(0, True))
    by_socket = {a: out, b: back}
    while not stop[0]:
        now = time.monotonic()
        due = [d.queue[0][0] for d in (out, back) if d.queue]
        timeout = max(0.002, min(due) - now) if due else 0.2
        try:
            readable, _, _ = select.select([a, b], [], [], min(timeout, 0.2))
        except InterruptedError:
            continue
        now = time.monotonic()
        for sock in readable:
            _read(by_socket[sock], now, rng)
        for d in (out, back):
            _release(d, rate, now)
    a.close()
    b.close()


#: ethtool ioctls: frames forwarded through user space must carry real checksums and
#: MTU-sized segments, so the node's interface computes them itself.
SIOCETHTOOL = 0x8946
ETHTOOL_SET = {"tx-checksum": 0x17, "scatter-gather": 0x19, "tso": 0x1F, "gso": 0x24}


def offload_off(interface: str) -> None:
    """``ethtool -K IFACE tx off sg off tso off gso off``, without ethtool."""
    import ctypes
    import fcntl
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for cmd in ETHTOOL_SET.values():
            value = ctypes.create_string_buffer(struct.pack("II", cmd, 0))
            ifreq = struct.pack("16sP16x", interface.encode(), ctypes.addressof(value))
            with contextlib.suppress(OSError):  # not supported by that device: nothing to do
                fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifreq)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("node_side")
    parser.add_argument("bridge_side", nargs="?")
    parser.add_argument(
        "--offload-off", action="store_true", help="only turn off checksum/segmentation offload"
    )
    parser.add_argument("--delay-ms", type=int, default=0)
    parser.add_argument("--loss", type=float, default=0.0, help="fraction of frames dropped, 0-1")
    parser.add_argument("--rate-kbit", type=int, default=0, help="0 = unlimited")
    args = parser.parse_args(argv)
    if args.offload_off or args.bridge_side is None:
        offload_off(args.node_side)
        return
    run(args.node_side, args.bridge_side, args.delay_ms, args.loss, args.rate_kbit)


if __name__ == "__main__":
    main()
