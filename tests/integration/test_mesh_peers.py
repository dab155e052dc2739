"""Peers: LAN beacons, config-file peers, peers remembered across restarts (in-process nodes)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ledger.home import Home
from ledger.roster import writer as trust
from mesh.node import Node, NodeConfig
from plurictl.cluster import free_port

pytestmark = pytest.mark.timeout(60)


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


def run_until(nodes: list[Node], done: Callable[[], bool], timeout: float = 15.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for n in nodes:
            n.step(0.01)
        if done():
            return
    raise TimeoutError("condition not met")


def test_lan_beacons_find_each_other(homes: tuple[Home, Home]) -> None:
    a, b = homes
    pa, pb = free_port(), free_port()
    na = Node(
        a,
        NodeConfig(
            listen="tcp://127.0.0.1:0",
            discover=True,
            discover_port=pa,
            discover_targets=[f"127.0.0.1:{pb}"],
            interval=0.2,
        ),
    )
    nb = Node(
        b,
        NodeConfig(
            listen="tcp://127.0.0.1:0",
            discover=True,
            discover_port=pb,
            discover_targets=[f"127.0.0.1:{pa}"],
            interval=0.2,
        ),
    )
    na.start()
    nb.start()
    try:
        run_until(
            [na, nb], lambda: b.store.mesh_id is not None and a.store.digest() == b.store.digest()
        )
        sources = {r.source for r in nb.book.records if r.key == a.identity.public}
        assert "discovered" in sources
    finally:
        na.close()
        nb.close()


def test_config_file_peers_and_restart_memory(homes: tuple[Home, Home]) -> None:
    a, b = homes
    na = Node(a, NodeConfig(listen="tcp://127.0.0.1:0", interval=0.2))
    na.start()
    (b.path / "config.toml").write_text(
        f'[node]\nlisten = "tcp://127.0.0.1:0"\npeers = ["{na.listen_endpoint}"]\ninterval = 0.2\n'
    )
    cfg = NodeConfig.from_home(b.path)
    assert cfg.peers == [na.listen_endpoint] and cfg.interval == 0.2
    nb = Node(b, cfg)
    nb.start()
    try:
        run_until(
            [na, nb], lambda: b.store.mesh_id is not None and a.store.digest() == b.store.digest()
        )
    finally:
        nb.close()
    # restart b with no configured peers at all: it remembers a from peers.json
    (b.path / "config.toml").unlink()
    a.append("note", {"while": "b was down"})
    nb2 = Node(b, NodeConfig(listen="tcp://127.0.0.1:0", interval=0.2))
    nb2.start()
    try:
        run_until([na, nb2], lambda: a.store.digest() == b.store.digest())
        assert any(r.key == a.identity.public for r in nb2.book.records)
    finally:
        nb2.close()
        na.close()


def test_bad_config_file_is_a_clear_error(tmp_path: Path) -> None:
    from mesh.errors import MeshError

    (tmp_path / "config.toml").write_text("[node\nlisten=")
    with pytest.raises(MeshError, match=r"config\.toml"):
        NodeConfig.from_home(tmp_path)
    (tmp_path / "config.toml").write_text('[node]\npeers = "tcp://x:1"\n')
    with pytest.raises(MeshError, match="list"):
        NodeConfig.from_home(tmp_path)


def test_second_node_on_the_same_home_is_refused(homes: tuple[Home, Home]) -> None:
    from mesh.errors import AddressInUse

    a, _ = homes
    na = Node(a, NodeConfig(listen="tcp://127.0.0.1:0"))
    na.start()
    try:
        port = int(na.listen_endpoint.rsplit(":", 1)[1])
        other = Home(a.path)
        # a second node process on the same home is refused by the node file
        n2 = Node(other, NodeConfig(listen=f"tcp://127.0.0.1:{port}"))
        import os

        (a.path / "node.json").write_text(
            (a.path / "node.json").read_text().replace(str(os.getpid()), "1")
        )
        with pytest.raises(AddressInUse):
            n2.start()
        other.close()
    finally:
        na.close()


def test_listen_address_in_use(homes: tuple[Home, Home]) -> None:
    from mesh.errors import AddressInUse

    a, b = homes
    na = Node(a, NodeConfig(listen="tcp://127.0.0.1:0"))
    na.start()
    try:
        nb = Node(b, NodeConfig(listen=na.listen_endpoint))
        with pytest.raises(AddressInUse, match="cannot listen"):
            nb.start()
    finally:
        na.close()


def test_forged_announcements_cannot_cut_a_live_link(homes: tuple[Home, Home]) -> None:
    """Anyone on the LAN can send UDP: an announcement naming a's key at a bogus address
    (with no mesh tag, or with the right one) must not make b drop its working link."""
    import socket

    from mesh import discovery

    a, b = homes
    na = Node(a, NodeConfig(listen="tcp://127.0.0.1:0", interval=0.2))
    na.start()
    nb = Node(b, NodeConfig(listen="tcp://127.0.0.1:0", peers=[na.listen_endpoint], interval=0.2))
    nb.start()
    try:
        run_until(
            [na, nb], lambda: b.store.mesh_id is not None and a.store.digest() == b.store.digest()
        )
        run_until([na, nb], lambda: nb.peer_state(a.identity.public) == "live")
        real = nb.dealers_addr[a.identity.public]
        _, b_port = nb.listen_endpoint.rsplit(":", 1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for tag in (b"", discovery.mesh_tag(a.store.mesh_id)):
                forged = discovery.encode_announcement(a.identity.public, None, 9, "a")
                if tag:
                    forged = discovery.encode_announcement(
                        a.identity.public, a.store.mesh_id, 9, "a"
                    )
                s.sendto(forged, ("127.0.0.1", int(b_port)))
        bogus = "tcp://127.0.0.1:9"
        # b has read both datagrams once it holds the tagged one's address among its beacon
        # hints (UDP keeps order); unproven, it never enters the peer book
        run_until([na, nb], lambda: nb.keys.hints.get(a.identity.public) == (bogus, "a"))
        ticks = nb._ticks
        run_until([na, nb], lambda: nb._ticks >= ticks + 5)  # five gossip intervals later
        assert nb.dealers_addr[a.identity.public] == real
        assert not any(bogus in (r.addr, r.good_addr) for r in nb.book.records)
        a.append("note", {"still": "in sync"})
        run_until([na, nb], lambda: a.store.digest() == b.store.digest())
    finally:
        na.close()
        nb.close()


def test_a_laptop_not_in_any_mesh_cannot_start_a_node(tmp_path: Path) -> None:
    from ledger.errors import NotInitialised

    h = Home(tmp_path / "lost")
    h.init("lost")
    with pytest.raises(NotInitialised, match="not in a mesh"):
        Node(h, NodeConfig(listen="tcp://127.0.0.1:0")).start()
    h.close()
