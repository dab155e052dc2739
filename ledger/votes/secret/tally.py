"""Homomorphic tally, decryption shares, Lagrange combination and the counts.

The tally of verified ballots is Σ w_i·(A_i, B_i) per sent option — an
encryption of the weighted count. Each teller t publishes D = x_t·A per option
with a Chaum-Pedersen proof that log_G(X_t) = log_A(D); any k valid shares give
x·A = Σ λ_t·D_t, hence count·G = B - x·A; baby-step giant-step finds the count
in 0..W (W the total weight). The derived last option of an exact-sum spec is
counted as S·W minus the others, with no decryption at all.
"""

from __future__ import annotations

import math
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from . import ballot as ballots
from . import codec, group, proofs
from .ballot import Ballot, Ciphertext, VoteContext
from .errors import BallotEncodingError, ProofRejected
from .group import IDENTITY, N, Raw, Rng
from .keys import KeySet
from .proofs import Proof


@dataclass(frozen=True)
class EncryptedTally:
    """Per sent option, Σ w·(A, B) over the counted ballots; and the total weight W."""

    ciphertexts: tuple[Ciphertext, ...]
    total_weight: int

    def to_bytes(self) -> bytes:
        out = [codec.header(codec.KIND_TALLY), codec.u8(len(self.ciphertexts))]
        out.append(codec.u64(self.total_weight))
        out += [a + b for a, b in self.ciphertexts]
        return b"".join(out)

    @classmethod
    def from_bytes(cls, data: bytes) -> EncryptedTally:
        r = codec.Reader(data, codec.KIND_TALLY, "encrypted tally")
        n = r.u8()
        weight = r.u64()
        cts = tuple((_group_or_identity(r), _group_or_identity(r)) for _ in range(n))
        r.done()
        return cls(cts, weight)


def _group_or_identity(r: codec.Reader) -> bytes:
    raw = r.take(group.POINT_BYTES)
    if raw != IDENTITY and not group.is_group_element(raw):
        raise BallotEncodingError(f"{r.what}: neither a secp256k1 point nor O (33 zero bytes)")
    return raw


def aggregate(ctx: VoteContext, weighted: Iterable[tuple[Ballot, int]]) -> EncryptedTally:
    """Σ w·ciphertext over already-verified ballots; weight 0 ballots add nothing."""
    n = ctx.spec.sent
    parsed = []
    for b, w in weighted:
        if len(b.ciphertexts) != n:
            raise BallotEncodingError("ballot does not match the vote's options")
        if w != 0:
            parsed.append(([(group.load(a), group.load(bb)) for a, bb in b.ciphertexts], w))
    return _aggregate_parsed(n, parsed)


def _aggregate_parsed(
    n: int, weighted: Iterable[tuple[list[tuple[Raw, Raw]], int]]
) -> EncryptedTally:
    """Σ w·(A, B) per option over parsed ciphertexts.

    Ballots are summed per distinct weight first (one libsecp256k1 call per
    point list), so a roll with a few weight classes costs one multiplication
    per class and point, however many ballots there are.
    """
    by_weight: dict[int, list[list[Raw]]] = defaultdict(lambda: [[] for _ in range(2 * n)])
    total_weight = 0
    for cts, w in weighted:
        if w < 0:
            raise BallotEncodingError(f"weight {w} is negative")
        if w == 0:
            continue
        total_weight += w
        lists = by_weight[w]
        for j, (a, b) in enumerate(cts):
            lists[2 * j].append(a)
            lists[2 * j + 1].append(b)
    acc: list[list[Raw]] = [[] for _ in range(2 * n)]
    for w in sorted(by_weight):
        for i, points in enumerate(by_weight[w]):
            acc[i].append(group.rmul(w, group.rsum(points)))
    sums = [group.dump(group.rsum(points)) for points in acc]
    return EncryptedTally(tuple(zip(sums[0::2], sums[1::2], strict=True)), total_weight)


def verify_and_aggregate(
    ctx: VoteContext, items: Iterable[tuple[bytes, Ballot, int]]
) -> tuple[EncryptedTally, list[int]]:
    """Verify each (voter, ballot, weight); aggregate the valid ones; list the rejected indices."""
    good: list[tuple[list[tuple[Raw, Raw]], int]] = []
    rejected: list[int] = []
    for i, (voter, b, w) in enumerate(items):
        points = ballots.verified_points(ctx, voter, b)
        if points is None:
            rejected.append(i)
        else:
            good.append((points, w))
    return _aggregate_parsed(ctx.spec.sent, good), rejected


@dataclass(frozen=True)
class DecryptionShare:
    """Teller ``teller``'s D = x_t·A for each sent option, each with its DLEQ proof."""

    teller: int
    parts: tuple[tuple[bytes, Proof], ...]

    def to_bytes(self) -> bytes:
        out = [codec.header(codec.KIND_SHARE), codec.u8(self.teller), codec.u8(len(self.parts))]
        out += [d + codec.proof_bytes(p) for d, p in self.parts]
        return b"".join(out)

    @classmethod
    def from_bytes(cls, data: bytes) -> DecryptionShare:
        r = codec.Reader(data, codec.KIND_SHARE, "decryption share")
        teller = r.u8()
        parts = tuple((_group_or_identity(r), r.proof()) for _ in range(r.u8()))
        r.done()
        if teller == 0:
            raise BallotEncodingError("decryption share: teller indices start at 1")
        return cls(teller, parts)


def _share_parts(ctx: VoteContext, teller: int, option: int) -> tuple[bytes, ...]:
    return ctx.digest, group.u32(teller), group.u32(option)


def decryption_share(
    ctx: VoteContext, tally: EncryptedTally, teller: int, secret: int, rng: Rng = os.urandom
) -> DecryptionShare:
    """Teller ``teller`` (1-based) decrypts its part of every sent option, with proofs."""
    public = group.base(secret)
    parts = []
    for j, (a, _) in enumerate(tally.ciphertexts):
        d = group.mul_secret(secret, a)
        proof = proofs.prove_dleq(
            "decrypt", _share_parts(ctx, teller, j), a, secret, public, d, rng
        )
        parts.append((d, proof))
    return DecryptionShare(teller, tuple(parts))


def verify_share(
    ctx: VoteContext, tally: EncryptedTally, share: DecryptionShare, keys: KeySet
) -> bool:
    """True when the share is for this tally and each D is x_t·A (Chaum-Pedersen)."""
    if not 1 <= share.teller <= len(keys.public_shares):
        return False
    if len(share.parts) != len(tally.ciphertexts):
        return False
    public = keys.public_shares[share.teller - 1]
    return all(
        proofs.verify_dleq("decrypt", _share_parts(ctx, share.teller, j), a, public, d, proof)
        for j, ((a, _), (d, proof)) in enumerate(zip(tally.ciphertexts, share.parts, strict=True))
    )


def lagrange_at_zero(indices: Sequence[int]) -> list[int]:
    """λ_t = Π_{u≠t} u / (u - t) mod n for the teller indices given."""
    out = []
    for t in indices:
        num, den = 1, 1
        for u in indices:
            if u != t:
                num = num * u % N
                den = den * (u - t) % N
        out.append(num * pow(den, -1, N) % N)
    return out


@lru_cache(maxsize=8)
def _baby_steps(size: int) -> dict[bytes, int]:
    """{encoding of j·G: j} for j in 0..size-1."""
    table: dict[bytes, int] = {}
    point, step = None, group.rbase(1)
    for j in range(size):
        table[group.dump(point)] = j
        point = group.radd(point, step)
    return table


def small_log(point: bytes, bound: int) -> int:
    """The m in 0..bound with m·G = point (baby-step giant-step), or ProofRejected."""
    size = math.isqrt(bound) + 1
    table = _baby_steps(size)
    minus_giant = group.rneg(group.rbase(size))
    current = group.load(point)
    for i in range(size + 1):
        j = table.get(group.dump(current))
        if j is not None and i * size + j <= bound:
            return i * size + j
        current = group.radd(current, minus_giant)
    raise ProofRejected(f"decrypted value is not a count in 0..{bound}")


def combine(
    ctx: VoteContext, tally: EncryptedTally, shares: Iterable[DecryptionShare], keys: KeySet
) -> list[int]:
    """The count of every option from any ``keys.threshold`` valid shares.

    Invalid shares are skipped (named in the error when too few remain). The k
    valid shares with the lowest teller indices are used, so every laptop does
    the same arithmetic — and any k give the same counts.
    """
    valid: dict[int, DecryptionShare] = {}
    bad: list[int] = []
    for s in shares:
        if s.teller in valid:
            continue
        if verify_share(ctx, tally, s, keys):
            valid[s.teller] = s
        else:
            bad.append(s.teller)
    if len(valid) < keys.threshold:
        detail = f"; rejected from teller(s) {sorted(set(bad))}" if bad else ""
        raise ProofRejected(
            f"{len(valid)} valid decryption share(s), {keys.threshold} needed{detail}"
        )
    chosen = sorted(valid)[: keys.threshold]
    lambdas = lagrange_at_zero(chosen)
    counts = []
    for j, (_, b) in enumerate(tally.ciphertexts):
        xa = group.rsum(
            group.rmul(lam, group.load(valid[t].parts[j][0]))
            for t, lam in zip(chosen, lambdas, strict=True)
        )
        counts.append(
            small_log(group.dump(group.radd(group.load(b), group.rneg(xa))), tally.total_weight)
        )
    if ctx.spec.exact:
        counts.append(ctx.spec.min_total * tally.total_weight - sum(counts))
    return counts
