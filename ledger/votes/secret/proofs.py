"""Sigma proofs made non-interactive by Fiat-Shamir, in compact (c, s) form.

* ``dleq``: Chaum-Pedersen proof that log_G(X) = log_W(Y) (correct decryption).
* ``choice``: disjunctive Chaum-Pedersen proof that an ElGamal ciphertext
  (A, B) = (r·G, v·G + r·H) encrypts one of a public list of small integers.
* ``schnorr``: proof of knowledge of log_G(C) (a dealer knows its secret).

Every proof hashes its whole statement plus the caller's context parts (vote,
voter, option...), so a proof made for one context never verifies in another.
Compact form means the commitments are recomputed by the verifier, never sent:
smaller ballots, and no extra received points to validate. A recomputed
commitment that is O enters the hash as 33 zero bytes.

Provers multiply secrets (nonces, the encryption randomness, a teller's share)
only with the constant-time ``group.base``/``group.mul_secret``; verifiers use
the variable-time multiplication, on public scalars.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from . import group
from .errors import BallotEncodingError
from .group import N, Raw, Rng, dump, radd, rbase, rmul, rsmall

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
    a, b = group.base(k), group.mul_secret(k, w)
    c = group.hash_to_scalar(tag, *parts, big_x, w, y, a, b)
    return c, (k + c * x) % N


def verify_dleq(
    tag: str, parts: Sequence[bytes], w: bytes, big_x: bytes, y: bytes, proof: Proof
) -> bool:
    """Check a ``prove_dleq`` proof: a = s·G - c·X, b = s·W - c·Y, c = H(..., a, b)."""
    c, s = proof
    try:
        x_raw, w_raw, y_raw = group.load(big_x), group.load(w), group.load(y)
    except BallotEncodingError:
        return False
    a = dump(radd(rbase(s), rmul(N - c, x_raw)))
    b = dump(radd(rmul(s, w_raw), rmul(N - c, y_raw)))
    return c == group.hash_to_scalar(tag, *parts, big_x, w, y, a, b)


def _commitments(
    key: Raw, a_ct: Raw, b_ct: Raw, values: Sequence[int], proof: Sequence[Proof]
) -> list[bytes]:
    """a_j = s_j·G - c_j·A and b_j = s_j·H - c_j·(B - v_j·G), interleaved, encoded."""
    out: list[bytes] = []
    for v, (c, s) in zip(values, proof, strict=True):
        shifted = b_ct if v == 0 else radd(b_ct, rsmall(-v))
        out.append(dump(radd(rbase(s), rmul(N - c, a_ct))))
        out.append(dump(radd(rmul(s, key), rmul(N - c, shifted))))
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
    loaded = group.load(key), group.load(a_ct), group.load(b_ct)
    true_index = list(values).index(actual)
    proof: list[Proof] = []
    commitments: list[bytes] = []
    k = group.random_scalar(rng)
    for j, v in enumerate(values):
        if j == true_index:
            proof.append((0, 0))
            commitments += [group.base(k), group.mul_secret(k, key)]
            continue
        c, s = group.random_scalar(rng), group.random_scalar(rng)
        proof.append((c, s))
        commitments += _commitments(*loaded, [v], [(c, s)])
    c_all = group.hash_to_scalar(tag, *parts, key, a_ct, b_ct, *commitments)
    c_true = (c_all - sum(c for c, _ in proof)) % N
    proof[true_index] = (c_true, (k + c_true * r) % N)
    return proof


def check_choice(
    tag: str,
    parts: Sequence[bytes],
    key: tuple[bytes, Raw],
    ciphertext: tuple[bytes, Raw, bytes, Raw],
    values: Sequence[int],
    proof: Sequence[Proof],
) -> bool:
    """``verify_choice`` on points already parsed: key = (H, raw), ciphertext = (A, raw, B, raw)."""
    if len(proof) != len(values):
        return False
    a_enc, a_raw, b_enc, b_raw = ciphertext
    commitments = _commitments(key[1], a_raw, b_raw, values, proof)
    c_all = group.hash_to_scalar(tag, *parts, key[0], a_enc, b_enc, *commitments)
    return sum(c for c, _ in proof) % N == c_all


def verify_choice(
    tag: str,
    parts: Sequence[bytes],
    key: bytes,
    ciphertext: tuple[bytes, bytes],
    values: Sequence[int],
    proof: Sequence[Proof],
) -> bool:
    """Check a ``prove_choice`` proof: recompute every commitment, sum of c_j = H(...)."""
    a_ct, b_ct = ciphertext
    try:
        loaded = (a_ct, group.load(a_ct), b_ct, group.load(b_ct))
        key_raw = group.load(key)
    except BallotEncodingError:
        return False
    return check_choice(tag, parts, (key, key_raw), loaded, values, proof)


def prove_schnorr(tag: str, parts: Sequence[bytes], x: int, rng: Rng = os.urandom) -> Proof:
    """Prove knowledge of x = log_G(x·G); the statement point must be among ``parts``."""
    k = group.random_scalar(rng)
    c = group.hash_to_scalar(tag, *parts, group.base(k))
    return c, (k + c * x) % N


def verify_schnorr(tag: str, parts: Sequence[bytes], big_x: bytes, proof: Proof) -> bool:
    """Check a Schnorr proof: R = s·G - c·X and c = H(tag, *parts, R)."""
    c, s = proof
    try:
        x_raw = group.load(big_x)
    except BallotEncodingError:
        return False
    r_point = dump(radd(rbase(s), rmul(N - c, x_raw)))
    return c == group.hash_to_scalar(tag, *parts, r_point)
