"""Kill a writer with SIGKILL at random moments: the store always opens, verifies and keeps
every entry whose append had returned (was acknowledged)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.store import Store
from ledger.testing import MeshFixture

WRITER = r"""
import sys
from ledger.store import Store
from ledger.testing import identity_from_seed
store = Store.open(sys.argv[1])
me = identity_from_seed("bob")
batch = int(sys.argv[2])
while True:
    if batch == 1:
        entries = [store.append(me, "note", {"pad": "x" * 200})]
    else:
        entries = store.append_many(me, [("note", {"pad": "x" * 200})] * batch)
    sys.stdout.write(f"{entries[-1].seq}\n")
    sys.stdout.flush()
"""


def run_and_kill(home: Path, rng: random.Random, batch: int) -> int:
    """Start a writer, kill it after a random delay; return the last acknowledged seq."""
    with subprocess.Popen(
        [sys.executable, "-c", WRITER, str(home), str(batch)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    ) as proc:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the writer is running and has committed once
        for _ in range(rng.randrange(0, 40)):  # kill after a random number of commits
            first += proc.stdout.readline()
        proc.send_signal(signal.SIGKILL)
        rest = proc.stdout.read()
        proc.wait()
    acked = [int(x) for x in (first + rest).decode().split()]
    return max(acked) if acked else 0


def crash_loop(tmp_path: Path, rounds: int, seed: int) -> None:
    mesh = MeshFixture.create("alice", {"bob": ["operator"]})
    home = tmp_path / "home"
    home.mkdir()
    with Store.open(home, create=True) as s:
        s.ingest([e.raw for e in mesh.entries])
    rng = random.Random(seed)
    acknowledged = 0
    for _ in range(rounds):
        acknowledged = max(acknowledged, run_and_kill(home, rng, rng.choice([1, 1, 50])))
        with Store.open(home) as s:
            report = s.verify_all()
            assert report.ok, report.bad[:3]
            head = s.stored_heads()[mesh.key("bob")].seq
            assert head >= acknowledged  # nothing acknowledged was lost
            assert len(s.range_raw(mesh.key("bob"), 1, head, limit=10**9)) == head
    assert acknowledged > 0


def test_sigkill_never_loses_acknowledged_entries(tmp_path: Path) -> None:
    crash_loop(tmp_path, rounds=12, seed=1)


@pytest.mark.slow
def test_sigkill_many_times(tmp_path: Path) -> None:
    crash_loop(tmp_path, rounds=60, seed=2)
