"""Human output of votes in every state and outcome (rendered from real view data)."""

from __future__ import annotations

import pytest

from ledger.votes import as_json as vote_json
from plurictl.render import votes as vote_render
from tests.unit.votes_helpers import TELLERS, VOTERS, council, fold


def text(capsys: pytest.CaptureFixture[str]) -> str:
    return " ".join(capsys.readouterr().out.split())


def sealed(method: str, choices: dict[str, object], **kw: object):  # type: ignore[no-untyped-def]
    m, vb = council()
    v = vb.open("alice", roll=VOTERS, tellers=TELLERS, method=method, **kw)  # type: ignore[arg-type]
    ballots = [vb.cast(name, v, c) for name, c in choices.items()]
    sheet = vb.close("alice", v, ballots)
    vb.seal("bob", v, sheet)
    vb.seal("carol", v, sheet)
    votes = fold(m)
    return votes.votes[v.id], votes, m.roster()


def test_irv_rounds_are_shown(capsys: pytest.CaptureFixture[str]) -> None:
    vote, _, roster = sealed(
        "ranked-choice",
        {"alice": ["a"], "bob": ["a"], "carol": ["b", "a"], "dave": ["c", "b"], "erin": ["b"]},
        options=["a", "b", "c"],
    )
    data = vote_json.result(vote, roster)
    vote_render.render_result(data, vote.state, vote.charter.title)  # type: ignore[arg-type]
    out = text(capsys)
    assert "instant-runoff rounds" in out and "WINNER: B" in out
    assert [r["eliminated"] for r in data["rounds"]] == [["c"], []]  # type: ignore[index]


@pytest.mark.parametrize(
    ("choices", "kw", "expected"),
    [
        ({"bob": ["a"], "carol": ["b"]}, {}, "TIE between a, b"),
        ({"bob": ["a"], "carol": ["a"]}, {"quorum_pct": 90}, "NO QUORUM"),
        ({"bob": [], "carol": []}, {}, "NO VOTES"),
        ({n: ["a"] for n in VOTERS}, {}, "Decided regardless"),
    ],
)
def test_outcomes(
    capsys: pytest.CaptureFixture[str], choices: dict, kw: dict, expected: str
) -> None:
    vote, _, roster = sealed("plurality", choices, **kw)
    vote_render.render_result(vote_json.result(vote, roster), vote.state, vote.charter.title)  # type: ignore[arg-type]
    assert expected in text(capsys)


def test_status_shows_double_votes_equivocation_and_waiting(
    capsys: pytest.CaptureFixture[str],
) -> None:
    m, vb = council()
    v = vb.open("alice", roll=VOTERS, tellers=TELLERS)
    vb.cast("bob", v, ["a"])
    vb.cast("bob", v, ["b"], fresh=True)
    s1 = vb.close("alice", v, [vb.cast("carol", v, ["a"])])
    s2 = vb.close("cody", v, [vb.cast("dave", v, ["a"])])
    vb.seal("carol", v, s1)
    vb.seal("carol", v, s2)
    votes = fold(m)
    vote_render.render_status(vote_json.status(votes.votes[v.id], votes, m.roster()))
    out = text(capsys)
    assert (
        "PROVISIONAL" in out and "Double vote: bob" in out and "Teller equivocation: carol" in out
    )
    assert "NOT a result" in out


def test_status_of_a_sealed_vote_missing_ballots(capsys: pytest.CaptureFixture[str]) -> None:
    m, vb = council()
    v = vb.open("alice", roll=VOTERS, tellers=TELLERS)
    b = vb.cast("bob", v, ["a"])
    sheet = vb.close("alice", v, [b])
    vb.seal("bob", v, sheet)
    vb.seal("dave", v, sheet)
    entries = [e for e in m.entries if e.id != b.id]
    votes = fold(m, entries)
    vote_render.render_status(vote_json.status(votes.votes[v.id], votes, m.roster()))
    out = text(capsys)
    assert "SEALED" in out and "1 listed ballot(s) are not here yet" in out


def test_seals_past_the_threshold_never_read_four_of_three() -> None:
    from plurictl.render.votes import seals_of

    assert seals_of(2, 3) == "2 of 3 seals"
    assert seals_of(3, 3) == "3 of 3 seals"
    assert seals_of(4, 3) == "4 seals (3 needed)"  # was "4 of 3 seals" (review 21c C4e)
