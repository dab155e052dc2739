"""The roster folded by a forked child beside the vote read (ledger.reads.roster_beside):
the same roster as a fold here, the same damage noted, and a failed child changes nothing."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger import forked, reads
from ledger.kinds import ROSTER_KINDS
from ledger.store import Store
from ledger.testing import MeshFixture
from tests.unit.votes_helpers import council

pytestmark = pytest.mark.skipif(not forked.possible(), reason="needs fork and two cores")


@pytest.fixture
def world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[MeshFixture, Store, list[int]]]:
    m, _ = council()
    store = Store.open(tmp_path, create=True)
    assert not store.ingest([e.raw for e in m.entries]).rejected
    monkeypatch.setattr(reads, "BESIDE_ROWS", 1)  # this small roster counts as big
    monkeypatch.setattr(forked, "cores", forked.possible)  # also under pytest-xdist's threads
    forks: list[int] = []
    real = forked.Children.__init__

    def counted(self, work, n):  # type: ignore[no-untyped-def]
        forks.append(n)
        real(self, work, n)

    monkeypatch.setattr(forked.Children, "__init__", counted)
    yield m, store, forks
    store.close()


def fresh(store: Store) -> dict[str, object]:
    store._roster_cache = None
    return store.roster().to_json()


def test_the_child_gives_the_roster_a_fold_here_gives(world) -> None:  # type: ignore[no-untyped-def]
    m, store, forks = world
    beside = store.roster_beside()()
    assert forks == [1], "the roster was not folded by a child"
    assert beside.to_json() == fresh(store) == m.roster().to_json()
    assert store.roster() is beside or store.roster().to_json() == beside.to_json()  # cached


def test_a_failed_child_changes_nothing(world, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    m, store, forks = world
    monkeypatch.setattr(forked.Children, "results", lambda self: self.close())  # None
    assert store.roster_beside()().to_json() == m.roster().to_json()
    assert forks == [1]


def test_damage_the_child_finds_is_noted_here(world) -> None:  # type: ignore[no-untyped-def]
    m, store, forks = world
    row = next(e for e in m.entries if e.kind in ROSTER_KINDS and e.seq > 1)
    with store._write() as db:  # one byte of the body: the bytes no longer hash to the id
        db.execute(
            "UPDATE entries SET raw=? WHERE author=? AND seq=?",
            (row.raw[:-80] + bytes([row.raw[-80] ^ 1]) + row.raw[-79:], row.author, row.seq),
        )
    store._roster_cache = None
    store.damaged.clear()
    beside = store.roster_beside()().to_json()
    noted = dict(store.damaged)
    assert (row.author, row.seq) in noted and forks == [1]
    store.damaged.clear()
    assert fresh(store) == beside and dict(store.damaged).keys() == noted.keys()


def test_the_roster_survives_the_trip_back() -> None:
    m, _ = council()
    r = m.roster()
    assert pickle.loads(pickle.dumps(r)).to_json() == r.to_json()
