"""Sigma proofs made non-interactive by Fiat-Shamir, in compact (c, s) form.

* ``dleq``: Chaum-Pedersen proof that log_G(X) = log_W(Y) (correct decryption).
* ``choice``: disjunctive Chaum-Pedersen proof that an ElGamal ciphertext
  (A, B) = (r·G, v·G + r·H) encrypts one of a public list of small integers.
* ``schnorr``: proof of knowledge of log_G(C) (a dealer knows its secret).

Every proof hashes its whole statement plus the caller's context parts (vote,
voter, option...), so a proof made for one context never verifies in another.
Compact form means the commitments are recomputed by the verifier, never sent:
smaller ballots, and no extra received points to validate.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from . import group
from .errors import BallotEncodingError
from .group import L, Rng

Proof = tuple[int, int]  # (challenge c, response s)


def prove_dleq(
    tag: str,
    parts: Sequence[bytes],
    w: bytes,
    x: int,
    big_x: bytes,
    y: bytes,
    rng: Rng = os.urandom,
) -> Proof:
    """Prove X = x·G and Y = x·W for the witness x."""
    k = group.random_scalar(rng)
    a, b = group.base(k), group.mul(k, w)
    c = group.hash_to_scalar(tag, *parts, big_x, w, y, a, b)
    return c, (k + c * x) % L


def verify_dleq(
    tag: str, parts: Sequence[bytes], w: bytes, big_x: bytes, y: bytes, proof: Proof
) -> bool:
    """Check a ``prove_dleq`` proof: a = s·G - c·X, b = s·W - c·Y, c = H(..., a, b)."""
    c, s = proof
    try:
        a = group.sub(group.base(s), group.mul(c, big_x))
        b = group.sub(group.mul(s, w), group.mul(c, y))
    except BallotEncodingError:
        return False
    return c == group.hash_to_scalar(tag, *parts, big_x, w, y, a, b)


def _choice_commitments(
    key: bytes, a_ct: bytes, b_ct: bytes, values: Sequence[int], proof: Sequence[Proof]
) -> list[bytes]:
    """Recompute a_j = s_j·G - c_j·A and b_j = s_j·H - c_j·(B - v_j·G), interleaved."""
    out: list[bytes] = []
    for v, (c, s) in zip(values, proof, strict=True):
        shifted = b_ct if v == 0 else group.sub(b_ct, group.small(v))
        out.append(group.sub(group.base(s), group.mul(c, a_ct)))
        out.append(group.sub(group.mul(s, key), group.mul(c, shifted)))
    return out


def prove_choice(
    tag: str,
    parts: Sequence[bytes],
    key: bytes,
    ciphertext: tuple[bytes, bytes],
    r: int,
    values: Sequence[int],
    actual: int,
    rng: Rng = os.urandom,
) -> list[Proof]:
    """Prove that (A, B) = (r·G, actual·G + r·H) encrypts one of ``values``.

    The true branch is a real Chaum-Pedersen proof; every other branch is
    simulated from a chosen (c_j, s_j); the challenges sum to the hash.
    """
    a_ct, b_ct = ciphertext
    true_index = list(values).index(actual)
    proof: list[Proof] = []
    commitments: list[bytes] = []
    k = group.random_scalar(rng)
    for j, v in enumerate(values):
        if j == true_index:
            proof.append((0, 0))
            commitments += [group.base(k), group.mul(k, key)]
            continue
        c, s = group.random_scalar(rng), group.random_scalar(rng)
        proof.append((c, s))
        commitments += _choice_commitments(key, a_ct, b_ct, [v], [(c, s)])
    c_all = group.hash_to_scalar(tag, *parts, key, a_ct, b_ct, *commitments)
    c_true = (c_all - sum(c for c, _ in proof)) % L
    proof[true_index] = (c_true, (k + c_true * r) % L)
    return proof


def verify_choice(
    tag: str,
    parts: Sequence[bytes],
    key: bytes,
    ciphertext: tuple[bytes, bytes],
    values: Sequence[int],
    proof: Sequence[Proof],
) -> bool:
    """Check a ``prove_choice`` proof: recompute every commitment, sum of c_j = H(...)."""
    if len(proof) != len(values):
        return False
    a_ct, b_ct = ciphertext
    try:
        commitments = _choice_commitments(key, a_ct, b_ct, values, proof)
    except BallotEncodingError:
        return False
    c_all = group.hash_to_scalar(tag, *parts, key, a_ct, b_ct, *commitments)
    return sum(c for c, _ in proof) % L == c_all


def prove_schnorr(tag: str, parts: Sequence[bytes], x: int, rng: Rng = os.urandom) -> Proof:
    """Prove knowledge of x = log_G(x·G); the statement point must be among ``parts``."""
    k = group.random_scalar(rng)
    c = group.hash_to_scalar(tag, *parts, group.base(k))
    return c, (k + c * x) % L


def verify_schnorr(tag: str, parts: Sequence[bytes], big_x: bytes, proof: Proof) -> bool:
    """Check a Schnorr proof: R = s·G - c·X and c = H(tag, *parts, R)."""
    c, s = proof
    try:
        r_point = group.sub(group.base(s), group.mul(c, big_x))
    except BallotEncodingError:
        return False
    return c == group.hash_to_scalar(tag, *parts, r_point)
