"""Summaries: the compact heads exchange leads to exactly the plan that full heads give.

Cross-check: for random feeds (some ahead, some behind, some forked), the
remote heads rebuilt from 4-byte prefixes of only the differing buckets give
the same :func:`ledger.courier.frontier.plan` as the full remote heads vector.
"""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.courier.frontier import plan
from ledger.store import Head
from mesh.radio import summary


def _id(author: bytes, seq: int, branch: int) -> bytes:
    return hashlib.blake2b(
        author + seq.to_bytes(8, "big") + bytes([branch]), digest_size=32
    ).digest()


feeds = st.lists(
    st.tuples(
        st.binary(min_size=32, max_size=32),
        st.integers(0, 12),  # local seq
        st.integers(0, 12),  # remote seq
        st.integers(1, 13),  # remote forks from this seq (13: never)
    ),
    min_size=1,
    max_size=24,
    unique_by=lambda t: t[0],
)


def _vectors(spec):  # type: ignore[no-untyped-def]
    local, remote = {}, {}
    for author, lseq, rseq, fork_at in spec:
        if lseq:
            local[author] = Head(lseq, _id(author, lseq, 0))
        if rseq:
            remote[author] = Head(rseq, _id(author, rseq, 1 if rseq >= fork_at else 0))
    chains = {a: lseq for a, lseq, _, _ in spec}

    def id_at(author: bytes, seq: int) -> bytes | None:
        return _id(author, seq, 0) if 1 <= seq <= chains.get(author, 0) else None

    return local, remote, id_at


@settings(max_examples=150, deadline=None)
@given(feeds)
def test_rebuilt_heads_give_the_same_plan_as_full_heads(spec) -> None:  # type: ignore[no-untyped-def]
    local, remote, id_at = _vectors(spec)
    nb = summary.bucket_count(len(local))
    mine = summary.bucket_digests(local, {}, nb)
    theirs = summary.bucket_digests(remote, {}, nb)
    diff = summary.differing(mine, theirs)
    msg = summary.decode_heads(summary.encode_heads(remote, {}, nb, diff, reply=True))
    assert msg.buckets == frozenset(diff) and msg.reply
    believed = summary.merge_believed(msg, summary.rebuild_remote(msg, local, id_at), local)
    assert plan(local, believed, id_at) == plan(local, remote, id_at)


def test_equal_vectors_have_equal_buckets_and_one_change_shows_in_one_bucket() -> None:
    local = {bytes([i]) * 32: Head(3, _id(bytes([i]) * 32, 3, 0)) for i in range(16)}
    nb = summary.bucket_count(len(local))
    assert nb == 8
    changed = dict(local)
    a = bytes([5]) * 32
    changed[a] = Head(4, _id(a, 4, 0))
    diff = summary.differing(
        summary.bucket_digests(local, {}, nb), summary.bucket_digests(changed, {}, nb)
    )
    assert diff == [summary.bucket_of(a, nb)]


def test_heads_message_of_one_bucket_is_small() -> None:
    local = {bytes([i]) * 32: Head(200, bytes([i]) * 32) for i in range(40)}
    nb = summary.bucket_count(len(local))
    one = summary.encode_heads(local, {}, nb, [3], reply=False)
    everything = summary.encode_heads(local, {}, nb, range(nb), reply=False)
    assert len(one) < 40 < len(everything)


def test_fork_proofs_are_carried_and_compared() -> None:
    a = b"\x07" * 32
    forks = {a: (5, b"\x01" * 32, b"\x02" * 32)}
    heads = {a: Head(4, b"\x03" * 32)}
    msg = summary.decode_heads(summary.encode_heads(heads, forks, 1, [0], reply=False))
    theirs = summary.remote_forks(msg, forks)
    assert theirs[a][0] == 5 and theirs[a][1][:4] == b"\x01" * 4
    from mesh.sync import forks_to_send

    assert forks_to_send(forks, theirs) == []  # the same proof: nothing to send
    assert forks_to_send(forks, {}) == [a]
    assert forks_to_send({a: (3, b"\x09" * 32, b"\x0a" * 32)}, theirs) == [a]  # ours is earlier
