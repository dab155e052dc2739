"""The group: secp256k1 (SEC 2), through libsecp256k1 as bundled in coincurve's wheels.

secp256k1 has prime order n (cofactor 1), so every point a received 33-byte
encoding decodes to is a group element: the only checks are that the encoding is
canonical and the point is on the curve, and libsecp256k1's parser does both.
Why this group and not libsodium's (measured): ``field_guides/secret-ballots.md``.

Two layers:

* **bytes** — points are their 33-byte compressed SEC1 encodings; the identity O,
  which SEC1 cannot write in 33 bytes, is ``IDENTITY`` (33 zero bytes) where a
  format allows it. Every function validates the points it is given.
* **raw** (``load``/``dump``/``rmul``/``rbase``/``radd``) — libsecp256k1's parsed
  form (``None`` is O), for the verification loops: a received point is parsed
  once (a square root) however many times it is multiplied.

Scalars are Python ints in [0, n). Multiplications by a *secret* scalar
(``mul_secret``, ``base``) run in constant time (libsecp256k1's ECDH ladder and
its blinded generator multiplication); ``mul``/``rmul`` use the faster
variable-time multiplication and are only for public scalars.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable, Iterable
from typing import Any

from coincurve._libsecp256k1 import ffi, lib
from coincurve.context import GLOBAL_CONTEXT

from .errors import BallotEncodingError

#: The field prime and the group order (SEC 2 v2, §2.4.1).
FIELD_P = 2**256 - 2**32 - 977
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
#: The identity where a format allows it (33 zero bytes), and the generator G.
IDENTITY = bytes(33)
G = bytes.fromhex("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
#: Every Fiat-Shamir and context hash starts with this tag (see secret-ballots.md).
DOMAIN = b"plurigrid/ballotcrypto/v1/"
POINT_BYTES = 33

Rng = Callable[[int], bytes]
Raw = Any  # a cffi ``secp256k1_pubkey *``; None stands for O

_CTX = GLOBAL_CONTEXT.ctx
_PAIR = "secp256k1_pubkey *[2]"
_COMPRESSED = lib.SECP256K1_EC_COMPRESSED


# --- scalars -------------------------------------------------------------------------


def scalar_bytes(k: int) -> bytes:
    """The canonical 32-byte big-endian encoding of ``k mod n``."""
    return (k % N).to_bytes(32, "big")


def decode_scalar(data: bytes) -> int:
    """A scalar from its 32-byte big-endian encoding; anything >= n is not canonical."""
    if len(data) != 32:
        raise BallotEncodingError(f"a scalar is 32 bytes, got {len(data)}")
    k = int.from_bytes(data, "big")
    if k >= N:
        raise BallotEncodingError("scalar is not reduced modulo n (non-canonical)")
    return k


def random_scalar(rng: Rng = os.urandom) -> int:
    """A uniform non-zero scalar (64 random bytes reduced mod n)."""
    while True:
        k = int.from_bytes(rng(64), "big") % N
        if k:
            return k


# --- raw layer -----------------------------------------------------------------------


def load(data: bytes) -> Raw:
    """Parse a point: O for ``IDENTITY``, else a canonical compressed on-curve encoding."""
    if data == IDENTITY:
        return None
    out = ffi.new("secp256k1_pubkey *")
    if len(data) != POINT_BYTES or not lib.secp256k1_ec_pubkey_parse(_CTX, out, data, 33):
        raise BallotEncodingError("not a point: need 33 bytes, prefix 02/03, x < p, on the curve")
    return out


def dump(raw: Raw) -> bytes:
    """The 33-byte encoding (``IDENTITY`` for O)."""
    if raw is None:
        return IDENTITY
    out = ffi.new("unsigned char[33]")
    size = ffi.new("size_t *", 33)
    lib.secp256k1_ec_pubkey_serialize(_CTX, out, size, raw, _COMPRESSED)
    return bytes(ffi.buffer(out, 33))


def rmul(k: int, raw: Raw) -> Raw:
    """k·P, variable time: public scalars only."""
    k %= N
    if k == 0 or raw is None:
        return None
    out = ffi.new("secp256k1_pubkey *", raw[0])
    # Cannot fail: 0 < k < n and P is a valid point of a prime-order group.
    lib.secp256k1_ec_pubkey_tweak_mul(_CTX, out, k.to_bytes(32, "big"))
    return out


def rbase(k: int) -> Raw:
    """k·G (libsecp256k1's constant-time, blinded generator multiplication)."""
    k %= N
    if k == 0:
        return None
    out = ffi.new("secp256k1_pubkey *")
    lib.secp256k1_ec_pubkey_create(_CTX, out, k.to_bytes(32, "big"))
    return out


def radd(p: Raw, q: Raw) -> Raw:
    """P + Q (O when they cancel)."""
    if p is None:
        return q
    if q is None:
        return p
    out = ffi.new("secp256k1_pubkey *")
    # combine fails exactly when the sum is the point at infinity.
    return out if lib.secp256k1_ec_pubkey_combine(_CTX, out, ffi.new(_PAIR, (p, q)), 2) else None


def rsum(raws: Iterable[Raw]) -> Raw:
    """The sum of any number of points in one libsecp256k1 call."""
    points = [r for r in raws if r is not None]
    if len(points) <= 1:
        return points[0] if points else None
    out = ffi.new("secp256k1_pubkey *")
    ins = ffi.new("secp256k1_pubkey *[]", points)
    # combine fails exactly when the sum is the point at infinity.
    return out if lib.secp256k1_ec_pubkey_combine(_CTX, out, ins, len(points)) else None


def rneg(raw: Raw) -> Raw:
    """-P."""
    if raw is None:
        return None
    out = ffi.new("secp256k1_pubkey *", raw[0])
    lib.secp256k1_ec_pubkey_negate(_CTX, out)
    return out


def _copy_point(output: Any, x32: Any, y32: Any, data: Any) -> int:
    """ECDH 'hash' that hands back the point itself, compressed."""
    output[0] = 2 | (y32[31] & 1)
    ffi.memmove(output + 1, x32, 32)
    return 1


@functools.cache
def _copy_point_callback() -> Any:
    """The C callback, made on first use (casting, decrypting), not at import."""
    return ffi.callback(
        "int(unsigned char *, const unsigned char *, const unsigned char *, void *)", _copy_point
    )


def mul_secret(k: int, point: bytes) -> bytes:
    """k·P in constant time (libsecp256k1's ECDH ladder) for a secret k."""
    raw = load(point)
    k %= N
    if k == 0 or raw is None:
        return IDENTITY
    out = ffi.new("unsigned char[33]")
    callback = _copy_point_callback()
    if not lib.secp256k1_ecdh(_CTX, out, raw, k.to_bytes(32, "big"), callback, ffi.NULL):
        raise BallotEncodingError("constant-time multiplication failed")  # not reachable
    return bytes(ffi.buffer(out, 33))


# --- bytes layer ---------------------------------------------------------------------


def is_canonical_point(data: bytes) -> bool:
    """Cheap syntactic check: 33 bytes, prefix 02/03, x below the field prime.

    Whether x is on the curve is left to ``load`` (a square root), which every
    verifier that uses the point runs anyway.
    """
    return (
        len(data) == POINT_BYTES and data[0] in (2, 3) and int.from_bytes(data[1:], "big") < FIELD_P
    )


def is_group_element(data: bytes) -> bool:
    """True when ``data`` encodes a curve point (never O: it has no such encoding)."""
    try:
        return data != IDENTITY and load(data) is not None
    except BallotEncodingError:
        return False


def decode_point(data: bytes) -> bytes:
    """A point received from someone else: canonical, on the curve, not O."""
    if not is_group_element(data):
        raise BallotEncodingError("not a secp256k1 point (non-canonical, off the curve, or O)")
    return bytes(data)


def base(k: int) -> bytes:
    """k·G in constant time (O for k = 0 mod n)."""
    return dump(rbase(k))


def mul(k: int, point: bytes) -> bytes:
    """k·P, variable time (public k). P is validated: an invalid point raises."""
    return dump(rmul(k, load(point)))


def add(p: bytes, q: bytes) -> bytes:
    """P + Q."""
    return dump(radd(load(p), load(q)))


def sub(p: bytes, q: bytes) -> bytes:
    """P - Q."""
    return dump(radd(load(p), rneg(load(q))))


def neg(p: bytes) -> bytes:
    """-P."""
    return dump(rneg(load(p)))


def total(points: Iterable[bytes]) -> bytes:
    """The sum of ``points`` (O for none)."""
    return dump(rsum(load(p) for p in points))


_SMALL: dict[int, Raw] = {}


def rsmall(v: int) -> Raw:
    """v·G for the small integers ballots use (negative too), parsed and cached."""
    if v not in _SMALL:
        point = rbase(abs(v))
        if len(_SMALL) >= 4096:
            return point if v >= 0 else rneg(point)
        _SMALL[v] = point if v >= 0 else rneg(point)
    return _SMALL[v]


def small(v: int) -> bytes:
    """v·G as bytes, for small v."""
    return dump(rsmall(v))


# --- hashing -------------------------------------------------------------------------


def frame(*parts: bytes) -> bytes:
    """Unambiguous concatenation: each part as u32 big-endian length then its bytes."""
    return b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def u32(n: int) -> bytes:
    """A small non-negative integer as it enters a hash: 4 bytes big-endian."""
    return n.to_bytes(4, "big")


def hash_to_scalar(tag: str, *parts: bytes) -> int:
    """Fiat-Shamir: BLAKE2b-512 of frame(DOMAIN + tag, *parts), read big-endian, mod n."""
    digest = hashlib.blake2b(frame(DOMAIN + tag.encode(), *parts), digest_size=64).digest()
    return int.from_bytes(digest, "big") % N


def hash32(tag: str, *parts: bytes) -> bytes:
    """BLAKE2b-256 of frame(DOMAIN + tag, *parts): context hashes and trackers."""
    return hashlib.blake2b(frame(DOMAIN + tag.encode(), *parts), digest_size=32).digest()
