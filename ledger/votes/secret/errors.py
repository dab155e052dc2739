"""Errors of the secret-ballot crypto core, as leaves of the ledger's error tree.

::

    LedgerError
    ├── InvalidInput
    │   ├── EncodingError
    │   │   └── BallotEncodingError   exit 5  bytes are not a canonical object
    │   └── CeremonyIncomplete        exit 5  keys asked of a ceremony that has not finished
    └── VerificationFailed
        └── ProofRejected             exit 6  a proof, share or count does not check
"""

from __future__ import annotations

from ledger.errors import EncodingError, InvalidInput, VerificationFailed


class BallotEncodingError(EncodingError):
    """Bytes that are not the one canonical encoding of a ballot-crypto object."""

    exit_code = 5


class CeremonyIncomplete(InvalidInput):
    """The key ceremony has missing dealings or unanswered complaints."""

    exit_code = 5


class ProofRejected(VerificationFailed):
    """A zero-knowledge proof, decryption share or claimed count failed its check."""

    exit_code = 6
