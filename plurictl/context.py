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
        #: set by commands that already reported damaged entries themselves (log verify)
        self.damage_reported = False

    @property
    def home(self) -> Home:
        if self._home is None:
            from ledger.home import Home

            self._home = Home(self.home_arg, passphrase=ask_passphrase)
        return self._home

    def close(self) -> None:
        if self._home is not None:
            if not self.damage_reported:
                warn_damage(self._home)
            self._home.close()
            self._home = None


#: Damaged entries named one by one in the warning; the rest are counted.
WARN_LINES = 5


def warn_damage(home: Home) -> None:
    """Tell the user (on stderr) which damaged entries this command left out."""
    store = home.opened_store
    if store is None or not (store.damaged or store.damaged_forks):
        return
    from plurictl.render.common import error_console

    found = sorted(store.damaged.values(), key=lambda d: d.key())
    con = error_console()
    con.print(
        f"[yellow]Warning:[/] {len(found) + len(store.damaged_forks)} damaged "
        "record(s) in this ledger were left out (quarantined):",
        highlight=False,
    )
    for d in found[:WARN_LINES]:
        con.print(f"  {d.describe()}", highlight=False, markup=False)
    if len(found) > WARN_LINES:
        con.print(f"  … and {len(found) - WARN_LINES} more", highlight=False)
    for author, why in sorted(store.damaged_forks.items())[:WARN_LINES]:
        con.print(f"  fork proof of {author.hex()[:12]}: {why}", highlight=False, markup=False)
    con.print(
        "[yellow]Hint:[/] run `plurictl log verify --repair` (it fetches intact copies from peers)",
        highlight=False,
    )


pass_app = click.make_pass_decorator(AppContext)
