"""Benchmark plumbing: every bench records rows; one table is printed at the end.

Run with `make bench`. Rates are measured, never asserted in unit tests; a
missed target is shown as MISS in the table (and in bench-results.json).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest


@dataclass
class Row:
    group: str
    metric: str
    value: float
    unit: str
    target: str = ""
    ok: bool | None = None


ROWS: list[Row] = []


@pytest.fixture(scope="session")
def record() -> Callable[..., None]:
    def add(
        group: str, metric: str, value: float, unit: str, target: str = "", ok: bool | None = None
    ) -> None:
        ROWS.append(Row(group, metric, float(value), unit, target, ok))

    return add


def measure_raw_verify_rate(n: int = 4000, threads: int = 1) -> float:
    """pynacl verify rate (entries/s) on this machine, right now, with ``threads`` threads
    (libsodium runs without the GIL, so threads use that many cores)."""
    from concurrent.futures import ThreadPoolExecutor

    import nacl.bindings
    import nacl.signing

    sk = nacl.signing.SigningKey(bytes(range(32)))
    pk = bytes(sk.verify_key)
    msgs = [os.urandom(180) for _ in range(n * threads)]
    signed = [sk.sign(m).signature + m for m in msgs]
    size = len(signed) // threads
    chunks = [signed[i : i + size] for i in range(0, len(signed), size)]

    def check(chunk: list[bytes]) -> None:
        for s in chunk:
            nacl.bindings.crypto_sign_open(s, pk)

    best = 0.0
    with ThreadPoolExecutor(threads) as pool:
        for _ in range(3):
            t = time.perf_counter()
            list(pool.map(check, chunks))
            best = max(best, len(signed) / (time.perf_counter() - t))
    return best


def measure_raw_verify_cpu(n: int = 4000) -> float:
    """CPU seconds one pynacl verify takes on this machine (one thread, best of 3): unlike a
    rate, it does not change with what else the shared cores are running."""
    import nacl.bindings
    import nacl.signing

    sk = nacl.signing.SigningKey(bytes(range(32)))
    pk = bytes(sk.verify_key)
    signed = [sk.sign(os.urandom(180)) for _ in range(n)]
    best = float("inf")
    for _ in range(3):
        t = time.thread_time()
        for s in signed:
            nacl.bindings.crypto_sign_open(s, pk)
        best = min(best, (time.thread_time() - t) / n)
    return best


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, every thread) process ``pid`` has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture(scope="session")
def raw_verify_rate(record: Callable[..., None]) -> float:
    rate = measure_raw_verify_rate()
    record("baseline", "raw pynacl verify (1 core)", rate, "entries/s")
    return rate


@pytest.fixture
def raw_verify_rate_2(record: Callable[..., None]) -> float:
    """Two threads: the baseline for work that uses two cores (measured right before it)."""
    rate = measure_raw_verify_rate(threads=2)
    record("baseline", "raw pynacl verify (2 threads)", rate, "entries/s")
    return rate


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    if not ROWS:
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="plurictl benchmarks (this machine, this run)")
    for col in ("group", "metric", "value", "unit", "target", "result"):
        table.add_column(col, justify="right" if col == "value" else "left")
    for r in ROWS:
        result = "" if r.ok is None else ("ok" if r.ok else "MISS")
        value = f"{r.value:,.0f}" if abs(r.value) >= 100 else f"{r.value:,.3g}"
        table.add_row(r.group, r.metric, value, r.unit, r.target, result)
    Console(width=140).print(table)
    out = Path(config.rootpath) / "bench-results.json"
    out.write_text(json.dumps([asdict(r) for r in ROWS], indent=2))
