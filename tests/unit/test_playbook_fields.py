"""Playbooks closer to the field: functions (two people of two functions), readings with
limits and overrides, release steps, and gates on ledger facts (issue 24, items 1-4)."""

from __future__ import annotations

from textwrap import dedent

import pytest

from ledger.errors import PlaybookInvalid, TrustError
from ledger.playbooks import view, writer
from ledger.playbooks.checks import StaticFacts
from ledger.playbooks.fields import match_signers
from ledger.playbooks.format import parse, validate
from tests.playbook_helpers import Runner

FIELD = dedent(
    """\
    id = "field"
    title = "Close onto the station"
    version = "1"
    roles = ["coordinator", "operator"]

    [[steps]]
    id = "energise"
    title = "Energise the path"
    role = "operator"
    instructions = "Close section by section."
    readings = { frequency = { min = 59.5, max = 60.5, unit = "Hz" }, voltage = { min = 456, max = 504, unit = "V" } }

    [[steps]]
    id = "release"
    type = "release"
    title = "Release the offer"
    role = "coordinator"
    prerequisites = ["energise"]
    instructions = "Read what the crew entered."

    [[steps]]
    id = "offer"
    title = "Offer at the boundary"
    role = "operator"
    signers = ["role:grid-operator", "role:station-operator"]
    prerequisites = ["release"]
    instructions = "One grid operator and one station operator read and sign."
    """
)

MEMBERS = {
    "bob": ["operator"],
    "carol": ["operator"],
    "dave": ["operator"],
    "erin": ["coordinator"],
}
FUNCTIONS = {"bob": "grid-operator", "carol": "grid-operator", "dave": "station-operator"}


def runner(facts: StaticFacts | None = None, text: str = FIELD) -> Runner:
    r = Runner(MEMBERS, text, site=None, facts=facts)
    for who, function in FUNCTIONS.items():  # an admin grants the functions (roster)
        r.mesh.grant(who, function)
    return r


def codes(record: view.Record) -> set[str]:
    return {p.code for p in record.problems}


# --- the file ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "message", "line"),
    [
        ('"role:grid-operator", ', '"grid operator", ', 'is not "role:NAME"', 25),
        ("min = 456, max = 504", "min = 504, max = 456", "min 504 is above max 456", 11),
        ("min = 59.5", 'min = "low"', "'min' must be a number", 11),
        ('unit = "Hz" }', 'unit = "Hz", colour = 1 }', "unknown field(s) colour", 11),
        ('type = "release"\ntitle = "Release the offer"\nrole = "coordinator"',
         'type = "release"\ntitle = "Release the offer"\nrole = "operator"',
         "a release step is signed by a coordinator", 17),
        ('type = "release"', 'type = "gate"', "must be one of task, release", 15),
        ('signers = ["role:grid-operator", "role:station-operator"]',
         'signers = ["role:grid-operator", "role:station-operator"]\nsignoffs = 3',
         "signoffs must be 2 or left out", 26),
    ],
)  # fmt: skip
def test_bad_new_fields_name_the_line_and_the_field(
    old: str, new: str, message: str, line: int
) -> None:
    text = FIELD.replace(old, new)
    assert text != FIELD
    problems = validate(text)
    assert problems, text
    found = [p for p in problems if message in p.message]
    assert found, [str(p) for p in problems]
    assert found[0].line == line, str(found[0])


def test_the_fields_parse_and_show_in_json() -> None:
    pb = parse(FIELD)
    offer, energise, release = pb.by_id["offer"], pb.by_id["energise"], pb.by_id["release"]
    assert offer.signers == ("grid-operator", "station-operator") and offer.signoffs == 2
    assert [r.name for r in energise.readings] == ["frequency", "voltage"]
    assert release.type == "release"
    assert offer.to_json()["signers"] == ["role:grid-operator", "role:station-operator"]


# --- two people of two functions -----------------------------------------------------------


def test_two_grid_operators_do_not_make_a_grid_and_a_station_operator() -> None:
    r = runner()
    r.act("bob", "sign", "energise", readings={"frequency": 60.0, "voltage": 480})
    r.act("erin", "sign", "release")
    bob = r.act("bob", "sign", "offer")
    st = r.run().steps["offer"]
    assert st.state == view.READY and st.missing_functions == ["station-operator"]
    # carol is a grid operator too: the writer refuses, and the view would not count her
    with pytest.raises(writer.PlaybookRefused, match="still needs role:station-operator"):
        r.act("carol", "sign", "offer")
    r.raw("carol", "sign", seen=[bob], step="offer")
    st = r.run().steps["offer"]
    assert st.state == view.READY and st.missing_functions == ["station-operator"]
    r.act("dave", "sign", "offer")
    st = r.run().steps["offer"]
    assert st.state == view.DONE and st.missing_functions == []
    assert r.run().to_json()["steps"][2]["missing_functions"] == []


def test_a_signer_without_any_function_of_the_step_is_not_counted() -> None:
    r = runner()
    r.act("bob", "sign", "energise", readings={"frequency": 60.0, "voltage": 480})
    release = r.act("erin", "sign", "release")
    r.mesh.grant("erin", "operator")
    entry = r.raw("erin", "sign", seen=[release], step="offer")
    assert "no_function" in codes(r.record(entry))
    assert r.run().steps["offer"].signers == []


def test_matching_finds_an_assignment_a_greedy_order_would_miss() -> None:
    # x can fill either slot, y only the first: x must take the second
    slots = ["grid-operator", "station-operator"]
    people = [("x", {"grid-operator", "station-operator"}), ("y", {"grid-operator"})]
    placed, missing = match_signers(slots, people)
    assert missing == [] and placed == {0: "y", 1: "x"}


# --- readings -------------------------------------------------------------------------------


def test_readings_out_of_range_need_an_override_which_is_recorded() -> None:
    r = runner()
    with pytest.raises(writer.PlaybookRefused, match="missing reading voltage"):
        r.act("bob", "sign", "energise", readings={"frequency": 60.0})
    with pytest.raises(
        writer.PlaybookRefused, match=r"frequency 58\.9 Hz is below 59\.5 Hz"
    ) as err:
        r.act("bob", "sign", "energise", readings={"frequency": 58.9, "voltage": 480})
    assert "--override" in (err.value.hint or "")
    with pytest.raises(writer.PlaybookRefused, match="unknown reading 'current'"):
        r.act("bob", "sign", "energise", readings={"frequency": 60, "voltage": 480, "current": 1})
    e = r.act(
        "bob",
        "sign",
        "energise",
        readings={"frequency": 58.9, "voltage": 480},
        override="governor droop set low on purpose",
    )
    assert e.body["override"] == "governor droop set low on purpose"
    st = r.run().steps["energise"]
    assert st.state == view.DONE
    signed = r.run().to_json()["steps"][0]["signed_by"][0]
    assert signed["readings"] == {"frequency": 58.9, "voltage": 480.0}
    assert signed["override"] == "governor droop set low on purpose"


def test_a_sign_off_with_a_bad_reading_written_by_another_tool_does_not_count() -> None:
    r = runner()
    bad = r.raw("bob", "sign", step="energise", readings={"frequency": 70, "voltage": 480})
    assert "readings" in codes(r.record(bad))
    assert r.run().steps["energise"].state == view.READY


def test_the_release_step_shows_and_records_what_the_crew_read() -> None:
    r = runner()
    r.act("bob", "sign", "energise", readings={"frequency": 60.1, "voltage": 478})
    at = r.run().to_json()["steps"][1]["at_release"]
    assert at == {
        "frequency": {"value": 60.1, "step": "energise", "by": "bob"},
        "voltage": {"value": 478.0, "step": "energise", "by": "bob"},
    }
    release = r.act("erin", "sign", "release")
    assert release.body["facts"] == at
    with pytest.raises(TrustError, match="only coordinator"):
        r.act("bob", "sign", "release")


# --- gates on facts ---------------------------------------------------------------------------

GATES = dedent(
    """\
    id = "gates"
    title = "Gates"
    version = "1"
    roles = ["coordinator", "operator"]

    [[steps]]
    id = "go"
    title = "Go"
    role = "operator"
    instructions = "Go."
    checks = [
      { type = "fuel_hours_at_least", site = "hospital", hours = 96 },
      { type = "plan_adopted" },
      { type = "vote_final", vote = "Which plant first?" },
    ]
    """
)


def test_gates_block_with_the_live_value_then_pass() -> None:
    facts = StaticFacts(hours={"hospital": 40.5}, adopted=False, votes={})
    r = runner(facts, GATES)
    st = r.run().steps["go"]
    assert st.state == view.BLOCKED
    details = [c.detail for c in st.checks]
    assert "lasts 40.5 h at its burn rate (needs >= 96 h)" in details[0]
    assert details[1] == "no plan is adopted yet"
    assert "not on this laptop" in details[2]
    with pytest.raises(writer.PlaybookRefused, match="blocked"):
        r.act("bob", "sign", "go")
    r.facts = StaticFacts(
        hours={"hospital": 120.0}, adopted=True, votes={"Which plant first?": "FINAL"}
    )
    assert r.run().steps["go"].state == view.READY
    r.act("bob", "sign", "go")
    assert r.run().steps["go"].state == view.DONE


def test_bad_gate_fields_are_refused() -> None:
    with pytest.raises(PlaybookInvalid, match="'hours' must be a number of hours above 0"):
        parse(GATES.replace("hours = 96", "hours = -1"))
    with pytest.raises(PlaybookInvalid, match="a vote_final check needs 'vote'"):
        parse(
            GATES.replace(
                '{ type = "vote_final", vote = "Which plant first?" }', '{ type = "vote_final" }'
            )
        )


def test_an_out_of_range_reading_says_by_how_much() -> None:
    """#24 hostile review F3: playbooks.md promises the distance to the limit."""
    from ledger.playbooks.fields import ReadingSpec

    spec = ReadingSpec("frequency", min=59.5, max=60.5, unit="Hz")
    assert spec.problem(58.9) == "frequency 58.9 Hz is below 59.5 Hz (by 0.6 Hz)"
    assert spec.problem(61) == "frequency 61 Hz is above 60.5 Hz (by 0.5 Hz)"
    assert spec.problem(60) is None


def test_a_check_without_a_type_says_so() -> None:
    from ledger.playbooks.format import validate

    text = FIELD.replace(
        'instructions = "Close section by section."',
        'instructions = "Close section by section."\nchecks = [{ site = "x" }]',
    )
    problems = [str(p) for p in validate(text)]
    assert any("a check needs a type" in p for p in problems), problems
    assert not any("None" in p for p in problems), problems
