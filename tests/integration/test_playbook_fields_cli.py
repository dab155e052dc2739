"""`plurictl playbook sign --reading/--override` and function sign-offs, end to end with
real homes: what a crew at a station boundary types (issue 24, items 1-4)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Invoke, json_out
from tests.integration.test_playbook_cli import crew, stable, start, sync
from tests.unit.test_playbook_fields import FIELD

__all__ = ["crew"]  # the fixture: alice (admin, coordinator), bob, carol, olga


def status(invoke: Invoke, home: Path, run: str) -> dict:  # type: ignore[type-arg]
    return json_out(invoke(home, "playbook", "status", run[:8], "--json"))  # type: ignore[no-any-return]


def test_functions_readings_override_and_release_from_the_cli(
    invoke: Invoke, crew: dict[str, Path], tmp_path: Path
) -> None:
    a, bob, carol = crew["alice"], crew["bob"], crew["carol"]
    path = tmp_path / "field.toml"
    path.write_text(FIELD)
    r = invoke(a, "roster", "grant", "bob", "grid operator")
    assert r.exit_code == 5 and "neither a role" in r.stderr
    r = invoke(a, "roster", "grant", "bob", "cordinator")  # a typo, not a new function
    assert r.exit_code == 5 and "did you mean 'coordinator'" in r.stderr
    for name, function in (("bob", "grid-operator"), ("carol", "station-operator")):
        assert invoke(a, "roster", "grant", name, function).exit_code == 0
    roster = json_out(invoke(a, "roster", "list", "--json"))
    roles = {m["name"]: m["roles"] for m in roster["members"]}
    assert roles["bob"] == ["operator", "grid-operator"]
    shown = invoke(a, "playbook", "show", str(path)).stdout
    assert "[release by coordinator]" in shown
    assert "[operator: grid-operator + station-operator]" in shown
    assert "readings at sign-off: frequency 59.5-60.5 Hz, voltage 456-504 V" in shown
    run = start(invoke, a, path)
    sync(*crew.values())

    r = invoke(bob, "playbook", "sign", run[:8], "energise", "--reading", "frequency=fast")
    assert r.exit_code == 5 and "NAME=NUMBER" in r.stderr
    r = invoke(bob, "playbook", "sign", run[:8], "energise", "--reading", "frequency=60")
    assert r.exit_code == 5 and "missing reading voltage" in r.stderr
    low = ("--reading", "frequency=58.9", "--reading", "voltage=480")
    r = invoke(bob, "playbook", "sign", run[:8], "energise", *low)
    assert r.exit_code == 5 and "below 59.5 Hz" in r.stderr and "--override" in r.stderr
    # a reason the views would ignore (too long) is refused before signing, not lost after
    before = json_out(invoke(bob, "log", "show", "--json", "--limit", "1"))
    r = invoke(bob, "playbook", "sign", run[:8], "energise", *low, "--override", "x" * 9000)
    assert r.exit_code == 5 and "longer than 8,000 characters" in r.stderr
    assert json_out(invoke(bob, "log", "show", "--json", "--limit", "1")) == before
    r = invoke(bob, "playbook", "sign", run[:8], "energise", *low, "--override", "droop test")
    assert r.exit_code == 0, r.output
    sync(*crew.values())
    steps = status(invoke, a, run)["steps"]
    assert steps[0]["signed_by"][0]["override"] == "droop test"
    assert steps[1]["at_release"]["frequency"]["value"] == 58.9
    table = invoke(a, "playbook", "status", run[:8])
    assert "bob overrode a limit: droop test" in table.stdout
    assert "at release: frequency=58.9" in table.stdout

    assert invoke(a, "playbook", "sign", run[:8], "release").exit_code == 0
    sync(*crew.values())
    assert invoke(bob, "playbook", "sign", run[:8], "offer").exit_code == 0
    sync(*crew.values())
    assert "still needs role:station-operator" in invoke(a, "playbook", "status", run[:8]).stdout
    assert status(invoke, a, run)["steps"][2]["missing_functions"] == ["role:station-operator"]
    r = invoke(a, "playbook", "sign", run[:8], "offer")  # alice holds no function of it
    assert r.exit_code in (5, 7) and "still needs role:station-operator" in r.stderr
    assert invoke(carol, "playbook", "sign", run[:8], "offer").exit_code == 0
    sync(*crew.values())
    final = status(invoke, a, run)
    assert final["state"] == "complete"
    assert stable(final) == stable(status(invoke, bob, run))

    # the after-action log keeps what was read, the override and what the coordinator saw
    # (#24 hostile review F8: all three formats dropped them)
    table = invoke(a, "playbook", "log", run[:8]).stdout
    assert "droop test" in table and "frequency=58.9" in table and "at release" in table
    md = tmp_path / "aar.md"
    assert invoke(a, "playbook", "log", run[:8], "--markdown", "-o", str(md)).exit_code == 0
    text = md.read_text()
    assert "overrode a limit: droop test" in text and "read frequency=58.9, voltage=480" in text
    assert "at release: frequency=58.9" in text
    records = json_out(invoke(a, "playbook", "log", run[:8], "--json"))["records"]
    signed = [r for r in records if r.get("override")]
    assert signed and signed[0]["readings"] == {"frequency": 58.9, "voltage": 480}
    assert any(r.get("facts") for r in records)


def test_a_signer_holding_both_functions_makes_room_for_the_next(
    invoke: Invoke, crew: dict[str, Path], tmp_path: Path
) -> None:
    """Hostile review of #24 (F4): bob holds both functions and signs first; carol holds
    grid-operator only. Together they fill both: carol must not be refused."""
    a, bob, carol = crew["alice"], crew["bob"], crew["carol"]
    path = tmp_path / "offer.toml"
    path.write_text(
        'id = "offer"\ntitle = "Offer"\nversion = "1"\nroles = ["coordinator", "operator"]\n\n'
        '[[steps]]\nid = "offer"\ntitle = "Offer at the boundary"\nrole = "operator"\n'
        'signers = ["role:grid-operator", "role:station-operator"]\ninstructions = "Both sign."\n'
    )
    for name, function in (
        ("bob", "grid-operator"),
        ("bob", "station-operator"),
        ("carol", "grid-operator"),
    ):
        assert invoke(a, "roster", "grant", name, function).exit_code == 0
    run = start(invoke, a, path)
    sync(*crew.values())
    assert invoke(bob, "playbook", "sign", run[:8], "offer").exit_code == 0
    sync(*crew.values())
    r = invoke(carol, "playbook", "sign", run[:8], "offer")
    assert r.exit_code == 0, r.output
    sync(*crew.values())
    assert status(invoke, a, run)["state"] == "complete"
    # a function one letter from a held one is a typo, unless said new
    r = invoke(a, "roster", "grant", "olga", "grid-operatr")
    assert r.exit_code == 5 and "did you mean 'grid-operator'" in r.stderr
    assert "--new-function" in r.stderr
    assert invoke(a, "roster", "grant", "olga", "grid-operatr", "--new-function").exit_code == 0
