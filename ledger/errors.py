"""Errors raised by the ledger, and the root of the project's error tree.

Every error a user can cause carries an ``exit_code``; ``plurictl`` prints the
message and exits with it, never with a traceback. Driver errors (sqlite3,
nacl, msgpack, OS) are re-raised as one of these with ``raise ... from e``.

The class that introduces a code also says what it means (``exit_meaning``) and
what usually fixes it (``exit_fix``): those attributes are the one table of exit
codes (``plurictl.exit_codes``), from which ``plurictl --help`` and
``field_guides/exit-codes.md`` are made, and against which the codes drawn in
the trees below are tested.

::

    PluriError                     exit 1  root of everything plurictl reports
    ├── NotInitialised             exit 3  no home / no identity / no mesh yet
    │   └── NotInMesh              exit 3  no mesh yet (every command that needs one)
    ├── LedgerError                exit 1  ledger package root
    │   ├── KeyFileError           exit 4  key file missing, insecure, corrupt
    │   │   └── PassphraseError    exit 4  wrong or missing passphrase
    │   ├── InvalidInput           exit 5  bad body, bad kind, oversized entry
    │   │   ├── EncodingError      exit 5  bytes are not a canonical entry
    │   │   ├── PlaybookInvalid    exit 5  a playbook file with problems (all listed)
    │   │   └── PlaybookRefused    exit 5  the run's state does not allow the request
    │   ├── VerificationFailed     exit 6  signatures, chains or forks failed a check
    │   ├── TrustError             exit 7  not a member, wrong role, wrong mesh
    │   │   └── WrongMesh          exit 7  entry or bundle of another mesh
    │   ├── StoreError             exit 8  database locked, damaged, disk full, read-only
    │   └── BundleError            exit 5  courier bundle unreadable or refused
    │       └── UnsupportedFormat  exit 5  a bundle format version this plurictl cannot read
    ├── MeshError (mesh.errors)    exit 9  node not running, peer unreachable
    └── (planner.errors.PlannerError, exit 10/11, is a separate root because the
        planner imports no sibling; plurictl handles both trees the same way)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ledger.playbooks.model import Problem


class PluriError(Exception):
    """Root of every error plurictl reports to a user."""

    exit_code: int = 1
    exit_meaning = "error (unexpected or general)"
    exit_fix = "re-run with `--debug`, report it"
    #: Optional hint printed under the message: what to do next.
    hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        if hint is not None:
            self.hint = hint

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.__class__.__name__


class NotInitialised(PluriError):
    exit_code = 3
    exit_meaning = "not initialised: no home, no identity, not in a mesh yet"
    exit_fix = "`plurictl init`, `mesh create` or `mesh join`; check `--home` / `PLURI_HOME`"


class NotInMesh(NotInitialised):
    """This laptop has no mesh yet: every command that needs one exits 3 with this."""

    exit_code = 3

    def __init__(self, message: str = "this laptop is not in a mesh yet", **kw: str) -> None:
        kw.setdefault(
            "hint",
            "found one (`plurictl mesh create NAME`) or join one "
            "(`plurictl mesh join MESH_ID`, then sync or import a bundle)",
        )
        super().__init__(message, **kw)


class LedgerError(PluriError):
    exit_code = 1


class KeyFileError(LedgerError):
    exit_code = 4
    exit_meaning = "key problem: key file missing, readable by others, damaged, wrong passphrase"
    exit_fix = "`chmod 600 ~/.plurigrid/identity.json`; set `PLURI_PASSPHRASE`; restore from backup"


class PassphraseError(KeyFileError):
    exit_code = 4


class InvalidInput(LedgerError):
    exit_code = 5
    exit_meaning = (
        "invalid input: bad JSON, bad kind, oversized entry, unreadable file, unknown name"
    )
    exit_fix = "fix the input; the message names the field (and the closest known name)"


class EncodingError(InvalidInput):
    exit_code = 5


class VerificationFailed(LedgerError):
    exit_code = 6
    exit_meaning = "verification failed: bad signatures, broken chains, forks, damaged bundle"
    exit_fix = "see `plurictl log verify`, `plurictl forks list`"


class TrustError(LedgerError):
    exit_code = 7
    exit_meaning = "refused by trust rules: not a member, missing role, another mesh"
    exit_fix = "ask an admin (`plurictl roster list`)"


class WrongMesh(TrustError):
    exit_code = 7


class StoreError(LedgerError):
    exit_code = 8
    exit_meaning = "store problem: database busy, damaged, disk full, read-only"
    exit_fix = "free disk space; retry; restore the home from backup"


class BundleError(LedgerError):
    exit_code = 5


class UnsupportedFormat(BundleError):
    """A bundle of a format version this plurictl cannot read (never treated as damage)."""


class PlaybookInvalid(InvalidInput):
    """A playbook file that cannot be executed; ``problems`` lists everything wrong."""

    hint = "the playbook format is described in field_guides/playbooks.md"

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        lines = "\n".join(f"  {source}: {p}" for p in problems)
        super().__init__(f"{source} is not a valid playbook ({count}):\n{lines}")


class PlaybookRefused(InvalidInput):
    """The run's current state does not allow this request (nothing was signed)."""
