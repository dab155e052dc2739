"""Entries a sealed vote depends on are kept past their author's roster cut.

A revocation or rotation names the last entry of the key the admin had seen
(``at``); stores refuse what the key wrote after it, and sync stops there.
But once a close sheet has its k seals (charters with ``f``), the ballots it
lists count as listed, whatever later roster changes say: so a laptop must
still store them, and offer them to its peers. This module says, per author,
up to which seq a store keeps and offers entries past the cut: the highest seq
of an entry that a sealed sheet depends on (its charter and roll parts, the
sheet and its parts, its seals, the ballots it lists), and everything before
it in that author's chain. A secret vote, open or sealed, also depends on the
dealings its charter's keys come from: without them no laptop can check the
charter, and the vote would never show there (a teller revoked after the vote
opened must not hide it from laptops that had not yet received its dealing).

A vote that is not sealed yet (charters with ``f``) depends on its tellers'
counting seals too: a teller revoked or rotated while its laptop had not heard
may still seal, and that seal counts (field_guides/voting.md "Losing a
teller"). If laptops that heard of the cut dropped it, the other tellers could
not see which sheet it joined, seal another one, and the vote would never
finish. So that seal (its one seal on the vote, on a sheet of the vote: never
an equivocating second seal) is kept too, but only if every entry of the key
between the cut and the seal is a ballot, seal or share on a vote whose
charter is here, at most one of each kind per vote
(:func:`ledger.votes.seals.kept_past_cut`): a store keeps a chain
contiguously, and this way a thief holding the revoked key can make it keep at
most three entries per vote, never a flood of ballots or anything else. The
votes view shows such a kept seal on its sheet (every laptop holds it); the
rules that say whether a vote is sealed do not change (a seal past the cut
always counted where it was held).

Not past a fork point: a copied key's two chains cannot both be stored (the
fork proof carries the two entries at the fork point, and the votes view reads
those).

The store asks only when an entry past a cut shows up, so the common case
costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from ledger.entry import Entry
from ledger.votes.bodies import VOTE_KINDS
from ledger.votes.state import FINAL, SEALED, Vote, Votes
from ledger.votes.view import fold


def depends_on(vote: Vote) -> set[bytes]:
    """Ids of the entries a sealed vote depends on (charter, sheet, seals, listed ballots,
    and a secret vote's ``vote.share`` entries on the sealed sheet)."""
    out = {vote.charter.id, *vote.charter.fields.roll_parts}
    sheet = vote.sheets.get(vote.sealed_sheet or b"")
    if sheet is not None:
        out.add(sheet.id)
        out.update(sheet.parts)
        out.update(s.id for s in sheet.sealers)
        out.update(sheet.ballots or ())
        # a secret vote's share entries on it: a FINAL seen with them never turns SEALED
        out.update(s.id for s in vote.share_entries if s.sheet == sheet.id)
    return out


def dealings_of(vote: Vote, votes: Votes) -> set[bytes]:
    """Ids of the dealings a secret vote's charter keys come from (every dealing of its
    qualified dealers) and of their ceremony: without them no laptop can check the
    charter, so the vote would never show there, open or sealed."""
    secret = vote.charter.fields.secret
    c = votes.ceremonies.get(secret.ceremony) if secret is not None else None
    if secret is None or c is None:
        return set()
    qualified = set(secret.qualified)
    out = {i for i, d in zip(c.dealing_ids, c.dealings, strict=True) if d.dealer in qualified}
    return out | {secret.ceremony}  # and the ceremony they belong to (its coordinator's)


def kept_limits(store: object, extra: Iterable[Entry] = ()) -> dict[bytes, int]:
    """author -> highest seq kept past its cut, over the store's entries plus ``extra``
    (entries being ingested). Empty when no sealed vote depends on such an entry."""
    from ledger.store import Store

    assert isinstance(store, Store)
    roster = store.roster()
    entries = {e.id: e for e in store.entries(kind_prefix="vote.", ordered=False)}
    for e in extra:
        if e.kind in VOTE_KINDS:
            entries.setdefault(e.id, e)
    proofs = [e for p in store.fork_proofs() for e in (p.a, p.b) if e.kind in VOTE_KINDS]
    votes = fold(list(entries.values()), roster, {}, proofs, count=False)  # no tally needed
    limits: dict[bytes, int] = {}
    for vote in votes.votes.values():
        needed = dealings_of(vote, votes)
        if vote.charter.fields.rules == 2 and vote.state in (SEALED, FINAL):
            needed |= depends_on(vote)
        needed.update(s.id for s in vote.kept_seals)  # rules 2, not sealed yet
        for eid in needed:
            dep = entries.get(eid)
            if dep is None:
                continue
            info = roster.keys.get(dep.author)
            if info is None or info.valid_at(dep.seq):
                continue  # within the cut: nothing to extend
            if info.fork_seq is not None and dep.seq >= info.fork_seq:
                continue  # past a fork point: the other chain holds that seq
            limits[dep.author] = max(limits.get(dep.author, 0), dep.seq)
    return limits
