"""Encrypted ballots: exponential ElGamal per option, each proven 0-or-1, and the sum proven.

A ballot for ``m`` options is a 0/1 vector. Each option is encrypted as
(A, B) = (r·G, v·G + r·H) under the tellers' joint key H, with a disjunctive
proof that v is 0 or 1. The sum of the vector is then constrained by the
ballot spec (``min_total..max_total``):

* exact sum S (plurality: S = 1): the last option is not sent. Anyone derives
  its ciphertext as (-ΣA, S·G - ΣB) — an encryption of S - Σv — and the ballot
  proves Σv over the sent options is S-1 or S, so the derived one is 0 or 1 too.
* a range (approval, optionally capped): every option is sent, and the sum is
  proven to lie in the range by one disjunctive proof over its values.

A sum proof is left out exactly when the option proofs already imply it (two-option
plurality; approval without a cap), so it never costs time without saying something.
Every proof hashes the vote context (vote id, joint key, spec) and the voter's key.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from . import codec, group, proofs
from .errors import BallotEncodingError
from .group import Raw, Rng
from .proofs import Proof

MAX_OPTIONS = 64


@dataclass(frozen=True)
class BallotSpec:
    """How many options, and what the number of options chosen must be."""

    options: int
    min_total: int
    max_total: int

    def __post_init__(self) -> None:
        m, lo, hi = self.options, self.min_total, self.max_total
        if not 2 <= m <= MAX_OPTIONS:
            raise BallotEncodingError(f"a secret ballot has 2..{MAX_OPTIONS} options, not {m}")
        if not 0 <= lo <= hi <= m:
            raise BallotEncodingError(f"choice count range {lo}..{hi} is not within 0..{m}")
        if lo == hi and not 1 <= lo <= m - 1:
            raise BallotEncodingError(f"'choose exactly {lo}' of {m} options leaves nothing secret")

    @classmethod
    def plurality(cls, options: int) -> BallotSpec:
        return cls(options, 1, 1)

    @classmethod
    def approval(cls, options: int, max_approvals: int | None = None) -> BallotSpec:
        return cls(options, 0, options if max_approvals is None else max_approvals)

    @property
    def exact(self) -> bool:
        return self.min_total == self.max_total

    @property
    def sent(self) -> int:
        """Options carried in the ballot (the last is derived when the sum is exact)."""
        return self.options - 1 if self.exact else self.options

    @cached_property
    def sum_values(self) -> tuple[int, ...]:
        """Values the sum of the sent options is proven to take; () when implied."""
        if self.exact:
            wanted = range(max(self.min_total - 1, 0), min(self.min_total, self.sent) + 1)
        else:
            wanted = range(self.min_total, self.max_total + 1)
        return () if len(wanted) == self.sent + 1 else tuple(wanted)

    def to_hash_parts(self) -> tuple[bytes, ...]:
        return group.u32(self.options), group.u32(self.min_total), group.u32(self.max_total)


@dataclass(frozen=True)
class VoteContext:
    """Everything a ballot proof is bound to besides the voter: vote id, joint key, spec."""

    vote_id: bytes
    joint_key: bytes
    spec: BallotSpec

    def __post_init__(self) -> None:
        if len(self.vote_id) != 32:
            raise BallotEncodingError("the vote id is 32 bytes (the charter entry id)")
        group.decode_point(self.joint_key)

    @cached_property
    def digest(self) -> bytes:
        """hash32("context", vote_id, H, u32 m, u32 min, u32 max)."""
        return group.hash32("context", self.vote_id, self.joint_key, *self.spec.to_hash_parts())

    @cached_property
    def loaded_key(self) -> tuple[bytes, Raw]:
        """The joint key, encoded and parsed (parsed once per vote, not per ballot)."""
        return self.joint_key, group.load(self.joint_key)


Ciphertext = tuple[bytes, bytes]


@dataclass(frozen=True)
class Ballot:
    """The sent ciphertexts, their 0/1 proofs, and the sum proof (possibly empty)."""

    ciphertexts: tuple[Ciphertext, ...]
    option_proofs: tuple[tuple[Proof, Proof], ...]
    sum_proof: tuple[Proof, ...]

    def to_bytes(self) -> bytes:
        out = [codec.header(codec.KIND_BALLOT), codec.u8(len(self.ciphertexts))]
        out += [a + b for a, b in self.ciphertexts]
        out += [codec.proof_bytes(p0) + codec.proof_bytes(p1) for p0, p1 in self.option_proofs]
        out.append(codec.u8(len(self.sum_proof)))
        out += [codec.proof_bytes(p) for p in self.sum_proof]
        return b"".join(out)

    @classmethod
    def from_bytes(cls, data: bytes) -> Ballot:
        r = codec.Reader(data, codec.KIND_BALLOT, "ballot")
        n = r.u8()
        cts = tuple((r.canonical_point(), r.canonical_point()) for _ in range(n))
        option_proofs = tuple((r.proof(), r.proof()) for _ in range(n))
        sum_proof = tuple(r.proof() for _ in range(r.u8()))
        r.done()
        return cls(cts, option_proofs, sum_proof)

    @cached_property
    def tracker(self) -> bytes:
        """The voter's receipt: hash32("tracker", ballot bytes)."""
        return group.hash32("tracker", self.to_bytes())


def _option_parts(ctx: VoteContext, voter: bytes, index: int) -> tuple[bytes, ...]:
    return ctx.digest, voter, group.u32(index)


def _sum_ciphertext(cts: Sequence[Ciphertext]) -> Ciphertext:
    return group.total([a for a, _ in cts]), group.total([b for _, b in cts])


def check_selection(spec: BallotSpec, selection: Sequence[int]) -> None:
    """Refuse a choice vector the spec does not allow, before any crypto is spent."""
    if len(selection) != spec.options or any(v not in (0, 1) for v in selection):
        raise BallotEncodingError(f"a selection is {spec.options} values, each 0 or 1")
    if not spec.min_total <= sum(selection) <= spec.max_total:
        raise BallotEncodingError(
            f"choose {spec.min_total}..{spec.max_total} options, not {sum(selection)}"
        )


def encrypt(
    ctx: VoteContext, voter: bytes, selection: Sequence[int], rng: Rng = os.urandom
) -> Ballot:
    """Encrypt a 0/1 selection (one entry per option) for ``voter`` (32-byte key)."""
    check_selection(ctx.spec, selection)
    if len(voter) != 32:
        raise BallotEncodingError("the voter key is 32 bytes")
    key = ctx.joint_key
    sent = selection[: ctx.spec.sent]
    rs = [group.random_scalar(rng) for _ in sent]
    cts = tuple(
        (group.base(r), group.add(group.small(v), group.mul_secret(r, key)))
        for v, r in zip(sent, rs, strict=True)
    )
    option_proofs = tuple(
        tuple(
            proofs.prove_choice("option", _option_parts(ctx, voter, j), key, ct, r, (0, 1), v, rng)
        )
        for j, (ct, r, v) in enumerate(zip(cts, rs, sent, strict=True))
    )
    values = ctx.spec.sum_values
    sum_proof: tuple[Proof, ...] = ()
    if values:
        sum_proof = tuple(
            proofs.prove_choice(
                "sum",
                (ctx.digest, voter),
                key,
                _sum_ciphertext(cts),
                sum(rs),
                values,
                sum(sent),
                rng,
            )
        )
    return Ballot(cts, option_proofs, sum_proof)  # type: ignore[arg-type]


def verify(ctx: VoteContext, voter: bytes, ballot: Ballot) -> bool:
    """True when every point is on the curve and every proof holds for this vote and voter."""
    return verified_points(ctx, voter, ballot) is not None


def verified_points(ctx: VoteContext, voter: bytes, ballot: Ballot) -> list[tuple[Raw, Raw]] | None:
    """The ballot's sent ciphertexts, parsed, when it verifies (else None).

    Each received point is parsed once, here; the tally adds up these parsed
    points rather than parsing the ballot a second time.
    """
    spec = ctx.spec
    if len(ballot.ciphertexts) != spec.sent or len(ballot.sum_proof) != len(spec.sum_values):
        return None
    try:
        loaded = [(a, group.load(a), b, group.load(b)) for a, b in ballot.ciphertexts]
    except BallotEncodingError:
        return None
    key = ctx.loaded_key
    for j, (ct, proof) in enumerate(zip(loaded, ballot.option_proofs, strict=True)):
        if not proofs.check_choice("option", _option_parts(ctx, voter, j), key, ct, (0, 1), proof):
            return None
    raws = [(a_raw, b_raw) for _, a_raw, _, b_raw in loaded]
    if spec.sum_values:
        sum_a, sum_b = group.rsum(a for a, _ in raws), group.rsum(b for _, b in raws)
        total = (group.dump(sum_a), sum_a, group.dump(sum_b), sum_b)
        if not proofs.check_choice(
            "sum", (ctx.digest, voter), key, total, spec.sum_values, ballot.sum_proof
        ):
            return None
    return raws


def all_ciphertexts(spec: BallotSpec, ballot: Ballot) -> list[Ciphertext]:
    """One ciphertext per option, the derived last one included (exact-sum specs)."""
    cts = list(ballot.ciphertexts)
    if spec.exact:
        a, b = _sum_ciphertext(cts)
        cts.append((group.neg(a), group.sub(group.small(spec.min_total), b)))
    return cts
