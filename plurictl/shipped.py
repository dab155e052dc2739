"""Files that ship with plurictl: playbooks, drills and scenarios (and the guides).

In the repository they live in ``field_guides/`` at the top, where operators read
them. The wheel carries that same folder as the package ``plurictl._shipped``
(pyproject.toml maps the package onto ``field_guides/``: one copy in git, no build
step), so a laptop installed offline from the wheelhouse finds exactly what a
checkout finds. Every command and drill step looks them up here, through
``importlib.resources``; nothing else knows where they are.
"""

from __future__ import annotations

import functools
import importlib.resources
import os
from importlib.resources.abc import Traversable
from pathlib import Path

from ledger.errors import InvalidInput
from plurictl.errors import NotShipped

#: folder name -> what one file in it is called in messages
KINDS: dict[str, str] = {"playbooks": "playbook", "drills": "drill", "scenarios": "scenario"}
#: environment variables that point a kind at another folder (a site's own playbooks)
OVERRIDES: dict[str, str] = {"playbooks": "PLURI_PLAYBOOKS"}


@functools.cache
def _tree() -> Traversable:
    try:
        return importlib.resources.files("plurictl._shipped")
    except ModuleNotFoundError:
        # A checkout (editable install, or the source folder on PYTHONPATH): setuptools'
        # editable finder cannot map a folder without __init__.py into a package, so read
        # field_guides/ beside the package directly.
        return importlib.resources.files("plurictl").joinpath("..", "field_guides")


def folder(kind: str) -> Path:
    """The folder of one kind of shipped file (``playbooks``, ``drills``, ``scenarios``)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind of shipped file {kind!r}")
    env = os.environ.get(OVERRIDES.get(kind, ""), "")
    if env:
        return Path(env).expanduser()
    found = _tree().joinpath(kind)
    path = found if isinstance(found, Path) else Path(str(found))
    if not path.is_dir():
        raise NotShipped(
            f"this installation of plurictl carries no shipped {kind} (looked in {path})",
            hint="reinstall from the wheelhouse: see field_guides/install.md",
        )
    return path.resolve()


def names(kind: str) -> list[str]:
    """The shipped files of one kind, by name (file stem), sorted."""
    return sorted(p.stem for p in folder(kind).glob("*.toml"))


def files(kind: str) -> list[Path]:
    """The shipped ``*.toml`` files of one kind, sorted by name."""
    return sorted(folder(kind).glob("*.toml"))


def resolve(kind: str, text: str) -> Path:
    """A file the user named: a path to an existing file, or a shipped file's name.

    Raises ``InvalidInput`` listing the shipped names (and the closest one, for a typo).
    """
    path = Path(text).expanduser()
    if path.is_file():
        return path
    if not path.suffix and "/" not in text:
        for candidate in (folder(kind) / f"{text}.toml", folder(kind) / text):
            if candidate.is_file():
                return candidate
    from ledger.names import did_you_mean

    known = names(kind)
    raise InvalidInput(
        f"no {KINDS[kind]} file {text!r} (shipped {kind}: {', '.join(known) or 'none'})"
        + did_you_mean(text, known),
        hint=f"give a path to a .toml file or the name of a shipped {KINDS[kind]}",
    )
