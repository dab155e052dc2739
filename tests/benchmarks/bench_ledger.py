"""Ledger benchmarks: verify, ingest, append, CLI start-up, roster fold, membership gate."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ledger.entry import create
from ledger.roster import view as roster_view
from ledger.store import Store
from ledger.testing import MeshFixture, identity_from_seed

pytestmark = pytest.mark.bench


def signed_feeds(mesh: MeshFixture, authors: list[str], per_author: int) -> list[bytes]:
    """Real signed entries, round-robin over authors (like a catch-up stream)."""
    out = []
    for i in range(per_author):
        for who in authors:
            out.append(
                mesh.write(who, "note", {"i": i, "text": "generator 2 running, tank 60%"}).raw
            )
    return out


@pytest.fixture(scope="module")
def workload() -> tuple[MeshFixture, list[bytes]]:
    members = {f"m{i}": ["operator"] for i in range(20)}
    mesh = MeshFixture.create("alice", members)
    raws = signed_feeds(mesh, list(members), 1000)  # 20,000 entries
    return mesh, raws


def ingest_rate(
    tmp: Path, mesh: MeshFixture, raws: list[bytes], *, gate: bool, batch: int = 2000
) -> float:
    store = Store(tmp / f"ingest-{gate}-{time.monotonic_ns()}.db", create=True)
    store.ingest([e.raw for e in mesh.entries[: len(mesh.entries) - len(raws)]])
    store._membership_checks = gate  # private switch: no laptop ever turns the gate off
    t = time.perf_counter()
    for i in range(0, len(raws), batch):
        report = store.ingest(raws[i : i + batch])
        assert not report.rejected
    rate = len(raws) / (time.perf_counter() - t)
    store.close()
    return rate


def test_ingest_vs_raw_verify(
    tmp_path: Path, workload, raw_verify_rate: float, record: Callable
) -> None:  # type: ignore[no-untyped-def]
    mesh, raws = workload
    with_gate = max(ingest_rate(tmp_path, mesh, raws, gate=True) for _ in range(2))
    without = max(ingest_rate(tmp_path, mesh, raws, gate=False) for _ in range(2))
    ratio = with_gate / raw_verify_rate
    record(
        "ledger",
        "ingest (verify+chain+membership+store, batches of 2000)",
        with_gate,
        "entries/s",
        ">= 0.7 x raw verify",
        ratio >= 0.7,
    )
    record("ledger", "ingest / raw verify", ratio, "ratio", ">= 0.7", ratio >= 0.7)
    record("trust", "ingest without membership checks", without, "entries/s")
    overhead = (without - with_gate) / without
    record("trust", "membership check overhead", overhead * 100, "%", "<= 10%", overhead <= 0.10)


def test_append_batched(tmp_path: Path, record: Callable) -> None:  # type: ignore[no-untyped-def]
    mesh = MeshFixture.create("alice", {"bob": ["operator"]})
    store = Store(tmp_path / "append.db", create=True)
    store.ingest([e.raw for e in mesh.entries])
    bob = identity_from_seed("bob")
    n, batch = 20_000, 1000
    t = time.perf_counter()
    for _ in range(n // batch):
        store.append_many(bob, [("note", {"text": "tank 3 at 40%", "litres": 812})] * batch)
    rate = n / (time.perf_counter() - t)
    record(
        "ledger",
        "append (sign+store, batches of 1000)",
        rate,
        "entries/s",
        ">= 20,000",
        rate >= 20_000,
    )
    t = time.perf_counter()
    for _ in range(200):
        store.append(bob, "note", {"text": "single"})
    single = 200 / (time.perf_counter() - t)
    record("ledger", "append, one entry per transaction (fsync each)", single, "entries/s")
    store.close()


def test_cli_help_startup(record: Callable) -> None:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(5):
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "plurictl", "--help"], check=True, capture_output=True
        )
        times.append(time.perf_counter() - t)
    best = min(times)
    record(
        "cli",
        "plurictl --help (best of 5, incl. interpreter)",
        best * 1000,
        "ms",
        "< 300 ms",
        best < 0.3,
    )
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, plurictl.cli; print('pandapower' in sys.modules, 'zmq' in sys.modules)",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    record(
        "cli",
        "heavy imports on the --help path (pandapower, zmq)",
        0 if probe.stdout.split() == ["False", "False"] else 1,
        "count",
        "0",
        probe.stdout.split() == ["False", "False"],
    )


def test_roster_fold_100k(record: Callable) -> None:  # type: ignore[no-untyped-def]
    members = {f"m{i}": ["operator"] for i in range(200)}
    mesh = MeshFixture.create("alice", members)
    for i in range(10):
        mesh.grant(f"m{i}", "teller")
    signers = {name: identity_from_seed(name) for name in members}
    entries = list(mesh.entries)
    prev = {name: mesh.mesh_id for name in members}
    for i in range(100_000 - len(entries)):
        name = f"m{i % 200}"
        e = create(
            signers[name], seq=i // 200 + 1, prev=prev[name], hlc=i, kind="note", body={"i": i}
        )
        prev[name] = e.id
        entries.append(e)
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        r = roster_view.fold(entries)
        best = min(best, time.perf_counter() - t)
    assert len(r.keys) == 201
    record(
        "trust",
        "roster fold over 100,000 entries, 200 members",
        best * 1000,
        "ms",
        "< 1000 ms",
        best < 1.0,
    )
