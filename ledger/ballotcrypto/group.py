"""The group: the prime-order subgroup of edwards25519, through pynacl's libsodium.

Why this group and not ristretto255 (the reasons, measured on this toolkit's laptops):

* pynacl 1.6 ships libsodium inside its wheel, but built without ristretto255;
  ristretto would need ``pysodium`` plus a *system* libsodium >= 1.0.18, which a
  field laptop installing from the offline wheelhouse may not have. edwards25519
  needs no new dependency.
* libsodium validates every edwards25519 point we hand it:
  ``crypto_core_ed25519_is_valid_point`` and ``crypto_scalarmult_ed25519_noclamp``
  both refuse a non-canonical encoding, a point of small order (the identity
  included) and any point outside the prime-order subgroup (they multiply by L).
  So the cofactor-8 trap is closed by the library, not by us remembering to.
* The price: that subgroup check runs inside every variable-base multiplication
  (about half its cost). Ristretto would be about 1.5x faster per multiplication;
  not enough to outweigh a native dependency in the field.

Scalars are Python ints in [0, L) inside this package (int arithmetic mod L is
ten times cheaper than a libsodium call); points are their 32-byte encodings.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable

import nacl.bindings as sodium
import nacl.exceptions

from .errors import BallotEncodingError

#: Order of the prime-order subgroup (RFC 8032 ``L``).
L = 2**252 + 27742317777372353535851937790883648493
#: The field prime.
FIELD_P = 2**255 - 19
#: Encodings of the identity (0, 1) and the standard base point G (RFC 8032 ``B``).
IDENTITY = bytes([1]) + bytes(31)
G = sodium.crypto_scalarmult_ed25519_base_noclamp((1).to_bytes(32, "little"))
#: Every Fiat-Shamir and context hash starts with this tag (see secret-ballots.md).
DOMAIN = b"plurigrid/ballotcrypto/v1/"

Rng = Callable[[int], bytes]


def scalar_bytes(k: int) -> bytes:
    """The canonical 32-byte little-endian encoding of ``k mod L``."""
    return (k % L).to_bytes(32, "little")


def decode_scalar(data: bytes) -> int:
    """A scalar from its 32-byte encoding; anything >= L is not canonical."""
    if len(data) != 32:
        raise BallotEncodingError(f"a scalar is 32 bytes, got {len(data)}")
    k = int.from_bytes(data, "little")
    if k >= L:
        raise BallotEncodingError("scalar is not reduced modulo L (non-canonical)")
    return k


def is_canonical_point(data: bytes) -> bool:
    """Cheap syntactic check: 32 bytes and the y coordinate below the field prime."""
    return len(data) == 32 and int.from_bytes(data, "little") & ((1 << 255) - 1) < FIELD_P


def is_group_element(data: bytes) -> bool:
    """True when ``data`` is a canonical point of order exactly L (never the identity)."""
    return len(data) == 32 and sodium.crypto_core_ed25519_is_valid_point(data)


def decode_point(data: bytes) -> bytes:
    """A point received from someone else: canonical, in the subgroup, not the identity."""
    if not is_group_element(data):
        raise BallotEncodingError(
            "not a point of the prime-order subgroup (non-canonical, small order or identity)"
        )
    return bytes(data)


def base(k: int) -> bytes:
    """k·G. Zero gives the identity (libsodium refuses to return it)."""
    k %= L
    if k == 0:
        return IDENTITY
    return sodium.crypto_scalarmult_ed25519_base_noclamp(k.to_bytes(32, "little"))


def mul(k: int, point: bytes) -> bytes:
    """k·P for P in the prime-order subgroup or the identity.

    P is checked on every call (by libsodium, or by us when k = 0): a point
    outside the subgroup, or of small order other than the identity, raises
    BallotEncodingError. So a verifier that multiplies a received point has
    validated it.
    """
    k %= L
    if point == IDENTITY:
        return IDENTITY
    if k == 0:
        decode_point(point)
        return IDENTITY
    try:
        return sodium.crypto_scalarmult_ed25519_noclamp(k.to_bytes(32, "little"), point)
    except (nacl.exceptions.RuntimeError, nacl.exceptions.TypeError) as e:
        raise BallotEncodingError("point is not in the prime-order subgroup") from e


def add(p: bytes, q: bytes) -> bytes:
    """P + Q (complete formula; both must decode to curve points)."""
    try:
        return sodium.crypto_core_ed25519_add(p, q)
    except (nacl.exceptions.RuntimeError, nacl.exceptions.TypeError) as e:
        raise BallotEncodingError("not a curve point") from e


def sub(p: bytes, q: bytes) -> bytes:
    """P - Q."""
    try:
        return sodium.crypto_core_ed25519_sub(p, q)
    except (nacl.exceptions.RuntimeError, nacl.exceptions.TypeError) as e:
        raise BallotEncodingError("not a curve point") from e


def neg(p: bytes) -> bytes:
    """-P."""
    return sub(IDENTITY, p)


def total(points: list[bytes]) -> bytes:
    """The sum of ``points`` (the identity for none)."""
    acc = IDENTITY
    for p in points:
        acc = add(acc, p)
    return acc


def frame(*parts: bytes) -> bytes:
    """Unambiguous concatenation: each part as u32-le length then its bytes."""
    return b"".join(len(p).to_bytes(4, "little") + p for p in parts)


def u32(n: int) -> bytes:
    """A small non-negative integer as it enters a hash: 4 bytes little-endian."""
    return n.to_bytes(4, "little")


def hash_to_scalar(tag: str, *parts: bytes) -> int:
    """Fiat-Shamir: blake2b-512 of frame(DOMAIN + tag, *parts), read little-endian, mod L."""
    digest = hashlib.blake2b(frame(DOMAIN + tag.encode(), *parts), digest_size=64).digest()
    return int.from_bytes(digest, "little") % L


def hash32(tag: str, *parts: bytes) -> bytes:
    """blake2b-256 of frame(DOMAIN + tag, *parts): context hashes and trackers."""
    return hashlib.blake2b(frame(DOMAIN + tag.encode(), *parts), digest_size=32).digest()


def random_scalar(rng: Rng = os.urandom) -> int:
    """A uniform non-zero scalar (64 random bytes reduced mod L)."""
    while True:
        k = int.from_bytes(rng(64), "little") % L
        if k:
            return k


_SMALL: dict[int, bytes] = {}


def small(v: int) -> bytes:
    """v·G for the small integers ballots use (0..a few hundred), cached."""
    point = _SMALL.get(v)
    if point is None:
        point = base(v) if v >= 0 else neg(base(-v))
        if len(_SMALL) < 4096:
            _SMALL[v] = point
    return point
