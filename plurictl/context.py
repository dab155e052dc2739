"""Per-invocation state shared by commands: the home, the debug flag, passphrases."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from ledger.home import Home


def ask_passphrase() -> str | None:
    """Passphrase for a sealed key: $PLURI_PASSPHRASE, else a prompt in a terminal."""
    phrase = os.environ.get("PLURI_PASSPHRASE")
    if phrase:
        return phrase
    if sys.stdin.isatty():
        return click.prompt("Passphrase for this laptop's key", hide_input=True, err=True)
    return None


class AppContext:
    def __init__(self, home: str | None, debug: bool) -> None:
        self.home_arg = home
        self.debug = debug
        self._home: Home | None = None

    @property
    def home(self) -> Home:
        if self._home is None:
            from ledger.home import Home

            self._home = Home(self.home_arg, passphrase=ask_passphrase)
        return self._home

    def close(self) -> None:
        if self._home is not None:
            self._home.close()
            self._home = None


pass_app = click.make_pass_decorator(AppContext)
