"""Secret votes inside the vote fold: ballots checked, the sealed set's encrypted tally, the
tellers' decryption shares, and the counts.

Seal, then share: which sheet is sealed is decided exactly as for open votes
(:mod:`ledger.votes.seals`: same seals, same k, same at-most-one guarantees). Honest
software releases a teller's decryption share only for a sheet that has k counted seals
in its laptop's view: the k-th (and any later) seal carries it, and a teller whose seal
came earlier, or who sealed no sheet or another one, adds it in a ``vote.share`` entry
(``plurictl vote seal VOTE`` again). The counts come from any k *valid* shares on the
sealed sheet, one per teller, from its seals and its share entries; a share that does
not verify is shown as invalid and not used, and the same teller may write another.
Until k valid shares are here the vote stays SEALED ("decrypting: m of k shares"); when
too few tellers are left who could add one it is stuck
(:func:`ledger.votes.seals.shares_stuck`). Any k valid shares give the same counts, so
the FINAL result cannot depend on which arrived first. Shares on another sheet are never
used (the fold says why).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ledger.votes import tally as vote_tally
from ledger.votes.bodies import PLURALITY, CharterFields
from ledger.votes.secret import (
    Ballot as SecretBallot,
)
from ledger.votes.secret import (
    BallotEncodingError,
    BallotSpec,
    DecryptionShare,
    EncryptedTally,
    ProofRejected,
    VoteContext,
    aggregate,
    combine,
    verify,
    verify_share,
)
from ledger.votes.state import VOTED, Seal, Slot


def spec_of(fields: CharterFields) -> BallotSpec:
    """Plurality: exactly one option; approval: any number, none included."""
    m = len(fields.options)
    return BallotSpec.plurality(m) if fields.method == PLURALITY else BallotSpec.approval(m)


def context(vote_id: bytes, fields: CharterFields) -> VoteContext:
    assert fields.secret is not None
    return VoteContext(vote_id, fields.secret.keys.joint_key, spec_of(fields))


def teller_index(fields: CharterFields, member: bytes) -> int:
    """A teller's 1-based index in the ceremony (the charter's tellers are in its order)."""
    return fields.tellers.index(member) + 1


def check_ballot(ctx: VoteContext, voter: bytes, data: Any) -> tuple[SecretBallot | None, str]:
    """(the ballot, its tracker hex) when it decodes and every proof holds for this vote and
    voter key; else (None, why)."""
    if not isinstance(data, bytes):
        return None, "a secret vote's ballot carries its encrypted choice in 'sealed' (bytes)"
    return _checked(ctx, voter, data)


@lru_cache(maxsize=20_000)
def _checked(ctx: VoteContext, voter: bytes, data: bytes) -> tuple[SecretBallot | None, str]:
    """Checking a ballot is a pure function of (vote context, voter key, bytes): a command
    that folds the votes twice (seal: before and after writing), or a node folding after
    every sync, verifies each ballot's proofs once (about 0.35 ms each)."""
    try:
        ballot = SecretBallot.from_bytes(data)
    except BallotEncodingError as e:
        return None, f"encrypted ballot does not decode: {e}"
    if not verify(ctx, voter, ballot):
        return None, "encrypted ballot: a proof does not verify for this vote and voter"
    return ballot, ballot.tracker.hex()


@dataclass
class ShareCheck:
    """One seal's decryption share on the sealed sheet, and whether it verifies."""

    member: bytes
    teller: int
    seal: bytes  # the entry id: a seal, or a ``vote.share`` (``kind``)
    valid: bool
    problem: str | None = None
    kind: str = "vote.seal"

    def to_json(self) -> dict[str, Any]:
        return {
            "member": self.member.hex(),
            "teller": self.teller,
            "seal": self.seal.hex(),
            "kind": self.kind,
            "valid": self.valid,
            "problem": self.problem,
        }


@dataclass
class SecretCount:
    """The sealed set of a secret vote: its encrypted tally, the shares, the counts."""

    tally: EncryptedTally
    ballots: int
    shares: list[ShareCheck] = field(default_factory=list)
    counts: dict[str, int] | None = None
    waiting: str | None = None  # why there are no counts yet

    def to_json(self) -> dict[str, Any]:
        return {
            "encrypted_tally": self.tally.to_bytes().hex(),
            "total_weight": self.tally.total_weight,
            "ballots": self.ballots,
            "shares": [s.to_json() for s in self.shares],
            "valid_shares": sum(s.valid for s in self.shares),
            "counts": self.counts,
            "waiting": self.waiting,
        }


def encrypted_tally(
    ctx: VoteContext, slots: Mapping[bytes, Slot], ballots: Mapping[bytes, SecretBallot]
) -> tuple[EncryptedTally, int]:
    """Σ weight·ballot over the voted slots (each ballot already verified), and how many."""
    weighted = [
        (ballots[s.ballot.id], s.weight)
        for _, s in sorted(slots.items())
        if s.status == VOTED and s.ballot is not None and s.ballot.id in ballots
    ]
    return aggregate(ctx, weighted), len(weighted)


def parse_share(data: Any) -> DecryptionShare | str:
    if not isinstance(data, bytes):
        return "the seal carries no decryption share"
    try:
        return DecryptionShare.from_bytes(data)
    except BallotEncodingError as e:
        return f"decryption share does not decode: {e}"


def decrypt(
    ctx: VoteContext,
    fields: CharterFields,
    tally: EncryptedTally,
    ballots: int,
    sealers: Iterable[Seal],
) -> SecretCount:
    """Check every share (of the sheet's seals that carry one, and of its ``vote.share``
    entries) against ``tally``; counts from k valid ones (one per teller: a copied
    teller's twin seals, or a bad share and a later good one, may each carry one)."""
    assert fields.secret is not None
    keys = fields.secret.keys
    out = SecretCount(tally, ballots)
    valid: list[DecryptionShare] = []
    # a copied teller's twin seals come in too: the first valid share of each teller serves
    for seal in sorted(sealers, key=lambda s: (s.member, s.seq, s.id)):
        if seal.share is None:  # held back until the sheet had k seals: a vote.share follows
            continue
        index = teller_index(fields, seal.member)
        share = parse_share(seal.share)
        check = ShareCheck(seal.member, index, seal.id, False, kind=seal.kind)
        if isinstance(share, str):
            check.problem = share
        elif share.teller != index:
            check.problem = f"the share is made out for teller {share.teller}, not {index}"
        elif not verify_share(ctx, tally, share, keys):
            check.problem = "the share's proof does not verify for this sheet's encrypted tally"
        else:
            check.valid = True
            if all(v.teller != share.teller for v in valid):
                valid.append(share)
        out.shares.append(check)
    if len(valid) < keys.threshold:
        out.waiting = f"sealed; decrypting: {len(valid)} of {keys.threshold} shares"
        return out
    try:
        numbers = combine(ctx, tally, valid, keys)
    except ProofRejected as e:  # k valid shares always decrypt; kept a state, never a crash
        out.waiting = f"the shares do not decrypt to counts: {e}"
        return out
    out.counts = {o.id: c for o, c in zip(fields.options, numbers, strict=True)}
    return out


def tally_of(fields: CharterFields, counts: dict[str, int]) -> vote_tally.Tally:
    return vote_tally.from_counts(fields.method, counts)
