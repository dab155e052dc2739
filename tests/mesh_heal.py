"""A real cut and heal on a network-namespace LAN, measured: shared by the slow tests and
`make bench` (issue 23: back in sync within 5 s after a 60 s cut, 3 and 10 nodes)."""

from __future__ import annotations

import time
from pathlib import Path

from ledger.home import Home
from plurictl.cluster import LocalCluster
from plurictl.drills.netns import NetLab


def start_lan(root: Path, n: int, interval: float = 1.0) -> LocalCluster:
    """``n`` nodes, each in its own namespace, joined through n0 (peer exchange does the rest)."""
    names = [f"n{i}" for i in range(n)]
    c = LocalCluster(root, interval=interval, net=NetLab())
    try:
        c.init_homes(names)
        c.found_mesh("n0", {x: ["admin", "operator"] if x == "n0" else ["operator"] for x in names})
        first = c.nodes["n0"]
        c.start("n0", peers=[])
        for x in names[1:]:
            c.start(x, peers=[f"{first.key.hex()}@{first.addr}"])
        c.wait_converged(timeout=120)
        wait_all_live(c, timeout=120)
    except BaseException:
        c.close()
        raise
    return c


def wait_all_live(c: LocalCluster, timeout: float) -> None:
    """Every node has a live link to every other (a full mesh, as after peer exchange)."""
    deadline = time.monotonic() + timeout
    want = len(c.nodes) - 1
    while time.monotonic() < deadline:
        if all(c.control(x, "status")["peers_live"] >= want for x in c.nodes):
            return
        time.sleep(0.5)
    raise TimeoutError("not every node reached every other")


def cut_and_heal(c: LocalCluster, victims: list[str], mode: str, seconds: float) -> float:
    """Cut ``victims`` for real (``link`` down or bridge port ``detach``ed) for ``seconds``
    while both sides write, heal, and return the seconds until every ledger is equal."""
    assert c.net is not None
    for v in victims:
        c.net.link_down(v) if mode == "link" else c.net.detach(v)
    others = [x for x in c.nodes if x not in victims]
    end = time.monotonic() + seconds
    i = 0
    while time.monotonic() < end:
        for writer in (victims[i % len(victims)], others[i % len(others)]):
            with Home(c.nodes[writer].home) as h:
                h.append("note", {"during": "cut", "i": i})
            c.nudge(writer)
        i += 1
        time.sleep(min(2.0, max(0.0, end - time.monotonic())))
    for v in victims:
        c.net.link_up(v) if mode == "link" else c.net.attach(v)
    return c.wait_converged(timeout=120)
