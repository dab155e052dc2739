"""`vote verify` for secret votes: every ballot proof, the product, every share, the counts.

Runs on the vote as folded from the raw signed entries (:func:`ledger.votes.audit.verify`
re-reads and re-checks every signature first). The fold already verified each ballot's
proofs (a ballot that fails is spoiled); this module recomputes, independently of the
fold's own bookkeeping, the homomorphic product over the counted ballots, re-checks each
valid decryption share (of a seal or a ``vote.share`` entry) against it, and checks the claimed counts by the equation
``B*_j - Σ λ_t·D_tj = count_j·G`` (field_guides/secret-ballots.md, "Counts").
"""

from __future__ import annotations

from typing import Any

from ledger.votes import secret_tally
from ledger.votes.secret import EncryptedTally, aggregate, group
from ledger.votes.secret.tally import lagrange_at_zero
from ledger.votes.state import FINAL, SPOILED, Vote


def check(vote: Vote) -> dict[str, Any] | None:
    """What `vote verify` reports about a secret vote (None: an open vote)."""
    f = vote.charter.fields
    if f.secret is None:
        return None
    # every ballot that does not count as a choice: a proof that fails, and a ballot that
    # is not encrypted at all (another tool's plain or blank ballot) alike
    spoiled = sum(1 for b in vote.ballots.values() if b.spoiled)
    out: dict[str, Any] = {
        "ceremony": f.secret.ceremony.hex(),
        "joint_key": f.secret.keys.joint_key.hex(),
        "ballots_verified": len(vote.encrypted),
        "ballots_rejected": spoiled,
        "product_check": None,
        "shares": [],
        "valid_shares": 0,
        "counts": None,
        "counts_check": None,
        "shares_check": None,
        "waiting": None,
    }
    sc = vote.secret
    if sc is None:
        return out
    out.update(
        shares=[s.to_json() for s in sc.shares],
        valid_shares=sum(s.valid for s in sc.shares),
        counts=sc.counts,
        waiting=sc.waiting,
    )
    if vote.state != FINAL or vote.result is None or sc.counts is None:
        return out
    ctx = secret_tally.context(vote.id, f)
    counted = [(vote.encrypted[b.id], r_weight(vote, b.member)) for b in vote.result.counted]
    product = aggregate(ctx, counted)
    out["product_check"] = product == sc.tally
    out["shares_check"] = _shares_hold(vote, product)
    out["counts_check"] = (
        out["product_check"] and out["shares_check"] and _counts_hold(vote, product, sc.counts)
    )
    return out


def _share_bytes(vote: Vote) -> dict[bytes, Any]:
    """Entry id -> the share bytes it signed: the sealed sheet's seals (and a copied
    teller's twins) and the ``vote.share`` entries on it."""
    sheet = vote.sheets[vote.sealed_sheet or b""]
    carriers = [*sheet.sealers, *sheet.set_aside, *vote.twin_seals, *vote.share_entries]
    return {s.id: s.share for s in carriers}


def _shares_hold(vote: Vote, product: EncryptedTally) -> bool:
    """Every share the fold calls valid verifies again over the recomputed product (its
    Chaum-Pedersen proof, for the teller index it is made out for)."""
    from ledger.votes.secret import DecryptionShare, verify_share

    f = vote.charter.fields
    assert vote.secret is not None and f.secret is not None
    ctx = secret_tally.context(vote.id, f)
    data = _share_bytes(vote)
    for s in vote.secret.shares:
        if not s.valid:
            continue
        share = DecryptionShare.from_bytes(data[s.seal])
        if share.teller != s.teller or not verify_share(ctx, product, share, f.secret.keys):
            return False
    return True


def r_weight(vote: Vote, member: bytes) -> int:
    return vote.charter.roll[member]


def _counts_hold(vote: Vote, tally: EncryptedTally, counts: dict[str, int]) -> bool:
    """Each sent option's count·G equals B* minus the Lagrange-combined shares."""
    from ledger.votes.secret import DecryptionShare

    sc = vote.secret
    f = vote.charter.fields
    assert sc is not None and f.secret is not None
    data = _share_bytes(vote)
    firsts: dict[int, bytes] = {}  # one valid share per teller (its first serves)
    for s in sc.shares:
        if s.valid:
            firsts.setdefault(s.teller, s.seal)
    valid = sorted(firsts.items())[: f.secret.keys.threshold]
    if len(valid) < f.secret.keys.threshold:
        return False
    shares = [DecryptionShare.from_bytes(data[sid]) for _, sid in valid]
    lambdas = lagrange_at_zero([t for t, _ in valid])
    values = [counts[o.id] for o in f.options]
    for j, (_, b) in enumerate(tally.ciphertexts):
        xa = group.rsum(
            group.rmul(lam, group.load(s.parts[j][0]))
            for s, lam in zip(shares, lambdas, strict=True)
        )
        m = group.radd(group.load(b), group.rneg(xa))
        want = group.rbase(values[j]) if values[j] else None
        if group.dump(m) != group.dump(want):
            return False
    if secret_tally.spec_of(f).exact:
        return sum(values) == tally.total_weight
    return True


__all__ = ["SPOILED", "check"]
