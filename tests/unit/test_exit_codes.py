"""One table of exit codes, on the exception classes (issue 18 item 10): the guide, --help and
the errors.py trees agree with it; commands write no exit numbers of their own."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import plurictl.errors
from ledger.errors import PluriError
from plurictl.cli import cli
from plurictl.exit_codes import error_classes, markdown_table, table
from tests.conftest import Invoke
from tests.test_docs import all_commands

ROOT = Path(__file__).resolve().parents[2]
CODES = {row.code for row in table()}


def test_every_code_has_one_meaning() -> None:
    rows = table()
    assert [r.code for r in rows] == sorted(CODES)
    assert set(range(15)) <= CODES and {130, 143} <= CODES
    assert all(r.meaning for r in rows)
    for cls in error_classes():  # every error class has a code of the table
        assert cls.exit_code in CODES, cls  # type: ignore[attr-defined]


def test_the_guide_is_the_table() -> None:
    guide = (ROOT / "field_guides" / "exit-codes.md").read_text(encoding="utf-8")
    assert markdown_table() in guide, "regenerate it: python -m plurictl.exit_codes"


def test_help_shows_the_table() -> None:
    r = CliRunner().invoke(cli, ["--help"])
    text = " ".join(r.output.split())
    for row in table():
        assert f"{row.code} {row.meaning}" in text


ERROR_MODULES = [
    "ledger/errors.py",
    "mesh/errors.py",
    "mesh/radio/errors.py",
    "planner/errors.py",
    "plurictl/errors.py",
]


@pytest.mark.parametrize("path", ERROR_MODULES)
def test_the_trees_in_errors_py_draw_the_real_codes(path: str) -> None:
    import importlib

    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    drawn = re.findall(r"(\w+)(?: \([\w.]+\))?\s+exit (\d+)\b", module.__doc__ or "")
    assert drawn, f"{path} draws no tree"
    classes = {c.__name__: c for c in error_classes()}
    for name, code in drawn:
        if name in classes:
            assert classes[name].exit_code == int(code), f"{path}: {name}"  # type: ignore[attr-defined]


def test_commands_write_no_exit_numbers() -> None:
    for path in sorted((ROOT / "plurictl").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"(Failed|\.exit|sys\.exit)\(\s*\d+\s*\)", source), path
        assert not re.search(r"Failed\(\s*[\w.]+\.exit_code", source), path
        assert not re.search(r"^[A-Z_]*(?:EXIT|CODE)[A-Z_]* = \d+\b", source, flags=re.M), path
    assert not hasattr(plurictl.errors, "EXIT_CODES")


EXIT_MENTION = re.compile(r"\b[Ee]xit(?:s| code| codes| with)?:? (\d+)\b")


def test_exit_codes_in_help_and_guides_are_in_the_table() -> None:
    for name, command in all_commands():
        for code in EXIT_MENTION.findall(command.help or ""):
            assert int(code) in CODES, f"plurictl {name} --help mentions exit {code}"
    for page in sorted((ROOT / "field_guides").glob("*.md")):
        for code in EXIT_MENTION.findall(page.read_text(encoding="utf-8")):
            assert int(code) in CODES, f"{page.name} mentions exit {code}"


def test_plot_without_matplotlib_is_its_own_clear_error(
    home: Path, invoke: Invoke, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    r = invoke(
        home, "plan", "run", "three-bases", "--periods", "2", "--plot", str(tmp_path / "p.png")
    )
    assert r.exit_code == plurictl.errors.MissingExtra.exit_code == 14
    assert "needs matplotlib" in r.stderr and "plurigrid[plot]" in r.stderr
    assert "Traceback" not in r.output


def test_a_drill_that_cannot_run_is_a_setup_error(tmp_path: Path, invoke: Invoke) -> None:
    drill = tmp_path / "broken.toml"
    drill.write_text(
        '[drill]\nname = "broken"\n[[nodes]]\nname = "a"\nroles = ["admin", "coordinator"]\n'
        '[[step]]\ndo = "found"\n[[step]]\ndo = "plan-run"\nnode = "a"\nscenario = "no-such"\n'
    )
    r = invoke(None, "drill", "run", str(drill))
    assert r.exit_code == plurictl.errors.DrillNotRun.exit_code == 13, r.output
    assert "no scenario file 'no-such'" in r.output + r.stderr


def test_failed_takes_an_error_class() -> None:
    from ledger.errors import VerificationFailed

    assert plurictl.errors.Failed(VerificationFailed).exit_code == 6
    with pytest.raises(TypeError):
        plurictl.errors.Failed(ValueError)
    assert issubclass(plurictl.errors.Failed, PluriError)
