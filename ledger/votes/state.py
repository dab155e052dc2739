"""The state the votes view computes: one :class:`Vote` per charter, inside :class:`Votes`.

Plain data (dataclasses); :mod:`ledger.votes.view` builds it and
:mod:`ledger.votes.as_json` turns it into JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ledger import folds as common
from ledger.roster.view import Roster
from ledger.votes import tally as vote_tally
from ledger.votes.bodies import CharterFields, Option

if TYPE_CHECKING:
    from ledger.votes.ceremonies import Ceremony
    from ledger.votes.secret_tally import SecretCount

PROVISIONAL, SEALED, FINAL = "PROVISIONAL", "SEALED", "FINAL"
#: more sheets reached k seals than the charter's f allows (more than f tellers
#: equivocated): no result can be trusted; and a count that could not be done
CONFLICT, FAILED = "CONFLICT", "FAILED"
VOTED, BLANK, SPOILED, VOID, NOT_HEARD = "voted", "blank", "spoiled", "void", "not heard"
NO_QUORUM = "no quorum"
LATE = "uncounted (late)"


def _hex(b: bytes | None) -> str | None:
    return b.hex() if b is not None else None


@dataclass(frozen=True)
class Ignored(common.Ignored):
    """A vote entry with no effect (or not yet: ``waiting``), and why."""

    vote: bytes | None = None

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "vote": _hex(self.vote)}


@dataclass
class Charter:
    id: bytes
    author: bytes
    seq: int
    hlc: int
    fields: CharterFields
    roll: dict[bytes, int]  # member id -> weight

    @property
    def title(self) -> str:
        return self.fields.title

    @property
    def method(self) -> str:
        return self.fields.method

    @property
    def options(self) -> tuple[Option, ...]:
        return self.fields.options

    @property
    def tellers(self) -> tuple[bytes, ...]:
        return self.fields.tellers

    @property
    def k(self) -> int:
        return self.fields.k

    @property
    def roll_weight(self) -> int:
        return self.fields.roll_weight

    def option(self, oid: str | None) -> Option | None:
        return next((o for o in self.options if o.id == oid), None)

    def to_json(self, roster: Roster) -> dict[str, Any]:
        f = self.fields
        return {
            "id": self.id.hex(),
            "opened_by": self.author.hex(),
            "opened_by_name": roster.name_of(self.author),
            "opened_hlc": self.hlc,
            "title": f.title,
            "text": f.text,
            "method": f.method,
            "options": [o.to_json() for o in f.options],
            "credits": f.credits,
            "roll_source": f.roll_source,
            "roll_size": f.roll_size,
            "roll_weight": f.roll_weight,
            "tellers": [{"member": t.hex(), "name": roster.name_of(t)} for t in f.tellers],
            "k": f.k,
            "f": f.f,
            "rules": f.rules,
            "quorum_pct": f.quorum_pct,
            "window_minutes": f.window_minutes,
        }


@dataclass(slots=True)
class Ballot:
    id: bytes
    author: bytes
    member: bytes
    seq: int
    hlc: int
    sig: bytes
    choice: Any
    #: hex ids as written (the body's own list, never changed); names that are not this
    #: voter's ballots do nothing
    replaces: Sequence[str]
    spoiled: str | None = None
    key: str = ""  # the id in hex, as other ballots name it

    @property
    def blank(self) -> bool:
        return not self.choice

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id.hex(),
            "author": self.author.hex(),
            "member": self.member.hex(),
            "seq": self.seq,
            "hlc": self.hlc,
            "choice": self.choice,
            "replaces": list(self.replaces),
            "spoiled": self.spoiled,
            "sig": self.sig.hex(),
        }


@dataclass(slots=True)
class Slot:
    """One roll member's place: the ballot that counts, or why none does."""

    member: bytes
    weight: int
    status: str
    ballot: Ballot | None = None
    conflict: list[Ballot] = field(default_factory=list)  # the heads of a double vote
    replaced: list[Ballot] = field(default_factory=list)

    @property
    def participated(self) -> bool:
        return self.status in (VOTED, BLANK, SPOILED)


@dataclass
class Stop:
    id: bytes
    author: bytes
    member: bytes
    seq: int
    hlc: int
    count: int
    root: bytes


@dataclass
class Seal:
    id: bytes
    author: bytes
    member: bytes
    seq: int
    hlc: int
    sheet: bytes
    root: bytes
    sig: bytes
    generation: int = 0
    problem: str | None = None  # why it cannot count (the key did not hold teller then)
    #: made past the point where the roster cut or froze its key: only some laptops
    #: hold it; it counts only when it completes a sealed sheet (rules 2)
    surplus: bool = False
    #: a secret vote: the decryption share the seal carries (bytes as signed)
    share: Any = None
    #: the entry kind: a seal, or a secret vote's ``vote.share`` (read as a share only)
    kind: str = "vote.seal"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id.hex(),
            "author": self.author.hex(),
            "member": self.member.hex(),
            "seq": self.seq,
            "sheet": self.sheet.hex(),
            "root": self.root.hex(),
            "sig": self.sig.hex(),
            "problem": self.problem,
        }


@dataclass
class Sheet:
    """A close sheet: the ballot set (sorted ids) and its Merkle root."""

    id: bytes
    author: bytes
    seq: int
    hlc: int
    count: int
    root: bytes
    ballots: list[bytes] | None  # None until every part has arrived
    missing_parts: list[bytes] = field(default_factory=list)
    problem: str | None = None
    sealers: list[Seal] = field(default_factory=list)
    parts: list[bytes] = field(default_factory=list)
    #: rules 2: why its author's authority holds only once the sheet is sealed (a roster
    #: cut made after it); such a sheet is shown and counted only when sealed
    conditional: str | None = None
    #: rules 2, unsealed sheets: counted seals made past their key's cut or fork point.
    #: Not every laptop holds them, so they are not shown among ``sealers``; they still
    #: count if the sheet gets sealed
    set_aside: list[Seal] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.ballots is not None and self.problem is None


@dataclass
class TellerEquivocation:
    """A teller member sealed two different sheets of one vote: only the first counts."""

    member: bytes
    counted: Seal
    others: list[Seal]


@dataclass
class ForkedTeller:
    """A teller whose seat key has a fork proof (a copied key): "teller X equivocated".

    Its seals count for every sheet they name (the threshold tolerates ``f`` such
    tellers); ``sealed`` lists those sheets.
    """

    member: bytes
    key: bytes
    fork_seq: int
    sealed: list[bytes]


@dataclass
class Stuck:
    """Why no sheet can reach k seals any more, and what would unblock the vote."""

    best: int  # most counted seals on one sheet
    able: list[bytes]  # teller members who can still seal
    #: tellers who already sealed (any sheet, the best one too); stuck on decryption
    #: (``act`` "add a share"): those whose valid share is in
    spent: list[bytes]
    gone: list[tuple[bytes, str]]  # tellers whose seat key cannot write any more, and why
    advice: str
    invalid: list[bytes] = field(default_factory=list)  # secret: sealers whose share is bad
    #: tellers whose seat key was revoked or rotated, or whose role was removed, and who have
    #: not sealed: a seal they sign anyway (a laptop that has not heard) still counts, so the
    #: vote is stuck only unless they seal (voting.md "Losing a teller")
    unless: list[bytes] = field(default_factory=list)
    #: the advice without the "only if ... anyway" way out, what that way out needs
    #: ("seal" or "add a share") and how many of ``unless`` it needs (seals.own_seats)
    base: str = ""
    act: str = "seal"
    short: int = 0


@dataclass
class Result:
    """The tally of the sealed set (FINAL only)."""

    tally: vote_tally.Tally
    outcome: str
    winner: Option | None
    quorum_pct: int
    quorum_met: bool
    turnout_weight: int
    roll_weight: int
    missing_weight: int
    decided_regardless: bool
    slots: dict[bytes, Slot]
    counted: list[Ballot]
    uncounted: list[tuple[bytes, str]]  # (ballot id, reason)


@dataclass
class Vote:
    charter: Charter
    state: str = PROVISIONAL
    ballots: dict[bytes, Ballot] = field(default_factory=dict)
    slots: dict[bytes, Slot] = field(default_factory=dict)
    stops: list[Stop] = field(default_factory=list)
    sheets: dict[bytes, Sheet] = field(default_factory=dict)
    seals: dict[bytes, Seal] = field(default_factory=dict)  # teller member -> counting seal
    equivocations: list[TellerEquivocation] = field(default_factory=list)
    sealed_sheet: bytes | None = None
    sealed_root: bytes | None = None
    missing_ballots: list[bytes] = field(default_factory=list)
    #: sealed, all listed ballots here, but some by a voter this laptop's roster does not
    #: (yet) show with a voter role: SEALED until the roster entries arrive
    unproven_ballots: list[bytes] = field(default_factory=list)
    #: once sealed (sheet list known): ballots held here but not on it, "uncounted (late)"
    late: list[bytes] = field(default_factory=list)
    provisional: vote_tally.Tally | None = None
    result: Result | None = None
    #: tellers with a fork proof against their seat key (rules 2)
    forked_tellers: list[ForkedTeller] = field(default_factory=list)
    #: CONFLICT: the sheets that each reached k seals
    conflict: list[bytes] = field(default_factory=list)
    #: FAILED: what went wrong while counting (this vote only)
    failure: str | None = None
    stuck: Stuck | None = None
    #: counted seals per sheet that can still be sealed, also sheets this laptop has only
    #: seen seals of (it lacks the sheet): what a new seal or sheet can still join
    seal_counts_seen: dict[bytes, int] = field(default_factory=dict)
    #: rules 2, no sheet sealed yet: counting seals made past their key's cut that every
    #: store keeps and passes on (``seals.kept_past_cut``; ``ledger.votes.pins``)
    kept_seals: list[Seal] = field(default_factory=list)
    #: a copied teller's other seals on a sheet it already sealed: counted once, but
    #: their decryption shares may still serve (the thief's twin must not void a valid one)
    twin_seals: list[Seal] = field(default_factory=list)
    #: a secret vote: its tellers' ``vote.share`` entries (any sheet; used on the sealed one)
    share_entries: list[Seal] = field(default_factory=list)
    #: a secret vote once sealed: the encrypted tally, each decryption share on the sealed
    #: sheet (seals and share entries, valid or not) and the counts (k valid shares here)
    secret: SecretCount | None = None
    #: a secret vote: each ballot whose proofs verified, parsed, by entry id
    encrypted: dict[bytes, Any] = field(default_factory=dict)
    last_heard: dict[bytes, int] = field(default_factory=dict)  # member -> hlc

    @property
    def id(self) -> bytes:
        return self.charter.id

    @property
    def winning_option(self) -> Option | None:
        """The adopted option (with its ``ref``), only once FINAL with a winner."""
        if self.state == FINAL and self.result is not None:
            return self.result.winner
        return None

    @property
    def turnout_weight(self) -> int:
        return sum(s.weight for s in self.slots.values() if s.participated)

    @property
    def double_votes(self) -> list[Slot]:
        return [s for _, s in sorted(self.slots.items()) if s.status == VOID]

    def seal_counts(self) -> dict[bytes, int]:
        return {sid: len(s.sealers) for sid, s in sorted(self.sheets.items())}


@dataclass
class Votes:
    votes: dict[bytes, Vote] = field(default_factory=dict)
    ignored: list[Ignored] = field(default_factory=list)
    waiting: list[Ignored] = field(default_factory=list)
    #: key ceremonies for secret votes, by ceremony id
    ceremonies: dict[bytes, Ceremony] = field(default_factory=dict)

    def find(self, prefix: str) -> list[Vote]:
        """Votes whose id starts with ``prefix`` (hex)."""
        p = prefix.strip().lower()
        return [v for vid, v in sorted(self.votes.items()) if vid.hex().startswith(p)]

    def final_winners(self) -> list[tuple[Vote, Option]]:
        """Every FINAL vote with a winner, and its winning option (``ref`` included)."""
        out = []
        for _, v in sorted(self.votes.items()):
            option = v.winning_option
            if option is not None:
                out.append((v, option))
        return out

    def ignored_for(self, vote_id: bytes) -> list[Ignored]:
        return [i for i in self.ignored + self.waiting if i.vote == vote_id]
