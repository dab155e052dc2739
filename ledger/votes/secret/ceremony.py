"""Threshold key generation among n tellers (joint-Feldman / Pedersen DKG), over public entries.

Round 1 — every teller i publishes a *dealing*: Feldman commitments C_i,t = a_i,t·G
to a random polynomial f_i of degree k-1, a Schnorr proof that it knows a_i,0,
and f_i(j) for every teller j (itself included) sealed in a NaCl Box from i's
key to j's key (both the Curve25519 forms of their ed25519 identities). So the
ceremony runs over ordinary signed ledger entries; nobody stores secret state
between rounds — a teller re-derives its share from the ledger with its key.

Round 2 — teller j opens its boxes and checks s = f_i(j) against the commitments
(s·G = Σ_t j^t·C_i,t). A bad or unopenable box earns a public *complaint*; the
accused answers with a *justification* publishing that one share in clear, which
anyone checks. An unanswered complaint holds the ceremony open (the state names
who is awaited); a wrong answer, a bad dealing or two different dealings
disqualify the dealer. The rest are QUAL: H = Σ_QUAL C_i,0, teller j's secret
x_j = Σ_QUAL f_i(j), its public share X_j = Σ_t j^t·(Σ_QUAL C_i,t).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from . import codec, group, proofs
from .errors import BallotEncodingError, CeremonyIncomplete, ProofRejected
from .group import N, Rng
from .keys import KeySet
from .proofs import Proof

if TYPE_CHECKING:
    import nacl.signing

# nacl is imported where boxes are made or opened, not with the module: a read command
# that folds votes (and so ceremonies) starts without loading libsodium's bindings.

REASON_BOX = 1  # the box for me is missing or does not open
REASON_SHARE = 2  # the share does not match the dealer's commitments
NONCE_BYTES = 24
BOX_BYTES = 32 + 16


@dataclass(frozen=True)
class CeremonyParams:
    """Ceremony id (32 bytes), threshold k, and the tellers' ed25519 keys in index order (1-based)."""

    ceremony_id: bytes
    threshold: int
    tellers: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if len(self.ceremony_id) != 32:
            raise BallotEncodingError("the ceremony id is 32 bytes")
        if not 1 <= len(self.tellers) <= 255 or len(set(self.tellers)) != len(self.tellers):
            raise BallotEncodingError("a ceremony has 1..255 distinct tellers")
        if any(len(t) != 32 for t in self.tellers):
            raise BallotEncodingError("teller keys are 32-byte ed25519 keys")
        if not 1 <= self.threshold <= len(self.tellers):
            raise BallotEncodingError(
                f"threshold {self.threshold} is not within 1..{len(self.tellers)}"
            )

    @cached_property
    def digest(self) -> bytes:
        """hash32("ceremony", id, u32 k, u32 n, teller keys...)."""
        n = len(self.tellers)
        return group.hash32(
            "ceremony", self.ceremony_id, group.u32(self.threshold), group.u32(n), *self.tellers
        )


@dataclass(frozen=True)
class Dealing:
    dealer: int
    commitments: tuple[bytes, ...]
    proof: Proof
    boxes: tuple[tuple[int, bytes, bytes], ...]  # (recipient, nonce, sealed share)

    def to_bytes(self) -> bytes:
        out = [
            codec.header(codec.KIND_DEALING),
            codec.u8(self.dealer),
            codec.u8(len(self.commitments)),
        ]
        out += [*self.commitments, codec.proof_bytes(self.proof), codec.u8(len(self.boxes))]
        out += [codec.u8(j) + nonce + box for j, nonce, box in self.boxes]
        return b"".join(out)

    @classmethod
    def from_bytes(cls, data: bytes) -> Dealing:
        r = codec.Reader(data, codec.KIND_DEALING, "dealing")
        dealer = r.u8()
        commitments = tuple(r.point() for _ in range(r.u8()))
        proof = r.proof()
        boxes = tuple((r.u8(), r.take(NONCE_BYTES), r.take(BOX_BYTES)) for _ in range(r.u8()))
        r.done()
        return cls(dealer, commitments, proof, boxes)


@dataclass(frozen=True)
class Complaint:
    accuser: int
    accused: int
    reason: int

    def to_bytes(self) -> bytes:
        return codec.header(codec.KIND_COMPLAINT) + bytes([self.accuser, self.accused, self.reason])

    @classmethod
    def from_bytes(cls, data: bytes) -> Complaint:
        r = codec.Reader(data, codec.KIND_COMPLAINT, "complaint")
        out = cls(r.u8(), r.u8(), r.u8())
        r.done()
        if out.reason not in (REASON_BOX, REASON_SHARE):
            raise BallotEncodingError(f"complaint: unknown reason {out.reason}")
        return out


@dataclass(frozen=True)
class Justification:
    dealer: int
    recipient: int
    share: int

    def to_bytes(self) -> bytes:
        head = codec.header(codec.KIND_JUSTIFICATION) + bytes([self.dealer, self.recipient])
        return head + group.scalar_bytes(self.share)

    @classmethod
    def from_bytes(cls, data: bytes) -> Justification:
        r = codec.Reader(data, codec.KIND_JUSTIFICATION, "justification")
        out = cls(r.u8(), r.u8(), r.scalar())
        r.done()
        return out


def box_public(teller_key: bytes) -> bytes:
    """The Curve25519 key a teller's shares are sealed to (from its ed25519 key)."""
    import nacl.bindings as sodium
    import nacl.exceptions

    try:
        return sodium.crypto_sign_ed25519_pk_to_curve25519(teller_key)
    except (nacl.exceptions.RuntimeError, nacl.exceptions.TypeError) as e:
        raise BallotEncodingError("teller key is not a usable ed25519 key") from e


def box_secret(signing_key: nacl.signing.SigningKey) -> bytes:
    """The Curve25519 secret matching ``box_public(verify key)``."""
    import nacl.bindings as sodium

    return sodium.crypto_sign_ed25519_sk_to_curve25519(signing_key._signing_key)


def _pok_parts(
    params: CeremonyParams, dealer: int, commitments: tuple[bytes, ...]
) -> tuple[bytes, ...]:
    return params.digest, group.u32(dealer), *commitments


def deal(
    params: CeremonyParams, dealer: int, signing_key: nacl.signing.SigningKey, rng: Rng = os.urandom
) -> Dealing:
    """Teller ``dealer`` (1-based) makes its dealing: commitments, proof, sealed shares."""
    import nacl.bindings as sodium

    if not 1 <= dealer <= len(params.tellers) or params.tellers[dealer - 1] != bytes(
        signing_key.verify_key
    ):
        raise BallotEncodingError(f"this key is not teller {dealer} of the ceremony")
    coefficients = [group.random_scalar(rng) for _ in range(params.threshold)]
    commitments = tuple(group.base(a) for a in coefficients)
    proof = proofs.prove_schnorr(
        "dealer", _pok_parts(params, dealer, commitments), coefficients[0], rng
    )
    secret = box_secret(signing_key)
    boxes = []
    for j, teller in enumerate(params.tellers, start=1):
        share = sum(a * pow(j, t, N) for t, a in enumerate(coefficients)) % N
        nonce = rng(NONCE_BYTES)
        boxes.append(
            (
                j,
                nonce,
                sodium.crypto_box(group.scalar_bytes(share), nonce, box_public(teller), secret),
            )
        )
    return Dealing(dealer, commitments, proof, tuple(boxes))


def check_dealing(params: CeremonyParams, dealing: Dealing) -> str | None:
    """Why the dealing is unusable by anyone, or None. Checks only public facts."""
    n, k = len(params.tellers), params.threshold
    if not 1 <= dealing.dealer <= n:
        return f"dealer index {dealing.dealer} is not a teller"
    if len(dealing.commitments) != k:
        return f"{len(dealing.commitments)} commitments, threshold {k} needs {k}"
    if not all(group.is_group_element(c) for c in dealing.commitments):
        return "a commitment is not a secp256k1 point"
    if [j for j, _, _ in dealing.boxes] != list(range(1, n + 1)):
        return "not exactly one sealed share per teller, in teller order"
    parts = _pok_parts(params, dealing.dealer, dealing.commitments)
    if not proofs.verify_schnorr("dealer", parts, dealing.commitments[0], dealing.proof):
        return "proof of knowledge of the secret does not verify"
    return None


def share_matches(dealing: Dealing, recipient: int, share: int) -> bool:
    """Feldman check: share·G = Σ_t recipient^t · C_t."""
    expected = group.total(
        [group.mul(pow(recipient, t, N), c) for t, c in enumerate(dealing.commitments)]
    )
    return group.base(share) == expected


def _unseal(
    params: CeremonyParams, dealing: Dealing, recipient: int, signing_key: nacl.signing.SigningKey
) -> tuple[int | None, int]:
    """(share, 0) when the share sealed for ``recipient`` opens and matches, else (None, reason)."""
    import nacl.bindings as sodium
    import nacl.exceptions

    boxes = {j: (nonce, box) for j, nonce, box in dealing.boxes}
    if recipient not in boxes or not 1 <= dealing.dealer <= len(params.tellers):
        return None, REASON_BOX
    nonce, box = boxes[recipient]
    dealer_key = box_public(params.tellers[dealing.dealer - 1])
    try:
        plain = sodium.crypto_box_open(box, nonce, dealer_key, box_secret(signing_key))
        share = group.decode_scalar(plain)
    except (nacl.exceptions.CryptoError, BallotEncodingError):
        return None, REASON_BOX
    if not share_matches(dealing, recipient, share):
        return None, REASON_SHARE
    return share, 0


def open_share(
    params: CeremonyParams, dealing: Dealing, recipient: int, signing_key: nacl.signing.SigningKey
) -> int:
    """Open and check the share ``dealing`` sealed for ``recipient``; ProofRejected if bad."""
    share, reason = _unseal(params, dealing, recipient, signing_key)
    if share is None:
        what = "does not open" if reason == REASON_BOX else "does not match its commitments"
        raise ProofRejected(f"the share from teller {dealing.dealer} {what}")
    return share


def complaint_for(
    params: CeremonyParams, dealing: Dealing, recipient: int, signing_key: nacl.signing.SigningKey
) -> Complaint | None:
    """The complaint ``recipient`` must publish about ``dealing``, or None if its share is good."""
    share, reason = _unseal(params, dealing, recipient, signing_key)
    return None if share is not None else Complaint(recipient, dealing.dealer, reason)


def justify(
    params: CeremonyParams,
    dealer: int,
    complaint: Complaint,
    signing_key: nacl.signing.SigningKey,
    dealing: Dealing,
) -> Justification:
    """The accused dealer's answer: the accuser's share, in clear (recomputed from its own box)."""
    import nacl.bindings as sodium

    if complaint.accused != dealer or dealing.dealer != dealer:
        raise BallotEncodingError("this complaint is not about this dealer")
    boxes = {j: (nonce, box) for j, nonce, box in dealing.boxes}
    if complaint.accuser not in boxes:
        raise BallotEncodingError(f"this dealing sealed no share for teller {complaint.accuser}")
    nonce, box = boxes[complaint.accuser]
    accuser_key = box_public(params.tellers[complaint.accuser - 1])
    # A Box opens from either side: the dealer's secret with the recipient's public key.
    share = sodium.crypto_box_open(box, nonce, accuser_key, box_secret(signing_key))
    return Justification(dealer, complaint.accuser, group.decode_scalar(share))


@dataclass(frozen=True)
class CeremonyState:
    """Where the ceremony stands, the same on every laptop holding the same entries."""

    missing: tuple[int, ...]
    pending: tuple[tuple[int, int], ...]  # (accused, accuser) with no valid answer yet
    disqualified: dict[int, str] = field(default_factory=dict)
    qualified: tuple[int, ...] = ()
    keys: KeySet | None = None

    @property
    def complete(self) -> bool:
        return self.keys is not None

    def explain(self) -> str:
        """One line for an operator: what the ceremony waits for, or that it is done."""
        bits = []
        if self.missing:
            bits.append("no dealing yet from teller(s) " + ", ".join(map(str, self.missing)))
        for accused, accuser in self.pending:
            bits.append(f"teller {accused} has not answered teller {accuser}'s complaint")
        for teller, why in sorted(self.disqualified.items()):
            bits.append(f"teller {teller} disqualified: {why}")
        if self.complete:
            return "complete; " + "; ".join(bits) if bits else "complete"
        return "; ".join(bits) or "too few qualified dealers"


def fold(
    params: CeremonyParams,
    dealings: Iterable[Dealing],
    complaints: Iterable[Complaint] = (),
    justifications: Iterable[Justification] = (),
    excluded: Mapping[int, str] | None = None,
) -> CeremonyState:
    """The ceremony's state from its public entries, in any order. ``excluded``: dealers
    out whatever they published (teller -> why), neither awaited nor qualified."""
    n = len(params.tellers)
    by_dealer: dict[int, Dealing] = {}
    disqualified: dict[int, str] = dict(excluded or {})
    for d in dealings:
        if not 1 <= d.dealer <= n:
            continue
        if d.dealer in by_dealer and by_dealer[d.dealer] != d:
            disqualified[d.dealer] = "published two different dealings"
        by_dealer.setdefault(d.dealer, d)
    for i, d in by_dealer.items():
        why = check_dealing(params, d)
        if why and i not in disqualified:
            disqualified[i] = why
    answers: dict[tuple[int, int], list[int]] = defaultdict(list)
    for j in justifications:
        answers[(j.dealer, j.recipient)].append(j.share)
    pending = []
    for c in sorted({(c.accused, c.accuser) for c in complaints}):
        accused, accuser = c
        if (
            accused not in by_dealer
            or accused in disqualified
            or not 1 <= accuser <= n
            or accuser == accused
        ):
            continue
        shares = answers.get(c, [])
        if any(share_matches(by_dealer[accused], accuser, s) for s in shares):
            continue
        if shares:
            disqualified[accused] = f"answered teller {accuser}'s complaint with a wrong share"
        else:
            pending.append(c)
    pending = [c for c in pending if c[0] not in disqualified]
    missing = tuple(t for t in range(1, n + 1) if t not in by_dealer and t not in disqualified)
    qualified = tuple(sorted(set(by_dealer) - set(disqualified)))
    state = CeremonyState(missing, tuple(pending), disqualified, qualified)
    if missing or pending or len(qualified) < params.threshold:
        return state
    return CeremonyState(
        missing, (), disqualified, qualified, key_set(params, [by_dealer[i] for i in qualified])
    )


def key_set(params: CeremonyParams, qualified: list[Dealing]) -> KeySet:
    """H = Σ C_i,0 and X_j = Σ_t j^t · (Σ_i C_i,t) over the qualified dealings."""
    k = params.threshold
    summed = [group.total([d.commitments[t] for d in qualified]) for t in range(k)]
    public_shares = tuple(
        group.total([group.mul(pow(j, t, N), c) for t, c in enumerate(summed)])
        for j in range(1, len(params.tellers) + 1)
    )
    return KeySet(k, summed[0], public_shares)


def teller_secret(
    params: CeremonyParams,
    me: int,
    signing_key: nacl.signing.SigningKey,
    dealings: Iterable[Dealing],
    justifications: Iterable[Justification],
    state: CeremonyState,
) -> int:
    """Teller ``me``'s share x_me = Σ_QUAL f_i(me), re-derived from the ledger with its key."""
    if state.keys is None:
        raise CeremonyIncomplete(f"the key ceremony is not complete: {state.explain()}")
    if not 1 <= me <= len(params.tellers):
        raise BallotEncodingError(f"teller index {me} is not within 1..{len(params.tellers)}")
    published = {j.dealer: j.share for j in justifications if j.recipient == me}
    by_dealer = {d.dealer: d for d in dealings}
    total = 0
    for i in state.qualified:
        share = published.get(i)
        if share is None or not share_matches(by_dealer[i], me, share):
            share = open_share(params, by_dealer[i], me, signing_key)
        total += share
    total %= N
    if group.base(total) != state.keys.public_shares[me - 1]:
        raise ProofRejected("my secret share does not match my public share")
    return total
