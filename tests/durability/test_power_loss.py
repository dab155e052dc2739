"""Power loss: writes not yet fsynced are lost, and no acknowledged entry may be (issue 16).

A real writer (``tests.durability.workload``: the real Store, real SQLite in WAL
mode with ``synchronous=FULL``) runs with a small LD_PRELOAD recorder
(``powerloss_shim.c``) that logs every write, truncation, fsync, file creation
and unlink under its folder. For a cut at any point of that log,
``tests.durability.replay`` rebuilds the files as the disk holds them after
the power goes off there: each file as of its last fsync, a new file only if a
directory fsync made its name durable (and, in half the rounds, a random subset
of the later writes too, since disks reorder). The rebuilt store must open,
pass ``log verify`` (every byte, column, chain and SQLite's integrity check)
and hold every entry acknowledged before the cut.

``make test`` runs a short version; ``make test-slow`` the 200 rounds.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ledger.errors import StoreError
from ledger.store import Store
from tests.durability.replay import acked_before, disk_after_cut, read_log

SHIM = Path(__file__).with_name("powerloss_shim.c")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or not sys.platform.startswith("linux"):
        pytest.skip("needs a C compiler on Linux for the LD_PRELOAD recorder")
    out = tmp_path_factory.mktemp("shim") / "powerloss.so"
    subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", str(out), str(SHIM), "-ldl"], check=True)
    return out


def record(shim: Path, work: Path, seed: int, ops: int, unsafe: str = "") -> list:  # type: ignore[type-arg]
    folder = (work / "disk").resolve()
    folder.mkdir(parents=True)
    log = work / "events.log"
    log.write_bytes(b"")
    env = {**os.environ, "LD_PRELOAD": str(shim), "PL_DIR": str(folder), "PL_LOG": str(log)}
    if unsafe:
        env["PL_UNSAFE_SYNC"] = unsafe
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.durability.workload",
            str(folder),
            str(log),
            str(seed),
            str(ops),
        ],
        check=True,
        env=env,
        cwd=ROOT,
        timeout=240,
    )
    return read_log(log)


def check_cut(events: list, cut: int, rng: random.Random | None, where: Path) -> tuple[int, int]:  # type: ignore[type-arg]
    """(acknowledged entries lost, corrupt stores: 0 or 1) for a power cut before events[cut]."""
    if where.exists():
        shutil.rmtree(where)
    where.mkdir(parents=True)
    for path, data in disk_after_cut(events, cut, rng).items():
        (where / Path(path).name).write_bytes(data)
    acked = acked_before(events, cut)
    if not (where / "ledger.db").exists():
        return len(acked), 0
    try:
        with Store(where / "ledger.db") as store:
            report = store.verify_all()
            corrupt = 0 if report.ok else 1
            lost = sum(1 for eid in acked if store.get(eid) is None)
    except StoreError:  # SQLite cannot read it: count everything in it as gone
        return len(acked), 1
    return lost, corrupt


def cuts(events: list, rounds: int, rng: random.Random) -> list[int]:  # type: ignore[type-arg]
    """Cut points: half just around an fsync or an acknowledgement, half anywhere."""
    marks = [i for i, e in enumerate(events) if e.type in ("S", "D", "A")]
    out = []
    for r in range(rounds):
        if r % 2 and marks:
            out.append(min(len(events), max(1, rng.choice(marks) + rng.choice((0, 1)))))
        else:
            out.append(rng.randrange(1, len(events) + 1))
    return out


def run_rounds(
    shim: Path, tmp: Path, seeds: list[int], rounds_each: int, ops: int, unsafe: str = ""
) -> tuple[int, int, list]:  # type: ignore[type-arg]
    lost = corrupt = total = 0
    failures = []
    for seed in seeds:
        events = record(shim, tmp / f"w{seed}", seed, ops, unsafe)
        assert any(e.type == "S" for e in events), "the recorder saw no fsync"
        rng = random.Random(seed)
        for n, cut in enumerate(cuts(events, rounds_each, rng)):
            mode = random.Random(seed * 1000 + n) if n % 2 else None
            gone, bad = check_cut(events, cut, mode, tmp / "cut")
            total += 1
            lost += gone
            corrupt += bad
            if gone or bad:
                failures.append((seed, cut, n % 2, gone, bad))
    return lost, corrupt, failures


def test_power_loss_short(shim: Path, tmp_path: Path) -> None:
    lost, corrupt, failures = run_rounds(shim, tmp_path, seeds=[1], rounds_each=24, ops=60)
    assert (lost, corrupt) == (0, 0), f"lost {lost}, corrupt {corrupt}; first: {failures[:5]}"


def test_the_harness_sees_loss_when_durability_is_off(shim: Path, tmp_path: Path) -> None:
    """Negative control: with synchronous=OFF (no fsync), acknowledged entries do get lost."""
    lost, _, _ = run_rounds(shim, tmp_path, seeds=[2], rounds_each=24, ops=60, unsafe="OFF")
    assert lost > 0


@pytest.mark.slow
def test_power_loss_200_rounds(shim: Path, tmp_path: Path) -> None:
    lost, corrupt, failures = run_rounds(
        shim, tmp_path, seeds=[11, 12, 13, 14], rounds_each=50, ops=150
    )
    assert (lost, corrupt) == (0, 0), (
        f"200 rounds: {lost} acknowledged entries lost, {corrupt} corrupt stores; "
        f"first: {failures[:5]}"
    )
