"""Key ceremonies for secret votes, as signed ledger entries, folded into their state.

Kinds (under ``vote.``, so they travel, sync and pin like every vote entry)::

    vote.ceremony  {"tellers": [member], "teller_keys": {member: key}, "k", "f"}
                   a coordinator starts a ceremony; its id is the ceremony id
    vote.deal      {"ceremony": id, "dealing": bytes}         teller i's dealing (round 1)
    vote.complain  {"ceremony": id, "complaint": bytes}       teller j accuses dealer i
    vote.justify   {"ceremony": id, "justification": bytes}   dealer i answers j in clear
    vote.checked   {"ceremony": id, "dealings": [entry id]}   teller j: my shares from these
                                                              dealings open and match

The byte formats are those of :mod:`ledger.votes.secret` (field_guides/secret-ballots.md).
Teller i is the i-th member of ``tellers`` (sorted, as in a charter); its entries count
only when signed by the seat key ``teller_keys[member]`` named by the ceremony, and only
about itself (a dealing with dealer i, a complaint with accuser i, a justification with
dealer i, a check by teller i). Nothing else about the roster matters after the start, so every laptop holding
the same entries computes the same state.

The fold never raises on a validly signed entry: a body that does not decode is ignored
with its reason; a dealing that decodes but fails its checks, a wrong answer, or two
dealings by one teller become the ceremony's state (that dealer is disqualified).

A ceremony is COMPLETE only when, besides the dealings and answers, *every* teller has
signed that the shares sealed for it by every qualified dealing open and match (one or
more ``vote.checked`` entries). Without that, a dealer could seal bad shares for tellers
who had not looked yet and never answer their complaints: the vote would open on a key
that too few tellers can decrypt with, and stay SEALED.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ledger.entry import Entry
from ledger.roster.view import Roster
from ledger.votes.bodies import (
    CEREMONY,
    CEREMONY_KINDS,
    CHECKED,
    COMPLAIN,
    DEAL,
    JUSTIFY,
    CharterFields,
    Malformed,
    check_threshold,
    parse_hex,
    parse_ids,
)
from ledger.votes.seals import granted
from ledger.votes.secret import (
    BallotEncodingError,
    CeremonyParams,
    CeremonyState,
    Complaint,
    Dealing,
    Justification,
    check_dealing,
)
from ledger.votes.secret import fold as fold_ceremony
from ledger.votes.secret.ceremony import key_set
from ledger.votes.secret.keys import KeySet
from ledger.votes.state import Ignored

#: the body field holding each round's bytes, and who (by index) may sign it
FIELD = {DEAL: "dealing", COMPLAIN: "complaint", JUSTIFY: "justification", CHECKED: "dealings"}

#: how many choices of dealings (of dealers who dealt more than once) a charter's key is
#: looked for among; one dealer dealing m times costs m tries
MAX_CHOICES = 4096


@dataclass
class Ceremony:
    """One key ceremony: who takes part, what arrived, and where it stands."""

    id: bytes
    author: bytes
    seq: int
    hlc: int
    tellers: tuple[bytes, ...]  # members, sorted: teller i is tellers[i - 1]
    teller_keys: dict[bytes, bytes]  # member -> seat key
    k: int
    f: int
    dealings: list[Dealing] = field(default_factory=list)
    complaints: list[Complaint] = field(default_factory=list)
    justifications: list[Justification] = field(default_factory=list)
    dealt: dict[int, bytes] = field(default_factory=dict)  # teller index -> dealing entry id
    dealing_seqs: list[int] = field(default_factory=list)  # each dealing's seq in its feed
    dealing_ids: list[bytes] = field(default_factory=list)  # each dealing's entry id
    checked: dict[int, set[bytes]] = field(default_factory=dict)  # teller -> dealing ids it checked
    copied: dict[int, int] = field(default_factory=dict)  # teller -> seq of its key's fork
    state: CeremonyState | None = None
    failure: str | None = None  # folding it failed (this ceremony only): never complete

    @property
    def params(self) -> CeremonyParams:
        keys = tuple(self.teller_keys[m] for m in self.tellers)
        return CeremonyParams(self.id, self.k, keys)

    def index_of_key(self, key: bytes) -> int | None:
        for i, member in enumerate(self.tellers, start=1):
            if self.teller_keys[member] == key:
                return i
        return None

    @property
    def complete(self) -> bool:
        """Dealt, answered, and every teller has checked every qualified dealing."""
        return self.state is not None and self.state.complete and not self.unchecked()

    def unchecked(self) -> list[int]:
        """Tellers who have not yet signed that their shares from every qualified dealing
        are good (empty until the dealings and answers are complete)."""
        if self.state is None or not self.state.complete:
            return []
        needed = {self.dealt[i] for i in self.state.qualified if i in self.dealt}
        n = len(self.tellers)
        return [
            j
            for j in range(1, n + 1)
            if j not in self.copied and not needed <= self.checked.get(j, set())
        ]

    def awaited(self) -> list[int]:
        """Teller indices the ceremony waits for: missing dealers, unanswered accused,
        then tellers who have not checked their shares."""
        if self.state is None:
            return []
        dealing = {*self.state.missing, *(accused for accused, _ in self.state.pending)}
        return sorted(dealing | set(self.unchecked()))


def parse_start(body: dict[str, Any]) -> tuple[tuple[bytes, ...], dict[bytes, bytes], int, int]:
    """(tellers, seat keys, k, f) of a ``vote.ceremony`` body; Malformed says why not."""
    tellers = tuple(parse_ids(body.get("tellers"), "tellers"))
    n = len(tellers)
    if not 1 <= n <= 255 or len(set(tellers)) != n or list(tellers) != sorted(tellers):
        raise Malformed("tellers must name 1 to 255 members, each once, in ascending order")
    k, f = body.get("k"), body.get("f")
    if type(k) is not int or not 1 <= k <= n or type(f) is not int or not 0 <= f < n:
        raise Malformed(f"k must be 1..{n} and f 0..{n - 1}")
    problem = check_threshold(n, k, f)
    if problem:
        raise Malformed(problem)
    raw = body.get("teller_keys")
    if not isinstance(raw, dict) or len(raw) != n:
        raise Malformed("teller_keys must map exactly the tellers to their seat keys")
    keys = {m: parse_hex(raw.get(m.hex()), "teller_keys") for m in tellers}
    if len(set(keys.values())) != n:
        raise Malformed("two tellers cannot share a seat key")
    return tellers, keys, k, f


def _decode(kind: str, data: Any) -> Dealing | Complaint | Justification | list[bytes]:
    if kind == CHECKED:
        try:
            return parse_ids(data, "dealings")
        except Malformed as err:
            raise BallotEncodingError(str(err)) from err
    if not isinstance(data, bytes):
        raise BallotEncodingError(f"{FIELD[kind]} must be bytes")
    if kind == DEAL:
        return Dealing.from_bytes(data)
    if kind == COMPLAIN:
        return Complaint.from_bytes(data)
    return Justification.from_bytes(data)


def _signer_index(item: Dealing | Complaint | Justification | list[bytes]) -> int | None:
    if isinstance(item, list):
        return None  # a check names no index: it is its signer's
    if isinstance(item, Dealing):
        return item.dealer
    if isinstance(item, Complaint):
        return item.accuser
    return item.dealer


def fold_ceremonies(
    entries: Iterable[Entry], roster: Roster, ignored: list[Ignored]
) -> dict[bytes, Ceremony]:
    """Every ceremony this laptop knows, folded (entries in id order; any arrival order)."""
    ordered = sorted((e for e in entries if e.kind in CEREMONY_KINDS), key=lambda e: e.id)
    out: dict[bytes, Ceremony] = {}
    for e in ordered:
        if e.kind != CEREMONY:
            continue
        why = roster.authority(e.author, e.seq, "coordinator")
        if why is not None and not granted(roster, e.author, e.seq, ("coordinator",)):
            ignored.append(Ignored(e.id, e.author, e.seq, e.kind, f"not applied: {why}"))
            continue
        try:
            tellers, keys, k, f = parse_start(e.body)
        except Malformed as err:
            ignored.append(Ignored(e.id, e.author, e.seq, e.kind, f"invalid ceremony: {err}"))
            continue
        out[e.id] = Ceremony(e.id, e.author, e.seq, e.hlc, tellers, keys, k, f)
    for e in ordered:
        if e.kind != CEREMONY:
            _round_entry(e, out, ignored)
    for c in out.values():
        c.copied = _copied(c, roster)
        excluded = {
            i: f"its key was copied (a fork proof at seq {seq}): laptops may hold different "
            "dealings from it"
            for i, seq in c.copied.items()
        }
        try:
            c.state = fold_ceremony(c.params, c.dealings, c.complaints, c.justifications, excluded)
        except Exception as err:  # a view fold never raises on signed data: a state instead
            c.failure = f"{type(err).__name__}: {err}"
            c.state = CeremonyState((), (), {}, ())
    return out


def _copied(c: Ceremony, roster: Roster) -> dict[int, int]:
    """Tellers whose seat key has a fork proof here -> the fork's seq. Two laptops may hold
    two different dealings (or answers) from such a key, so it deals for no new vote."""
    out = {}
    for i, member in enumerate(c.tellers, start=1):
        info = roster.keys.get(c.teller_keys[member])
        if info is not None and info.fork_seq is not None:
            out[i] = info.fork_seq
    return out


def _round_entry(e: Entry, out: dict[bytes, Ceremony], ignored: list[Ignored]) -> None:
    def skip(reason: str) -> None:
        ignored.append(Ignored(e.id, e.author, e.seq, e.kind, reason))

    try:
        cid = parse_hex(e.body.get("ceremony"), "ceremony")
    except Malformed as err:
        skip(str(err))
        return
    c = out.get(cid)
    if c is None:
        skip("waiting for its key ceremony (or the ceremony is invalid)")
        return
    me = c.index_of_key(e.author)
    if me is None:
        skip("not applied: not signed by a teller seat of this ceremony")
        return
    try:
        item = _decode(e.kind, e.body.get(FIELD[e.kind]))
    except BallotEncodingError as err:
        skip(f"malformed {FIELD[e.kind]}: {err}")
        return
    if _signer_index(item) not in (me, None):
        skip(
            f"not applied: teller {me} signed an entry in the name of teller {_signer_index(item)}"
        )
        return
    if isinstance(item, list):
        c.checked.setdefault(me, set()).update(item)
    elif isinstance(item, Dealing):
        c.dealings.append(item)
        c.dealing_seqs.append(e.seq)
        c.dealing_ids.append(e.id)
        c.dealt.setdefault(me, e.id)
    elif isinstance(item, Complaint):
        c.complaints.append(item)
    else:
        c.justifications.append(item)


def explain(c: Ceremony, name_of: Any) -> str:
    """The ceremony's state in words, with teller names: who is awaited, who is out."""
    st = c.state
    if st is None:
        return "not folded"
    if c.failure:
        return f"cannot be folded on this laptop ({c.failure}): start a new ceremony"

    def who(i: int) -> str:
        return f"{name_of(c.tellers[i - 1])} (teller {i})"

    bits = []
    if st.missing:
        bits.append("no dealing yet from " + ", ".join(who(i) for i in st.missing))
    for accused, accuser in st.pending:
        bits.append(f"{who(accused)} has not answered the complaint of {who(accuser)}")
    for i, why in sorted(st.disqualified.items()):
        bits.append(f"{who(i)} disqualified: {why}")
    unchecked = c.unchecked()
    if unchecked:
        names = ", ".join(who(j) for j in unchecked)
        return f"dealt; waiting for {names} to check the shares sealed for them" + "".join(
            "; " + b for b in bits
        )
    if st.complete:
        return "complete" + ("; " + "; ".join(bits) if bits else "")
    if not bits:
        bits.append(f"only {len(st.qualified)} qualified dealer(s), {c.k} needed")
    return "; ".join(bits)


def qualified_dealings(
    c: Ceremony, qualified: Iterable[int], keys: KeySet | None = None
) -> dict[int, Dealing] | None:
    """For each listed dealer, a dealing that passes the public checks (its first, in id
    order); None while one of them has none here yet.

    With ``keys`` (a charter's), the dealings that make exactly those keys: a dealer who
    deals again after the vote opened cannot swap the charter's dealing for its new one
    (whose entry id may sort first), so the charter's key and every teller's share stay
    what they were. Each dealer's earliest dealing in its feed is tried first (the one the
    vote was opened on, unless it forked its feed); None when no choice of the held
    dealings (up to MAX_CHOICES) makes ``keys``."""
    params = c.params
    listed = list(qualified)
    seqs = c.dealing_seqs if len(c.dealing_seqs) == len(c.dealings) else [0] * len(c.dealings)
    by_seq = [c.dealings[n] for n in sorted(range(len(seqs)), key=lambda n: (seqs[n], n))]
    candidates = []
    for i in listed:
        mine = by_seq if keys is not None else c.dealings  # a dealer's earliest first
        good = [d for d in mine if d.dealer == i and check_dealing(params, d) is None]
        if not good:
            return None
        candidates.append(good)
    if keys is None:
        return {i: good[0] for i, good in zip(listed, candidates, strict=True)}
    choices = itertools.islice(itertools.product(*candidates), MAX_CHOICES)
    for choice in choices:  # only dealers who dealt more than once vary
        if key_set(params, list(choice)) == keys:
            return dict(zip(listed, choice, strict=True))
    return None


def charter_problem(c: Ceremony | None, fields: CharterFields) -> tuple[str | None, bool]:
    """(why a secret charter does not fit its ceremony, whether it is only waiting).

    Monotonic in the entries held: once the listed dealings are here the answer never
    changes (a complaint made after the vote opened cannot unmake its key)."""
    secret = fields.secret
    assert secret is not None
    if c is None:
        return "waiting for its key ceremony", True
    if (c.tellers, c.teller_keys, c.k, c.f) != (
        fields.tellers,
        fields.teller_keys,
        fields.k,
        fields.f,
    ):
        return "its tellers, seat keys, k or f differ from its key ceremony's", False
    if qualified_dealings(c, secret.qualified) is None:
        return "waiting for the key ceremony's dealings", True
    if qualified_dealings(c, secret.qualified, secret.keys) is None:
        return "its joint key is not the one its key ceremony's dealings make", False
    return None, False
