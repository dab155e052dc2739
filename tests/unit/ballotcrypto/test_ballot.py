"""Ballots: a fixed vector, round trips, and every cheat we know of rejected."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.votes.secret import Ballot, BallotSpec, VoteContext, encrypt, group, proofs, verify
from ledger.votes.secret import ballot as ballots
from ledger.votes.secret.errors import BallotEncodingError

from . import independent as ref
from .conftest import det_rng
from .test_group import off_curve_x

VOTE = bytes(range(32))
VOTER = bytes(range(32, 64))
KEY = group.base(0x1234567890ABCDEF)
KAT_KEY = "03f973a0b87062c389d125d8199e803b832b6ac6bf7867a4f6cd87506060fc4c58"
# encrypt(plurality of 2, VOTE, VOTER, [0, 1]) with det_rng(b"kat-2"): 198 bytes.
KAT_BALLOT = (
    "42010103eb2956a272605c30bf62bfc44a3a0730933e1fd5befc69b4adce2e5414fdfbe2023a52e3052bc65bcf"
    "056f73f2c419afdb968a92b08c28cb201bcb6480cad768c72d85c68308f563161e486d29969e006260ba75b6cf"
    "aab900955ef9c88fe48955372b9d3f44b88c629169cd67489906a7f02a9e54a053483de8fd37730b8dfd4cfb8d"
    "ac9f63dceacee40dbf418c03e8232e9b0cab75d9d9721f9a8b293472b22ee1c85017a1b969bb39515f19b097c9"
    "e60207e2b982d517f05509e79a7b88239800"
)
KAT_TRACKER = "3dce406e6ed76499713a668be5e38dad23c423a0dda2afaf384ca2dc622dbca5"


def ctx_for(spec: BallotSpec, vote: bytes = VOTE) -> VoteContext:
    return VoteContext(vote, KEY, spec)


def ref_spec(spec: BallotSpec) -> ref.Spec:
    return ref.Spec(spec.options, spec.min_total, spec.max_total)


def test_known_answer_ballot() -> None:
    assert KEY.hex() == KAT_KEY
    ctx = ctx_for(BallotSpec.plurality(2))
    b = encrypt(ctx, VOTER, [0, 1], det_rng(b"kat-2"))
    assert b.to_bytes().hex() == KAT_BALLOT
    assert b.tracker.hex() == KAT_TRACKER
    assert len(b.to_bytes()) == 198
    decoded = Ballot.from_bytes(bytes.fromhex(KAT_BALLOT))
    assert verify(ctx, VOTER, decoded)
    assert ref.verify_ballot(VOTE, KEY, ref.Spec(2, 1, 1), VOTER, bytes.fromhex(KAT_BALLOT))


@pytest.mark.parametrize(
    ("spec", "sent", "sum_values"),
    [
        (BallotSpec.plurality(2), 1, ()),
        (BallotSpec.plurality(3), 2, (0, 1)),
        (BallotSpec(5, 2, 2), 4, (1, 2)),
        (BallotSpec.approval(3), 3, ()),
        (BallotSpec.approval(4, 2), 4, (0, 1, 2)),
        (BallotSpec(4, 1, 4), 4, (1, 2, 3, 4)),
    ],
)
def test_what_a_ballot_carries(spec: BallotSpec, sent: int, sum_values: tuple[int, ...]) -> None:
    assert spec.sent == sent
    assert spec.sum_values == sum_values
    assert tuple(ref_spec(spec).sum_values) == sum_values  # the guide's rule, written again


@pytest.mark.parametrize(
    "args", [(1, 1, 1), (3, 0, 4), (3, 2, 1), (3, 0, 0), (3, 3, 3), (65, 1, 1)]
)
def test_spec_refuses_nonsense(args: tuple[int, int, int]) -> None:
    with pytest.raises(BallotEncodingError):
        BallotSpec(*args)


@pytest.mark.parametrize("selection", [[1], [1, 1], [0, 0], [2, -1], [0, 1, 0]])
def test_selection_must_fit_the_spec(selection: list[int]) -> None:
    with pytest.raises(BallotEncodingError):
        encrypt(ctx_for(BallotSpec.plurality(2)), VOTER, selection)


specs = st.one_of(
    st.integers(2, 4).map(BallotSpec.plurality),
    st.integers(2, 4).flatmap(
        lambda m: st.integers(1, m).map(lambda cap: BallotSpec.approval(m, cap))
    ),
)


@settings(max_examples=40, deadline=None)
@given(specs, st.data())
def test_round_trip_and_verify(spec: BallotSpec, data: st.DataObject) -> None:
    if spec.exact:
        chosen = {data.draw(st.integers(0, spec.options - 1))}
    else:
        chosen = set(
            data.draw(
                st.lists(st.integers(0, spec.options - 1), unique=True, max_size=spec.max_total)
            )
        )
    selection = [int(i in chosen) for i in range(spec.options)]
    ctx = ctx_for(spec)
    b = encrypt(ctx, VOTER, selection)
    raw = b.to_bytes()
    assert Ballot.from_bytes(raw) == b
    assert Ballot.from_bytes(raw).to_bytes() == raw
    assert verify(ctx, VOTER, b)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 197), st.integers(1, 255))
def test_any_flipped_byte_is_refused(position: int, xor: int) -> None:
    raw = bytearray(bytes.fromhex(KAT_BALLOT))
    raw[position] ^= xor
    try:
        b = Ballot.from_bytes(bytes(raw))
    except BallotEncodingError:
        return
    assert not verify(ctx_for(BallotSpec.plurality(2)), VOTER, b)


def test_truncated_or_padded_bytes_are_refused() -> None:
    raw = bytes.fromhex(KAT_BALLOT)
    for bad in (raw[:-1], raw + b"\x00", b"", raw[:2]):
        with pytest.raises(BallotEncodingError):
            Ballot.from_bytes(bad)
    with pytest.raises(BallotEncodingError):
        Ballot.from_bytes(b"T" + raw[1:])  # another object's kind byte


def test_proof_for_another_vote_or_voter_is_rejected() -> None:
    spec = BallotSpec.plurality(3)
    b = encrypt(ctx_for(spec), VOTER, [0, 1, 0])
    assert verify(ctx_for(spec), VOTER, b)
    assert not verify(ctx_for(spec, vote=bytes(32)), VOTER, b)  # replayed into another vote
    assert not verify(ctx_for(spec), bytes(32), b)  # copied by another voter
    assert not verify(ctx_for(BallotSpec.approval(3)), VOTER, b)  # another spec
    other_key = VoteContext(VOTE, group.base(99), spec)
    assert not verify(other_key, VOTER, b)
    swapped = Ballot(b.ciphertexts[::-1], b.option_proofs[::-1], b.sum_proof)
    assert not verify(ctx_for(spec), VOTER, swapped)  # proofs are bound to their option


def lying_ballot(
    spec: BallotSpec, values: list[int], claimed: list[int], claimed_sum: int | None
) -> Ballot:
    """A cheating voter: encrypts ``values`` but runs the prover as if they were ``claimed``."""
    ctx = ctx_for(spec)
    rs = [group.random_scalar() for _ in values]
    cts = tuple(
        (group.base(r), group.add(group.small(v), group.mul_secret(r, KEY)))
        for v, r in zip(values, rs, strict=True)
    )
    option_proofs = tuple(
        tuple(
            proofs.prove_choice("option", (ctx.digest, VOTER, group.u32(j)), KEY, ct, r, (0, 1), c)
        )
        for j, (ct, r, c) in enumerate(zip(cts, rs, claimed, strict=True))
    )
    sum_proof: tuple = ()
    if spec.sum_values:
        total = (group.total([a for a, _ in cts]), group.total([b for _, b in cts]))
        sum_proof = tuple(
            proofs.prove_choice(
                "sum", (ctx.digest, VOTER), KEY, total, sum(rs), spec.sum_values, claimed_sum
            )
        )
    return Ballot(cts, option_proofs, sum_proof)  # type: ignore[arg-type]


def test_ballot_encrypting_two_is_rejected() -> None:
    spec = BallotSpec.approval(2)
    honest = lying_ballot(spec, [1, 0], [1, 0], None)
    assert verify(ctx_for(spec), VOTER, honest)  # the cheater's machinery is otherwise sound
    cheat = lying_ballot(spec, [2, 0], [1, 0], None)
    assert not verify(ctx_for(spec), VOTER, cheat)
    assert ref.verify_ballot(VOTE, KEY, ref_spec(spec), VOTER, cheat.to_bytes()) is None


def test_plurality_vote_for_two_options_is_rejected() -> None:
    # [1, 1] sent means the derived third option is -1: two votes for the price of one.
    spec = BallotSpec.plurality(3)
    cheat = lying_ballot(spec, [1, 1], [1, 1], 1)
    assert not verify(ctx_for(spec), VOTER, cheat)
    assert ref.verify_ballot(VOTE, KEY, ref_spec(spec), VOTER, cheat.to_bytes()) is None


def test_approval_over_the_cap_is_rejected() -> None:
    spec = BallotSpec.approval(3, 2)
    assert verify(ctx_for(spec), VOTER, lying_ballot(spec, [1, 1, 0], [1, 1, 0], 2))
    assert not verify(ctx_for(spec), VOTER, lying_ballot(spec, [1, 1, 1], [1, 1, 1], 2))


def test_points_off_the_curve_are_rejected() -> None:
    spec = BallotSpec.plurality(2)
    b = encrypt(ctx_for(spec), VOTER, [1, 0])
    ((a, bb),) = b.ciphertexts
    off = bytes([2]) + off_curve_x().to_bytes(32, "big")
    for bad_ct in ((off, bb), (a, off)):
        tampered = Ballot((bad_ct,), b.option_proofs, ())
        decoded = Ballot.from_bytes(tampered.to_bytes())  # canonical encodings: decoding passes
        assert not verify(ctx_for(spec), VOTER, decoded)  # verify parses: not on the curve
        assert ref.verify_ballot(VOTE, KEY, ref_spec(spec), VOTER, tampered.to_bytes()) is None
    # x = 1 is on the curve; x = 1 + p is the same x, written non-canonically.
    x_plus_p = bytes([2]) + (1 + group.FIELD_P).to_bytes(32, "big")
    for bad_ct in (
        (group.IDENTITY, bb),
        (a, group.IDENTITY),
        (b"\x04" + a[1:], bb),
        (x_plus_p, bb),
    ):
        with pytest.raises(BallotEncodingError):
            Ballot.from_bytes(Ballot((bad_ct,), b.option_proofs, ()).to_bytes())


def test_all_ciphertexts_derives_the_last_option() -> None:
    spec = BallotSpec.plurality(3)
    secret = 777
    ctx = VoteContext(VOTE, group.base(secret), spec)
    b = encrypt(ctx, VOTER, [0, 0, 1])
    plain = []
    for a, bb in ballots.all_ciphertexts(spec, b):
        m = group.sub(bb, group.mul(secret, a))
        plain.append(next(v for v in range(3) if group.small(v) == m))
    assert plain == [0, 0, 1]


@pytest.mark.parametrize(
    ("spec", "selection", "size"),
    [
        (BallotSpec.plurality(2), [1, 0], 198),
        (BallotSpec.plurality(3), [1, 0, 0], 520),
        (BallotSpec.approval(4), [1, 1, 0, 0], 780),
        (BallotSpec.approval(4, 2), [1, 1, 0, 0], 972),
    ],
)
def test_sizes_stated_in_the_guide(spec: BallotSpec, selection: list[int], size: int) -> None:
    assert len(encrypt(ctx_for(spec), VOTER, selection).to_bytes()) == size
