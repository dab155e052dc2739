"""The wheel carries every package: [tool.setuptools] lists them by hand (one is mapped), so a
package folder missing from the list would be missing on a laptop installed offline."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_package_folder_is_in_the_wheel() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("ledger", "mesh", "planner", "plurictl")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert on_disk - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    mapped = tuple(config["tool"]["setuptools"]["package-dir"])  # field_guides/ as package data
    missing = {p for p in listed - on_disk if not p.startswith(mapped)}
    assert missing == set(), "these listed packages do not exist"
