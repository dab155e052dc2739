"""An independent verifier for secret ballots, written from field_guides/secret-ballots.md alone.

It shares no code with ``ledger.votes.secret`` (nor coincurve or libsecp256k1):
secp256k1 in plain Python integers — the short Weierstrass curve y² = x³ + 7
over F_p (SEC 2 v2 §2.4.1), affine coordinates, textbook formulas — and blake2b
from hashlib. Slow (milliseconds per multiplication) and fine for that: it
exists to catch the implementation and the guide disagreeing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
GX = 0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798
GY = 0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8
TAG = b"plurigrid/ballotcrypto/v1/"

Pt = tuple[int, int] | None  # affine (x, y); None is the point at infinity O
B: Pt = (GX, GY)
IDENT: Pt = None
O_BYTES = bytes(33)


def on_curve(p: Pt) -> bool:
    return p is None or (p[1] * p[1] - p[0] ** 3 - 7) % P == 0


def pt_add(p: Pt, q: Pt) -> Pt:
    if p is None:
        return q
    if q is None:
        return p
    (x1, y1), (x2, y2) = p, q
    if x1 == x2:
        if (y1 + y2) % P == 0:
            return None
        lam = 3 * x1 * x1 * pow(2 * y1, -1, P) % P
    else:
        lam = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (lam * lam - x1 - x2) % P
    return (x3, (lam * (x1 - x3) - y1) % P)


def pt_neg(p: Pt) -> Pt:
    return None if p is None else (p[0], -p[1] % P)


def pt_mul(k: int, p: Pt) -> Pt:
    acc: Pt = None
    k %= N
    while k > 0:
        if k & 1:
            acc = pt_add(acc, p)
        p = pt_add(p, p)
        k >>= 1
    return acc


def pt_eq(p: Pt, q: Pt) -> bool:
    return p == q


def decode(s: bytes) -> Pt:
    """SEC1 §2.3.4 compressed decoding, refusing x >= p and x off the curve; 33 zeros is O.

    Raises ValueError for anything else.
    """
    if s == O_BYTES:
        return None
    if len(s) != 33 or s[0] not in (2, 3):
        raise ValueError("not a compressed point")
    x = int.from_bytes(s[1:], "big")
    if x >= P:
        raise ValueError("x is not below p")
    rhs = (x**3 + 7) % P
    y = pow(rhs, (P + 1) // 4, P)  # p = 3 mod 4
    if y * y % P != rhs:
        raise ValueError("x is not on the curve")
    if y & 1 != s[0] & 1:
        y = P - y
    return (x, y)


def encode(p: Pt) -> bytes:
    if p is None:
        return O_BYTES
    return bytes([2 | (p[1] & 1)]) + p[0].to_bytes(32, "big")


def group_element(s: bytes, allow_identity: bool = False) -> Pt | bool:
    """The point (cofactor 1: on the curve is in the group), or False; O only if allowed."""
    try:
        p = decode(s)
    except ValueError:
        return False
    if p is None and not allow_identity:
        return False
    return p


def frame(*parts: bytes) -> bytes:
    return b"".join(len(x).to_bytes(4, "big") + x for x in parts)


def hs(tag: str, *parts: bytes) -> int:
    h = hashlib.blake2b(frame(TAG + tag.encode(), *parts), digest_size=64).digest()
    return int.from_bytes(h, "big") % N


def h32(tag: str, *parts: bytes) -> bytes:
    return hashlib.blake2b(frame(TAG + tag.encode(), *parts), digest_size=32).digest()


def u32(n: int) -> bytes:
    return n.to_bytes(4, "big")


@dataclass
class Spec:
    m: int
    lo: int
    hi: int

    @property
    def sent(self) -> int:
        return self.m - 1 if self.lo == self.hi else self.m

    @property
    def sum_values(self) -> list[int]:
        vals = [self.lo - 1, self.lo] if self.lo == self.hi else list(range(self.lo, self.hi + 1))
        return [] if vals == list(range(self.sent + 1)) else vals


def context_digest(vote_id: bytes, joint_key: bytes, spec: Spec) -> bytes:
    return h32("context", vote_id, joint_key, u32(spec.m), u32(spec.lo), u32(spec.hi))


class Cursor:
    def __init__(self, data: bytes, kind: str) -> None:
        assert data[0] == ord(kind) and data[1] == 1, "kind/version"
        self.data, self.pos = data, 2

    def take(self, n: int) -> bytes:
        assert self.pos + n <= len(self.data), "truncated"
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def u8(self) -> int:
        return self.take(1)[0]

    def scalar(self) -> int:
        k = int.from_bytes(self.take(32), "big")
        assert k < N, "scalar not canonical"
        return k

    def end(self) -> None:
        assert self.pos == len(self.data), "trailing bytes"


def check_or_proof(
    tag: str,
    parts: list[bytes],
    key: bytes,
    a_enc: bytes,
    b_enc: bytes,
    values: list[int],
    proof: list[tuple[int, int]],
) -> bool:
    """Σ c_v = Hs(tag, parts, H, A, B, a_v, b_v ...) with a_v = s_v·G - c_v·A, b_v = s_v·H - c_v·(B - v·G)."""
    h_pt, a_pt, b_pt = group_element(key), group_element(a_enc, True), group_element(b_enc, True)
    if h_pt is False or a_pt is False or b_pt is False or len(proof) != len(values):
        return False
    commitments: list[bytes] = []
    for v, (c, s) in zip(values, proof, strict=True):
        shifted = pt_add(b_pt, pt_neg(pt_mul(v, B)))
        commitments.append(encode(pt_add(pt_mul(s, B), pt_neg(pt_mul(c, a_pt)))))
        commitments.append(encode(pt_add(pt_mul(s, h_pt), pt_neg(pt_mul(c, shifted)))))
    return sum(c for c, _ in proof) % N == hs(tag, *parts, key, a_enc, b_enc, *commitments)


def verify_ballot(
    vote_id: bytes, joint_key: bytes, spec: Spec, voter: bytes, data: bytes
) -> list[tuple[bytes, bytes]] | None:
    """The ballot's sent ciphertexts if every check of the guide passes, else None."""
    try:
        cur = Cursor(data, "B")
        n = cur.u8()
        cts = [(cur.take(33), cur.take(33)) for _ in range(n)]
        option_proofs = [[(cur.scalar(), cur.scalar()) for _ in range(2)] for _ in range(n)]
        sum_proof = [(cur.scalar(), cur.scalar()) for _ in range(cur.u8())]
        cur.end()
    except AssertionError:
        return None
    if n != spec.sent or len(sum_proof) != len(spec.sum_values):
        return None
    for a_enc, b_enc in cts:
        if group_element(a_enc) is False or group_element(b_enc) is False:
            return None
    ctx = context_digest(vote_id, joint_key, spec)
    for j, ((a_enc, b_enc), proof) in enumerate(zip(cts, option_proofs, strict=True)):
        if not check_or_proof(
            "option", [ctx, voter, u32(j)], joint_key, a_enc, b_enc, [0, 1], proof
        ):
            return None
    if spec.sum_values:
        sa, sb = sum_points([decode(a) for a, _ in cts]), sum_points([decode(b) for _, b in cts])
        if not check_or_proof(
            "sum", [ctx, voter], joint_key, encode(sa), encode(sb), spec.sum_values, sum_proof
        ):
            return None
    return cts


def sum_points(points: list[Pt]) -> Pt:
    acc = IDENT
    for p in points:
        acc = pt_add(acc, p)
    return acc


def aggregate(
    spec: Spec, ballots: list[tuple[list[tuple[bytes, bytes]], int]]
) -> tuple[list[tuple[bytes, bytes]], int]:
    """(Σ w·A_j, Σ w·B_j) per sent option, and W = Σ w."""
    out = []
    for j in range(spec.sent):
        a = sum_points([pt_mul(w, decode(cts[j][0])) for cts, w in ballots])
        b = sum_points([pt_mul(w, decode(cts[j][1])) for cts, w in ballots])
        out.append((encode(a), encode(b)))
    return out, sum(w for _, w in ballots)


def parse_tally(data: bytes) -> tuple[list[tuple[bytes, bytes]], int]:
    cur = Cursor(data, "T")
    n = cur.u8()
    weight = int.from_bytes(cur.take(8), "big")
    cts = [(cur.take(33), cur.take(33)) for _ in range(n)]
    cur.end()
    assert all(group_element(p, True) is not False for ct in cts for p in ct)
    return cts, weight


def parse_keyset(data: bytes) -> tuple[int, bytes, list[bytes]]:
    cur = Cursor(data, "K")
    k, n = cur.u8(), cur.u8()
    joint = cur.take(33)
    shares = [cur.take(33) for _ in range(n)]
    cur.end()
    assert all(group_element(x) is not False for x in [joint, *shares])
    return k, joint, shares


def verify_decryption_share(
    ctx: bytes, tally: list[tuple[bytes, bytes]], public_shares: list[bytes], data: bytes
) -> tuple[int, list[bytes]] | None:
    """(teller, [D_j]) when each D_j = x_t·A_j is proven: a = s·G - c·X_t, b = s·A_j - c·D_j."""
    cur = Cursor(data, "D")
    t, n = cur.u8(), cur.u8()
    parts = [(cur.take(33), cur.scalar(), cur.scalar()) for _ in range(n)]
    cur.end()
    if not 1 <= t <= len(public_shares) or n != len(tally):
        return None
    x_enc = public_shares[t - 1]
    x_pt = group_element(x_enc)
    for j, ((a_enc, _), (d_enc, c, s)) in enumerate(zip(tally, parts, strict=True)):
        a_pt, d_pt = group_element(a_enc, True), group_element(d_enc, True)
        if x_pt is False or a_pt is False or d_pt is False:
            return None
        a = pt_add(pt_mul(s, B), pt_neg(pt_mul(c, x_pt)))
        b = pt_add(pt_mul(s, a_pt), pt_neg(pt_mul(c, d_pt)))
        if c != hs("decrypt", ctx, u32(t), u32(j), x_enc, a_enc, d_enc, encode(a), encode(b)):
            return None
    return t, [d for d, _, _ in parts]


def lagrange(indices: list[int], t: int) -> int:
    num = den = 1
    for u in indices:
        if u != t:
            num, den = num * u % N, den * (u - t) % N
    return num * pow(den, N - 2, N) % N


def check_counts(
    spec: Spec,
    tally: list[tuple[bytes, bytes]],
    weight: int,
    shares: dict[int, list[bytes]],
    k: int,
    counts: list[int],
) -> bool:
    """count_j·G = B_j - Σ λ_t·D_t,j for the first k valid tellers; derived last = S·W - Σ."""
    chosen = sorted(shares)[:k]
    if len(chosen) < k or len(counts) != spec.m:
        return False
    for j, (_, b_enc) in enumerate(tally):
        xa = sum_points([pt_mul(lagrange(chosen, t), decode(shares[t][j])) for t in chosen])
        if not 0 <= counts[j] <= weight or not pt_eq(
            pt_mul(counts[j], B), pt_add(decode(b_enc), pt_neg(xa))
        ):
            return False
    if spec.lo == spec.hi:
        return counts[-1] == spec.lo * weight - sum(counts[:-1])
    return True


def ceremony_keys(
    ceremony_id: bytes, k: int, tellers: list[bytes], dealings: list[bytes]
) -> tuple[bytes, list[bytes]]:
    """H and X_1..X_n from the qualified dealings' commitments (each proof of knowledge checked)."""
    digest = h32("ceremony", ceremony_id, u32(k), u32(len(tellers)), *tellers)
    summed: list[Pt] = [IDENT] * k
    for data in dealings:
        cur = Cursor(data, "d")
        dealer, count = cur.u8(), cur.u8()
        assert count == k
        encs = [cur.take(33) for _ in range(k)]
        pts = [group_element(e) for e in encs]
        assert all(p is not False for p in pts)
        c, s = cur.scalar(), cur.scalar()
        r = pt_add(pt_mul(s, B), pt_neg(pt_mul(c, pts[0])))
        assert c == hs("dealer", digest, u32(dealer), *encs, encode(r)), "proof of knowledge"
        summed = [pt_add(acc, p) for acc, p in zip(summed, pts, strict=True)]
    shares = [
        encode(sum_points([pt_mul(pow(j, t, N), c) for t, c in enumerate(summed)]))
        for j in range(1, len(tellers) + 1)
    ]
    return encode(summed[0]), shares
