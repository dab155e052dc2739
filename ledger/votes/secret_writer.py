"""Writing secret votes: the key ceremony's entries, the secret charter, encrypted ballots
and a teller's decryption share (when it goes out: :mod:`ledger.votes.share_writer`,
seal, then share). Checked before anything is signed;
the view (:mod:`ledger.votes.view`, :mod:`ledger.votes.ceremonies`) stays the authority.

A teller never stores a secret between steps: its dealing's shares are sealed to the
other tellers in the ledger, and its key share is re-derived from the ledger with its
laptop key when it seals (field_guides/secret-ballots.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ledger.entry import Entry
from ledger.errors import InvalidInput, TrustError
from ledger.identity import Identity
from ledger.roster.view import ROTATED, Roster
from ledger.store import Store
from ledger.votes import secret_tally
from ledger.votes.bodies import (
    APPROVAL,
    CEREMONY,
    CHECKED,
    COMPLAIN,
    DEAL,
    JUSTIFY,
    PLURALITY,
    Option,
)
from ledger.votes.ceremonies import Ceremony, explain, qualified_dealings
from ledger.votes.result import sealed_slots
from ledger.votes.secret import (
    CeremonyState,
    ProofRejected,
    check_selection,
    complaint_for,
    deal,
    decryption_share,
    encrypt,
    justify,
    share_matches,
    teller_secret,
)
from ledger.votes.state import Sheet, Vote, Votes

if TYPE_CHECKING:
    from ledger.votes.writer import VoteSpec

SECRET_METHODS = (PLURALITY, APPROVAL)


def find_ceremony(votes: Votes, text: str) -> Ceremony:
    """A ceremony by its id or an unambiguous prefix (at least 4 hex characters)."""
    text = text.strip().lower()
    found = [c for cid, c in sorted(votes.ceremonies.items()) if cid.hex().startswith(text)]
    if len(text) >= 4 and len(found) == 1:
        return found[0]
    if len(text) >= 4 and len(found) > 1:
        raise InvalidInput(f"{text!r} matches {len(found)} key ceremonies; give more of the id")
    if len(text) < 4:
        raise InvalidInput(
            f"{text!r} is too short to name a key ceremony: give at least 4 hex characters "
            "of its id",
            hint="`plurictl vote ceremony list` shows the ceremonies here",
        )
    raise InvalidInput(
        f"no key ceremony matches {text!r}",
        hint="sync with the mesh; `plurictl vote ceremony list` shows the ceremonies here",
    )


def awaited(c: Ceremony, roster: Roster) -> str:
    """The ceremony's state in words, with teller names; a teller it waits for whose seat
    key can no longer write (revoked, rotated) is named, with the way out."""
    text = explain(c, roster.name_of)
    why = cannot_open(c, roster) if c.complete else cannot_complete(c, roster)
    return f"{text}; {why}" if why else text


def cannot_complete(c: Ceremony, roster: Roster) -> str | None:
    """Why a ceremony that is not complete never will (None: it still may): a teller it
    waits for can no longer write, or too few dealers are left to qualify."""
    if c.complete or c.state is None:
        return None
    parts = []
    gone = [(i, why) for i in c.awaited() if (why := seat_gone(c, roster, i))]
    if gone:
        parts.append(f"{_seats(c, roster, gone)}, so can never write its part")
    left = len(c.tellers) - len(c.state.disqualified)
    if left < c.k:
        parts.append(f"only {left} dealer(s) can still qualify, {c.k} needed")
    if not parts:
        return None
    return (
        "; ".join(parts)
        + ": this ceremony cannot complete; start a new ceremony"
        + (" without them" if gone else "")
    )


def _seats(c: Ceremony, roster: Roster, gone: list[tuple[int, str]]) -> str:
    return ", ".join(f"{roster.name_of(c.tellers[i - 1])} (teller {i}): {why}" for i, why in gone)


def cannot_open(c: Ceremony, roster: Roster) -> str | None:
    """Why a complete ceremony can no longer open a vote: a teller's seat key was rotated,
    revoked or copied since (the vote's seat keys are the ceremony's); None when it can."""
    gone = [(i, why) for i in range(1, len(c.tellers) + 1) if (why := seat_gone(c, roster, i))]
    if not gone:
        return None
    rotated = any(why == f"seat key {ROTATED}" for _, why in gone)
    what = "key changed since the key ceremony" if rotated else "seat key can no longer write"
    seats = "; ".join(f"{why}: {roster.name_of(c.tellers[i - 1])}, teller {i}" for i, why in gone)
    return f"a teller's {what} ({seats}), so it can no longer open a vote; start a new ceremony"


def seat_gone(c: Ceremony, roster: Roster, i: int) -> str | None:
    """Why teller ``i``'s seat key can no longer write (None: it can)."""
    info = roster.keys.get(c.teller_keys[c.tellers[i - 1]])
    if info is None:
        return "seat key not in the roster"
    return f"seat key {info.status}" if info.limit is not None else None


# --- the ceremony ------------------------------------------------------------------


def start_body(roster: Roster, tellers: list[bytes], k: int, f: int) -> dict[str, Any]:
    """A ``vote.ceremony`` body for teller members (seat keys: their current keys)."""
    members = sorted(tellers)
    return {
        "tellers": [m.hex() for m in members],
        "teller_keys": {m.hex(): (roster.current_key(m) or m).hex() for m in members},
        "k": k,
        "f": f,
    }


def start(
    store: Store, identity: Identity, tellers: list[bytes], k: int | None, tolerate: int | None
) -> Entry:
    """A coordinator starts a key ceremony among ``tellers`` (keys of teller-role holders)."""
    from ledger.votes.writer import need_role, resolve_tellers, threshold

    roster = store.roster()
    need_role(store, roster, identity, "coordinator", "start a key ceremony")
    members = resolve_tellers(roster, tellers)
    k, f = threshold(len(members), k, tolerate)
    if k < 2:  # k shares decrypt: with k = 1 one teller alone could read every ballot
        raise InvalidInput(
            f"a key ceremony with k={k} would let one teller alone decrypt every ballot",
            hint="name at least 2 tellers (4 is the advice: field_guides/voting.md)",
        )
    return store.append(identity, CEREMONY, start_body(roster, members, k, f))


@dataclass
class StepResult:
    ceremony: Ceremony
    index: int
    written: list[tuple[str, str]] = field(default_factory=list)  # (kind, what it says)
    entries: list[Entry] = field(default_factory=list)


def refuse_unusable_keys(c: Ceremony, roster: Roster) -> None:
    """A seat key that is no ed25519 point (a ceremony written by another tool) can have no
    share sealed to it: name the teller before anything is written."""
    from ledger.votes.secret.ceremony import box_public
    from ledger.votes.secret.errors import BallotEncodingError

    for i, key in enumerate(c.params.tellers, 1):
        try:
            box_public(key)
        except BallotEncodingError:
            raise InvalidInput(
                f"the seat key of {roster.name_of(c.tellers[i - 1])} (teller {i}) in this "
                "ceremony is not a usable ed25519 key: no share can be sealed to it, so this "
                "ceremony can never complete",
                hint="the coordinator starts a new ceremony (field_guides/secret-ballots.md)",
            ) from None


def step(store: Store, identity: Identity, ceremony_text: str) -> StepResult:
    """Do everything this teller's laptop has to do in the ceremony now: deal (once),
    complain about any share for it that does not open or match, and answer every
    complaint against it. Safe to run again at any time: it writes only what is missing."""
    from ledger.votes.writer import load_ceremonies as load

    votes, roster = load(store)
    c = find_ceremony(votes, ceremony_text)
    me = c.index_of_key(identity.public)
    if me is None:
        names = ", ".join(roster.name_of(t) for t in c.tellers)
        raise TrustError(f"this laptop's key holds no teller seat in this ceremony ({names})")
    if roster.mesh_id is None:
        from ledger.errors import NotInMesh

        raise NotInMesh()
    info = roster.keys.get(identity.public)
    if info is not None and info.limit is not None:  # refused before anything is written
        raise TrustError(
            f"this laptop's key is {info.status}; it can no longer take part in the ceremony "
            "(a dealing it wrote now could never be checked or used to seal)",
            hint="the coordinator starts a new ceremony without this teller "
            "(field_guides/secret-ballots.md)",
        )
    refuse_unusable_keys(c, roster)
    out = StepResult(c, me)
    params, key = c.params, identity.signing_key
    items: list[tuple[str, dict[str, Any]]] = []
    if me not in c.dealt:
        dealing = deal(params, me, key)
        items.append((DEAL, {"ceremony": c.id.hex(), "dealing": dealing.to_bytes()}))
        out.written.append((DEAL, f"dealing of teller {me}"))
    made = {(x.accuser, x.accused) for x in c.complaints}
    for d in c.dealings:
        if d.dealer == me or (me, d.dealer) in made:
            continue
        complaint = complaint_for(params, d, me, key)
        if complaint is not None:
            made.add((me, d.dealer))
            body = {"ceremony": c.id.hex(), "complaint": complaint.to_bytes()}
            items.append((COMPLAIN, body))
            out.written.append((COMPLAIN, f"complaint against teller {d.dealer}"))
    mine = [d for d in c.dealings if d.dealer == me]
    pending = c.state.pending if c.state is not None else ()
    for accused, accuser in pending:
        if accused != me or not mine:
            continue
        complaint = next(x for x in c.complaints if (x.accused, x.accuser) == (me, accuser))
        try:
            answer = justify(params, me, complaint, key, mine[0])
        except Exception as e:  # nothing written: the ceremony can never complete
            raise ProofRejected(
                f"cannot answer the complaint of teller {accuser}: this laptop's own dealing "
                "does not open for it, so this ceremony can never complete",
                hint="the coordinator starts a new ceremony (field_guides/secret-ballots.md)",
            ) from e
        items.append((JUSTIFY, {"ceremony": c.id.hex(), "justification": answer.to_bytes()}))
        out.written.append((JUSTIFY, f"answer to teller {accuser}'s complaint"))
    if items:
        out.entries = store.append_many(identity, items)
    after, _ = load(store)
    out.ceremony = after.ceremonies[c.id]
    st = out.ceremony.state
    # checks are written once every teller has dealt (one entry each, not one per arrival)
    checked = checkable(out.ceremony, me, identity) if st and not st.missing else {}
    if checked:
        dealers = ", ".join(str(i) for i in sorted(checked.values()))
        body = {"ceremony": c.id.hex(), "dealings": [i.hex() for i in sorted(checked)]}
        out.entries += store.append_many(identity, [(CHECKED, body)])
        out.written.append((CHECKED, f"check: the shares from teller(s) {dealers} are good"))
        after, _ = load(store)
        out.ceremony = after.ceremonies[c.id]
    return out


def checkable(c: Ceremony, me: int, identity: Identity) -> dict[bytes, int]:
    """Dealing entry id -> dealer, for each dealing not yet confirmed by this teller whose
    share for it opens and matches (or was answered in clear with a matching share)."""
    params, key, done = c.params, identity.signing_key, c.checked.get(me, set())
    answered = [j for j in c.justifications if j.recipient == me]
    out: dict[bytes, int] = {}
    for entry_id, d in zip(c.dealing_ids, c.dealings, strict=True):
        if entry_id in done:
            continue
        good = complaint_for(params, d, me, key) is None or any(
            j.dealer == d.dealer and share_matches(d, me, j.share) for j in answered
        )
        if good:
            out[entry_id] = d.dealer
    return out


# --- the secret charter ------------------------------------------------------------


def secret_field(votes: Votes, roster: Roster, ceremony_text: str, method: str) -> Ceremony:
    """The ceremony a secret vote opens on; refuses a method or a ceremony that cannot."""
    if method not in SECRET_METHODS:
        raise InvalidInput(
            f"--secret works with plurality and approval votes, not {method}: ranked-choice "
            "and quadratic tallies would need a mixnet or range proofs (they stay open votes)",
            hint="drop --secret, or use --method plurality / approval",
        )
    c = find_ceremony(votes, ceremony_text)
    if not c.complete:
        raise InvalidInput(
            f"the key ceremony {c.id.hex()[:12]} is not complete: {awaited(c, roster)}",
            hint="plurictl vote ceremony start --teller NAME ..."
            if c.failure or cannot_complete(c, roster)
            else "each teller syncs and runs `plurictl vote ceremony deal "
            f"{c.id.hex()[:12]}` again, until `vote ceremony status` says COMPLETE",
        )
    blocked = cannot_open(c, roster)
    if blocked:
        raise InvalidInput(
            f"key ceremony {c.id.hex()[:12]}: {blocked}",
            hint="plurictl vote ceremony start --teller NAME ... (a name follows its member's "
            "current key)",
        )
    return c


def secret_spec(store: Store, roster: Roster, spec: VoteSpec) -> Ceremony:
    """Check a secret vote's method and ceremony; its tellers, k and f come from it."""
    from ledger.votes.writer import load_ceremonies as load

    assert spec.ceremony is not None
    votes, _ = load(store)
    c = secret_field(votes, roster, spec.ceremony, spec.method)
    keys = [c.teller_keys[m] for m in c.tellers]
    if spec.tellers and {roster.member_of(t) or t for t in spec.tellers} != set(c.tellers):
        names = ", ".join(roster.name_of(t) for t in c.tellers)
        raise InvalidInput(
            f"a secret vote's tellers are its key ceremony's ({names})",
            hint="leave out --teller with --ceremony",
        )
    if (spec.k is not None and spec.k != c.k) or (
        spec.tolerate is not None and spec.tolerate != c.f
    ):
        raise InvalidInput(
            f"the key ceremony fixed k={c.k} and f={c.f}; leave out --seal-threshold and "
            "--tolerate with --ceremony"
        )
    spec.tellers, spec.k, spec.tolerate = keys, c.k, c.f
    return c


def secret_body(c: Ceremony) -> dict[str, Any]:
    assert c.state is not None and c.state.keys is not None
    return {
        "ceremony": c.id.hex(),
        "keys": c.state.keys.to_bytes(),
        "qualified": list(c.state.qualified),
    }


# --- ballots and shares ------------------------------------------------------------


def selection(vote: Vote, choice: Sequence[str]) -> list[int]:
    """A plurality or approval choice (option ids, checked) as the 0/1 vector to encrypt."""
    f = vote.charter.fields
    chosen = set(choice)
    out = [1 if o.id in chosen else 0 for o in f.options]
    try:
        check_selection(secret_tally.spec_of(f), out)
    except Exception as e:
        raise InvalidInput(
            "a secret plurality ballot chooses exactly one option (no blank ballot)"
            if f.method == PLURALITY
            else f"secret ballot refused: {e}",
            hint="options: " + ", ".join(o.id for o in f.options),
        ) from e
    return out


def sealed_ballot(vote: Vote, voter: bytes, choice: Sequence[str]) -> bytes:
    """The encrypted ballot for ``choice``, proofs bound to this vote and voter key."""
    ctx = secret_tally.context(vote.id, vote.charter.fields)
    return encrypt(ctx, voter, selection(vote, choice)).to_bytes()


def share_for(votes: Votes, vote: Vote, sheet: Sheet, member: bytes, identity: Identity) -> bytes:
    """This teller's decryption share of ``sheet``'s encrypted tally (what its k-th seal, or
    its ``vote.share`` entry, carries)."""
    f = vote.charter.fields
    assert f.secret is not None and sheet.ballots is not None
    c = votes.ceremonies.get(f.secret.ceremony)
    dealings = qualified_dealings(c, f.secret.qualified, f.secret.keys) if c is not None else None
    if c is None or dealings is None:
        raise InvalidInput(
            "this laptop lacks the vote's key ceremony entries: sync first",
            hint="a teller re-derives its key share from the ceremony's dealings",
        )
    me = secret_tally.teller_index(f, member)
    state = CeremonyState((), (), {}, f.secret.qualified, f.secret.keys)
    try:
        mine = teller_secret(
            c.params, me, identity.signing_key, dealings.values(), c.justifications, state
        )
    except ProofRejected as e:  # a dealer's share for this teller is bad: nothing signed
        raise ProofRejected(
            f"cannot decrypt: {e}; this laptop's key share for the vote is incomplete",
            hint=f"run `plurictl vote ceremony deal {c.id.hex()[:12]}` (it complains), sync, "
            "and seal once that dealer has answered; meanwhile other tellers can seal",
        ) from e
    ctx = secret_tally.context(vote.id, f)
    slots = sealed_slots(vote, set(sheet.ballots))
    tally, _ = secret_tally.encrypted_tally(ctx, slots, vote.encrypted)
    return decryption_share(ctx, tally, me, mine).to_bytes()


def option_ids(options: Sequence[Option]) -> str:
    return ", ".join(o.id for o in options)
