"""Validly signed but hostile vote entries, through the real CLI (found by review, issue 14).

Anyone on the roster signs text that vote commands print: titles, labels, names, ballot
choices. Rich markup in any of it (``[/]``) made `vote list`, `status`, `result` and
`verify` fail with a traceback (the error reporter itself choked on the message).
"""

from __future__ import annotations

from pathlib import Path

from ledger import identity
from ledger.store import Store
from ledger.testing import MeshFixture
from ledger.testing_votes import VoteBook
from tests.conftest import Invoke, json_out

TELLERS = ["t1", "t2", "t3", "t4"]
HOSTILE = "[/] [bold red]Which [/x] plant"


def laptop(tmp_path: Path, m: MeshFixture, name: str) -> Path:
    """``name``'s laptop holding every entry of ``m``."""
    h = tmp_path / name.strip("[]/ ")
    identity.ensure_home(h)
    identity.save(m.person(name), h, None)
    with Store.open(h, create=True) as store:
        assert not store.ingest([e.raw for e in m.entries]).rejected
    return h


def test_markup_in_signed_text_is_shown_as_text(tmp_path: Path, invoke: Invoke) -> None:
    m = MeshFixture.create("alice", {t: ["operator", "teller"] for t in TELLERS})
    m.add("[/]vic", ["operator"])
    vb = VoteBook(m)
    v = vb.open(
        "alice",
        roll=[*TELLERS, "[/]vic"],
        tellers=TELLERS,
        f=1,
        title=HOSTILE,
        options=[("a", "[/]"), ("b", "B [red]")],
    )
    ballots = [
        vb.cast("[/]vic", v, ["a"]),
        vb.cast("t1", v, ["[/]"]),  # spoiled: its reason quotes the choice
        vb.cast("t2", v, ["b"]),
        vb.cast("t3", v, ["a"]),
    ]
    sheet = vb.close("alice", v, ballots)
    for t in TELLERS[:3]:
        vb.seal(t, v, sheet)
    h = laptop(tmp_path, m, "[/]vic")
    vid = v.id.hex()[:12]
    for args in (
        ("vote", "list"),
        ("vote", "status", vid),
        ("vote", "result", vid),
        ("vote", "verify", vid, "--all"),
        ("vote", "receipt", vid),
    ):
        r = invoke(h, *args)
        assert r.exit_code == 0, (args, r.output)
        assert "Traceback" not in r.output and "unexpected" not in r.output
    flat = " ".join(invoke(h, "vote", "status", vid).output.split())
    assert HOSTILE in flat and "a ([/])" in flat and "[/]vic" in flat
    assert "WINNER: [/]" in " ".join(invoke(h, "vote", "result", vid).output.split())
    assert json_out(invoke(h, "vote", "result", vid, "--json"))["result"]["winner"]["label"] == "[/]"
