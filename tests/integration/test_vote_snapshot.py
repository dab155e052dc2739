"""The votes view reads its inputs (roster, vote entries, fork proofs) in one snapshot.

Found by the cloned-teller drill (about one run in five on a loaded machine): a laptop
showed a vote FINAL, then PROVISIONAL right after the heal. `load` read the roster, the
vote entries and the fork proofs in three transactions; a copied teller's seal arriving
between them was read with its fork proof but against a roster that did not know the key
was copied yet, so the copy's seal looked like the teller's own second seal, and (when
its id sorted first) it replaced the real one: the sealed sheet lost a seal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ledger.entry import create
from ledger.store import Store
from ledger.testing import MeshFixture
from ledger.votes.bodies import SEAL
from ledger.votes.testing import VoteBook
from ledger.votes.writer import load

TELLERS = ["t1", "t2", "t3"]


def test_a_fork_arriving_mid_read_never_unseals_a_final_vote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = MeshFixture.create("alice", {t: ["operator", "teller"] for t in TELLERS})
    vb = VoteBook(m)
    v = vb.open("alice", roll=["alice", *TELLERS], tellers=TELLERS, f=0)  # k = 2 of 3
    ballots = [vb.cast("alice", v, ["a"]), vb.cast("t1", v, ["b"]), vb.cast("t3", v, ["a"])]
    sheet = vb.close("alice", v, ballots)
    other = vb.close("alice", v, ballots[:2])  # the sheet the copied laptop seals
    vb.seal("t1", v, sheet)
    real = vb.seal("t2", v, sheet)
    twin = None
    for tick in range(1, 200):  # a copy whose id sorts before the real seal's (same seq)
        body = {"vote": v.id.hex(), "sheet": other.id.hex(), "root": other.body["root"]}
        twin = create(m.person("t2"), seq=real.seq, prev=real.prev, hlc=real.hlc + tick,
                      kind=SEAL, body=body)  # fmt: skip
        if twin.id < real.id:
            break
    assert twin is not None and twin.id < real.id
    laptop = tmp_path / "laptop"
    with Store.open(laptop, create=True) as store:
        store.ingest([e.raw for e in m.entries])
    with Store.open(laptop) as store, Store.open(laptop) as other_handle:
        assert load(store)[0].votes[v.id].state == "FINAL"
        original = store.entries

        def entries_while_the_copy_arrives(*args: Any, **kwargs: Any) -> Any:
            if twin is not None and not other_handle.fork_proofs():
                other_handle.ingest([twin.raw])  # the mesh, writing between two reads
            return original(*args, **kwargs)

        monkeypatch.setattr(store, "entries", entries_while_the_copy_arrives)
        during = load(store)[0].votes[v.id]
        assert during.state == "FINAL", during.state  # main: PROVISIONAL
        after = load(store)[0].votes[v.id]
        assert other_handle.fork_proofs() and after.state == "FINAL"
        assert [t.member for t in after.forked_tellers] == [vb.member("t2")]
