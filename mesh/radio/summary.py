"""What each side has, in as few bytes as the air allows (pure, no I/O).

Three levels, each sent only when the one before it shows a difference:

1. a 6-byte digest of the effective heads and fork proofs (:func:`digest`):
   equal digests, equal ledgers; in sync, this is all that goes on the air;
2. the same digest plus one 2-byte digest per *bucket* of authors
   (authors fall into ``nb`` buckets by their key's first byte);
3. the heads of the differing buckets only, each as a 4-byte author prefix,
   the seq and a 4-byte id prefix (:func:`encode_heads`).

From level 3 the receiver rebuilds the other side's heads vector in the form
:func:`ledger.courier.frontier.plan` takes (:func:`rebuild_remote`), so the decision of
what the other side lacks is the same one the mesh and courier bundles make.
A prefix that does not match our entry at that seq is reported as a
different id, which the plan treats as a fork (our entry is sent, the other
side's store then keeps the proof).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from ledger.store import Head
from mesh.radio import wire

PREFIX = 4
MAX_BUCKETS = wire.MAX_SUMMARY_BUCKETS
#: An id no entry has: "the other side holds something else at this seq".
OTHER_ID = b"\xff" * 32
#: An id we cannot know (the other side is ahead of us on that feed).
UNKNOWN_ID = b"\x00" * 32

#: author -> (fork seq, id a, id b)
Forks = Mapping[bytes, tuple[int, bytes, bytes]]


def digest(store_digest: bytes) -> bytes:
    """Level 1: the store's 32-byte heads-and-forks digest, cut to 6 bytes."""
    return store_digest[: wire.DIGEST_BYTES]


def bucket_count(authors: int) -> int:
    """About two authors per bucket, a power of two from 1 to 64."""
    nb = 1
    while nb * 4 <= authors and nb < MAX_BUCKETS:
        nb *= 2
    return nb


def bucket_of(author: bytes, nb: int) -> int:
    return author[0] % nb


def bucket_digests(heads: Mapping[bytes, Head], forks: Forks, nb: int) -> tuple[bytes, ...]:
    """Level 2: one 2-byte digest per bucket."""
    hashers = [hashlib.blake2b(digest_size=2, person=b"pg-radio-bucket") for _ in range(nb)]
    for author in sorted(set(heads) | set(forks)):
        h = hashers[bucket_of(author, nb)]
        head = heads.get(author)
        if head is not None:
            h.update(b"h" + author + head.seq.to_bytes(8, "big") + head.id)
        fork = forks.get(author)
        if fork is not None:
            h.update(b"f" + author + fork[0].to_bytes(8, "big") + fork[1] + fork[2])
    return tuple(h.digest() for h in hashers)


def differing(mine: tuple[bytes, ...], theirs: tuple[bytes, ...]) -> list[int]:
    """Buckets whose digests differ (all of them if the bucket counts disagree)."""
    if len(mine) != len(theirs):
        return list(range(len(theirs)))
    return [i for i, (a, b) in enumerate(zip(mine, theirs, strict=True)) if a != b]


# --- level 3: compact heads ---------------------------------------------------------------


@dataclass(frozen=True)
class CompactHead:
    author: bytes  # 4-byte prefix
    seq: int  # 0: no entries (only a fork proof)
    id: bytes  # 4-byte prefix (empty when seq is 0)
    fork: tuple[int, bytes, bytes] | None = None  # (seq, id a prefix, id b prefix)


@dataclass(frozen=True)
class HeadsMessage:
    nb: int
    buckets: frozenset[int]
    heads: tuple[CompactHead, ...]
    reply: bool  # the receiver should answer with its own heads for these buckets


def encode_heads(
    heads: Mapping[bytes, Head], forks: Forks, nb: int, buckets: Iterable[int], *, reply: bool
) -> bytes:
    """Level 3 for ``buckets``: ``reply(1) nb(1) bitmap count heads...``."""
    chosen = sorted(set(buckets))
    bitmap = 0
    for b in chosen:
        bitmap |= 1 << b
    authors = sorted(a for a in set(heads) | set(forks) if bucket_of(a, nb) in chosen)
    out = bytearray([1 if reply else 0, nb])
    out += bitmap.to_bytes(_bitmap_bytes(nb), "big")
    out += wire.put_varint(len(authors))
    for a in authors:
        head = heads.get(a)
        fork = forks.get(a)
        out += a[:PREFIX] + wire.put_varint(head.seq if head else 0)
        if head is not None:
            out += head.id[:PREFIX]
        out += wire.put_varint(fork[0] if fork else 0)
        if fork is not None:
            out += fork[1][:PREFIX] + fork[2][:PREFIX]
    return bytes(out)


def decode_heads(data: bytes) -> HeadsMessage:
    """Parse :func:`encode_heads` output; WireError if malformed."""
    if len(data) < 2:
        raise wire.WireError("heads message too short")
    reply, nb = bool(data[0] & 1), data[1]
    if nb < 1 or nb > MAX_BUCKETS or nb & (nb - 1):
        raise wire.WireError("bad bucket count")
    n = _bitmap_bytes(nb)
    if len(data) < 2 + n:
        raise wire.WireError("heads message too short")
    bitmap = int.from_bytes(data[2 : 2 + n], "big")
    buckets = frozenset(b for b in range(nb) if bitmap >> b & 1)
    count, pos = wire.get_varint(data, 2 + n)
    heads = []
    for _ in range(count):
        author = _take(data, pos, PREFIX)
        seq, pos = wire.get_varint(data, pos + PREFIX)
        eid = b""
        if seq:
            eid, pos = _take(data, pos, PREFIX), pos + PREFIX
        fork_seq, pos = wire.get_varint(data, pos)
        fork = None
        if fork_seq:
            fork = (fork_seq, _take(data, pos, PREFIX), _take(data, pos + PREFIX, PREFIX))
            pos += 2 * PREFIX
        heads.append(CompactHead(author, seq, eid, fork))
    if pos != len(data):
        raise wire.WireError("trailing bytes after heads")
    return HeadsMessage(nb, buckets, tuple(heads), reply)


def _bitmap_bytes(nb: int) -> int:
    return (nb + 7) // 8


def _take(data: bytes, pos: int, n: int) -> bytes:
    if pos + n > len(data):
        raise wire.WireError("heads message cut short")
    return data[pos : pos + n]


# --- rebuilding the other side's heads -------------------------------------------------------


def rebuild_remote(
    msg: HeadsMessage,
    local: Mapping[bytes, Head],
    id_at: Callable[[bytes, int], bytes | None],
) -> dict[bytes, Head]:
    """The other side's heads for the covered authors we hold, in :func:`ledger.courier.frontier.plan` form.

    Authors of ours in a covered bucket that the message does not list are
    absent from the result: the other side has none of their entries.
    """
    by_prefix = _by_prefix(local)
    out: dict[bytes, Head] = {}
    for ch in msg.heads:
        if ch.seq == 0:
            continue
        for author in by_prefix.get(ch.author, ()):
            mine = local[author]
            if ch.seq > mine.seq:
                out[author] = Head(ch.seq, UNKNOWN_ID)
                continue
            ours = mine.id if ch.seq == mine.seq else id_at(author, ch.seq)
            same = ours is not None and ours[:PREFIX] == ch.id
            out[author] = Head(ch.seq, ours if same and ours else OTHER_ID)
    return out


def merge_believed(
    msg: HeadsMessage,
    rebuilt: Mapping[bytes, Head],
    local: Mapping[bytes, Head],
) -> dict[bytes, Head]:
    """The other side's whole heads vector as far as we can tell after ``msg``.

    Covered buckets come from the message; the others had equal bucket digests
    when the exchange started, so there the other side holds what we hold.
    """
    out = {a: h for a, h in local.items() if bucket_of(a, msg.nb) not in msg.buckets}
    out.update(rebuilt)
    return out


def remote_forks(msg: HeadsMessage, local_forks: Forks) -> dict[bytes, tuple[int, bytes, bytes]]:
    """The other side's fork proofs, for :func:`mesh.sync.forks_to_send` (prefix-padded ids).

    Only authors whose fork we hold matter; a padded prefix orders like the full
    id wherever the prefixes differ, and never below our own copy of one proof.
    """
    by_prefix = _by_prefix(local_forks)
    out: dict[bytes, tuple[int, bytes, bytes]] = {}
    for ch in msg.heads:
        if ch.fork is None:
            continue
        seq, a, b = ch.fork
        for author in by_prefix.get(ch.author, ()):
            out[author] = (seq, a + b"\x00" * 28, b + b"\x00" * 28)
    return out


def covered_forks(msg: HeadsMessage, local_forks: Forks) -> dict[bytes, tuple[int, bytes, bytes]]:
    """Our fork proofs about authors in the message's buckets."""
    return {a: f for a, f in local_forks.items() if bucket_of(a, msg.nb) in msg.buckets}


def _by_prefix(keys: Iterable[bytes]) -> dict[bytes, list[bytes]]:
    out: dict[bytes, list[bytes]] = {}
    for k in sorted(keys):
        out.setdefault(k[:PREFIX], []).append(k)
    return out
