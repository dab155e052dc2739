"""`plurictl vote ...` end to end on real homes: flags, files, exit codes, an unchanged store."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from ledger.entry import entry_id
from ledger.store import Store
from plurictl.cli import cli
from tests.conftest import Invoke, json_out

TELLERS = ("bob", "carol", "dave")


def sync(*homes: Path) -> None:
    """Every laptop gets every entry (what the mesh or a courier bundle would do)."""
    for a in homes:
        for b in homes:
            if a != b:
                with Store.open(a) as sa, Store.open(b) as sb:
                    sb.ingest([raw for raw, _ in sa.iter_raw()])


@pytest.fixture(scope="module")
def council_template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """alice founds the mesh; bob, carol, dave (tellers) and erin are operators. Built once."""
    runner = CliRunner()
    root = tmp_path_factory.mktemp("council")

    def run(h: Path, *args: str) -> str:
        r = runner.invoke(cli, ["--home", str(h), *args], catch_exceptions=False)
        assert r.exit_code == 0, r.output
        return r.stdout

    homes = {"alice": root / "alice"}
    run(homes["alice"], "init", "--name", "alice")
    run(homes["alice"], "mesh", "create", "relief")
    for name in (*TELLERS, "erin"):
        h = root / name
        run(h, "init", "--name", name)
        key = json.loads(run(h, "whoami", "--json"))["public_key"]
        roles = ["--role", "operator"] + (["--role", "teller"] if name in TELLERS else [])
        run(homes["alice"], "roster", "add", key, "--name", name, *roles)
        homes[name] = h
    sync(*homes.values())
    return homes


@pytest.fixture
def council(council_template: dict[str, Path], tmp_path: Path) -> dict[str, Path]:
    """A fresh copy of the council's homes for each test."""
    out = {}
    for name, h in council_template.items():
        out[name] = tmp_path / name
        shutil.copytree(h, out[name])
    return out


def entries(h: Path) -> int:
    with Store.open(h) as s:
        return s.count()


def open_vote(invoke: Invoke, h: Path, *extra: str) -> str:
    r = invoke(
        h, "vote", "open", "--title", "Restart order",
        "--option", "north=North plant", "--option", "south=South plant",
        "--ref", "north=plan:n1", "--roll", "role:operator",
        "--teller", "bob", "--teller", "carol", "--teller", "dave", *extra, "--json",
    )  # fmt: skip
    return json_out(r)["vote"]


def test_a_council_vote_from_open_to_receipt(council: dict[str, Path], invoke: Invoke) -> None:
    a = council["alice"]
    vid = open_vote(invoke, a, "--quorum", "50")
    short = vid[:8]
    sync(*council.values())
    for name, choice in (("alice", "north"), ("bob", "north"), ("carol", "south")):
        r = invoke(council[name], "vote", "cast", short, choice)
        assert r.exit_code == 0, r.output
    sync(*council.values())
    status = json_out(invoke(council["dave"], "vote", "status", short, "--json"))
    assert status["state"] == "PROVISIONAL" and status["winner"] is None
    assert status["turnout"]["voters"] == 3 and status["turnout"]["roll_size"] == 5
    assert status["provisional_counts"] == {"north": 2, "south": 1}
    assert json_out(invoke(a, "vote", "result", short, "--json"))["result"] is None

    assert invoke(council["bob"], "vote", "stop", short).exit_code == 0
    sync(*council.values())
    r = invoke(a, "vote", "close", short, "--json")
    sheet = json_out(r)["sheet"]
    sync(*council.values())
    step = json_out(invoke(council["bob"], "vote", "status", short, "--json"))["next_seal"]
    assert step == {
        "command": f"plurictl vote seal {short}",
        "sheet": sheet,
        "accept_late": False,
        "why": None,
    }
    assert json_out(invoke(a, "vote", "status", short, "--json"))["next_seal"] is None  # no seat
    for teller in ("bob", "dave"):
        r = invoke(council[teller], "vote", "seal", short, "--json")
        assert r.exit_code == 0, r.output
        sync(*council.values())
    result = json_out(invoke(council["erin"], "vote", "result", short, "--json"))
    assert result["state"] == "FINAL"
    res = result["result"]
    assert res["sheet"] == sheet and res["winner"] == {
        "id": "north",
        "label": "North plant",
        "ref": "plan:n1",
    }
    assert res["quorum_met"] and res["turnout_weight"] == 3 and not res["decided_regardless"]

    human = " ".join(invoke(council["erin"], "vote", "status", short).output.split())
    assert "FINAL" in human and "result: North plant" in human
    human = " ".join(invoke(council["erin"], "vote", "result", short).output.split())
    assert "WINNER: North plant" in human and "ref plan:n1" in human
    human = " ".join(invoke(council["carol"], "vote", "receipt", short).output.split())
    assert "is in the sealed set" in human
    receipt = json_out(invoke(council["carol"], "vote", "receipt", short, "--json"))
    assert receipt["status"] == "in sealed set" and receipt["proof_ok"] is True
    assert (
        json_out(invoke(council["erin"], "vote", "receipt", short, "--json"))["status"]
        == "no ballot"
    )
    audit = invoke(council["erin"], "vote", "verify", short, "--json")
    assert audit.exit_code == 0 and json_out(audit)["same_as_store"]
    listed = json_out(invoke(a, "vote", "list", "--json"))["votes"]
    assert [(v["id"], v["state"], v["winner"]["id"]) for v in listed] == [(vid, "FINAL", "north")]


def test_human_output_names_the_state_and_hides_the_winner(
    council: dict[str, Path], invoke: Invoke
) -> None:
    a = council["alice"]
    vid = open_vote(invoke, a)
    assert invoke(a, "vote", "cast", vid[:8], "north").exit_code == 0
    out = invoke(a, "vote", "status", vid[:8]).output
    assert "PROVISIONAL" in out and "NOT a result" in out and "WINNER" not in out
    out = " ".join(invoke(a, "vote", "result", vid[:8]).output.split())
    assert "No winner is shown before the vote is sealed" in out
    assert "Restart" in invoke(a, "vote", "list").output


def test_open_from_a_toml_file_with_a_weighted_roll_file(
    council: dict[str, Path], invoke: Invoke, tmp_path: Path
) -> None:
    (tmp_path / "roll.txt").write_text("# the council\nalice 2\nbob\ncarol 3\n", encoding="utf-8")
    (tmp_path / "vote.toml").write_text(
        """
title = "Which feeder first?"
method = "ranked-choice"
roll_file = "roll.txt"
tellers = ["bob", "carol", "dave"]
seal_threshold = 3
quorum = 40

[[options]]
id = "f1"
label = "Feeder 1"
ref = "plan:f1"

[[options]]
id = "f2"
label = "Feeder 2"
""",
        encoding="utf-8",
    )
    a = council["alice"]
    r = invoke(a, "vote", "open", str(tmp_path / "vote.toml"), "--json")
    body = json_out(r)["charter"]["body"]
    assert body["method"] == "ranked-choice" and body["k"] == 3 and body["quorum_pct"] == 40
    assert sorted(body["roll"].values()) == [1, 2, 3] and body["roll_source"] == "file:roll.txt"
    assert body["options"][0] == {"id": "f1", "label": "Feeder 1", "ref": "plan:f1"}
    vid = json_out(r)["vote"]
    r = invoke(a, "vote", "cast", vid[:8], "f2", "f1")
    assert r.exit_code == 0 and "f2 > f1" in r.output


def test_quadratic_and_blank_ballots(council: dict[str, Path], invoke: Invoke) -> None:
    a = council["alice"]
    vid = open_vote(invoke, a, "--method", "quadratic", "--credits", "9")
    r = invoke(a, "vote", "cast", vid[:8], "north=2", "south=-2")
    assert r.exit_code == 0, r.output
    r = invoke(a, "vote", "cast", vid[:8], "north=3", "south=1")
    assert r.exit_code == 5 and "over budget" in r.output
    r = invoke(a, "vote", "cast", vid[:8], "--blank")
    assert r.exit_code == 0 and "blank" in r.output


@pytest.mark.parametrize(
    ("who", "args", "code", "message"),
    [
        ("alice", ["vote", "cast", "deadbeef", "north"], 5, "no vote matches"),
        ("alice", ["vote", "cast", "@VID", "west"], 5, "unknown option"),
        ("alice", ["vote", "cast", "@VID"], 5, "say what you vote for"),
        ("alice", ["vote", "cast", "@VID", "north", "--blank"], 5, "not both"),
        ("alice", ["vote", "status", "0000"], 5, "no vote matches"),
        ("alice", ["vote", "seal", "@VID"], 7, "teller"),
        ("bob", ["vote", "close", "@VID"], 7, "coordinator"),
        ("bob", ["vote", "open", "--title", "x", "--option", "a", "--option", "b", "--roll", "role:operator", "--teller", "bob"], 7, "coordinator"),
        ("alice", ["vote", "open", "--option", "a", "--option", "b", "--roll", "role:operator", "--teller", "bob"], 5, "needs a title"),
        ("alice", ["vote", "open", "--title", "x", "--option", "a", "--option", "b", "--roll", "operator", "--teller", "bob"], 5, "role:ROLE"),
        ("alice", ["vote", "open", "--title", "x", "--option", "a", "--option", "b", "--roll", "role:operator", "--teller", "bob", "--teller", "carol", "--seal-threshold", "1"], 5, "more than half"),
        ("alice", ["vote", "open", "--title", "x", "--option", "a", "--option", "b", "--roll", "role:operator", "--teller", "nobody"], 5, "no single member"),
        ("alice", ["vote", "open", "--title", "x", "--option", "a", "--option", "b", "--roll-file", "/nonexistent/roll.txt", "--teller", "bob"], 5, "cannot read roll file"),
        ("alice", ["vote", "open", "--title", "x", "--option", "a", "--method", "borda"], 2, "borda"),
        ("erin", ["vote", "stop", "@VID"], 7, "teller"),
        ("alice", ["vote", "open", "@BADTOML"], 5, "cannot read vote file"),
        ("alice", ["vote", "open", "@UNKNOWNKEY"], 5, "unknown key"),
        ("alice", ["vote", "open", "@BADTYPE"], 5, "quorum must be a whole number"),
    ],
)  # fmt: skip
def test_bad_input_exits_non_zero_and_changes_nothing(
    council: dict[str, Path],
    invoke: Invoke,
    tmp_path: Path,
    who: str,
    args: list[str],
    code: int,
    message: str,
) -> None:
    vid = open_vote(invoke, council["alice"])
    sync(*council.values())
    bad = tmp_path / "bad.toml"
    bad.write_text("title = [unclosed", encoding="utf-8")
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('title = "x"\ncolour = "red"\n', encoding="utf-8")
    badtype = tmp_path / "badtype.toml"
    badtype.write_text(
        'title = "x"\noptions = ["a", "b"]\nroll = "role:operator"\ntellers = ["bob"]\n'
        'quorum = "half"\n',
        encoding="utf-8",
    )
    subst = {
        "@VID": vid[:10],
        "@BADTOML": str(bad),
        "@UNKNOWNKEY": str(unknown),
        "@BADTYPE": str(badtype),
    }
    args = [subst.get(a, a) for a in args]
    h = council[who]
    before = entries(h)
    r = invoke(h, *args)
    assert r.exit_code == code, r.output
    assert message in " ".join(r.output.split())
    assert "Traceback" not in r.output
    assert entries(h) == before


def test_verify_catches_a_tampered_ballot(council: dict[str, Path], invoke: Invoke) -> None:
    a = council["alice"]
    vid = open_vote(invoke, a)
    cast = json_out(invoke(a, "vote", "cast", vid[:8], "north", "--json"))
    ballot_id = bytes.fromhex(cast["ballot"]["id"])
    db = sqlite3.connect(a / "ledger.db")
    raw = db.execute("SELECT raw FROM entries WHERE id=?", (ballot_id,)).fetchone()[0]
    forged = raw[:-1] + bytes([raw[-1] ^ 1])  # one bit of the signature
    # a careful forger also fixes the id; the signature still gives it away
    db.execute("UPDATE entries SET raw=?, id=? WHERE id=?", (forged, entry_id(forged), ballot_id))
    db.commit()
    db.close()
    r = invoke(a, "vote", "verify", vid[:8])
    assert r.exit_code == 6
    text = " ".join(r.output.split())
    assert "bad signature" in text and "PROBLEM" in text


def test_every_vote_command_has_help_and_a_field_guide_mention() -> None:
    from plurictl.commands.vote import vote

    guide = (Path(__file__).parents[2] / "field_guides" / "voting.md").read_text(encoding="utf-8")
    assert vote.help
    for name, command in vote.commands.items():
        assert command.help and command.help.strip(), f"vote {name} has no help"
        assert f"plurictl vote {name}" in guide, f"vote {name} missing from field_guides/voting.md"
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"vote {name} {param.opts} has no help"


# --- issue 14, defect 3: a count can never take other commands down -------------------

TEN = [f"--option=o{i}=Option {i}" for i in range(10)]


def sealed_ten_option_vote(council: dict[str, Path], invoke: Invoke, *extra: str) -> str:
    """10-option ranked choice, two ballots on different options, sealed by bob and dave."""
    a = council["alice"]
    r = invoke(
        a, "vote", "open", "--title", "Which depot?", *TEN, "--method", "ranked-choice",
        "--roll", "role:operator", "--teller", "bob", "--teller", "carol", "--teller", "dave",
        *extra, "--json",
    )  # fmt: skip
    vid = json_out(r)["vote"]
    sync(*council.values())
    assert invoke(council["bob"], "vote", "cast", vid[:8], "o3").exit_code == 0
    assert invoke(council["carol"], "vote", "cast", vid[:8], "o7").exit_code == 0
    sync(*council.values())
    assert invoke(a, "vote", "close", vid[:8]).exit_code == 0
    sync(*council.values())
    for teller in ("bob", "dave"):
        assert invoke(council[teller], "vote", "seal", vid[:8]).exit_code == 0
        sync(*council.values())
    return vid


def every_command_still_works(council: dict[str, Path], invoke: Invoke, vid: str) -> None:
    a = council["alice"]
    for args in (
        ("vote", "list"),
        ("vote", "list", "--json"),
        ("vote", "status", vid[:8]),
        ("vote", "status", vid[:8], "--json"),
        ("vote", "result", vid[:8], "--json"),
        ("plan", "list"),
        ("plan", "list", "--json"),
    ):
        r = invoke(a, *args)
        assert r.exit_code == 0, f"{' '.join(args)}: {r.output}"
        assert "unexpected" not in r.output
    with Store.open(council["erin"]) as s:
        erin = s.roster().keys_with_role("operator")
    key = next(
        k
        for k in erin
        if k.hex() == json_out(invoke(council["erin"], "whoami", "--json"))["public_key"]
    )
    r = invoke(a, "roster", "revoke", key.hex(), "--at", "0", "--reason", "test")
    assert r.exit_code == 0, r.output


def test_ten_option_ranked_choice_never_takes_commands_down(
    council: dict[str, Path], invoke: Invoke
) -> None:
    """It used to fail `vote list`, `vote status`, `plan list` and `roster revoke` with
    "unexpected StopIteration". Now it is counted: a TIE between o3 and o7."""
    vid = sealed_ten_option_vote(council, invoke)
    every_command_still_works(council, invoke, vid)
    res = json_out(invoke(council["alice"], "vote", "result", vid[:8], "--json"))["result"]
    assert res["outcome"] == "tie" and res["tied"] == ["o3", "o7"]
    assert res["rounds"][0]["eliminated"] == [f"o{i}" for i in range(10) if i not in (3, 7)]


def test_a_count_that_fails_is_that_votes_state_only(
    council: dict[str, Path], invoke: Invoke
) -> None:
    """A vote opened by an older plurictl (no f in its charter) keeps its old count, which
    cannot finish this election: that vote shows "count failed", everything else works."""
    from ledger.home import Home
    from ledger.votes.bodies import CHARTER

    a = council["alice"]
    with Home(a) as h:
        roster = h.store.roster()
        spec_keys = [k for k in roster.keys if roster.keys[k].name in ("bob", "carol", "dave")]
        from ledger.votes import writer

        body, _ = writer.charter_body(
            roster,
            writer.VoteSpec(
                title="Old depot vote",
                options=[{"id": f"o{i}", "label": f"Option {i}"} for i in range(10)],
                method="ranked-choice",
                tellers=spec_keys,
                roll_role="operator",
            ),
        )
        body.pop("f", None)  # as plurictl wrote charters before f existed
        vid = h.store.append(h.identity, CHARTER, body).id.hex()
    sync(*council.values())
    assert invoke(council["bob"], "vote", "cast", vid[:8], "o3").exit_code == 0
    assert invoke(council["carol"], "vote", "cast", vid[:8], "o7").exit_code == 0
    sync(*council.values())
    assert invoke(a, "vote", "close", vid[:8]).exit_code == 0
    sync(*council.values())
    for teller in ("bob", "dave"):
        assert invoke(council[teller], "vote", "seal", vid[:8]).exit_code == 0
        sync(*council.values())
    every_command_still_works(council, invoke, vid)
    status = json_out(invoke(a, "vote", "status", vid[:8], "--json"))
    assert status["state"] == "FAILED" and status["failure"].startswith("count failed")
    human = " ".join(invoke(a, "vote", "list").output.split())
    assert "count failed" in human
