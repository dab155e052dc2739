"""Shared fixtures: CLI runner, throw-away homes, a founded mesh."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from plurictl.cli import cli

# Output width must not depend on who runs the suite: a terminal's COLUMNS (or the 80 that
# pytest-xdist workers inherit) would wrap messages the tests read; pipes get 160 columns.
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)
# Sealing keys is deliberately slow (argon2id MODERATE); tests use the interactive cost.
os.environ.setdefault("PLURI_TEST", "1")
# The planner's network cache: a throw-away folder for this test session, never ~/.cache.
os.environ.setdefault("PLURI_CACHE_DIR", tempfile.mkdtemp(prefix="pluri-cache-"))


@pytest.fixture(autouse=True)
def _fast_argon(monkeypatch: pytest.MonkeyPatch) -> None:
    import nacl.pwhash

    from ledger import identity

    monkeypatch.setattr(identity, "SEAL_OPSLIMIT", nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE)
    monkeypatch.setattr(identity, "SEAL_MEMLIMIT", nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE)
    monkeypatch.delenv("PLURI_PASSPHRASE", raising=False)
    monkeypatch.delenv("PLURI_HOME", raising=False)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


Invoke = Callable[..., Result]


@pytest.fixture
def invoke(runner: CliRunner) -> Invoke:
    """invoke(home, *args, input=None, env=None) -> Result (never raises)."""

    def run(
        home: Path | None, *args: str, input: str | None = None, env: dict[str, str] | None = None
    ) -> Result:
        argv = (["--home", str(home)] if home is not None else []) + list(args)
        return runner.invoke(cli, argv, input=input, env=env, catch_exceptions=False)

    return run


def json_out(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def home(tmp_path: Path, invoke: Invoke) -> Path:
    """A home with an identity ('alice') that founded mesh 'relief'."""
    h = tmp_path / "alice"
    r = invoke(h, "init", "--name", "alice")
    assert r.exit_code == 0, r.output
    r = invoke(h, "mesh", "create", "relief")
    assert r.exit_code == 0, r.output
    return h


def new_home(tmp_path: Path, invoke: Invoke, name: str) -> tuple[Path, str]:
    """A fresh identity (not yet in any mesh); returns (home, public key hex)."""
    h = tmp_path / name
    assert invoke(h, "init", "--name", name).exit_code == 0
    key = json_out(invoke(h, "whoami", "--json"))["public_key"]
    return h, key


@pytest.fixture(scope="session")
def quickstart_nodes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The homes of the shipped 5-node quickstart drill, run once per test session.

    Tests copy a home before changing it (``tests.dashboard_ledger.copy_home``).
    """
    from tests.dashboard_ledger import run_quickstart

    return run_quickstart(tmp_path_factory.mktemp("quickstart"))
