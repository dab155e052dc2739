"""Pure sync decisions: missing ranges, fork evidence, ordering, fork proofs."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from ledger.store import Head
from mesh import sync

A, B, C = b"a" * 32, b"b" * 32, b"c" * 32


def ids(author: bytes, n: int) -> dict[int, bytes]:
    return {i: bytes([i % 256]) * 31 + author[:1] for i in range(1, n + 1)}


def test_missing_ranges_basic() -> None:
    chain = {A: ids(A, 10), B: ids(B, 5), C: ids(C, 3)}
    local = {A: Head(10, chain[A][10]), B: Head(5, chain[B][5]), C: Head(3, chain[C][3])}
    remote = {A: Head(4, chain[A][4]), B: Head(5, chain[B][5])}
    out = sync.missing_ranges(local, remote, lambda a, s: chain[a].get(s))
    assert out == [sync.Range(A, 5, 10), sync.Range(C, 1, 3)]
    assert sync.count_missing(remote, local) == 9
    assert sync.missing_ranges(remote, local, lambda a, s: chain[a].get(s)) == []


def test_fork_sends_the_conflicting_entry() -> None:
    local_ids = ids(A, 6)
    local = {A: Head(6, local_ids[6])}
    remote = {A: Head(4, b"X" * 32)}  # their entry 4 is not ours
    out = sync.missing_ranges(local, remote, lambda a, s: local_ids.get(s), {A: 9})
    assert out == [sync.Range(A, 4, 4, fork=True)]  # fork evidence ignores what was promised
    same_seq = sync.missing_ranges(
        {A: Head(4, local_ids[4])}, remote, lambda a, s: local_ids.get(s)
    )
    assert same_seq == [sync.Range(A, 4, 4, fork=True)]


def test_promised_ranges_are_not_resent() -> None:
    chain = ids(A, 10)
    out = sync.missing_ranges(
        {A: Head(10, chain[10])}, {A: Head(2, chain[2])}, lambda a, s: chain.get(s), {A: 7}
    )
    assert out == [sync.Range(A, 8, 10)]


def test_forks_to_send() -> None:
    assert sync.forks_to_send(
        {A: (3, b"1", b"2"), B: (5, b"1", b"2")}, {A: (3, b"1", b"2"), B: (9, b"x", b"y")}
    ) == [B]


@given(
    st.dictionaries(st.sampled_from([A, B, C]), st.integers(0, 30)),
    st.dictionaries(st.sampled_from([A, B, C]), st.integers(0, 30)),
)
def test_ranges_exactly_cover_the_difference(
    local_n: dict[bytes, int], remote_n: dict[bytes, int]
) -> None:
    chains = {a: ids(a, 40) for a in (A, B, C)}
    local = {a: Head(n, chains[a][n]) for a, n in local_n.items() if n}
    remote = {a: Head(n, chains[a][n]) for a, n in remote_n.items() if n}
    out = sync.missing_ranges(local, remote, lambda a, s: chains[a].get(s))
    covered = {(r.author, s) for r in out for s in range(r.start, r.end + 1)}
    expected = {
        (a, s)
        for a, h in local.items()
        for s in range(remote[a].seq + 1 if a in remote else 1, h.seq + 1)
    }
    assert covered == expected


def test_choose_peer_is_uniform_and_safe() -> None:
    rng = random.Random(1)
    assert sync.choose_peer([], rng) is None
    picks = {sync.choose_peer([A, B, C], rng) for _ in range(100)}
    assert picks == {A, B, C}
