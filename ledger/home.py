"""A laptop's home folder: its identity, its ledger and its settings, opened lazily.

Layout of a home (``--home``, ``PLURI_HOME``, default ``~/.plurigrid``)::

    identity.json   the signing key (mode 0600, optionally passphrase-sealed)
    ledger.db       the SQLite ledger (plus -wal and -shm files while in use)
    config.toml     settings such as static peers (optional)
    peers.json      peers this laptop has met (kept by the node)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ledger import identity as identity_mod
from ledger.entry import Entry
from ledger.errors import NotInitialised
from ledger.identity import Identity, PassphraseProvider
from ledger.store import DB_FILE, Store

DEFAULT_HOME = "~/.plurigrid"


def resolve(path: str | os.PathLike[str] | None) -> Path:
    """The home folder: explicit path, else $PLURI_HOME, else ~/.plurigrid."""
    if path is None or str(path) == "":
        path = os.environ.get("PLURI_HOME") or DEFAULT_HOME
    return Path(path).expanduser().absolute()


class Home:
    """Identity + store of one home; both opened on first use."""

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        passphrase: PassphraseProvider | None = None,
    ) -> None:
        self.path = resolve(path)
        self._passphrase = passphrase
        self._identity: Identity | None = None
        self._store: Store | None = None

    # --- identity ---------------------------------------------------------------

    def init(self, name: str, passphrase: str | None = None) -> Identity:
        """Create the identity and an empty ledger (not yet in any mesh)."""
        identity = identity_mod.create(self.path, name, passphrase)
        self._identity = identity
        self._store = Store.open(self.path, create=True)
        return identity

    @property
    def identity(self) -> Identity:
        if self._identity is None:
            self._identity = identity_mod.load(self.path, self._passphrase)
        return self._identity

    def public_key(self) -> tuple[str, bytes]:
        """(name, public key) without asking for a passphrase."""
        if self._identity is not None:
            return self._identity.name, self._identity.public
        return identity_mod.public_name(self.path)

    # --- ledger -----------------------------------------------------------------

    @property
    def store(self) -> Store:
        if self._store is None:
            if (
                not (self.path / identity_mod.KEY_FILE).exists()
                and not (self.path / DB_FILE).exists()
            ):
                raise NotInitialised(
                    f"no plurigrid home at {self.path}",
                    hint="run `plurictl init --name NAME` (or pass --home / set PLURI_HOME)",
                )
            self._store = Store.open(self.path, create=True)
        return self._store

    @property
    def opened_store(self) -> Store | None:
        """The store if this home has opened it (never opens it)."""
        return self._store

    def append(self, kind: str, body: dict[str, Any]) -> Entry:
        """Sign ``body`` with this laptop's key and store it at the end of its feed."""
        return self.store.append(self.identity, kind, body)

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Home:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
