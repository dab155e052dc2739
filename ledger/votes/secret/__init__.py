"""Secret ballots: the cryptographic core (no ledger entries, no vote folds).

Exponential ElGamal over secp256k1 (libsecp256k1 via coincurve), a joint key from a threshold key ceremony among the tellers, ballots
with zero-knowledge proofs bound to the vote and the voter, a homomorphic
weighted tally, decryption shares with proofs, and counts from any k shares.
Formats and equations: ``field_guides/secret-ballots.md``.

Typical flow::

    params = CeremonyParams(ceremony_id, k, teller_keys)
    dealing = deal(params, i, signing_key)                # each teller, round 1
    complaint = complaint_for(params, dealing, j, key)   # each teller, round 2
    state = fold(params, dealings, complaints, justifications)
    ctx = VoteContext(vote_id, state.keys.joint_key, BallotSpec.plurality(m))
    ballot = encrypt(ctx, voter_key, [0, 1, 0])
    tally, rejected = verify_and_aggregate(ctx, [(voter, ballot, weight), ...])
    share = decryption_share(ctx, tally, t, teller_secret(...))
    counts = combine(ctx, tally, shares, state.keys)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names below load on first use (PEP 562): secp256k1 costs start-up time
    from .ballot import (
        Ballot,
        BallotSpec,
        VoteContext,
        all_ciphertexts,
        check_selection,
        encrypt,
        verify,
    )
    from .ceremony import (
        CeremonyParams,
        CeremonyState,
        Complaint,
        Dealing,
        Justification,
        check_dealing,
        complaint_for,
        deal,
        fold,
        justify,
        open_share,
        share_matches,
        teller_secret,
    )
    from .errors import BallotEncodingError, CeremonyIncomplete, ProofRejected
    from .keys import KeySet
    from .tally import (
        DecryptionShare,
        EncryptedTally,
        aggregate,
        combine,
        decryption_share,
        small_log,
        verify_and_aggregate,
        verify_share,
    )

#: name -> the submodule that defines it
_LAZY = {
    "Ballot": "ballot",
    "BallotSpec": "ballot",
    "VoteContext": "ballot",
    "all_ciphertexts": "ballot",
    "check_selection": "ballot",
    "encrypt": "ballot",
    "verify": "ballot",
    "CeremonyParams": "ceremony",
    "CeremonyState": "ceremony",
    "Complaint": "ceremony",
    "Dealing": "ceremony",
    "Justification": "ceremony",
    "check_dealing": "ceremony",
    "complaint_for": "ceremony",
    "deal": "ceremony",
    "fold": "ceremony",
    "justify": "ceremony",
    "open_share": "ceremony",
    "share_matches": "ceremony",
    "teller_secret": "ceremony",
    "BallotEncodingError": "errors",
    "CeremonyIncomplete": "errors",
    "ProofRejected": "errors",
    "KeySet": "keys",
    "DecryptionShare": "tally",
    "EncryptedTally": "tally",
    "aggregate": "tally",
    "combine": "tally",
    "decryption_share": "tally",
    "small_log": "tally",
    "verify_and_aggregate": "tally",
    "verify_share": "tally",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "Ballot",
    "BallotEncodingError",
    "BallotSpec",
    "CeremonyIncomplete",
    "CeremonyParams",
    "CeremonyState",
    "Complaint",
    "Dealing",
    "DecryptionShare",
    "EncryptedTally",
    "Justification",
    "KeySet",
    "ProofRejected",
    "VoteContext",
    "aggregate",
    "all_ciphertexts",
    "check_dealing",
    "check_selection",
    "combine",
    "complaint_for",
    "deal",
    "decryption_share",
    "encrypt",
    "fold",
    "justify",
    "open_share",
    "share_matches",
    "small_log",
    "teller_secret",
    "verify",
    "verify_and_aggregate",
    "verify_share",
]
