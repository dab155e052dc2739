"""Joining and syncing across a real network boundary: every laptop in its own network namespace
on a bridge (like laptops on one Wi-Fi), commands run exactly as mesh.md shows them.

Needs root (network namespaces); skipped with the reason otherwise. Quick enough for `make test`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.home import Home
from plurictl.cluster import LocalCluster
from plurictl.drills.netns import NetLab, unavailable

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(unavailable() is not None, reason=f"{unavailable()}"),
]

ROLES = {
    "a": ["admin", "coordinator", "operator"],
    "b": ["operator"],
    "c": ["operator"],
    "d": ["operator"],
    "e": ["operator"],
}


@pytest.fixture
def lan(tmp_path: Path) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path, interval=0.3, net=NetLab())
    try:
        c.init_homes(list(ROLES))
        c.found_mesh("a", ROLES)
        yield c
    finally:
        c.close()


def plurictl(
    c: LocalCluster, on: str, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a command on laptop ``on`` (inside its network namespace), as its operator would."""
    node = c.nodes[on]
    cmd = [*node.wrap, sys.executable, "-m", "plurictl", "--home", str(node.home), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def has_roster(c: LocalCluster, name: str) -> bool:
    with Home(c.nodes[name].home) as h:
        return h.store.roster().name == "drill"


def test_a_newcomer_syncs_from_another_machine(lan: LocalCluster) -> None:
    """`plurictl sync --peer tcp://HOST:7800` and `KEY@tcp://HOST:7800` between two laptops."""
    a = lan.nodes["a"]
    lan.start("a", peers=[])
    assert not a.host.startswith("127.")
    r = plurictl(lan, "b", "sync", "--peer", f"tcp://{a.host}:7800", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    summary = json.loads(r.stdout)
    assert summary["in_sync"] and summary["received"] >= 3 and has_roster(lan, "b")
    # the key form skips the UDP key query (works where UDP is blocked)
    r = plurictl(lan, "c", "sync", "--peer", f"{a.key.hex()}@tcp://{a.host}:7800", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["in_sync"] and has_roster(lan, "c")
    # a wrong address fails clearly, with the system's own words, not a traceback
    nobody = a.host.rsplit(".", 1)[0] + ".200"  # an address on the LAN where no laptop is
    r = plurictl(lan, "d", "sync", "--peer", f"tcp://{nobody}:7800", "--timeout", "5")
    assert r.returncode == 9 and "Traceback" not in r.stderr
    assert "UDP" in r.stderr


def test_node_status_shows_how_others_reach_this_laptop(lan: LocalCluster) -> None:
    a = lan.nodes["a"]
    lan.start("a", peers=[])
    r = plurictl(lan, "a", "node", "status", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["reach_me"] == f"{a.key.hex()}@tcp://{a.host}:7800"


def test_every_documented_way_of_joining_works_across_machines(lan: LocalCluster) -> None:
    """mesh.md: `node up --peer tcp://…`, `--peer KEY@tcp://…`, peers in config.toml,
    `--discover` (LAN beacons), and peer exchange (one peer is enough)."""
    a = lan.nodes["a"]
    lan.start("a", peers=[], extra=["--discover"])
    lan.start("b", peers=[f"tcp://{a.host}:7800"])
    lan.start("c", peers=[f"{a.key.hex()}@tcp://{a.host}:7800"])
    d = lan.nodes["d"]
    (d.home / "config.toml").write_text(f'[node]\npeers = ["tcp://{a.host}:7800"]\n')
    lan.start("d", peers=[])
    lan.start("e", peers=[], extra=["--discover"])
    lan.wait_converged(timeout=60)
    # peer exchange: b only knew a, and ends up with a link to everyone
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        live = {p["name"] for p in lan.control("b", "peers") if p["state"] == "live"}
        if live >= {"a", "c", "d", "e"}:
            break
        time.sleep(0.5)
    assert live >= {"a", "c", "d", "e"}, live
    sources = {p["name"]: p["source"] for p in lan.control("e", "peers")}
    assert sources.get("a") in ("discovered", "exchange", "static"), sources
    with Home(lan.nodes["e"].home) as h:
        note = h.append("note", {"from": "e"}).id
    lan.nudge("e")
    lan.wait_converged(timeout=30)
    for name in lan.nodes:
        with Home(lan.nodes[name].home) as h:
            assert h.store.get(note) is not None
