"""ZeroMQ sockets of a node, with every option that bounds memory or heals a link set in one place.

- The ROUTER (CurveZMQ server) accepts members; a handshake must finish in
  :data:`mesh.config.HANDSHAKE_MS`; each connection queues at most
  :data:`mesh.protocol.RECEIVE_QUEUE` messages of at most
  :data:`mesh.protocol.MAX_MESSAGE_BYTES`.
- Each DEALER (CurveZMQ client) dials one member, with ZMTP heartbeats
  (``ZMQ_HEARTBEAT_IVL/TIMEOUT/TTL``): a link whose peer stops answering is
  closed and re-dialled within seconds, and the TTL makes the other side drop
  its end too. A connect that hangs (a SYN lost to a cut) is abandoned after
  :data:`mesh.config.CONNECT_TIMEOUT_MS` and retried at most
  :data:`mesh.config.RECONNECT_MAX_MS` apart.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import zmq

from ledger.identity import curve_public_from_ed25519
from mesh import protocol
from mesh.config import CONNECT_TIMEOUT_MS, HANDSHAKE_MS, RECONNECT_MAX_MS
from mesh.errors import AddressInUse

ZAP_DOMAIN = b"plurigrid"
DEALER_EVENTS = (
    zmq.EVENT_HANDSHAKE_SUCCEEDED
    | zmq.EVENT_HANDSHAKE_FAILED_AUTH
    | zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
    | zmq.EVENT_DISCONNECTED
    | zmq.EVENT_CONNECT_RETRIED
)


@dataclass(frozen=True)
class CurveKeys:
    public: bytes  # z85
    secret: bytes  # z85


def _bounded(sock: zmq.Socket[bytes]) -> None:
    sock.linger = 0
    sock.setsockopt(zmq.MAXMSGSIZE, protocol.MAX_MESSAGE_BYTES)
    sock.rcvhwm = protocol.RECEIVE_QUEUE
    sock.sndhwm = protocol.SEND_QUEUE
    sock.setsockopt(zmq.HANDSHAKE_IVL, HANDSHAKE_MS)


def bind_router(
    ctx: zmq.Context[zmq.Socket[bytes]], endpoint: str, keys: CurveKeys
) -> tuple[zmq.Socket[bytes], str]:
    """The node's CurveZMQ server; returns the socket and the endpoint it really listens on."""
    router = ctx.socket(zmq.ROUTER)
    _bounded(router)
    router.curve_server = True
    router.curve_publickey = keys.public
    router.curve_secretkey = keys.secret
    router.zap_domain = ZAP_DOMAIN
    router.setsockopt(zmq.ROUTER_MANDATORY, 1)
    try:
        router.bind(endpoint)
    except zmq.ZMQError as e:
        router.close(linger=0)
        raise AddressInUse(
            f"cannot listen on {endpoint}: {e.strerror}",
            hint="another program uses that port; pick another with --listen tcp://0.0.0.0:PORT",
        ) from e
    return router, router.getsockopt_string(zmq.LAST_ENDPOINT)


def open_dealer(
    ctx: zmq.Context[zmq.Socket[bytes]],
    server_key: bytes,
    keys: CurveKeys,
    addr: str,
    *,
    heartbeat_s: float,
    heartbeat_timeout_s: float,
) -> tuple[zmq.Socket[bytes], zmq.Socket[bytes]]:
    """A CurveZMQ client dialling ``server_key`` (ed25519) at ``addr``, and its monitor socket."""
    dealer = ctx.socket(zmq.DEALER)
    _bounded(dealer)
    dealer.curve_serverkey = curve_public_from_ed25519(server_key)
    dealer.curve_publickey = keys.public
    dealer.curve_secretkey = keys.secret
    dealer.setsockopt(zmq.IMMEDIATE, 1)
    dealer.setsockopt(zmq.RECONNECT_IVL, 100)
    dealer.setsockopt(zmq.RECONNECT_IVL_MAX, RECONNECT_MAX_MS)
    dealer.setsockopt(zmq.CONNECT_TIMEOUT, CONNECT_TIMEOUT_MS)
    dealer.setsockopt(zmq.HEARTBEAT_IVL, int(heartbeat_s * 1000))
    dealer.setsockopt(zmq.HEARTBEAT_TIMEOUT, int(heartbeat_timeout_s * 1000))
    # The other end drops the connection after this long without a heartbeat from us.
    dealer.setsockopt(zmq.HEARTBEAT_TTL, min(6_553_500, int(3 * heartbeat_s * 1000)))
    monitor = dealer.get_monitor_socket(DEALER_EVENTS)
    dealer.connect(addr)
    return dealer, monitor


def close_dealer(dealer: zmq.Socket[bytes], monitor: zmq.Socket[bytes] | None) -> None:
    with contextlib.suppress(zmq.ZMQError):
        dealer.disable_monitor()
    if monitor is not None:
        monitor.close(linger=0)
    dealer.close(linger=0)
