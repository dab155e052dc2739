"""The folder tree is the architecture (issue 17): lower layers import nothing above them."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in the file (function-level imports too)."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out.add(node.module)
            out.update(f"{node.module}.{a.name}" for a in node.names)
    return out


def imports_of(folder: str) -> dict[str, set[str]]:
    return {str(p.relative_to(ROOT)): imported(p) for p in sorted((ROOT / folder).rglob("*.py"))}


def offenders(folder: str, banned: tuple[str, ...]) -> list[str]:
    return [
        f"{path} imports {m}"
        for path, mods in imports_of(folder).items()
        for m in sorted(mods)
        if m.startswith(banned)
    ]


def test_packages_import_downwards_only() -> None:
    assert offenders("ledger", ("mesh", "planner", "plurictl")) == []
    assert offenders("mesh", ("planner", "plurictl")) == []
    assert offenders("planner", ("ledger", "mesh", "plurictl")) == []


def test_the_roster_knows_no_concept_above_it() -> None:
    above = tuple(f"ledger.{c}" for c in ("votes", "plans", "fuel", "playbooks", "courier"))
    assert offenders("ledger/roster", above) == []


def test_bundle_and_frontier_do_not_import_each_other() -> None:
    courier = ROOT / "ledger" / "courier"
    assert not any(m.startswith("ledger.courier.frontier") for m in imported(courier / "bundle.py"))
    assert not any(m.startswith("ledger.courier.bundle") for m in imported(courier / "frontier.py"))


def test_the_writers_share_one_guard() -> None:
    """Which seq a laptop writes next, and whether it may, is answered in ledger/guard.py only."""
    for path in sorted((ROOT / "ledger").rglob("*.py")):
        if path.name != "guard.py":
            text = path.read_text(encoding="utf-8")
            assert "def _next_seq" not in text and "def require_role" not in text, path


def test_drills_take_no_domain_logic_from_the_cli() -> None:
    """Drills build vote specs with ledger.votes.spec, not from plurictl/commands/."""
    assert offenders("plurictl/drills", ("plurictl.commands",)) == []


def test_every_error_class_lives_in_an_errors_module() -> None:
    """Classes of the PluriError tree (the exit codes) are defined in errors.py files only."""
    from plurictl.exit_codes import error_classes

    tree = {cls.__name__ for cls in error_classes()}
    found = []
    for top in ("ledger", "mesh", "planner", "plurictl"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if path.name == "errors.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef):
                    bases = {
                        b.id if isinstance(b, ast.Name) else getattr(b, "attr", "")
                        for b in node.bases
                    }
                    if bases & tree:
                        found.append(f"{path.relative_to(ROOT)}: {node.name}")
    assert found == []


PRODUCT = ("ledger", "mesh", "planner", "plurictl")


def test_modules_and_functions_stay_small() -> None:
    """Issue 17: no module over 600 lines and no function over 80 in the product packages."""
    big_modules, big_functions = [], []
    for pkg in PRODUCT:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            name = str(path.relative_to(ROOT))
            if text.count("\n") > 600:
                big_modules.append(f"{name}: {text.count(chr(10))} lines")
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > 80:
                        big_functions.append(f"{name}:{node.lineno} {node.name}: {length} lines")
    assert big_modules == [] and big_functions == []
