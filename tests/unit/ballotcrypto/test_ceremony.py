"""Key ceremony: complete, tampered shares caught, complaints answered, the missing named."""

from __future__ import annotations

import dataclasses
import functools
import itertools

import nacl.bindings
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.votes.secret import (
    CeremonyIncomplete,
    Complaint,
    Dealing,
    Justification,
    KeySet,
    ProofRejected,
    check_dealing,
    complaint_for,
    fold,
    group,
    justify,
    teller_secret,
)
from ledger.votes.secret import ceremony as cer
from ledger.votes.secret.errors import BallotEncodingError
from ledger.votes.secret.tally import lagrange_at_zero

from .conftest import Ceremony, det_rng, run_ceremony


def test_complete_ceremony_gives_consistent_keys(ceremony: Ceremony) -> None:
    keys = ceremony.state.keys
    assert ceremony.state.complete and ceremony.state.explain() == "complete"
    assert ceremony.state.qualified == (1, 2, 3, 4, 5)
    for t, x in enumerate(ceremony.secrets, start=1):
        assert group.base(x) == keys.public_shares[t - 1]
    # Any k secret shares interpolate to the same joint secret, whose public key is H.
    for subset in itertools.combinations(range(1, 6), 3):
        lam = lagrange_at_zero(list(subset))
        x = sum(li * ceremony.secrets[t - 1] for li, t in zip(lam, subset, strict=True)) % group.N
        assert group.base(x) == keys.joint_key
    # Fewer than k do not (with overwhelming probability).
    lam = lagrange_at_zero([1, 2])
    assert (
        group.base((lam[0] * ceremony.secrets[0] + lam[1] * ceremony.secrets[1]) % group.N)
        != keys.joint_key
    )


def test_dealings_and_keyset_round_trip(ceremony: Ceremony) -> None:
    for d in ceremony.dealings:
        assert Dealing.from_bytes(d.to_bytes()) == d
    keys = ceremony.state.keys
    assert KeySet.from_bytes(keys.to_bytes()) == keys
    for obj in (Complaint(1, 2, cer.REASON_SHARE), Justification(3, 1, 12345)):
        assert type(obj).from_bytes(obj.to_bytes()) == obj


@functools.cache
def small_ceremony() -> Ceremony:
    return run_ceremony(3, 2, b"flip")


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 300), st.integers(1, 255))
def test_flipped_dealing_byte_never_passes_silently(position: int, xor: int) -> None:
    c = small_ceremony()
    raw = bytearray(c.dealings[0].to_bytes())
    raw[position % len(raw)] ^= xor
    try:
        d = Dealing.from_bytes(bytes(raw))
    except BallotEncodingError:
        return
    # Either the public checks refuse it, or some recipient's box no longer opens / matches.
    complaints = [complaint_for(c.params, d, j + 1, k) for j, k in enumerate(c.keys)]
    assert check_dealing(c.params, d) is not None or any(complaints)


def tamper_share(c: Ceremony, dealer: int, recipient: int) -> Dealing:
    """Dealer re-seals a wrong share for one recipient (a malicious dealer can)."""
    d = c.dealings[dealer - 1]
    secret = cer.box_secret(c.keys[dealer - 1])
    nonce = bytes(24)
    bad = nacl.bindings.crypto_box(
        group.scalar_bytes(42), nonce, cer.box_public(c.params.tellers[recipient - 1]), secret
    )
    boxes = tuple((j, nonce, bad) if j == recipient else (j, n, b) for j, n, b in d.boxes)
    return dataclasses.replace(d, boxes=boxes)


def test_tampered_share_is_caught_and_answered() -> None:
    c = run_ceremony(4, 3, b"tamper")
    dealings = list(c.dealings)
    dealings[1] = tamper_share(c, dealer=2, recipient=3)
    complaint = complaint_for(c.params, dealings[1], 3, c.keys[2])
    assert complaint == Complaint(3, 2, cer.REASON_SHARE)
    assert all(complaint_for(c.params, dealings[1], j, c.keys[j - 1]) is None for j in (1, 2, 4))
    state = fold(c.params, dealings, [complaint])
    assert not state.complete and state.pending == ((2, 3),)
    assert "teller 2 has not answered teller 3's complaint" in state.explain()
    with pytest.raises(CeremonyIncomplete):
        teller_secret(c.params, 1, c.keys[0], dealings, [], state)
    # The dealer answers with the wrong share it sealed: disqualified, the rest go on.
    wrong = justify(c.params, 2, complaint, c.keys[1], dealings[1])
    state = fold(c.params, dealings, [complaint], [wrong])
    assert state.complete and state.qualified == (1, 3, 4) and 2 in state.disqualified
    xs = [teller_secret(c.params, t, c.keys[t - 1], dealings, [wrong], state) for t in (1, 2, 3, 4)]
    assert all(group.base(x) == state.keys.public_shares[t] for t, x in enumerate(xs))


def test_honest_dealer_survives_a_false_complaint(ceremony: Ceremony) -> None:
    c = ceremony
    false = Complaint(4, 1, cer.REASON_BOX)
    answer = justify(c.params, 1, false, c.keys[0], c.dealings[0])
    state = fold(c.params, c.dealings, [false], [answer])
    assert state.complete and state.qualified == (1, 2, 3, 4, 5)
    assert state.keys == c.state.keys
    assert teller_secret(c.params, 4, c.keys[3], c.dealings, [answer], state) == c.secrets[3]


def test_missing_teller_is_named(ceremony: Ceremony) -> None:
    state = fold(ceremony.params, ceremony.dealings[:2] + ceremony.dealings[3:])
    assert not state.complete and state.missing == (3,)
    assert "no dealing yet from teller(s) 3" in state.explain()


def test_fold_is_order_independent(ceremony: Ceremony) -> None:
    complaint = Complaint(2, 5, cer.REASON_BOX)
    answer = justify(ceremony.params, 5, complaint, ceremony.keys[4], ceremony.dealings[4])
    a = fold(ceremony.params, ceremony.dealings, [complaint], [answer])
    b = fold(ceremony.params, ceremony.dealings[::-1], [complaint, complaint], [answer])
    assert a == b


def test_bad_dealings_are_disqualified(ceremony: Ceremony) -> None:
    c = ceremony
    d = c.dealings[0]
    forged_pok = dataclasses.replace(d, proof=(d.proof[0], (d.proof[1] + 1) % group.N))
    assert "proof of knowledge" in check_dealing(c.params, forged_pok)
    copied = dataclasses.replace(c.dealings[1], dealer=1)  # teller 1 copies teller 2's commitments
    assert "proof of knowledge" in check_dealing(c.params, copied)
    short = dataclasses.replace(d, boxes=d.boxes[:-1])
    assert "one sealed share per teller" in check_dealing(c.params, short)
    state = fold(c.params, [forged_pok, *c.dealings[1:]])
    assert state.qualified == (2, 3, 4, 5) and state.complete
    twice = fold(c.params, [*c.dealings, copied])
    assert 1 in twice.disqualified and "two different dealings" in twice.disqualified[1]


def test_teller_cannot_deal_with_another_key(ceremony: Ceremony) -> None:
    with pytest.raises(BallotEncodingError):
        cer.deal(ceremony.params, 2, ceremony.keys[0], det_rng(b"x"))
    with pytest.raises(BallotEncodingError):
        cer.deal(ceremony.params, 0, ceremony.keys[4], det_rng(b"x"))  # not the last teller's slot


def test_unopenable_share_is_rejected(ceremony: Ceremony) -> None:
    d = ceremony.dealings[0]
    garbled = dataclasses.replace(d, boxes=tuple((j, n, bytes(48)) for j, n, _ in d.boxes))
    with pytest.raises(ProofRejected, match="does not open"):
        cer.open_share(ceremony.params, garbled, 2, ceremony.keys[1])
    assert complaint_for(ceremony.params, garbled, 2, ceremony.keys[1]) == Complaint(
        2, 1, cer.REASON_BOX
    )
