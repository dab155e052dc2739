"""Tally: weighted counts right from any k shares; bad shares and bad ballots rejected and counted."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.votes.secret import (
    Ballot,
    BallotSpec,
    DecryptionShare,
    EncryptedTally,
    ProofRejected,
    VoteContext,
    aggregate,
    combine,
    decryption_share,
    encrypt,
    group,
    small_log,
    verify_and_aggregate,
    verify_share,
)
from ledger.votes.secret.errors import BallotEncodingError

from .conftest import Ceremony

VOTE = bytes([7]) * 32


def cast(ctx: VoteContext, n: int, seed: int) -> tuple[list[tuple[bytes, Ballot, int]], list[int]]:
    items, truth, _ = cast_with_selections(ctx, n, seed)
    return items, truth


def cast_with_selections(
    ctx: VoteContext, n: int, seed: int
) -> tuple[list[tuple[bytes, Ballot, int]], list[int], list[list[int]]]:
    rng = random.Random(seed)
    selections = []
    m = ctx.spec.options
    truth = [0] * m
    items = []
    for v in range(n):
        w = rng.choice([1, 1, 2, 5])
        if ctx.spec.exact:
            chosen = {rng.randrange(m)}
        else:
            chosen = set(rng.sample(range(m), rng.randint(ctx.spec.min_total, ctx.spec.max_total)))
        sel = [int(i in chosen) for i in range(m)]
        for i in chosen:
            truth[i] += w
        voter = v.to_bytes(32, "little")
        items.append((voter, encrypt(ctx, voter, sel), w))
        selections.append(sel)
    return items, truth, selections


@pytest.mark.parametrize(
    "spec", [BallotSpec.plurality(2), BallotSpec.plurality(3), BallotSpec.approval(3, 2)]
)
def test_weighted_counts_from_any_k_shares(ceremony: Ceremony, spec: BallotSpec) -> None:
    ctx = VoteContext(VOTE, ceremony.state.keys.joint_key, spec)
    items, truth = cast(ctx, 12, seed=spec.options + spec.max_total)
    tally, rejected = verify_and_aggregate(ctx, items)
    assert rejected == [] and tally.total_weight == sum(w for _, _, w in items)
    assert EncryptedTally.from_bytes(tally.to_bytes()) == tally
    shares = [decryption_share(ctx, tally, t + 1, x) for t, x in enumerate(ceremony.secrets)]
    for s in shares:
        assert DecryptionShare.from_bytes(s.to_bytes()) == s
        assert verify_share(ctx, tally, s, ceremony.state.keys)
    for subset in itertools.combinations(shares, 3):
        assert combine(ctx, tally, subset, ceremony.state.keys) == truth


def test_rejected_ballots_are_counted_out(ceremony: Ceremony) -> None:
    ctx = VoteContext(VOTE, ceremony.state.keys.joint_key, BallotSpec.plurality(2))
    items, truth, selections = cast_with_selections(ctx, 6, seed=3)
    _, b, w = items[2]
    items[2] = (bytes(32), b, w)  # someone else's ballot replayed under another voter
    tally, rejected = verify_and_aggregate(ctx, items)
    assert rejected == [2]
    expected = [t - w * s for t, s in zip(truth, selections[2], strict=True)]
    shares = [decryption_share(ctx, tally, t + 1, x) for t, x in enumerate(ceremony.secrets)]
    assert combine(ctx, tally, shares, ceremony.state.keys) == expected


def test_bad_decryption_shares_are_rejected_and_named(ceremony: Ceremony) -> None:
    keys = ceremony.state.keys
    ctx = VoteContext(VOTE, keys.joint_key, BallotSpec.plurality(2))
    items, truth = cast(ctx, 5, seed=9)
    tally = aggregate(ctx, [(b, w) for _, b, w in items])
    shares = [decryption_share(ctx, tally, t + 1, x) for t, x in enumerate(ceremony.secrets)]
    d, proof = shares[0].parts[0]
    off_by_g = DecryptionShare(1, ((group.add(d, group.G), proof),))
    wrong_secret = decryption_share(ctx, tally, 2, ceremony.secrets[1] + 1)
    stolen = DecryptionShare(3, shares[0].parts)  # teller 1's share claimed by teller 3
    other_ctx = VoteContext(bytes(32), keys.joint_key, BallotSpec.plurality(2))
    other_vote = decryption_share(other_ctx, tally, 4, ceremony.secrets[3])
    off_curve_x = next(
        x for x in range(100) if not group.is_group_element(b"\x02" + bytes(31) + bytes([x]))
    )
    off_curve = DecryptionShare(1, ((b"\x02" + bytes(31) + bytes([off_curve_x]), proof),))
    identity = DecryptionShare(1, ((group.IDENTITY, proof),))  # claims x_1·A = O
    bad = [off_by_g, wrong_secret, stolen, other_vote, off_curve, identity]
    assert not any(verify_share(ctx, tally, s, keys) for s in bad)
    with pytest.raises(
        ProofRejected,
        match=r"1 valid decryption share\(s\), 3 needed; rejected from teller\(s\) \[1, 2, 3, 4\]",
    ):
        combine(ctx, tally, [*bad, shares[4]], keys)
    # With the bad ones mixed in, any k good ones still give the true counts.
    assert combine(ctx, tally, [*bad, shares[4], shares[1], shares[0]], keys) == truth


def test_tally_of_another_vote_does_not_decrypt(ceremony: Ceremony) -> None:
    keys = ceremony.state.keys
    ctx = VoteContext(VOTE, keys.joint_key, BallotSpec.plurality(2))
    items, _ = cast(ctx, 4, seed=1)
    tally = aggregate(ctx, [(b, w) for _, b, w in items])
    other = aggregate(ctx, [(b, w) for _, b, w in items[:2]])
    shares = [decryption_share(ctx, other, t + 1, x) for t, x in enumerate(ceremony.secrets)]
    assert not any(verify_share(ctx, tally, s, keys) for s in shares)


def test_empty_and_zero_weight_tallies(ceremony: Ceremony) -> None:
    keys = ceremony.state.keys
    ctx = VoteContext(VOTE, keys.joint_key, BallotSpec.plurality(3))
    items, _ = cast(ctx, 2, seed=2)
    tally = aggregate(ctx, [(b, 0) for _, b, _ in items])
    assert tally.total_weight == 0 and all(
        ct == (group.IDENTITY, group.IDENTITY) for ct in tally.ciphertexts
    )
    shares = [decryption_share(ctx, tally, t + 1, x) for t, x in enumerate(ceremony.secrets)]
    assert combine(ctx, tally, shares, keys) == [0, 0, 0]
    with pytest.raises(BallotEncodingError):
        aggregate(ctx, [(items[0][1], -1)])


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 5000), st.integers(0, 5000))
def test_small_log_finds_every_count_in_range(m: int, extra: int) -> None:
    assert small_log(group.base(m), m + extra) == m


def test_small_log_refuses_out_of_range() -> None:
    with pytest.raises(ProofRejected):
        small_log(group.base(101), 100)
    with pytest.raises(ProofRejected):
        small_log(group.base(2**40), 10_000)
