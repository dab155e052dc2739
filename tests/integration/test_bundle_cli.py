"""`plurictl bundle ...` end to end with CliRunner, including bad input and damaged sticks."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from plurictl.cli import COMMANDS
from tests.conftest import Invoke, json_out, new_home


@pytest.fixture
def pair(tmp_path: Path, invoke: Invoke, home: Path) -> tuple[Path, Path, str]:
    """alice (founder, with two notes) and bob (added as operator, joined, nothing imported)."""
    bob, bob_key = new_home(tmp_path, invoke, "bob")
    assert (
        invoke(home, "roster", "add", bob_key, "--name", "bob", "--role", "operator").exit_code == 0
    )
    for i in range(2):
        assert (
            invoke(
                home, "log", "append", "--kind", "note", "--body", json.dumps({"i": i})
            ).exit_code
            == 0
        )
    mesh_id = json_out(invoke(home, "mesh", "show", "--json"))["mesh_id"]
    assert invoke(bob, "mesh", "join", mesh_id).exit_code == 0
    return home, bob, mesh_id


def test_courier_round_trip_with_frontiers(
    tmp_path: Path, invoke: Invoke, pair: tuple[Path, Path, str]
) -> None:
    alice, bob, _ = pair
    stick = tmp_path / "stick"
    stick.mkdir()
    r = invoke(alice, "bundle", "export", "-o", str(stick / "a.plb"))
    assert r.exit_code == 0, r.output
    assert "4 entries" in r.output and "bundle inspect" in r.output
    seen = json_out(invoke(bob, "bundle", "inspect", str(stick / "a.plb"), "--json"))
    assert seen["ok"] and seen["signature"] == "valid" and seen["new_entries"] == 4
    assert seen["mesh_status"] == "the mesh this laptop is joining"
    assert (
        json_out(invoke(bob, "mesh", "show", "--json"))["mesh_id"] is None
    )  # inspect wrote nothing

    done = json_out(invoke(bob, "bundle", "import", str(stick / "a.plb"), "--json"))
    assert done["new_entries"] == 4 and done["intact"] and done["frontier_recorded"]
    assert done["signer_status"] == "member"
    again = json_out(invoke(bob, "bundle", "import", str(stick / "a.plb"), "--json"))
    assert again["new_entries"] == 0 and again["duplicates"] == 4
    text = invoke(bob, "bundle", "import", str(stick / "a.plb"))
    assert "nothing new" in text.output

    # bob writes, cuts his frontier; alice exports only what bob lacks (nothing) and bob
    # exports for alice (using the heads alice's bundle told him about)
    assert (
        invoke(bob, "log", "append", "--kind", "note", "--body", '{"from": "bob"}').exit_code == 0
    )
    r = invoke(bob, "bundle", "frontier", "-o", str(stick / "bob.plf"))
    assert r.exit_code == 0 and "--since" in r.output
    r = invoke(
        alice,
        "bundle",
        "export",
        "--since",
        str(stick / "bob.plf"),
        "-o",
        str(stick / "b.plb"),
        "--json",
    )
    assert json_out(r)["entries"] == 0
    r = invoke(
        bob, "bundle", "export", "--for", "alice", "-o", str(stick / "to-alice.plb"), "--json"
    )
    out = json_out(r)
    assert out["entries"] == 1 and out["since"] == "frontier"
    r = invoke(alice, "bundle", "import", str(stick / "to-alice.plb"))
    assert r.exit_code == 0 and "bob" in r.output and "1 new entries" in r.output
    digests = [json_out(invoke(h, "mesh", "show", "--json"))["entries"] for h in (alice, bob)]
    assert digests[0] == digests[1] == 5


def test_frontier_file_can_be_imported_and_then_export_for(
    tmp_path: Path, invoke: Invoke, pair: tuple[Path, Path, str]
) -> None:
    alice, bob, _ = pair
    invoke(alice, "bundle", "export", "-o", str(tmp_path / "a.plb"))
    invoke(bob, "bundle", "import", str(tmp_path / "a.plb"))
    # no frontier of bob's yet: the bundle for bob holds everything, and says so
    r = invoke(alice, "bundle", "export", "--for", "bob", "-o", str(tmp_path / "all.plb"))
    assert r.exit_code == 0, r.output
    assert "no frontier of bob's yet" in r.output and "everything" in r.output
    everything = json_out(invoke(alice, "bundle", "inspect", str(tmp_path / "all.plb"), "--json"))
    assert (
        everything["entries_read"] == json_out(invoke(alice, "mesh", "show", "--json"))["entries"]
    )
    invoke(bob, "bundle", "frontier", "-o", str(tmp_path / "bob.plf"))
    r = invoke(alice, "bundle", "import", str(tmp_path / "bob.plf"))
    assert r.exit_code == 0 and "Noted bob's frontier" in r.output
    known = json_out(invoke(alice, "bundle", "frontiers", "--json"))
    assert [k["name"] for k in known] == ["bob"] and known[0]["source"] == "frontier file"
    assert "bob" in invoke(alice, "bundle", "frontiers").output
    r = invoke(alice, "bundle", "export", "--for", "bob", "-o", str(tmp_path / "x.plb"), "--json")
    assert json_out(r)["entries"] == 0


def test_damaged_stick(tmp_path: Path, invoke: Invoke, pair: tuple[Path, Path, str]) -> None:
    alice, bob, _ = pair
    invoke(alice, "bundle", "export", "-o", str(tmp_path / "a.plb"))
    data = (tmp_path / "a.plb").read_bytes()
    (tmp_path / "cut.plb").write_bytes(data[: len(data) - 200])
    r = invoke(bob, "bundle", "inspect", str(tmp_path / "cut.plb"))
    assert r.exit_code == 6 and "CUT SHORT" in r.output
    r = invoke(bob, "bundle", "import", str(tmp_path / "cut.plb"), "--json")
    assert r.exit_code == 6
    out = json.loads(r.stdout)
    assert not out["intact"] and out["signature"] == "missing" and 0 < out["new_entries"] < 4
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x08
    (tmp_path / "flip.plb").write_bytes(bytes(flipped))
    r = invoke(bob, "bundle", "inspect", str(tmp_path / "flip.plb"))
    assert r.exit_code == 6 and "DAMAGED" in r.output
    r = invoke(bob, "bundle", "import", str(tmp_path / "flip.plb"))
    assert r.exit_code == 6 and "DAMAGED" in r.output


def test_bad_input_is_refused_clearly(
    tmp_path: Path, invoke: Invoke, pair: tuple[Path, Path, str]
) -> None:
    alice, _, _ = pair
    assert invoke(alice, "bundle", "export").exit_code == 2  # -o is required
    r = invoke(alice, "bundle", "export", "--all", "--for", "bob", "-o", str(tmp_path / "x.plb"))
    assert r.exit_code == 5 and "choose one" in r.output
    r = invoke(alice, "bundle", "export", "--for", "nobody", "-o", str(tmp_path / "x.plb"))
    assert r.exit_code == 5 and "no single member" in r.output
    assert invoke(alice, "bundle", "import", str(tmp_path / "missing.plb")).exit_code == 2
    (tmp_path / "notes.txt").write_text("hello, not a bundle\n")
    for cmd in ("import", "inspect"):
        r = invoke(alice, "bundle", cmd, str(tmp_path / "notes.txt"))
        assert r.exit_code == 5 and "not a courier bundle" in r.output, r.output
    r = invoke(
        alice,
        "bundle",
        "export",
        "--since",
        str(tmp_path / "notes.txt"),
        "-o",
        str(tmp_path / "x.plb"),
    )
    assert r.exit_code == 5 and "not a frontier file" in r.output
    # an existing file is never replaced by accident
    (tmp_path / "keep.plb").write_bytes(b"precious")
    r = invoke(alice, "bundle", "export", "-o", str(tmp_path / "keep.plb"))
    assert r.exit_code == 5 and "--force" in r.output
    assert (tmp_path / "keep.plb").read_bytes() == b"precious"
    assert (
        invoke(alice, "bundle", "export", "-o", str(tmp_path / "keep.plb"), "--force").exit_code
        == 0
    )
    invoke(alice, "bundle", "frontier", "-o", str(tmp_path / "alice.plf"))
    r = invoke(alice, "bundle", "inspect", str(tmp_path / "alice.plf"))
    assert r.exit_code == 5 and "frontier file" in r.output
    assert not list(tmp_path.glob(".*part*"))


def test_other_mesh_and_no_mesh(
    tmp_path: Path, invoke: Invoke, pair: tuple[Path, Path, str]
) -> None:
    alice, bob, mesh_id = pair
    zed, _ = new_home(tmp_path, invoke, "zed")
    assert invoke(zed, "mesh", "create", "elsewhere").exit_code == 0
    invoke(zed, "bundle", "export", "-o", str(tmp_path / "z.plb"))
    before = json_out(invoke(alice, "mesh", "show", "--json"))
    r = invoke(alice, "bundle", "import", str(tmp_path / "z.plb"))
    assert r.exit_code == 7 and "another mesh" in r.output and "Nothing was imported" in r.output
    assert json_out(invoke(alice, "mesh", "show", "--json")) == before
    r = invoke(bob, "bundle", "import", str(tmp_path / "z.plb"))
    assert r.exit_code == 7 and "joining" in r.output
    loner, _ = new_home(tmp_path, invoke, "loner")
    invoke(alice, "bundle", "export", "-o", str(tmp_path / "a.plb"))
    r = invoke(loner, "bundle", "import", str(tmp_path / "a.plb"))
    assert r.exit_code == 3 and mesh_id in r.output.replace("\n", "") and "join" in r.output
    assert invoke(loner, "bundle", "export", "-o", str(tmp_path / "l.plb")).exit_code == 3
    assert invoke(loner, "bundle", "frontier", "-o", str(tmp_path / "l.plf")).exit_code == 3
    # a laptop with no ledger at all can still check a bundle offline
    r = invoke(tmp_path / "no-home", "bundle", "inspect", str(tmp_path / "a.plb"), "--json")
    assert json_out(r)["signer_status"].startswith("unknown")


def test_every_bundle_command_has_help_and_a_field_guide_mention() -> None:
    guide = (Path(__file__).parents[2] / "field_guides" / "courier-bundles.md").read_text()
    assert "bundle" in COMMANDS
    group = importlib.import_module(COMMANDS["bundle"][0]).bundle
    assert group.help
    for name, command in group.commands.items():
        assert command.help and command.help.strip(), name
        assert f"plurictl bundle {name}" in guide, name
        for param in command.params:
            for opt in getattr(param, "opts", []):
                if opt.startswith("--"):
                    assert opt in guide, (name, opt)
