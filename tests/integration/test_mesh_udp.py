"""Unauthenticated UDP and unverified gossip (in-process nodes on 127.0.0.1): the key service
is rate-limited and never amplifies, beacon addresses stay in a bounded cache, and a member's
gossip never replaces another peer's verified address."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import zmq

from ledger.home import Home
from ledger.identity import curve_public_from_ed25519
from ledger.roster import writer as trust
from ledger.testing import identity_from_seed
from mesh import discovery, protocol
from mesh.node import Node, NodeConfig
from plurictl.cluster import free_port

pytestmark = pytest.mark.timeout(120)

#: Written out rather than imported, so these tests also run (and fail) against the old code.
PADDED_QUERY = b"PLURI?2".ljust(128, b"\0")
PER_SOURCE_BURST = 4
MAX_HINTS = 64


def live(n: Node, key: bytes) -> bool:
    return any(p["key"] == key.hex() and p["state"] == "live" for p in n.peers_status())


@pytest.fixture
def homes(tmp_path: Path) -> Iterator[tuple[Home, Home]]:
    a = Home(tmp_path / "a")
    a.init("a")
    trust.create_mesh(a.store, a.identity, "m")
    b = Home(tmp_path / "b")
    b.init("b")
    trust.add_member(a.store, a.identity, b.identity.public, "b", ["operator"])
    b.store.pin_mesh(a.store.mesh_id)  # type: ignore[arg-type]
    yield a, b
    a.close()
    b.close()


def run_until(nodes: list[Node], done: Callable[[], bool], timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for n in nodes:
            n.step(0.01)
        if done():
            return
    raise TimeoutError("condition not met")


def spin(nodes: list[Node], seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for n in nodes:
            n.step(0.01)


def test_key_service_answers_only_padded_queries_at_a_limited_rate(
    homes: tuple[Home, Home],
) -> None:
    a, _ = homes
    port = free_port()
    na = Node(a, NodeConfig(listen=f"tcp://127.0.0.1:{port}", interval=0.2))
    na.start()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.05)
            for _ in range(200):
                s.sendto(b"PLURI?1", ("127.0.0.1", port))  # unpadded: a 65-byte answer to 7 bytes
                s.sendto(PADDED_QUERY, ("127.0.0.1", port))
            replies = []
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                na.step(0.01)
                with contextlib.suppress(OSError):
                    replies.append(s.recv(2048))
        assert 1 <= len(replies) <= PER_SOURCE_BURST + 3  # a burst, then 2 per second
        assert all(len(r) <= len(PADDED_QUERY) for r in replies)  # no amplification
        ann = discovery.decode_announcement(replies[0])
        assert ann is not None and ann.key == a.identity.public and ann.port == port
        assert na.status()["traffic"]["udp_rate_limited"] >= 50  # (the kernel may drop some)
    finally:
        na.close()


def test_forged_beacons_never_reach_the_peer_book(homes: tuple[Home, Home]) -> None:
    """Anyone on the LAN can send beacons with the mesh tag the key service hands out."""
    a, _ = homes
    beacon_port = free_port()
    na = Node(
        a,
        NodeConfig(
            listen="tcp://127.0.0.1:0",
            discover=True,
            discover_port=beacon_port,
            discover_targets=[f"127.0.0.1:{free_port()}"],
            interval=0.2,
        ),
    )
    na.start()
    try:
        records_before = len(na.book.records)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(5000):
                forged = discovery.encode_announcement(
                    os.urandom(32), a.store.mesh_id, 7000 + i % 1000, "x"
                )
                s.sendto(forged, ("127.0.0.1", beacon_port))
                if i % 500 == 0:
                    spin([na], 0.02)
        spin([na], 1.0)
        assert len(na.book.records) == records_before
        assert len(na.dealers) == 0  # not members: nothing dialled
        na.book.save()
        assert len(na.book.records) == records_before
        assert na.status()["name"] == "a"
    finally:
        na.close()


def curve_dealer(ctx: zmq.Context, ident, server_key: bytes, addr: str) -> zmq.Socket:  # type: ignore[no-untyped-def]
    pub, sec = ident.curve_keypair()
    s = ctx.socket(zmq.DEALER)
    s.linger = 0
    s.curve_serverkey = curve_public_from_ed25519(server_key)
    s.curve_publickey = pub
    s.curve_secretkey = sec
    s.connect(addr)
    return s


def test_a_members_gossip_never_replaces_a_verified_address(homes: tuple[Home, Home]) -> None:
    a, b = homes
    mallory = identity_from_seed("mallory")
    trust.add_member(a.store, a.identity, mallory.public, "mallory", ["operator"])
    na = Node(a, NodeConfig(listen="tcp://127.0.0.1:0", interval=0.2))
    na.start()
    nb = Node(b, NodeConfig(listen="tcp://127.0.0.1:0", peers=[na.listen_endpoint], interval=0.2))
    nb.start()
    ctx = zmq.Context()
    try:
        run_until([na, nb], lambda: a.store.digest() == b.store.digest())
        run_until([na, nb], lambda: live(na, b.identity.public))
        real = nb.listen_endpoint
        # a's dial back to b was refused until b had the roster; it is retried and succeeds
        run_until([na, nb], lambda: na.book.by_key(b.identity.public).good_addr == real)  # type: ignore[union-attr]
        s = curve_dealer(ctx, mallory, a.identity.public, na.listen_endpoint)
        lie = [[b.identity.public, "tcp://127.0.0.1:9", "b"]]
        lie += [[os.urandom(32), f"tcp://10.9.0.{i}:7800", "ghost"] for i in range(60)]
        for _ in range(3):
            s.send(protocol.encode("peers", p=lie))
        spin([na, nb], 1.5)
        rec = na.book.by_key(b.identity.public)
        assert rec is not None and rec.addr == real and rec.good_addr == real
        assert na.dealers_addr[b.identity.public] == real
        assert all(r.name != "ghost" for r in na.book.records)  # not members: not stored
        na.book.save()
        na.close()
        # after a restart the node dials the verified address, not the lie
        na = Node(a, NodeConfig(listen="tcp://127.0.0.1:0", interval=0.2))
        na.start()
        assert na.dealers_addr[b.identity.public] == real
    finally:
        ctx.destroy(linger=0)
        na.close()
        nb.close()
