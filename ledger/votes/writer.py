"""Writing votes: open, cast, stop, close and seal, each checked before anything is signed.

Every function reads the votes view of this laptop first and refuses with a
clear error (wrong role, not on the roll, bad choice, sheet not verifiable
here ...) instead of signing an entry the view would ignore. The view
(:mod:`ledger.votes.view`) stays the authority on every laptop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger import guard, merkle
from ledger.entry import Entry
from ledger.errors import InvalidInput, NotInMesh, TrustError
from ledger.identity import Identity
from ledger.roster.view import ACTIVE, Roster
from ledger.store import Store
from ledger.votes import share_writer
from ledger.votes.bodies import (
    BALLOT,
    CHARTER,
    CLOSE,
    IDS_PER_PART,
    METHODS,
    PART,
    QUADRATIC,
    ROLL_PER_PART,
    SEAL,
    STOP,
    VOTER_ROLES,
    Malformed,
    check_choice,
    check_threshold,
    parse_charter,
    parse_options,
    seal_threshold,
)
from ledger.votes.result import (
    refuse_second_sheet,
    refuse_small,
    refuse_stuck,
    refuse_unreachable,
)
from ledger.votes.seal_checks import seal_checks
from ledger.votes.seals import own_seats
from ledger.votes.share_writer import SealResult
from ledger.votes.view import PROVISIONAL, Vote, Votes, fold

DEFAULT_CREDITS = 100


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


# --- reading -----------------------------------------------------------------------


def heard_map(store: Store) -> dict[bytes, int]:
    """Per key: the HLC of the newest entry this laptop holds from it ("last heard")."""
    out: dict[bytes, int] = {}
    for author, head in store.stored_heads().items():
        entry = store.entry_at(author, head.seq)
        if entry is not None:
            out[author] = entry.hlc
    return out


def load(store: Store, *, heard: bool = False, count: bool = True) -> tuple[Votes, Roster]:
    """The votes view over this laptop's ledger (``heard``: also per-voter last-heard;
    ``count=False``: no tallies, see :func:`ledger.votes.view.fold`)."""
    with store._read():  # one snapshot: a fork arriving between reads must not tear them
        roster_of = store.roster_beside()  # folded meanwhile on another core, if it can
        try:
            entries = store.entries(kind_prefix="vote.", ordered=False)  # the fold sorts by id
        finally:
            roster = roster_of()  # waits for the child on every path
        forks = store.fork_proofs()
        heard_at = heard_map(store) if heard else None
        mine = {roster.member_of(k) for k in store.own_keys()}
    proofs = [e for p in forks for e in (p.a, p.b) if e.kind.startswith("vote.")]
    votes = fold(entries, roster, heard_at, proofs, count=count)
    own_seats(votes, roster, {m for m in mine if m is not None})
    return votes, roster


def load_ceremonies(store: Store) -> tuple[Votes, Roster]:
    """The votes view of the key ceremonies and the charters (no ballot: nothing counted)."""
    from ledger.votes.bodies import CEREMONY_KINDS

    with store._read():
        roster = store.roster()
        entries = store.entries(kinds=sorted(CEREMONY_KINDS | {CHARTER, PART}), ordered=False)
    return fold(entries, roster), roster


def find_vote(votes: Votes, text: str) -> Vote:
    """A vote by its id or an unambiguous prefix (at least 4 hex characters)."""
    text = text.strip().lower()
    matches = votes.find(text) if len(text) >= 4 else []
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise InvalidInput(f"{text!r} matches {len(matches)} votes; give more of the id")
    waiting = [w for w in votes.waiting if w.vote and w.vote.hex().startswith(text)]
    hint = "`plurictl vote list` shows the votes this laptop knows"
    if waiting and len(text) >= 4:
        hint = f"this laptop is {waiting[0].reason}: sync with the mesh, then try again"
    raise InvalidInput(f"no vote matches {text!r}", hint=hint)


def need_role(store: Store, roster: Roster, identity: Identity, role: str, doing: str) -> bytes:
    """This laptop's member id, if its key holds ``role`` for its next entry."""
    guard.require(
        store, roster, identity, role, refusal=lambda why: f"only a {role} can {doing} ({why})"
    )
    return roster.member_of(identity.public)  # type: ignore[return-value]


def _require_teller(
    store: Store, roster: Roster, identity: Identity, vote: Vote, doing: str
) -> bytes:
    member = need_role(store, roster, identity, "teller", doing)
    if member not in vote.charter.tellers:
        names = ", ".join(roster.name_of(t) for t in vote.charter.tellers)
        raise TrustError(f"you are not a teller of this vote (its tellers: {names})")
    if vote.charter.fields.teller_keys.get(member, member) != identity.public:
        raise TrustError(
            "your teller seat on this vote belongs to the key you had when the vote opened; "
            "this laptop's key replaced it since, so it cannot seal this vote",
            hint=share_writer.new_key_hint(vote, member),
        )
    return member


def _still_open(vote: Vote, doing: str) -> None:
    if vote.state != PROVISIONAL:
        sheet = vote.sealed_sheet.hex()[:12] if vote.sealed_sheet else "?"
        raise InvalidInput(
            f"cannot {doing}: this vote is already {vote.state} (sheet {sheet})",
            hint=f"see `plurictl vote result {vote.id.hex()[:12]}`",
        )


# --- open --------------------------------------------------------------------------


@dataclass
class VoteSpec:
    """What `vote open` asks for, before names and roles are resolved into member ids."""

    title: str
    options: list[dict[str, Any]]
    method: str
    tellers: list[bytes]  # keys (any key of the teller)
    roll_role: str | None = None
    roll: dict[bytes, int] | None = None  # key -> weight
    weights: dict[bytes, int] = field(default_factory=dict)  # key -> weight, with roll_role
    k: int | None = None
    #: equivocating tellers (copied keys) tolerated; None: 1 with 4 or more tellers,
    #: else 0 (or, with only ``k`` given, the most that k tolerates)
    tolerate: int | None = None
    quorum_pct: int = 0
    credits: int | None = None
    window_minutes: int | None = None
    text: str = ""
    roll_source: str = ""
    #: a secret vote: the key ceremony (id or prefix) whose joint key the ballots use
    ceremony: str | None = None


def _member_with_voice(roster: Roster, key: bytes, what: str) -> bytes:
    info = roster.keys.get(key)
    if info is None:
        raise TrustError(f"{what} {key.hex()[:16]} is not in the roster")
    if info.status != ACTIVE:
        raise TrustError(f"{what} {info.name} has a {info.status} key")
    if not set(info.current_roles) & set(VOTER_ROLES):
        raise TrustError(f"{what} {info.name} is only an observer: observers cannot vote")
    return info.member


def resolve_roll(roster: Roster, spec: VoteSpec) -> tuple[dict[bytes, int], str]:
    """The roll as member id -> weight, fixed now so every laptop counts the same people."""
    weights = {roster.member_of(k) or k: w for k, w in spec.weights.items()}
    if spec.roll_role is not None:
        if spec.roll_role == "observer":
            raise InvalidInput("observers cannot vote; choose another role for the roll")
        members = {roster.keys[k].member for k in roster.keys_with_role(spec.roll_role)}
        if not members:
            raise InvalidInput(f"nobody holds role {spec.roll_role!r} right now: the roll is empty")
        unknown = set(weights) - members
        if unknown:
            names = ", ".join(roster.name_of(m) for m in sorted(unknown))
            raise InvalidInput(f"--weight names {names}, who is not on the roll")
        roll = {m: weights.get(m, 1) for m in members}
        source = spec.roll_source or f"role:{spec.roll_role}"
    elif spec.roll:
        roll = {}
        for key, w in spec.roll.items():
            member = _member_with_voice(roster, key, "roll member")
            if member in roll:
                raise InvalidInput(f"{roster.name_of(member)} is on the roll twice")
            roll[member] = w
        source = spec.roll_source or "list"
    else:
        raise InvalidInput(
            "a vote needs a roll", hint="use --roll role:operator or --roll-file FILE"
        )
    bad = [m for m, w in roll.items() if not 1 <= w <= 1_000_000]
    if bad:
        raise InvalidInput("weights must be whole numbers from 1 to 1,000,000")
    return roll, source


def threshold(n: int, k: int | None, tolerate: int | None) -> tuple[int, int]:
    """(k, f) for ``n`` tellers: f equivocating tellers tolerated, k = the smallest with
    2k - n >= f + 1 unless given. Refuses what cannot be safe."""
    if tolerate is None:
        tolerate = (1 if n >= 4 else 0) if k is None else max(0, min(2 * k - n - 1, n - 1))
    if not 0 <= tolerate < max(n, 1):
        raise InvalidInput(
            f"--tolerate {tolerate}: with {n} teller(s) a vote can tolerate 0 to {n - 1} "
            "equivocating tellers",
            hint="name more tellers (--teller) to tolerate more",
        )
    need = seal_threshold(n, tolerate)
    k = need if k is None else k
    problem = check_threshold(n, k, tolerate) or (
        None if k <= n else f"k={k} is more than the {n} tellers"
    )
    if problem or need > n:
        raise InvalidInput(
            f"{n} teller(s) cannot seal safely with k={k} and f={tolerate}: "
            f"{problem or f'it needs k >= {need}, more than the tellers'}",
            hint=f"name more tellers, or lower --tolerate (k = {need} is the smallest for f={tolerate})",
        )
    return k, tolerate


def threshold_warnings(k: int, f: int, n: int) -> list[str]:
    """What `vote open` says of a threshold that tolerates no copied teller (by k)."""
    if f > 0 or 2 * k - n >= 2:
        return []
    return [
        f"this vote tolerates no equivocating teller (f=0, {k} of {n}): one teller key "
        "copied to a second laptop (a restored backup) can make both sides of a split "
        "show a different FINAL result. Name 4 or more tellers to tolerate one "
        "(field_guides/voting.md, 'Choosing tellers')"
    ]


def resolve_tellers(roster: Roster, keys: Sequence[bytes]) -> list[bytes]:
    """Teller members from keys: each must hold the teller role now, each named once."""
    tellers: list[bytes] = []
    for key in keys:
        info = roster.keys.get(key)
        if info is None or info.status != ACTIVE or "teller" not in info.current_roles:
            who = info.name if info else key.hex()[:16]
            raise TrustError(
                f"{who} does not hold the teller role",
                hint="an admin runs `plurictl roster grant NAME teller`",
            )
        if info.member in tellers:
            raise InvalidInput(f"{info.name} is named twice as a teller")
        tellers.append(info.member)
    if not tellers:
        raise InvalidInput(
            "a vote needs tellers", hint="name them with --teller NAME (3 or more is wise)"
        )
    return tellers


def charter_body(roster: Roster, spec: VoteSpec) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The charter body and its roll parts, validated exactly as the view will."""
    if spec.method not in METHODS:
        raise InvalidInput(f"method must be one of {', '.join(METHODS)}")
    try:
        parse_options(spec.options)
    except Malformed as e:
        raise InvalidInput(str(e)) from e
    if spec.method != QUADRATIC and spec.credits is not None:
        raise InvalidInput("--credits only applies to quadratic votes")
    tellers = resolve_tellers(roster, spec.tellers)
    k, f = threshold(len(tellers), spec.k, spec.tolerate)
    roll, source = resolve_roll(roster, spec)
    rows = sorted((m.hex(), w) for m, w in roll.items())
    body: dict[str, Any] = {
        "title": spec.title.strip(),
        "text": spec.text,
        "options": spec.options,
        "method": spec.method,
        "roll_size": len(rows),
        "roll_weight": sum(w for _, w in rows),
        "roll_source": source,
        "tellers": sorted(t.hex() for t in tellers),
        "teller_keys": {t.hex(): (roster.current_key(t) or t).hex() for t in sorted(tellers)},
        "k": k,
        "f": f,
        "quorum_pct": spec.quorum_pct,
        "window_minutes": spec.window_minutes,
    }
    if spec.method == QUADRATIC:
        body["credits"] = spec.credits if spec.credits is not None else DEFAULT_CREDITS
    parts: list[dict[str, Any]] = []
    if len(rows) <= ROLL_PER_PART:
        body["roll"] = dict(rows)
    else:
        parts = [{"items": dict(c)} for c in _chunks(rows, ROLL_PER_PART)]
    try:
        parse_charter({**body, "roll_parts": ["00" * 32] * len(parts)})
    except Malformed as e:
        raise InvalidInput(str(e)) from e
    return body, parts


def open_vote(store: Store, identity: Identity, spec: VoteSpec) -> Entry:
    """Write a charter (after its roll parts, when the roll is long). Returns the charter."""
    roster = store.roster()
    need_role(store, roster, identity, "coordinator", "open a vote")
    secret = None
    if spec.ceremony is not None:
        from ledger.votes import secret_writer  # the crypto stack loads for secret votes only

        secret = secret_writer.secret_spec(store, roster, spec)
    body, parts = charter_body(roster, spec)
    if secret is not None:
        body["secret"] = secret_writer.secret_body(secret)
        if body["tellers"] != [t.hex() for t in secret.tellers] or body["teller_keys"] != {
            m.hex(): k.hex() for m, k in secret.teller_keys.items()
        }:
            raise InvalidInput(
                "a teller's key changed since the key ceremony: its seat key no longer "
                "matches; start a new ceremony",
                hint="plurictl vote ceremony start --teller ...",
            )
    if parts:
        written = store.append_many(identity, [(PART, p) for p in parts])
        body["roll_parts"] = [e.id.hex() for e in written]
    return store.append(identity, CHARTER, body)


# --- cast --------------------------------------------------------------------------


def parse_choice(method: str, words: Sequence[str]) -> Any:
    """Command-line words into a ballot choice: ids, or ``id=votes`` for quadratic."""
    if method != QUADRATIC:
        return [w.strip().lower() for w in words]
    out: dict[str, int] = {}
    for w in words:
        oid, _, n = w.partition("=")
        try:
            votes = int(n) if n else 1
        except ValueError:
            raise InvalidInput(
                f"{w!r}: write OPTION=VOTES, e.g. north=3 (votes cost votes²)"
            ) from None
        oid = oid.strip().lower()
        if oid in out:
            raise InvalidInput(f"option {oid!r} is named twice")
        out[oid] = votes
    return out


@dataclass
class CastResult:
    entry: Entry
    vote: Vote
    replaced: int
    restored: bool  # the slot was void (double vote) and this ballot names both
    warnings: list[str]


def cast(
    store: Store,
    identity: Identity,
    vote_text: str,
    choice: Any = None,
    *,
    words: Sequence[str] | None = None,
) -> CastResult:
    """Sign a ballot naming every earlier ballot of this member (so it replaces them).

    Give ``choice`` in the body's format, or command-line ``words`` (parsed for the
    vote's method; no words is a blank ballot).
    """
    votes, roster = load(store)
    vote = find_vote(votes, vote_text)
    if words is not None:
        choice = parse_choice(vote.charter.method, words)
    _still_open(vote, "vote")
    if roster.mesh_id is None:
        raise NotInMesh()
    why = roster.authority(identity.public, guard.next_seq(store, identity.public), *VOTER_ROLES)
    if why is not None:
        raise TrustError(f"this key cannot vote ({why})")
    member = roster.member_of(identity.public)
    if member not in vote.charter.roll:
        raise TrustError(
            "you are not on this vote's roll",
            hint=f"the roll was fixed when the vote opened ({vote.charter.fields.roll_source})",
        )
    f = vote.charter.fields
    normal, problem = check_choice(f.method, f.options, f.credits, choice)
    if problem:
        ids = ", ".join(o.id for o in f.options)
        raise InvalidInput(f"{f.method} ballot refused: {problem}", hint=f"options: {ids}")
    mine = sorted(b.id for b in vote.ballots.values() if b.member == member)
    slot = vote.slots[member]
    if len(mine) > IDS_PER_PART:  # name the heads only: they name the rest
        heads = slot.conflict or ([slot.ballot] if slot.ballot else [])
        mine = sorted(b.id for b in heads)
    body = {"vote": vote.id.hex(), "choice": normal, "replaces": [i.hex() for i in mine]}
    if f.secret is not None:  # the choice never leaves this laptop unencrypted
        from ledger.votes import secret_writer

        del body["choice"]
        body["sealed"] = secret_writer.sealed_ballot(vote, identity.public, normal)
    entry = store.append(identity, BALLOT, body)
    warnings = []
    stopped = {s.member for s in vote.stops}
    if stopped:
        warnings.append(
            f"{len(stopped)} of {len(f.tellers)} tellers have stopped taking ballots: this "
            "ballot counts only if it is on the sheet that gets sealed"
        )
    if vote.sheets:
        warnings.append(
            "a close sheet already exists: this ballot counts only if the coordinator closes "
            "again and the tellers seal that new sheet"
        )
    return CastResult(entry, vote, len(mine), slot.status == "void", warnings)


# --- stop, close, seal -------------------------------------------------------------


def stop(store: Store, identity: Identity, vote_text: str) -> tuple[Entry, Vote]:
    """A teller stops taking ballots, saying how many (and which: the root) it holds."""
    votes, roster = load(store)
    vote = find_vote(votes, vote_text)
    _require_teller(store, roster, identity, vote, "stop a vote")
    _still_open(vote, "stop")
    ids = sorted(vote.ballots)
    body = {"vote": vote.id.hex(), "count": len(ids), "root": merkle.root(ids).hex()}
    return store.append(identity, STOP, body), vote


@dataclass
class CloseResult:
    entry: Entry
    vote: Vote
    count: int
    parts: int
    warnings: list[str]


def close(
    store: Store,
    identity: Identity,
    vote_text: str,
    *,
    force: bool = False,
    reveal_small: bool = False,
) -> CloseResult:
    """Write a close sheet listing every valid ballot this laptop holds for the vote."""
    votes, roster = load(store)
    vote = find_vote(votes, vote_text)
    need_role(store, roster, identity, "coordinator", "close a vote")
    _still_open(vote, "close")
    ids = sorted(vote.ballots)
    refuse_small(vote, ids, "close this secret vote", reveal_small)
    refuse_second_sheet(vote, "close a new sheet")
    refuse_stuck(vote, "close a new sheet")
    refuse_unreachable(vote, "close a new sheet", None, None, roster)
    root = merkle.root(ids)
    latest: dict[bytes, int] = {}
    for s in sorted(vote.stops, key=lambda s: (s.seq, s.id)):
        latest[s.member] = max(latest.get(s.member, 0), s.count)
    behind = {m: c for m, c in latest.items() if c > len(ids)}
    if behind and not force:
        who = ", ".join(f"{roster.name_of(m)} ({c})" for m, c in sorted(behind.items()))
        raise InvalidInput(
            f"tellers stopped with more ballots than this laptop holds ({len(ids)}): {who}",
            hint="sync with them first; or --force to close now (their extra ballots will be late)",
        )
    same = [s for s in vote.sheets.values() if s.root == root and s.problem is None]
    if same:  # even with --force: a duplicate sheet would only split the tellers' seals
        raise InvalidInput(
            f"sheet {same[0].id.hex()[:12]} already lists exactly these {len(ids)} ballots",
            hint=f"tellers seal it: plurictl vote seal {vote.id.hex()[:12]}",
        )
    body: dict[str, Any] = {"vote": vote.id.hex(), "count": len(ids), "root": root.hex()}
    parts = _chunks([i.hex() for i in ids], IDS_PER_PART) if len(ids) > IDS_PER_PART else []
    if parts:
        written = store.append_many(identity, [(PART, {"items": list(c)}) for c in parts])
        body["parts"] = [e.id.hex() for e in written]
    else:
        body["ballots"] = [i.hex() for i in ids]
    entry = store.append(identity, CLOSE, body)
    warnings = []
    if not latest:
        warnings.append("no teller has stopped yet: ballots cast after this sheet will be late")
    void = len(vote.double_votes)
    if void:
        warnings.append(f"{void} voter slot(s) are void (double vote) in this set")
    return CloseResult(entry, vote, len(ids), len(parts), warnings)


def seal(
    store: Store,
    identity: Identity,
    vote_text: str,
    *,
    sheet_text: str | None = None,
    accept_late: bool = False,
    reveal_small: bool = False,
) -> SealResult:
    """Countersign one close sheet, after checking every ballot it lists."""
    votes, roster = load(store)
    vote = find_vote(votes, vote_text)
    member = _require_teller(store, roster, identity, vote, "seal a vote")
    done = vote.seals.get(member)
    if done is not None and vote.charter.fields.secret is not None:  # seal, then share
        return share_writer.write_share(
            store, identity, votes, vote, member, sheet_text, reveal_small
        )
    if done is not None:
        return share_writer.sealed_already(vote, member, sheet_text)
    sheet = seal_checks(vote, roster, member, store.get, sheet_text, accept_late, reveal_small)
    body: dict[str, Any] = {
        "vote": vote.id.hex(),
        "sheet": sheet.id.hex(),
        "root": sheet.root.hex(),
    }
    if vote.charter.fields.secret is not None:  # the share only on a sheet with k seals
        share = share_writer.seal_share(votes, vote, sheet, member, identity)
        body.update({"share": share} if share is not None else {})
    entry = store.append(identity, SEAL, body)
    now = load(store)[0].votes[vote.id]
    how = ("carried" if "share" in body else "held") if vote.charter.fields.secret else ""
    seals = len(now.sheets[sheet.id].sealers)
    waits = share_writer.waiting_of(now)
    return SealResult(entry, sheet, seals, vote.charter.k, now.state, how, waits)
