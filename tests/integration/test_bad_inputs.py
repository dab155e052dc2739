"""Bad input exits 5 with a clear, short message, and changes nothing (issue 16, item 7).

The inputs a tester found exiting 1 ("unexpected ...") or hanging: non-UTF-8
bytes in text options, a lone surrogate in JSON, numbers out of range (huge,
NaN, infinity), empty or special output paths, deeply nested JSON files, a
non-UTF-8 drill file, unusable names.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import Invoke

BAD = os.fsdecode(b"\xff\xfe")  # how Python shows argv bytes that are not UTF-8
HUGE = "9" * 29
KEY = "ab" * 32
SCENARIO = Path(__file__).resolve().parents[2] / "field_guides" / "scenarios"


def scenario() -> str:
    return str(sorted(SCENARIO.glob("*.toml"))[0])


NON_UTF8 = [
    ["init", "--name", BAD],
    ["log", "append", "--kind", "note", "--body", BAD],
    ["log", "append", "--kind", BAD, "--body", "{}"],
    ["log", "show", "--author", BAD],
    ["log", "show", "--kind", BAD],
    ["fuel", "report", BAD, "--litres", "1"],
    ["fuel", "report", "clinic", "--litres", "1", "--note", BAD],
    ["fuel", "report", "clinic", "--litres", "1", "--tank", BAD],
    ["fuel", "report", "clinic", "--litres", "1", "--fuel", BAD],
    ["fuel", "transfer", "plan", "--from", BAD, "--to", "b", "--litres", "1"],
    ["fuel", "transfer", "cancel", "ab12cd34", "--reason", BAD],
    ["fuel", "status", "--site", BAD],
    ["roster", "add", KEY, "--name", BAD, "--role", "operator"],
    ["roster", "revoke", BAD],
    ["mesh", "join", BAD],
    ["vote", "open", "--title", BAD, "--option", "a=A", "--option", "b=B"],
    ["vote", "cast", BAD, "a"],
    ["playbook", "start", BAD],
    ["playbook", "start", "hospital-fuel-resupply", "--note", BAD],
    ["orders", "ack", BAD],
    ["orders", "deviate", "o1", "--note", BAD],
    ["plan", "adopt", BAD],
    ["drill", "run", BAD],
    ["sync", "--peer", BAD],
    ["--home", BAD, "whoami"],
]

OTHER = [
    ["log", "append", "--kind", "note", "--body", '{"x": "\\ud800"}'],
    ["log", "show", "--limit", HUGE],
    ["bundle", "export", "-o", ""],
    ["bundle", "frontier", "-o", ""],
    ["plan", "run", "SCENARIO", "--out", ""],
    ["plan", "run", "SCENARIO", "--out", "/proc/version"],
    ["plan", "run", "SCENARIO", "--periods", HUGE],
    ["plan", "run", "SCENARIO", "--periods", "1e29"],
    ["plan", "run", "SCENARIO", "--time-limit", "nan"],
    ["plan", "run", "SCENARIO", "--time-limit", "inf"],
    ["drill", "run", "quickstart", "--nemesis", "inf"],
    ["drill", "run", "quickstart", "--nemesis", "nan"],
    ["drill", "run", "quickstart", "--nemesis", "1e300"],
    ["sync", "--peer", "tcp://127.0.0.1:9", "--timeout", "inf"],
    ["sync", "--peer", "tcp://127.0.0.1:9", "--timeout", "nan"],
    ["node", "up", "--interval", "nan"],
    ["roster", "threshold", HUGE],
    ["log", "verify", "--repair", "--timeout", "nan"],
    ["fuel", "report", "clinic", "--litres", "nan"],
    ["log", "append", "--kind", "note", "--body", "x" * 120_000],
]


@pytest.mark.parametrize("args", NON_UTF8 + OTHER, ids=lambda a: " ".join(a)[:60])
def test_bad_input_exits_5_with_a_short_message(
    invoke: Invoke, home: Path, args: list[str]
) -> None:
    args = [scenario() if a == "SCENARIO" else a for a in args]
    before = (home / "ledger.db").read_bytes()
    r = invoke(home, *args)
    assert r.exit_code == 5, r.output
    assert r.output.startswith("Error:") or "\nError:" in r.output or "Error:" in r.output
    assert "unexpected" not in r.output and "Traceback" not in r.output
    assert len(r.output) < 1500, len(r.output)  # a 120 KB value is not echoed back
    assert (home / "ledger.db").read_bytes() == before


def test_deeply_nested_json_files_are_refused(invoke: Invoke, home: Path, tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    for args in (["plan", "propose", str(deep)], ["plan", "explain", str(deep)]):
        r = invoke(home, *args)
        assert r.exit_code == 5, r.output
        assert "nested" in r.output


def test_a_drill_file_that_is_not_utf8_is_refused(
    invoke: Invoke, home: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "drill.toml"
    bad.write_bytes(b'name = "\xff\xfe"\n')
    for sub in ("run", "validate"):
        r = invoke(home, "drill", sub, str(bad))
        assert r.exit_code == 5, r.output
        assert "UTF-8" in r.output


@pytest.mark.parametrize("name", [" ", "a\x7fb", "x" * 65, "tab\there", "\u2028"])
def test_init_refuses_names_a_mesh_could_not_use(invoke: Invoke, tmp_path: Path, name: str) -> None:
    r = invoke(tmp_path / "h", "init", "--name", name)
    assert r.exit_code == 5, r.output
    assert not (tmp_path / "h" / "identity.json").exists()
