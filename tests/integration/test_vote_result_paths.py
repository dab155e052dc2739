"""`vote result --json` prints exactly what a plain fold of the signed bytes gives (issue 14).

The CLI reads through the store's fast paths (a table scan with the hash-checked decode,
the schemas' list checks, the fold with the collector paused). The reference here takes
none of them: every stored entry decoded by the strict canonical decoder, the vote entries
folded with the collector on, and the same readout printed. Both must be the same bytes,
on a ledger with revotes, a double vote, a spoiled ballot, late ballots, a voter revoked
after the close (rules 2: the sealed sheet still counts their ballot), a vote still open,
and a teller whose key signed on two laptops (a fork proof: "teller t1 equivocated").
"""

from __future__ import annotations

import gc
import random
from pathlib import Path
from typing import Any

from ledger.entry import Entry, decode
from ledger.home import Home
from ledger.schemas import IDS, list_of, text
from ledger.votes import view as votes_view
from ledger.votes.bodies import BALLOT, SEAL
from ledger.votes.testing import VoteBook
from plurictl.readouts import vote_result
from plurictl.render.common import dumps
from tests.conftest import Invoke
from tests.unit.test_votes_finality import council, open_default, twin

VOTERS = [f"v{i}" for i in range(8)]


def build(m: Any) -> tuple[list[Entry], list[Entry], list[Entry], list[Entry]]:
    """(everything, the other laptop's copies, final vote, open vote) on one mesh."""
    for v in VOTERS:
        m.add(v, ["operator"])
    vb = VoteBook(m)
    final = open_default(m, ["t1", "t2", "t3", "t4", "t5"])
    still_open = open_default(m, ["t1", "t2", "t3", "t4", "t5"])
    rng = random.Random(14)
    listed = []
    for v in VOTERS:
        listed.append(vb.cast(v, final, [rng.choice(["north", "south"])]))
    listed.append(vb.cast("v0", final, ["south"]))  # a revote naming the first
    listed.append(vb.cast("v1", final, ["north"], fresh=True))  # a double vote: void
    listed.append(vb.cast("v2", final, ["east"]))  # spoiled: no such option
    listed.append(vb.cast("vera", final, ["north"]))
    sheet = vb.close("alice", final, listed)
    copy = twin(m, "t1")  # t1's laptop restored from a backup: same key, same chain
    forked = [vb.seal("t1", final, sheet)]
    body = {"vote": final.id.hex(), "sheet": sheet.id.hex(), "root": sheet.body["root"]}
    other = [copy.write(SEAL, body, m.tick())]  # the copy signs at the same seq
    for t in ["t2", "t3", "t4"]:
        vb.seal(t, final, sheet)
    vb.cast("v3", final, ["south"])  # late: after the close, not on the sealed sheet
    m.revoke("v4")  # after the close: the sealed sheet still counts v4's ballot
    vb.cast("walt", still_open, ["north"])
    vb.cast("walt", still_open, ["south"])
    assert forked[0].kind == SEAL and other[0].seq == forked[0].seq
    return list(m.entries), other, [final], [still_open]


def laptop(tmp_path: Path, m: Any, entries: list[Entry], other: list[Entry]) -> Path:
    """A home holding every entry and the fork proof of the copied teller key."""
    path = tmp_path / "laptop"
    with Home(path) as h:
        h.init("reader")
        h.store.pin_mesh(m.mesh_id)
        report = h.store.ingest([e.raw for e in entries])
        assert not report.rejected, report.rejected[:3]
        h.store.ingest([e.raw for e in other])  # refused, and kept as a fork proof
        assert h.store.fork_proofs(), "the copied teller key left a fork proof"
    return path


def reference(path: Path, vote: Entry, ballots: bool) -> str:
    """The readout over a plain fold: the strict decoder, no fast path, collector on."""
    assert gc.isenabled()
    with Home(path) as h:
        store = h.store
        roster = store.roster()
        entries = [decode(raw) for raw, _ in store.iter_raw()]
        mine = [e for e in entries if e.kind.startswith("vote.")]
        proofs = [e for p in store.fork_proofs() for e in (p.a, p.b) if e.kind.startswith("vote.")]
        votes = votes_view.fold(mine, roster, None, proofs)
        return dumps(vote_result(votes.votes[vote.id], roster, ballots=ballots)) + "\n"


def test_vote_result_json_is_byte_identical_to_a_plain_fold(tmp_path: Path, invoke: Invoke) -> None:
    m = council()
    entries, other, (final,), (still_open,) = build(m)
    path = laptop(tmp_path, m, entries, other)
    shown = {}
    for vote in (final, still_open):
        for extra in ([], ["--ballots"]):
            r = invoke(path, "vote", "result", vote.id.hex()[:12], "--json", *extra)
            assert r.exit_code == 0, r.output
            assert gc.isenabled(), "the vote command left the collector off"
            assert r.stdout == reference(path, vote, bool(extra))
            shown[(vote.id, bool(extra))] = r.stdout
    # the ledger really has what the docstring promises
    full = shown[(final.id, True)]
    assert '"state": "FINAL"' in full
    for reason in ("replaced by a later ballot", "void: double vote", "spoiled", "late"):
        assert reason in full, reason
    assert "equivocated" in shown[(final.id, False)]
    assert '"state": "PROVISIONAL"' in shown[(still_open.id, False)]
    assert sum(e.kind == BALLOT for e in entries) == len(VOTERS) + 7


def test_a_list_of_texts_is_checked_as_item_by_item() -> None:
    """list_of's one-pass check of texts says exactly what checking each item says."""
    short = list_of(text(4), 5)
    rng = random.Random(7)
    pool: list[Any] = ["", "ab", "abcd", "abcde", 3, None, b"ab", ["a"], True, "x" * 64]
    for _ in range(2000):
        value = [rng.choice(pool) for _ in range(rng.randint(0, 6))]
        expected = None
        if len(value) > 5:
            expected = "body.x has more than 5 items"
        else:
            for i, item in enumerate(value):
                expected = text(4)(item, f"body.x[{i}]")
                if expected:
                    break
        assert short(value, "body.x") == expected, value
    assert IDS(["a" * 64, "b" * 65], "replaces") == "replaces[1] is longer than 64 characters"
