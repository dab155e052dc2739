"""Links follow what the network really does (real node processes on 127.0.0.1): a refused
dial is retried with back-off and the peer shows live once it admits us; a forked key, once
revoked, is cut off like any revoked key."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ledger.entry import create
from plurictl.cluster import LocalCluster
from tests.conftest import Invoke

pytestmark = pytest.mark.timeout(120)

ROLES = {"a": ["admin", "coordinator", "operator"], "b": ["operator"], "c": ["operator"]}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path, interval=0.3)
    c.init_homes(["a", "b", "c"])
    c.found_mesh("a", ROLES)
    try:
        yield c
    finally:
        c.stop_all()


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise TimeoutError("condition not met")


def row(c: LocalCluster, on: str, name: str) -> dict:
    key = c.nodes[name].key.hex()
    return next((p for p in c.control(on, "peers") if p["key"] == key), {})


def test_a_refused_dial_is_retried_and_the_peer_shows_live(
    cluster: LocalCluster, invoke: Invoke
) -> None:
    """The founder dials a newcomer before the newcomer has the roster: refused. Once the
    newcomer syncs, the founder's dial gets through and `peers` says so."""
    b = cluster.nodes["b"]
    cluster.start("b", peers=[])  # listening, but no roster yet: it admits nobody
    cluster.start("a", peers=[f"{b.key.hex()}@{b.addr}"])
    wait_for(lambda: row(cluster, "a", "b").get("state") == "refused")
    assert "roster" in row(cluster, "a", "b")["note"]
    # the newcomer gets the roster through its running node
    r = invoke(b.home, "sync", "--peer", cluster.nodes["a"].addr)
    assert r.exit_code == 0, r.output + r.stderr
    cluster.wait_converged(["a", "b"], timeout=20)
    wait_for(lambda: row(cluster, "a", "b").get("state") == "live")
    wait_for(lambda: cluster.control("a", "status")["connections"]["outbound"] >= 1)
    assert "out" in row(cluster, "a", "b")["links"]
    # the newcomer restarts: the founder's link comes back by itself
    cluster.stop("b")
    cluster.start("b", peers=[])
    wait_for(
        lambda: (
            row(cluster, "a", "b").get("state") == "live"
            and "out" in row(cluster, "a", "b")["links"]
        )
    )
    with cluster.home("a") as h:
        h.append("note", {"after": "restart"})
    cluster.nudge("a")
    cluster.wait_converged(["a", "b"], timeout=20)


def test_a_forked_key_once_revoked_is_cut_off(cluster: LocalCluster, invoke: Invoke) -> None:
    """trust.md's fork procedure on a live mesh: the copied key is revoked and loses its link."""
    for n in "abc":
        cluster.start(n)
    cluster.wait_converged(timeout=20)
    with cluster.home("b") as h:
        head = h.store.stored_heads().get(h.identity.public)
        seq, prev = (head.seq, head.id) if head else (0, h.store.mesh_id)
        twin = create(h.identity, seq=seq + 1, prev=prev, hlc=1, kind="note", body={"copy": 1})
        h.append("note", {"real": 1})
    cluster.nudge("b")
    with cluster.home("a") as h:
        h.store.ingest([twin.raw])  # the copy shows up at a
    cluster.nudge("a")
    wait_for(lambda: all(len(cluster.control(n, "status") and _forks(cluster, n)) for n in "abc"))
    assert row(cluster, "a", "b")["state"] == "live"  # equivocated: still connected, frozen
    r = invoke(cluster.nodes["a"].home, "roster", "revoke", "b", "--reason", "key copied")
    assert r.exit_code == 0, r.output + r.stderr
    wait_for(lambda: row(cluster, "a", "b").get("state") == "revoked", timeout=10)
    wait_for(lambda: row(cluster, "c", "b").get("state") == "revoked", timeout=20)
    # the revoked key can no longer pull anything: new entries reach c, never b
    with cluster.home("a") as h:
        news = h.append("note", {"after": "revocation"}).id
    refused = cluster.control("a", "status")["traffic"]["zap_refused"]
    cluster.nudge("a")
    wait_for(lambda: _has(cluster, "c", news))
    # b kept trying to come back after the news existed, and was turned away each time
    wait_for(
        lambda: cluster.control("a", "status")["traffic"]["zap_refused"] >= refused + 2,
        timeout=60,
    )
    assert not _has(cluster, "b", news)


def _has(cluster: LocalCluster, name: str, entry_id: bytes) -> bool:
    with cluster.home(name) as h:
        return h.store.get(entry_id) is not None


def _forks(cluster: LocalCluster, name: str) -> list:
    with cluster.home(name) as h:
        return h.store.fork_proofs()
