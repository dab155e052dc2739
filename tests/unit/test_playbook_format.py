"""Playbook TOML format: parsing, and errors that name the line, the step and the field."""

from __future__ import annotations

import hashlib
from textwrap import dedent

import pytest

from ledger.errors import InvalidInput
from ledger.playbooks.format import (
    PlaybookInvalid,
    Problem,
    format_duration,
    parse,
    parse_duration,
    validate,
)

GOOD = dedent(
    '''\
    # a comment
    id = "mini"
    title = "Mini restart"
    version = "1.0"
    roles = ["coordinator", "operator"]
    sources = ["NERC EOP-005-3"]
    abort_criteria = ["smoke from the genset enclosure"]

    [[steps]]
    id = "isolate"
    title = "Isolate the feeders"
    role = "operator"
    signoffs = 2
    hold = "10m"
    instructions = """
    Open **all** feeder breakers.
    [[steps]] inside a string is not a table
    role = "not a key either"
    """
    abort_criteria = ["a breaker will not open"]

    [[steps]]
    id = "start"
    title = "Start genset 1"
    role = "operator"
    prerequisites = ["isolate"]
    instructions = "Start it."

    [[steps.checks]]
    type = "fuel_at_least"
    site = "north"
    litres = 500

    [[steps.checks]]
    type = "manual"
    text = "hearing protection on"
    required = false
    '''
)


def only(text: str) -> Problem:
    found = validate(text)
    assert len(found) == 1, found
    return found[0]


def line_of(text: str, needle: str, nth: int = 1) -> int:
    count = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            count += 1
            if count == nth:
                return number
    raise AssertionError(f"{needle!r} not in text")


def test_good_playbook_parses_completely() -> None:
    pb = parse(GOOD)
    assert (pb.id, pb.title, pb.version) == ("mini", "Mini restart", "1.0")
    assert pb.roles == ("coordinator", "operator")
    assert [s.id for s in pb.steps] == ["isolate", "start"]
    isolate, start = pb.steps
    assert isolate.signoffs == 2 and isolate.hold_s == 600 and isolate.hold == "10m"
    assert "[[steps]] inside a string" in isolate.instructions
    assert isolate.abort_criteria == ("a breaker will not open",)
    assert start.prerequisites == ("isolate",) and start.signoffs == 1 and start.hold_s == 0
    fuel, manual = start.checks
    assert (fuel.type, fuel.site, fuel.litres, fuel.required) == (
        "fuel_at_least",
        "north",
        500.0,
        True,
    )
    assert (manual.type, manual.required) == ("manual", False)
    assert pb.hash == hashlib.sha256(GOOD.encode()).hexdigest()
    assert validate(GOOD) == []


def test_toml_syntax_error_names_the_line() -> None:
    text = GOOD.replace('title = "Start genset 1"', 'title "Start genset 1"')
    p = only(text)
    assert p.line == line_of(text, 'title "Start genset 1"')
    assert "not valid TOML" in p.message
    with pytest.raises(PlaybookInvalid) as info:
        parse(text, "pb.toml")
    assert f"pb.toml: line {p.line}" in str(info.value)
    assert isinstance(info.value, InvalidInput) and info.value.exit_code == 5


def test_misspelt_step_field_names_step_field_line_and_suggests() -> None:
    text = GOOD.replace('prerequisites = ["isolate"]', 'prerequisite = ["isolate"]')
    p = only(text)
    assert p.step == "'start'" and p.field == "prerequisite"
    assert p.line == line_of(text, "prerequisite =")
    assert "did you mean 'prerequisites'" in p.message
    assert str(p).startswith(f"line {p.line}, step 'start', field 'prerequisite'")


def test_unknown_prerequisite_is_named() -> None:
    text = GOOD.replace('prerequisites = ["isolate"]', 'prerequisites = ["isolat"]')
    p = only(text)
    assert (p.step, p.field) == ("'start'", "prerequisites")
    assert p.line == line_of(text, "prerequisites =")
    assert "'isolat'" in p.message and "did you mean 'isolate'" in p.message


def test_prerequisite_cycle_is_reported_with_its_path() -> None:
    text = GOOD.replace('hold = "10m"', 'hold = "10m"\nprerequisites = ["start"]')
    p = only(text)
    assert "loop" in p.message
    assert "isolate -> start -> isolate" in p.message or "start -> isolate -> start" in p.message
    assert p.field == "prerequisites" and p.line is not None


def test_self_prerequisite_and_step_done_cycle() -> None:
    text = GOOD.replace('prerequisites = ["isolate"]', 'prerequisites = ["start"]')
    found = validate(text)
    assert any("own prerequisite" in p.message for p in found)
    looped = GOOD.replace(
        'hold = "10m"', 'hold = "10m"\nchecks = [{type = "step_done", step = "start"}]'
    )
    assert any("loop" in p.message for p in validate(looped))
    advisory = looped.replace('step = "start"}', 'step = "start", required = false}')
    assert validate(advisory) == []
    own = GOOD.replace(
        'hold = "10m"', 'hold = "10m"\nchecks = [{type = "step_done", step = "isolate"}]'
    )
    assert "its own step" in only(own).message


@pytest.mark.parametrize(
    ("old", "new", "fld", "words"),
    [
        ("signoffs = 2", "signoffs = 0", "signoffs", "1 to 9"),
        ("signoffs = 2", 'signoffs = "two"', "signoffs", "whole number"),
        ("signoffs = 2", "signoffs = true", "signoffs", "whole number"),
        ('hold = "10m"', 'hold = "10 minutes"', "hold", "not a duration"),
        ('hold = "10m"', 'hold = "1m1h"', "hold", "largest first"),
        ('hold = "10m"', 'hold = "0m"', "hold", "longer than zero"),
        ('hold = "10m"', "hold = 10", "hold", "in quotes"),
        ('hold = "10m"', 'hold = "8d"', "hold", "7-day"),
        ('role = "operator"\nsignoffs', 'role = "operatr"\nsignoffs', "role", "did you mean"),
        ('role = "operator"\nsignoffs', 'role = "teller"\nsignoffs', "role", "not in the playbook"),
        ('title = "Isolate the feeders"', 'title = ""', "title", "empty"),
    ],
)
def test_step_field_errors(old: str, new: str, fld: str, words: str) -> None:
    text = GOOD.replace(old, new, 1)
    assert text != GOOD
    p = only(text)
    assert p.field == fld
    assert words in p.message
    assert p.step in ("'isolate'", "steps[0]")
    assert p.line == line_of(text, new.split("\n")[0])


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("litres = 500", "litres = -5", "above 0"),
        ('type = "fuel_at_least"', 'type = "fuel_at_last"', "did you mean 'fuel_at_least'"),
        ('text = "hearing protection on"', "", "needs 'text'"),
        ("required = false", 'required = "no"', "true or false"),
    ],
)
def test_check_errors_name_step_check_and_line(old: str, new: str, words: str) -> None:
    text = GOOD.replace(old, new)
    p = only(text)
    assert p.step == "'start'"
    assert p.field is not None and p.field.startswith("checks[")
    assert words in p.message
    assert p.line is not None and "[[steps.checks]]" in text.splitlines()[p.line - 1]


def test_bad_step_id_and_misspelt_check_field() -> None:
    text = GOOD.replace('id = "start"', 'id = "Start Gen"')
    p = only(text)
    assert (p.step, p.field, p.line) == ("steps[1]", "id", line_of(text, "Start Gen"))
    assert "lower-case" in p.message
    found = validate(GOOD.replace("litres = 500", "litre = 500"))
    assert [p.field for p in found] == ["checks[0]", "checks[0]"]
    assert "unknown field 'litre'" in found[0].message and "needs 'litres'" in found[1].message


def test_tier_and_step_done_checks() -> None:
    text = GOOD.replace(
        'instructions = "Start it."',
        'instructions = "Start it."\nchecks = [{type = "plan_adopted_covers_tier", tier = 0}, '
        '{type = "step_done", step = "nope"}]',
    )
    text = text[: text.index("[[steps.checks]]")]
    found = validate(text)
    assert any("tier from 1 to 9" in p.message for p in found)
    assert any("unknown step 'nope'" in p.message for p in found)
    assert all(p.step == "'start'" for p in found)


def test_top_level_problems_are_all_collected() -> None:
    text = (
        GOOD.replace('version = "1.0"\n', "version = 1\n")
        .replace(
            'roles = ["coordinator", "operator"]', 'roles = ["coordinator", "operator", "boss"]'
        )
        .replace("# a comment\n", '# a comment\nauthor = "me"\n')
    )
    found = validate(text)
    fields = {p.field for p in found}
    assert {"version", "roles", "author"} <= fields
    by_field = {p.field: p for p in found}
    assert by_field["version"].line == line_of(text, "version = 1")
    assert "in quotes" in by_field["version"].message
    assert "'boss'" in by_field["roles"].message


def test_missing_fields_and_no_steps() -> None:
    found = validate('title = "x"\n')
    messages = " | ".join(str(p) for p in found)
    for fld in ("id", "version", "roles", "steps"):
        assert f"field '{fld}'" in messages


def test_duplicate_step_ids() -> None:
    text = GOOD.replace('id = "start"', 'id = "isolate"')
    found = validate(text)
    dup = [p for p in found if "duplicate step id" in p.message]
    assert dup and dup[0].line == line_of(text, 'id = "isolate"', nth=2)


def test_oversized_and_non_text() -> None:
    big = GOOD.replace("Start it.", "x" * 70_000)
    assert "limit" in only(big).message
    with pytest.raises(PlaybookInvalid):
        parse(b"id = 1")  # type: ignore[arg-type]


def test_empty_steps_table_and_bad_checks_shape() -> None:
    assert any(
        "no steps" in p.message for p in validate(GOOD[: GOOD.index("[[steps]]")] + "steps = []\n")
    )
    bad = GOOD.replace('instructions = "Start it."', 'instructions = "Start it."\nchecks = "fuel"')
    bad = bad[: bad.index("[[steps.checks]]")]
    assert only(bad).field == "checks"


def test_durations() -> None:
    assert parse_duration("90s") == 90
    assert parse_duration("1h30m") == 5400
    assert parse_duration("2h") == 7200
    assert parse_duration("1d") == 86400
    for bad in ("", "m", "10", "1h1h", "30s1m", "-5m"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert format_duration(0) == "0s"
    assert format_duration(75) == "1m15s"
    assert format_duration(3900) == "1h05m"
    assert format_duration(90000) == "1d01h"
