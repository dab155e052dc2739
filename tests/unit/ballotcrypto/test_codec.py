"""Every object: encode/decode round-trips, one encoding per value, junk refused cleanly."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.votes.secret import (
    Ballot,
    Complaint,
    Dealing,
    DecryptionShare,
    EncryptedTally,
    Justification,
    KeySet,
    group,
)
from ledger.votes.secret.errors import BallotEncodingError

scalars = st.integers(0, group.N - 1)
points = st.integers(1, group.N - 1).map(group.base)
proofs = st.tuples(scalars, scalars)
small = st.integers(1, 6)


@st.composite
def ballots(draw: st.DrawFn) -> Ballot:
    n = draw(small)
    cts = tuple((draw(points), draw(points)) for _ in range(n))
    ops = tuple((draw(proofs), draw(proofs)) for _ in range(n))
    return Ballot(cts, ops, tuple(draw(st.lists(proofs, max_size=4))))


@st.composite
def dealings(draw: st.DrawFn) -> Dealing:
    n = draw(small)
    boxes = tuple(
        (j, draw(st.binary(min_size=24, max_size=24)), draw(st.binary(min_size=48, max_size=48)))
        for j in range(1, n + 1)
    )
    return Dealing(
        draw(st.integers(1, n)),
        tuple(draw(st.lists(points, min_size=1, max_size=4))),
        draw(proofs),
        boxes,
    )


objects = st.one_of(
    ballots(),
    dealings(),
    st.builds(
        EncryptedTally,
        st.lists(st.tuples(points, points), max_size=5).map(tuple),
        st.integers(0, 2**64 - 1),
    ),
    st.builds(
        DecryptionShare,
        st.integers(1, 255),
        st.lists(st.tuples(points, proofs), max_size=5).map(tuple),
    ),
    st.lists(points, min_size=2, max_size=6).flatmap(
        lambda ps: st.builds(
            KeySet, st.integers(1, len(ps) - 1), st.just(ps[0]), st.just(tuple(ps[1:]))
        )
    ),
    st.builds(Complaint, st.integers(0, 255), st.integers(0, 255), st.sampled_from([1, 2])),
    st.builds(Justification, st.integers(0, 255), st.integers(0, 255), scalars),
)


@settings(max_examples=150, deadline=None)
@given(objects)
def test_round_trip_is_exact(obj: object) -> None:
    raw = obj.to_bytes()  # type: ignore[attr-defined]
    back = type(obj).from_bytes(raw)  # type: ignore[attr-defined]
    assert back == obj
    assert back.to_bytes() == raw


KINDS = [Ballot, Dealing, EncryptedTally, DecryptionShare, KeySet, Complaint, Justification]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(KINDS), st.binary(max_size=200))
def test_junk_is_refused_with_our_error(kind: type, junk: bytes) -> None:
    raw = (
        bytes(
            [
                ord(
                    {
                        Ballot: "B",
                        Dealing: "d",
                        EncryptedTally: "T",
                        DecryptionShare: "D",
                        KeySet: "K",
                        Complaint: "c",
                        Justification: "j",
                    }[kind]
                ),
                1,
            ]
        )
        + junk
    )
    try:
        obj = kind.from_bytes(raw)
    except BallotEncodingError:
        return
    assert obj.to_bytes() == raw  # anything accepted is the one canonical encoding


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_version_is_refused(kind: type) -> None:
    with pytest.raises(BallotEncodingError, match=r"version|kind"):
        kind.from_bytes(b"B\x02")


def test_identity_only_where_a_format_allows_it() -> None:
    """O (33 zero bytes) is a valid tally or decryption-share point; never a key or commitment."""
    o, g = group.IDENTITY, group.G
    off = bytes([3]) + next(
        x.to_bytes(32, "big")
        for x in range(100)
        if not group.is_group_element(bytes([3]) + x.to_bytes(32, "big"))
    )
    tally = EncryptedTally(((o, o), (g, o)), 0)
    assert EncryptedTally.from_bytes(tally.to_bytes()) == tally
    share = DecryptionShare(1, ((o, (0, 0)),))
    assert DecryptionShare.from_bytes(share.to_bytes()) == share
    refused = [
        (EncryptedTally, EncryptedTally(((off, o),), 1).to_bytes()),
        (DecryptionShare, DecryptionShare(1, ((off, (0, 0)),)).to_bytes()),
        (KeySet, KeySet(1, o, (g,)).to_bytes()),
        (KeySet, KeySet(1, g, (off,)).to_bytes()),
        (Dealing, Dealing(1, (o,), (0, 0), ((1, bytes(24), bytes(48)),)).to_bytes()),
        (Dealing, Dealing(1, (off,), (0, 0), ((1, bytes(24), bytes(48)),)).to_bytes()),
    ]
    for kind, raw in refused:
        with pytest.raises(BallotEncodingError):
            kind.from_bytes(raw)
