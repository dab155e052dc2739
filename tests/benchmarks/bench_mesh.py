"""Mesh benchmarks on real node processes over loopback with CURVE.

- catch-up of 100,000 entries to a fresh node, as a ratio of the raw verify rate;
- bytes per anti-entropy round when in sync, with 1,000 vs 100,000 entries;
- convergence of 10 nodes after a heal (default 1 s gossip interval);
- eager push latency between two connected nodes.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from plurictl.cluster import LocalCluster

pytestmark = [pytest.mark.bench, pytest.mark.timeout(900)]

#: CurveZMQ MESSAGE command (flags, nonce, MAC) plus the ZMTP frame header, per message.
CURVE_OVERHEAD = 8 + 8 + 16 + 1 + 9


def fill(cluster: LocalCluster, name: str, authors: list[str], total: int) -> None:
    """``total`` signed entries spread over ``authors`` (all members), written into ``name``'s home."""
    with cluster.home(name) as h:
        per = total // len(authors)
        for who in authors:
            signer = _signer(cluster, who)
            for start in range(0, per, 5000):
                h.store.append_many(
                    signer,
                    [
                        ("note", {"i": i, "text": "tank 2 at 61%"})
                        for i in range(start, min(per, start + 5000))
                    ],
                )


def _signer(cluster: LocalCluster, who: str):  # type: ignore[no-untyped-def]
    from ledger.home import Home

    with Home(cluster.nodes[who].home) as h:
        return h.identity


def test_catch_up_100k(tmp_path: Path, raw_verify_rate: float, record: Callable) -> None:  # type: ignore[no-untyped-def]
    names = ["src", "fresh"]
    with LocalCluster(tmp_path, interval=1.0) as c:
        c.init_homes(names)
        c.found_mesh("src", {"src": ["admin", "operator"], "fresh": ["operator"]})
        fill(c, "src", ["src"], 100_000)
        c.start("src")
        with c.home("src") as h:
            target = h.store.count()
        t = time.perf_counter()
        c.start("fresh")
        with c.home("fresh") as h:
            while h.store.count() < target:
                time.sleep(0.05)
                assert time.perf_counter() - t < 300
        elapsed = time.perf_counter() - t
    rate = target / elapsed
    ratio = rate / raw_verify_rate
    record(
        "mesh",
        "catch-up 100k entries to a fresh node (CURVE, loopback)",
        rate,
        "entries/s",
        ">= 0.6 x raw verify",
        ratio >= 0.6,
    )
    record("mesh", "catch-up / raw verify", ratio, "ratio", ">= 0.6", ratio >= 0.6)


def in_sync_round_bytes(cluster: LocalCluster, rounds: float) -> tuple[float, float]:
    before = {n: cluster.control(n, "status")["traffic"]["sent_by_type"] for n in cluster.nodes}
    time.sleep(rounds)
    after = {n: cluster.control(n, "status")["traffic"]["sent_by_type"] for n in cluster.nodes}
    msgs = payload = 0
    n_digests = 0
    for n in cluster.nodes:
        for t in ("digest", "in_sync", "heads"):
            a, b = after[n].get(t, [0, 0]), before[n].get(t, [0, 0])
            msgs += a[0] - b[0]
            payload += a[1] - b[1]
            if t == "digest":
                n_digests += a[0] - b[0]
    per_round = payload / max(1, n_digests)
    wire = (payload + msgs * CURVE_OVERHEAD) / max(1, n_digests)
    return per_round, wire


def test_in_sync_round_bytes(tmp_path: Path, record: Callable) -> None:  # type: ignore[no-untyped-def]
    results = {}
    for size in (1_000, 100_000):
        with LocalCluster(tmp_path / str(size), interval=0.2) as c:
            c.init_homes(["a", "b"])
            c.found_mesh("a", {"a": ["admin", "operator"], "b": ["operator"]})
            fill(c, "a", ["a"], size)
            c.start("a")
            c.start("b")
            c.wait_converged(timeout=300)
            time.sleep(1.0)
            results[size] = in_sync_round_bytes(c, 3.0)
    for size, (payload, wire) in results.items():
        record(
            "mesh",
            f"in-sync anti-entropy round, {size:,} entries (payload)",
            payload,
            "bytes",
            "<= 512",
            payload <= 512,
        )
        record(
            "mesh",
            f"in-sync anti-entropy round, {size:,} entries (with CURVE+ZMTP)",
            wire,
            "bytes",
            "<= 512",
            wire <= 512,
        )
    same = abs(results[1_000][0] - results[100_000][0]) < 1.0
    record("mesh", "round size independent of ledger size", float(same), "bool", "1", same)


def test_ten_nodes_converge_after_heal(tmp_path: Path, record: Callable) -> None:  # type: ignore[no-untyped-def]
    names = [f"n{i}" for i in range(10)]
    with LocalCluster(tmp_path, interval=1.0) as c:
        c.init_homes(names)
        c.found_mesh("n0", {n: ["admin", "operator"] if n == "n0" else ["operator"] for n in names})
        for n in names:
            c.start(
                n, peers=[f"{c.nodes['n0'].key.hex()}@{c.nodes['n0'].addr}"]
            )  # peer exchange does the rest
        c.wait_converged(timeout=60)
        time.sleep(3)
        c.partition([names[:5], names[5:]])
        during = []
        with c.home("n1") as h:
            during.append(h.append("note", {"written": "during partition"}).id)
        c.nudge("n1")
        time.sleep(2)
        c.heal()
        t = time.perf_counter()
        c.wait_converged(timeout=60)
        anti_entropy = time.perf_counter() - t
        with c.home("n7") as h:
            after_id = h.append("note", {"written": "after heal"}).id
        t = time.perf_counter()
        c.nudge("n7")
        while True:
            have = 0
            for n in names:
                with c.home(n) as hh:
                    have += hh.store.get(after_id) is not None
            if have == len(names):
                break
            assert time.perf_counter() - t < 60
            time.sleep(0.02)
        push = time.perf_counter() - t
    record(
        "mesh",
        "10 nodes: one write after a heal reaches all (1 s interval)",
        push,
        "s",
        "<= 5 s",
        push <= 5,
    )
    record(
        "mesh",
        "10 nodes: write made during the partition, all have it after heal",
        anti_entropy,
        "s",
        "<= 5 s",
        anti_entropy <= 5,
    )


def test_eager_push_latency(tmp_path: Path, record: Callable) -> None:  # type: ignore[no-untyped-def]
    with LocalCluster(tmp_path, interval=1.0) as c:
        c.init_homes(["a", "b"])
        c.found_mesh("a", {"a": ["admin", "operator"], "b": ["operator"]})
        c.start("a")
        c.start("b")
        c.wait_converged(timeout=30)
        time.sleep(1)
        latencies = []
        with c.home("a") as ha, c.home("b") as hb:
            for i in range(40):
                t = time.perf_counter()
                e = ha.append("note", {"i": i})
                c.nudge("a")
                while hb.store.get(e.id) is None:
                    time.sleep(0.001)
                latencies.append(time.perf_counter() - t)
                time.sleep(0.05)
    p50 = statistics.median(latencies) * 1000
    p95 = sorted(latencies)[int(0.95 * len(latencies))] * 1000
    record(
        "mesh", "eager push latency p50 (write, nudge, arrive)", p50, "ms", "<= 50 ms", p50 <= 50
    )
    record("mesh", "eager push latency p95", p95, "ms")
