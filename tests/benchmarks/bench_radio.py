"""Radio bridge benchmarks on the link simulator (simulated clock: exact, deterministic, fast).

The link: 1,200 bit/s, 200-byte MTU, 10 % frame loss, 500 ms latency, half duplex.
Every row is reported next to the link's raw capacity for the same bytes, computed
in the same run: the time those bytes take on the air at that bit rate (plus the
latency once), the physical floor nothing can beat without making the entries
smaller. The radio beats it by sending entries compacted (author and prev
elided, the rest deflated), and re-expanding them byte for byte before the
store verifies them.

Latency rows are measured over several seeds (different loss patterns), with
the urgent entry written while 100 fuel reports are on their way (what it must
overtake); the worst seed is compared with the target.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from pathlib import Path

import pytest

from mesh.radio.budget import parse_budget
from mesh.radio.sim import SimParams
from mesh.radio.station import StationConfig
from mesh.radio.testing import Valley

pytestmark = [pytest.mark.bench, pytest.mark.timeout(1800)]

BITRATE, MTU, LOSS, LATENCY = 1200, 200, 0.1, 0.5
SEEDS = range(1, 21)


def link(seed: int) -> SimParams:
    return SimParams(bitrate=BITRATE, mtu=MTU, loss=LOSS, latency=LATENCY, seed=seed)


def raw_seconds(nbytes: int) -> float:
    """The physical floor: the bytes on the air at the bit rate, plus the latency once."""
    return nbytes * 8 / BITRATE + LATENCY


def settled(v: Valley, seed: int, config: StationConfig | None = None):  # type: ignore[no-untyped-def]
    net = v.net(link(seed), config)

    def confirmed() -> bool:
        peers = [p for n in net.nodes.values() for p in n.station.peers.values()]
        return net.in_sync() and len(peers) == 2 and all(p.in_sync for p in peers)

    net.run_until(confirmed, 900)
    return net


def urgent_latency(root: Path, seed: int, kind: str) -> tuple[float, int]:
    """Seconds from writing one urgent entry (behind 100 fuel reports) to its arrival."""
    v = Valley.create(root / f"{kind}-{seed}")
    vote = v.open_vote() if kind == "ballot" else None
    run = v.start_playbook() if kind == "sign-off" else None
    net = settled(v, seed)
    v.fuel_reports(100)
    net.run_for(20)  # the backlog is streaming
    if kind == "revocation":
        entry = v.revoke()
    elif kind == "ballot":
        entry = v.ballot(vote, who="erin")  # type: ignore[arg-type]
    else:
        entry = v.sign_off(run, who="dave")  # type: ignore[arg-type]
    took = net.run_until(lambda: v.valley.get(entry.id) is not None, 300)
    size = len(entry.raw)
    v.close()
    return took, size


@pytest.mark.parametrize(
    ("kind", "target"), [("revocation", 10.0), ("ballot", 15.0), ("sign-off", 20.0)]
)
def test_urgent_entries_overtake_a_backlog(
    tmp_path: Path, record: Callable, kind: str, target: float
) -> None:  # type: ignore[type-arg]
    results = [urgent_latency(tmp_path, seed, kind) for seed in SEEDS]
    times = [t for t, _ in results]
    size = results[0][1]
    group = f"radio {kind}"
    record(group, f"raw link limit for {size} B", raw_seconds(size), "s")
    record(group, f"median of {len(times)} loss patterns", statistics.median(times), "s")
    record(group, "worst loss pattern", max(times), "s", f"<= {target:g} s", max(times) <= target)


def test_a_hundred_fuel_reports(tmp_path: Path, record: Callable) -> None:  # type: ignore[type-arg]
    durations, ratios = [], []
    raw_total = 0
    for seed in SEEDS[:4]:
        v = Valley.create(tmp_path / f"fuel-{seed}")
        net = settled(v, seed)
        before, start = len(net.air.log), net.now
        entries = v.fuel_reports(100)
        durations.append(
            net.run_until(
                lambda v=v, entries=entries: all(v.valley.get(e.id) for e in entries), 1800
            )
        )
        net.run_until(net.in_sync, 300)
        on_air = sum(t.nbytes for t in net.air.log[before:] if t.start >= start)
        raw_total = sum(len(e.raw) for e in entries)
        ratios.append(on_air / raw_total)
        v.close()
    group = "radio 100 fuel reports"
    record(group, f"raw link limit for {raw_total:,} B", raw_seconds(raw_total), "s")
    record(
        group, "worst of 4 loss patterns", max(durations), "s", "<= 300 s", max(durations) <= 300
    )
    record(
        group,
        "bytes on air per entry byte (both ways, all overhead)",
        max(ratios),
        "x",
        "<= 1.3",
        max(ratios) <= 1.3,
    )


def test_in_sync_exchange(tmp_path: Path, record: Callable) -> None:  # type: ignore[type-arg]
    v = Valley.create(tmp_path)
    v.fuel_reports(20)
    net = settled(v, 3)
    net.run_for(300)
    before = len(net.air.log)
    net.run_for(600)
    frames = net.air.log[before:]
    exchanges = len(frames) / 2  # one summary from each side per exchange
    per_exchange = sum(t.nbytes for t in frames) / exchanges
    record("radio in sync", "raw link limit for 64 B", raw_seconds(64), "s")
    record(
        "radio in sync",
        f"bytes on air per exchange ({exchanges:.0f} exchanges in 10 min)",
        per_exchange,
        "B",
        "<= 64 B",
        per_exchange <= 64,
    )
    v.close()


def test_budget_never_exceeded(tmp_path: Path, record: Callable) -> None:  # type: ignore[type-arg]
    v = Valley.create(tmp_path)
    config = StationConfig(budget=parse_budget("20%"))
    net = settled(v, 5, config)
    entries = v.fuel_reports(100)
    took = net.run_until(lambda: all(v.valley.get(e.id) for e in entries), 7200)
    window = net.nodes["town"].station.budget.window
    worst = 0.0
    for sender in ("town", "valley"):
        sent = [t for t in net.air.log if t.sender == sender]
        for t in sent:
            used = sum(x.end - x.start for x in sent if t.start <= x.start < t.start + window)
            worst = max(worst, used / (0.2 * window))
    raw = sum(len(e.raw) for e in entries)
    group = "radio budget 20%"
    record(group, f"raw link limit at 20% for {raw:,} B", raw * 8 / BITRATE / 0.2, "s")
    record(group, "100 fuel reports under the budget", took, "s")
    record(
        group, f"most airtime in any {window:.0f} s window", worst, "x budget", "<= 1", worst <= 1
    )
    v.close()
