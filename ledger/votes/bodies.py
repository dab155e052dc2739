"""Vote entry kinds, their body formats, and the checks shared by the view and the writer.

Kinds (all under ``vote.``; ids and keys are lowercase hex)::

    vote.part     {"items": [...] | {...}}            a chunk of a long list, named by id
    vote.charter  {"title", "text", "options": [{"id","label","ref"?}], "method",
                   "credits"?, "roll": {member: weight}, "roll_parts": [part id],
                   "roll_size", "roll_weight", "roll_source", "tellers": [member],
                   "teller_keys": {member: key}, "k", "f"?, "quorum_pct", "window_minutes"}
    vote.ballot   {"vote": charter id, "choice": [...] | {option: votes}, "replaces": [ballot id]}
    vote.stop     {"vote", "count", "root"}           a teller stops taking ballots
    vote.close    {"vote", "count", "root", "ballots": [ballot id], "parts": [part id]}
    vote.seal     {"vote", "sheet": close id, "root"} a teller countersigns one sheet
    vote.share    {"vote", "sheet", "root", "share"}  a secret vote's teller adds its
                  decryption share to the sealed sheet (k seals)

Secret votes (field_guides/secret-ballots.md): the charter adds ``"secret": {"ceremony":
ceremony id, "keys": key-set bytes}``; a ballot carries ``"sealed": ballot bytes`` instead
of ``choice``; a seal adds ``"share": decryption-share bytes`` only when it is (with the
seals its laptop holds) the sheet's k-th or later; the others come as ``vote.share``. The key ceremony's own
kinds (``vote.ceremony``, ``vote.deal``, ``vote.complain``, ``vote.justify``,
``vote.checked``) are in
:mod:`ledger.votes.ceremonies`.

Long lists (a roll of 10,000 members, a sheet of 100,000 ballots) do not fit in
one 64 KiB entry: they are split into ``vote.part`` entries written first and
named, in order, by the charter or sheet. A part is content-addressed (its id
is a hash of its bytes), so whoever signed it cannot change it afterwards.

Parsing raises :class:`Malformed` with a reason; the view turns that into an
"ignored" line and the writer into an error before anything is signed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ledger.votes.secret.errors import BallotEncodingError

if TYPE_CHECKING:
    from ledger.votes.secret.keys import KeySet

PART = "vote.part"
CHARTER = "vote.charter"
BALLOT = "vote.ballot"
STOP = "vote.stop"
CLOSE = "vote.close"
SEAL = "vote.seal"
#: a secret vote: a teller's decryption share of the sealed sheet, after sealing
SHARE = "vote.share"
#: secret votes' key ceremonies (:mod:`ledger.votes.ceremonies`)
CEREMONY, DEAL, COMPLAIN, JUSTIFY = "vote.ceremony", "vote.deal", "vote.complain", "vote.justify"
#: teller j confirms the shares sealed for it by these dealings (entry ids) open and match
CHECKED = "vote.checked"
#: what a secret ballot's ``choice`` shows: never the choice, only its tracker
SEALED_PREFIX = "sealed:"
CEREMONY_KINDS = frozenset({CEREMONY, DEAL, COMPLAIN, JUSTIFY, CHECKED})
VOTE_KINDS = frozenset({PART, CHARTER, BALLOT, STOP, CLOSE, SEAL, SHARE}) | CEREMONY_KINDS

PLURALITY, APPROVAL, RANKED, QUADRATIC = "plurality", "approval", "ranked-choice", "quadratic"
METHODS = (PLURALITY, APPROVAL, RANKED, QUADRATIC)

MAX_OPTIONS = 64
MAX_WEIGHT = 1_000_000
MAX_CREDITS = 1_000_000
MAX_TITLE = 300
MAX_TEXT = 4000
#: Items per vote.part: hex ids (66 bytes each) and roll rows (~75 bytes) stay under 64 KiB.
IDS_PER_PART = 900
ROLL_PER_PART = 700
OPTION_ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")

#: Roles whose entries carry a voter's authority (an observer's never do).
VOTER_ROLES = ("admin", "coordinator", "operator", "teller")


class Malformed(ValueError):
    """A body that does not have the documented shape; the message says why."""


@dataclass(frozen=True)
class Option:
    """One choice on the ballot; ``ref`` may name what adopting it means (e.g. a plan id)."""

    id: str
    label: str
    ref: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "ref": self.ref}


def parse_hex(value: Any, what: str, size: int = 32) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * size or value != value.lower():
        raise Malformed(f"{what} must be {2 * size} lowercase hex characters")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise Malformed(f"{what} must be {2 * size} lowercase hex characters") from None


def parse_ids(value: Any, what: str) -> list[bytes]:
    if not isinstance(value, list):
        raise Malformed(f"{what} must be a list of ids")
    return [parse_hex(v, what) for v in value]


def _int(value: Any, what: str, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise Malformed(f"{what} must be a whole number from {lo} to {hi}")
    return value


def parse_options(value: Any) -> tuple[Option, ...]:
    if not isinstance(value, list) or not 2 <= len(value) <= MAX_OPTIONS:
        raise Malformed(f"options must be a list of 2 to {MAX_OPTIONS} choices")
    out: list[Option] = []
    for item in value:
        if not isinstance(item, dict):
            raise Malformed("each option is a map with id and label")
        oid, label, ref = item.get("id"), item.get("label"), item.get("ref")
        if not isinstance(oid, str) or not OPTION_ID_RE.match(oid):
            raise Malformed(
                f"option id {oid!r}: use 1-32 lowercase letters, digits, '-' or '_' "
                "(starting with a letter or digit)"
            )
        if not isinstance(label, str) or not label.strip() or len(label) > MAX_TITLE:
            raise Malformed(f"option {oid}: label must be 1 to {MAX_TITLE} characters")
        if ref is not None and (not isinstance(ref, str) or not ref or len(ref) > 200):
            raise Malformed(f"option {oid}: ref must be a non-empty string (at most 200)")
        out.append(Option(oid, label, ref))
    if len({o.id for o in out}) != len(out):
        raise Malformed("option ids must be different from each other")
    return tuple(out)


def parse_roll_items(value: Any, what: str = "roll") -> dict[bytes, int]:
    if not isinstance(value, dict):
        raise Malformed(f"{what} must map member ids to weights")
    return {
        parse_hex(m, f"{what} member"): _int(w, f"{what} weight", 1, MAX_WEIGHT)
        for m, w in value.items()
    }


@dataclass(frozen=True)
class SecretFields:
    """What a secret vote's charter records: its key ceremony and the keys it produced."""

    ceremony: bytes
    keys: KeySet
    #: the ceremony's qualified dealers (teller indices) whose dealings make ``keys``
    qualified: tuple[int, ...]


def parse_secret(value: Any, method: str, n: int, k: int) -> SecretFields | None:
    """The charter's ``secret`` field (None: an open vote); Malformed if it cannot be one."""
    if value is None:
        return None
    if method not in (PLURALITY, APPROVAL):
        raise Malformed(
            f"a {method} vote cannot be secret: only plurality and approval votes can "
            "(ranked-choice and quadratic tallies need a mixnet or range proofs)"
        )
    if not isinstance(value, dict):
        raise Malformed("secret must be a map with ceremony and keys")
    ceremony = parse_hex(value.get("ceremony"), "secret.ceremony")
    raw = value.get("keys")
    if not isinstance(raw, bytes):
        raise Malformed("secret.keys must be bytes (a key set)")
    from ledger.votes.secret.keys import KeySet  # the crypto stack loads only for secret votes

    try:
        keys = KeySet.from_bytes(raw)
    except BallotEncodingError as e:
        raise Malformed(f"secret.keys: {e}") from e
    if keys.threshold != k or len(keys.public_shares) != n:
        raise Malformed(
            f"secret.keys are for {keys.threshold} of {len(keys.public_shares)}, "
            f"the charter seals with {k} of {n}"
        )
    qualified = value.get("qualified")
    if (
        type(qualified) is not list
        or not all(type(i) is int and 1 <= i <= n for i in qualified)
        or qualified != sorted(set(qualified))
        or len(qualified) < k
    ):
        raise Malformed(f"secret.qualified must list at least {k} teller indices, ascending")
    return SecretFields(ceremony, keys, tuple(qualified))


@dataclass(frozen=True)
class CharterFields:
    """A charter body, parsed; the roll may still be spread over parts."""

    title: str
    text: str
    options: tuple[Option, ...]
    method: str
    credits: int | None
    roll: dict[bytes, int]
    roll_parts: tuple[bytes, ...]
    roll_size: int
    roll_weight: int
    roll_source: str
    tellers: tuple[bytes, ...]
    k: int
    quorum_pct: int
    window_minutes: int | None
    #: teller member -> the key that holds the seat for this vote (the member's key when
    #: the charter was written). A successor key after a rotation does not inherit it.
    teller_keys: dict[bytes, bytes] = field(default_factory=dict)
    #: how many equivocating tellers (copied keys) the vote tolerates; None: a charter
    #: written before f existed, folded by the old rules (``rules`` 1)
    f: int | None = None
    #: a secret vote: its key ceremony and the joint key set (None: an open vote)
    secret: SecretFields | None = None

    @property
    def rules(self) -> int:
        """1: the rules of charters without ``f`` (kept as they were); 2: finality rules."""
        return 1 if self.f is None else 2


def seal_threshold(n: int, f: int) -> int:
    """The smallest k with 2k - n >= f + 1: two sets of k of the n tellers share f + 1."""
    return (n + f + 2) // 2


def check_threshold(n: int, k: int, f: int | None) -> str | None:
    """Why ``k`` of ``n`` tellers cannot be a safe seal threshold with ``f``, or None."""
    if f is None or f == 0:
        if 2 * k <= n:
            return (
                f"seal threshold k={k} must be more than half of the {n} tellers "
                "(otherwise two sides of a partition could both seal)"
            )
        return None
    if 2 * k - n < f + 1:
        return (
            f"seal threshold k={k} of {n} tellers cannot tolerate f={f} equivocating "
            f"teller(s): it needs 2k - n >= f + 1, so k >= {seal_threshold(n, f)}"
        )
    return None


def parse_charter(body: dict[str, Any]) -> CharterFields:
    """Check a charter body; the safety rule (2k - n >= f + 1, or k > n/2 for a charter
    without ``f``) is enforced here, in the view itself."""
    title = body.get("title")
    if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE:
        raise Malformed(f"title must be 1 to {MAX_TITLE} characters")
    text = body.get("text", "")
    if not isinstance(text, str) or len(text) > MAX_TEXT:
        raise Malformed(f"text must be at most {MAX_TEXT} characters")
    options = parse_options(body.get("options"))
    method = body.get("method")
    if method not in METHODS:
        raise Malformed(f"method must be one of {', '.join(METHODS)}")
    credits = None
    if method == QUADRATIC:
        credits = _int(body.get("credits"), "credits", 1, MAX_CREDITS)
    roll = parse_roll_items(body.get("roll", {}))
    roll_parts = tuple(parse_ids(body.get("roll_parts", []), "roll_parts"))
    roll_size = _int(body.get("roll_size"), "roll_size", 1, 10**9)
    roll_weight = _int(body.get("roll_weight"), "roll_weight", 1, 10**15)
    source = body.get("roll_source", "")
    if not isinstance(source, str) or len(source) > 200:
        raise Malformed("roll_source must be a short text")
    tellers = tuple(parse_ids(body.get("tellers"), "tellers"))
    n = len(tellers)
    if n == 0 or len(set(tellers)) != n:
        raise Malformed("tellers must name at least one member, each once")
    k = _int(body.get("k"), "k", 1, n)
    f = None if "f" not in body else _int(body.get("f"), "f", 0, max(0, n - 1))
    problem = check_threshold(n, k, f)
    if problem:
        raise Malformed(problem)
    teller_keys = _teller_keys(body.get("teller_keys"), tellers)
    quorum = _int(body.get("quorum_pct", 0), "quorum_pct", 0, 100)
    window = body.get("window_minutes")
    if window is not None:
        window = _int(window, "window_minutes", 0, 10**6)
    secret = parse_secret(body.get("secret"), method, n, k)
    if secret is not None and f is None:
        raise Malformed("a secret vote's charter must carry f")
    return CharterFields(
        title,
        text,
        options,
        method,
        credits,
        roll,
        roll_parts,
        roll_size,
        roll_weight,
        source,
        tellers,
        k,
        quorum,
        window,
        teller_keys,
        f,
        secret,
    )


def _teller_keys(value: Any, tellers: tuple[bytes, ...]) -> dict[bytes, bytes]:
    """Seat keys: each teller member's key at charter time (default: the member's first key)."""
    if value is None:
        return {t: t for t in tellers}
    if not isinstance(value, dict):
        raise Malformed("teller_keys must map each teller member to a key")
    out = {}
    for member in tellers:
        keys = parse_ids([value.get(member.hex())], "teller_keys")
        out[member] = keys[0]
    if len(value) != len(tellers):
        raise Malformed("teller_keys must name exactly the tellers")
    return out


def merge_roll(fields: CharterFields, parts: list[Any]) -> dict[bytes, int]:
    """The whole roll: inline rows plus every part, checked against the declared totals."""
    roll = dict(fields.roll)
    for i, items in enumerate(parts):
        rows = parse_roll_items(items, f"roll part {i + 1}")
        if roll.keys() & rows.keys():
            raise Malformed("a member appears twice in the roll")
        roll.update(rows)
    if len(roll) != fields.roll_size or sum(roll.values()) != fields.roll_weight:
        raise Malformed(
            f"roll has {len(roll)} members of weight {sum(roll.values())}; "
            f"the charter declares {fields.roll_size} of weight {fields.roll_weight}"
        )
    return roll


def quadratic_swing(credits: int) -> int:
    """Most a single voter (weight 1) can move the margin between two options.

    Votes for the runner-up (v1) and against the winner (v2) cost v1² + v2² ≤ credits.
    """
    best = 0
    top = math.isqrt(credits)
    for v1 in range(top + 1):
        best = max(best, v1 + math.isqrt(credits - v1 * v1))
    return best


def check_choice(
    method: str, options: tuple[Option, ...], credits: int | None, choice: Any
) -> tuple[Any, str | None]:
    """Normalise a ballot's choice for ``method``; returns (choice, reason it is invalid).

    Empty means a blank ballot (counts for turnout and quorum, for no option).
    plurality: [id] or []; approval: [ids]; ranked-choice: [ids, most preferred first];
    quadratic: {id: votes} (votes may be negative, cost = votes², total ≤ credits).
    """
    known = frozenset(o.id for o in options)
    return _check(method, known, credits, choice)


def choice_checker(
    method: str, options: tuple[Option, ...], credits: int | None
) -> Callable[[Any], tuple[Any, str | None]]:
    """``check_choice`` for one charter, with its option set computed once (for big folds)."""
    known = frozenset(o.id for o in options)
    seen: dict[tuple[Any, ...], tuple[Any, str | None]] = {}  # most ballots repeat a choice

    def check(choice: Any) -> tuple[Any, str | None]:
        if method == QUADRATIC and type(choice) is dict:
            key = tuple(choice.items())
            try:
                hit = seen.get(key)
            except TypeError:  # unhashable votes: never cached
                return _check(method, known, credits, choice)
            # only plain choices are cached, and answered: 1, 1.0 and True are equal keys
            # but not equal votes
            plain = _plain(choice)
            if hit is not None and plain:
                return hit
            out = _check(method, known, credits, choice)
            if plain:
                seen[key] = out
            return out
        if type(choice) is not list or method == QUADRATIC:
            return _check(method, known, credits, choice)
        try:
            key = tuple(choice)
            return seen[key]
        except KeyError:
            out = seen[key] = _check(method, known, credits, choice)
            return out
        except TypeError:  # unhashable items: never cached
            return _check(method, known, credits, choice)

    return check


def _plain(choice: dict[Any, Any]) -> bool:
    """A quadratic choice with text keys and whole-number votes, by exact type."""
    for oid, votes in choice.items():
        if type(oid) is not str or type(votes) is not int:
            return False
    return True


def _check(
    method: str, known: frozenset[str], credits: int | None, choice: Any
) -> tuple[Any, str | None]:
    if method != QUADRATIC and type(choice) is list:
        try:  # the common case, checked in C: known options, no repeats
            fine = known.issuperset(choice) and len(set(choice)) == len(choice)
        except TypeError:  # unhashable items: the slow path says why
            fine = False
        if fine and (method != PLURALITY or len(choice) <= 1):
            return choice, None
    if method == QUADRATIC:
        return _check_quadratic(known, credits, choice)
    if not isinstance(choice, list) or not all(isinstance(c, str) for c in choice):
        return [], "the choice must be a list of option ids"
    unknown = [c for c in choice if c not in known]
    if unknown:
        return [], f"unknown option {unknown[0]!r}"
    if len(set(choice)) != len(choice):
        return [], "an option is named twice"
    if method == PLURALITY and len(choice) > 1:
        return [], "plurality: choose one option"
    return list(choice), None


def _check_quadratic(
    known: frozenset[str], credits: int | None, choice: Any
) -> tuple[dict[str, int], str | None]:
    """A quadratic ballot: option id -> whole votes (zeros dropped), within the budget."""
    if not isinstance(choice, dict):
        return {}, "a quadratic ballot maps option ids to numbers of votes"
    out: dict[str, int] = {}
    for oid, votes in choice.items():
        if oid not in known:
            return {}, f"unknown option {oid!r}"
        if not isinstance(votes, int) or isinstance(votes, bool):
            return {}, f"votes for {oid} must be a whole number"
        if abs(votes) > MAX_CREDITS:
            return {}, f"votes for {oid} are out of range"
        if votes:
            out[oid] = votes
    cost = sum(v * v for v in out.values())
    if credits is not None and cost > credits:
        return (
            out,
            f"over budget: costs {cost} credits (votes squared), the budget is {credits}",
        )
    return out, None
