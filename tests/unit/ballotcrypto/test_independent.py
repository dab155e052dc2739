"""The whole flow re-checked by the independent plain-integer verifier (tests/.../independent.py)."""

from __future__ import annotations

import random

from ledger.votes.secret import (
    BallotSpec,
    DecryptionShare,
    VoteContext,
    combine,
    decryption_share,
    encrypt,
    verify_and_aggregate,
)

from . import independent as ref
from .conftest import Ceremony

VOTE = bytes([3]) * 32


def test_independent_verifier_agrees_end_to_end(ceremony: Ceremony) -> None:
    c = ceremony
    keyset = c.state.keys
    k, joint, public_shares = ref.parse_keyset(keyset.to_bytes())
    assert (joint, public_shares) == ref.ceremony_keys(
        c.params.ceremony_id,
        c.params.threshold,
        list(c.params.tellers),
        [d.to_bytes() for d in c.dealings],
    )
    spec = BallotSpec.plurality(3)
    rspec = ref.Spec(3, 1, 1)
    ctx = VoteContext(VOTE, joint, spec)
    rng = random.Random(5)
    items, truth = [], [0, 0, 0]
    for v in range(6):
        choice, w = rng.randrange(3), rng.choice([1, 2, 3])
        truth[choice] += w
        voter = bytes([v]) * 32
        items.append((voter, encrypt(ctx, voter, [int(i == choice) for i in range(3)]), w))
    tally, rejected = verify_and_aggregate(ctx, items)
    assert rejected == []

    # Ballots and the homomorphic aggregation.
    checked = [
        (ref.verify_ballot(VOTE, joint, rspec, voter, b.to_bytes()), w) for voter, b, w in items
    ]
    assert all(cts is not None for cts, _ in checked)
    assert ref.aggregate(rspec, checked) == ref.parse_tally(tally.to_bytes())
    cts, weight = ref.parse_tally(tally.to_bytes())

    # Decryption shares: the honest ones pass, a forged one does not.
    rctx = ref.context_digest(VOTE, joint, rspec)
    shares = [decryption_share(ctx, tally, t + 1, x) for t, x in enumerate(c.secrets)]
    good = {}
    for s in shares[1:4]:
        out = ref.verify_decryption_share(rctx, cts, public_shares, s.to_bytes())
        assert out is not None
        good[out[0]] = out[1]
    forged = DecryptionShare(
        5, ((shares[0].parts[0][0], shares[4].parts[0][1]), shares[4].parts[1])
    )
    assert ref.verify_decryption_share(rctx, cts, public_shares, forged.to_bytes()) is None

    # Counts: what the implementation announces is what the shares prove.
    counts = combine(ctx, tally, shares[1:4], keyset)
    assert counts == truth
    assert ref.check_counts(rspec, cts, weight, good, k, counts)
    assert not ref.check_counts(
        rspec, cts, weight, good, k, [counts[0] + 1, counts[1] - 1, counts[2]]
    )


def test_independent_verifier_checks_approval_with_cap(ceremony: Ceremony) -> None:
    joint = ceremony.state.keys.joint_key
    ctx = VoteContext(VOTE, joint, BallotSpec.approval(3, 2))
    voter = bytes([9]) * 32
    b = encrypt(ctx, voter, [1, 0, 1])
    assert ref.verify_ballot(VOTE, joint, ref.Spec(3, 0, 2), voter, b.to_bytes()) is not None
    assert ref.verify_ballot(VOTE, joint, ref.Spec(3, 0, 3), voter, b.to_bytes()) is None
    assert ref.verify_ballot(bytes(32), joint, ref.Spec(3, 0, 2), voter, b.to_bytes()) is None
