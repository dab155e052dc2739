"""How long the playbook view takes as a run grows (every command folds the run).

Run with ``make bench`` or ``pytest tests/benchmarks/bench_playbooks.py -m bench -s``.
Prints a table; asserts nothing about time.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from textwrap import dedent

import pytest

from ledger.playbooks import view, writer
from ledger.playbooks.checks import StaticFacts
from ledger.roster.view import Roster
from ledger.store import Store
from ledger.testing import MeshFixture
from tests.playbook_helpers import Runner

OPERATORS = [f"op{i}" for i in range(6)]


def chain_playbook(steps: int) -> str:
    """A linear restart: every step needs the previous one and two operators."""
    parts = [
        dedent(
            """\
            id = "bench"
            title = "Benchmark chain"
            version = "1"
            roles = ["coordinator", "operator"]
            """
        )
    ]
    for i in range(steps):
        prereq = f'prerequisites = ["s{i - 1}"]\n' if i else ""
        parts.append(
            f'[[steps]]\nid = "s{i}"\ntitle = "Step {i}"\nrole = "operator"\nsignoffs = 2\n'
            f'{prereq}instructions = "Do step {i}."\n'
        )
    return "\n".join(parts)


def build(steps: int, extra_per_step: int) -> tuple[MeshFixture, Roster, int]:
    r = Runner({name: ["operator"] for name in OPERATORS}, chain_playbook(steps), site=None)
    for i in range(steps):
        r.act(OPERATORS[i % 6], "sign", f"s{i}")
        r.act(OPERATORS[(i + 1) % 6], "sign", f"s{i}")
        for k in range(extra_per_step):  # late third signers: more records, same outcome
            r.raw(OPERATORS[(i + 2 + k) % 6], "sign", seen=[r.mesh.entries[-1]], step=f"s{i}")
    return (
        r.mesh,
        r.mesh.roster(),
        len([e for e in r.mesh.entries if e.kind.startswith("playbook.")]),
    )


def timed(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


@pytest.mark.bench
def test_fold_time_by_run_size() -> None:
    rows = []
    for steps, extra in ((10, 0), (50, 0), (100, 1), (200, 2)):
        mesh, roster, n = build(steps, extra)
        facts = StaticFacts()
        seconds = timed(lambda m=mesh, r=roster, f=facts: view.fold(m.entries, r, f))
        state = view.fold(mesh.entries, roster, facts)
        run = next(iter(state.runs.values()))
        assert run.state == view.COMPLETE
        with tempfile.TemporaryDirectory() as d:
            store = Store(Path(d) / "ledger.db", create=True)
            store.ingest([e.raw for e in mesh.entries])
            from_store = timed(lambda s=store: writer.load_state(s))
            store.close()
        rows.append((steps, n, seconds, from_store))
    print("\nplaybook view: one run (best of 3)")
    print(f"{'steps':>6} {'entries':>8} {'fold ms':>9} {'us/entry':>9} {'store+fold ms':>14}")
    for steps, n, seconds, from_store in rows:
        print(
            f"{steps:>6} {n:>8} {seconds * 1000:>9.1f} {seconds / n * 1e6:>9.1f} "
            f"{from_store * 1000:>14.1f}"
        )
