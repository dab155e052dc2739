"""The signed ledger entry and its canonical byte encoding.

An entry is ``(v, author, seq, prev, hlc, kind, body)`` plus ``sig``:

* canonical bytes (``unsigned``): a msgpack array of those seven fields in that
  order; maps sorted by key, keys are strings, no NaN or infinity, no ext types;
* ``sig``: ed25519 over ``DOMAIN + unsigned`` (domain separation: a signature
  made for an entry can never be replayed as anything else);
* the signed encoding (``raw``): the msgpack array of the eight fields;
* ``id``: blake2b-256 of ``raw``.

Decoding re-encodes and compares, so every entry has exactly one valid byte
form: an entry cannot be re-encoded into a different id with the same signature.
The byte format is documented in ``field_guides/ledger-format.md``.
"""

from __future__ import annotations

import hashlib
import math
import re
import threading
from typing import Any, NamedTuple, Protocol

import msgpack

from ledger.errors import EncodingError, InvalidInput, VerificationFailed

VERSION = 1
DOMAIN = b"plurigrid/entry/v1\x00"
MAX_ENTRY_BYTES = 64 * 1024
MAX_DEPTH = 32
ID_BYTES = 32
KEY_BYTES = 32
SIG_BYTES = 64
KIND_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")
MAX_KIND_LEN = 64
_INT_MIN = -(2**63)
_INT_MAX = 2**64 - 1
#: seq and hlc are stored as SQLite integers (signed 64-bit): larger values are refused
#: at decode, so that no entry can make a store (and every node receiving it) fail.
_FIELD_MAX = 2**63 - 1


class Signer(Protocol):
    """Anything that can sign: an ``Identity``, or a test double holding a key."""

    @property
    def public(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes: ...


class Entry(NamedTuple):
    """A decoded, structurally valid entry. ``raw`` is its one canonical encoding.

    Immutable. A named tuple, not a frozen dataclass: a read of 100,000 entries builds
    them about four times faster (a frozen dataclass sets each field through
    ``object.__setattr__``), and compares and hashes the same way (by all fields).
    """

    v: int
    author: bytes
    seq: int
    prev: bytes | None
    hlc: int
    kind: str
    body: dict[str, Any]
    sig: bytes
    raw: bytes
    id: bytes

    def to_json(self, *, typed: bool = False) -> dict[str, Any]:
        """The entry for ``--json`` output: binary fields as lowercase hex.

        ``typed`` encodes the body so that byte strings stay distinguishable from
        text (see :func:`typed_json`); ``log show --json`` uses it.
        """
        return {
            "id": self.id.hex(),
            "author": self.author.hex(),
            "seq": self.seq,
            "prev": self.prev.hex() if self.prev is not None else None,
            "hlc": self.hlc,
            "kind": self.kind,
            "body": typed_json(self.body) if typed else jsonable(self.body),
            "sig": self.sig.hex(),
            "raw": self.raw.hex(),
        }


def jsonable(value: Any) -> Any:
    """Body values made JSON-safe (bytes become hex strings)."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


def typed_json(value: Any) -> Any:
    """A body value as JSON without losing its msgpack type.

    bin -> ``{"$bin": "<lowercase hex>"}``; a map whose keys include one starting
    with ``$`` -> ``{"$map": {...}}`` (so no body map is ever mistaken for either);
    float -> a JSON number with a fraction or exponent (``1.0``, never ``1``);
    everything else as itself. Documented in ``field_guides/ledger-format.md``.
    """
    if isinstance(value, bytes):
        return {"$bin": value.hex()}
    if isinstance(value, dict):
        inner = {k: typed_json(v) for k, v in value.items()}
        return {"$map": inner} if any(k.startswith("$") for k in value) else inner
    if isinstance(value, list):
        return [typed_json(v) for v in value]
    return value


# --- canonical form ------------------------------------------------------------------


def canonical(value: Any, _depth: int = 0, _path: str = "body") -> Any:
    """Return ``value`` in canonical form (sorted maps, lists), or raise InvalidInput.

    Allowed: None, bool, int (64-bit range), finite float, str, bytes, list/tuple,
    and maps with string keys.
    """
    if _depth > MAX_DEPTH:
        raise InvalidInput(f"{_path}: nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, bool | str | bytes):
        return value
    if isinstance(value, int):
        if not _INT_MIN <= value <= _INT_MAX:
            raise InvalidInput(f"{_path}: integer {value} outside the 64-bit range")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(
                f"{_path}: {value} is not a finite number (NaN and infinity are refused)"
            )
        return value
    if isinstance(value, list | tuple):
        return [canonical(v, _depth + 1, f"{_path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        for k in value:
            if not isinstance(k, str):
                raise InvalidInput(f"{_path}: map keys must be strings, got {type(k).__name__}")
        return {k: canonical(value[k], _depth + 1, f"{_path}.{k}") for k in sorted(value)}
    raise InvalidInput(f"{_path}: unsupported type {type(value).__name__}")


def check_kind(kind: str) -> str:
    if not isinstance(kind, str) or len(kind) > MAX_KIND_LEN or not KIND_RE.match(kind):
        raise InvalidInput(
            f"invalid kind {kind!r}: use lower-case words separated by dots, e.g. 'note' or 'fuel.report'"
        )
    return kind


def _pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def encode_unsigned(
    author: bytes, seq: int, prev: bytes | None, hlc: int, kind: str, body: dict[str, Any]
) -> bytes:
    """The canonical bytes that get signed. ``body`` must already be canonical."""
    return _pack([VERSION, author, seq, prev, hlc, kind, body])


def signed_encoding(unsigned: bytes, sig: bytes) -> bytes:
    """``raw`` from the unsigned array: same fields, one more element (the signature).

    Equal to ``msgpack.packb([v, author, seq, prev, hlc, kind, body, sig])``:
    fixarray(7) becomes fixarray(8) and ``bin8(64) sig`` is appended.
    """
    return b"\x98" + unsigned[1:] + b"\xc4\x40" + sig


def entry_id(raw: bytes) -> bytes:
    return hashlib.blake2b(raw, digest_size=ID_BYTES).digest()


def create(
    signer: Signer,
    *,
    seq: int,
    prev: bytes | None,
    hlc: int,
    kind: str,
    body: dict[str, Any],
) -> Entry:
    """Sign a new entry. Raises InvalidInput for a bad kind, body or size."""
    check_kind(kind)
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object (a map of names to values)")
    if not 1 <= seq <= _FIELD_MAX or not 0 <= hlc <= _FIELD_MAX:
        raise InvalidInput("seq must be 1 to 2**63-1 and hlc 0 to 2**63-1")
    body = canonical(body)
    author = signer.public
    unsigned = encode_unsigned(author, seq, prev, hlc, kind, body)
    size = len(unsigned) + 2 + SIG_BYTES
    if size > MAX_ENTRY_BYTES:
        raise InvalidInput(
            f"entry is {size:,} bytes; the limit is {MAX_ENTRY_BYTES:,} bytes",
            hint="store large data elsewhere and put its hash in the body",
        )
    sig = signer.sign(DOMAIN + unsigned)
    raw = signed_encoding(unsigned, sig)
    return Entry(VERSION, author, seq, prev, hlc, kind, body, sig, raw, entry_id(raw))


def decode(raw: bytes) -> Entry:
    """Parse ``raw`` into an Entry, checking structure and canonical form (not the signature)."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise EncodingError("entry is not bytes")
    raw = bytes(raw)
    if len(raw) > MAX_ENTRY_BYTES:
        raise EncodingError(f"entry is {len(raw):,} bytes; the limit is {MAX_ENTRY_BYTES:,}")
    try:
        obj = msgpack.unpackb(raw, raw=False, strict_map_key=True, use_list=True, timestamp=0)
    except Exception as e:  # msgpack raises ValueError, TypeError, ExtraData, ...
        raise EncodingError(f"not a msgpack entry: {e}") from e
    if not isinstance(obj, list) or len(obj) != 8:
        raise EncodingError("an entry is an array of 8 fields")
    v, author, seq, prev, hlc, kind, body, sig = obj
    _check_fields(v, author, seq, prev, hlc, kind, body, sig)
    problem = _decoded_problem(body, 0)
    if problem:
        raise EncodingError(f"body not canonical: {problem}")
    # signed_encoding(encode_unsigned(...), sig) in one pass: the eight fields packed again
    # (the version as the integer it must be) must give back exactly the bytes received
    if _packer().pack([VERSION, author, seq, prev, hlc, kind, body, sig]) != raw:
        raise EncodingError("entry bytes are not in canonical form")
    return Entry(VERSION, author, seq, prev, hlc, kind, body, sig, raw, entry_id(raw))


_PACKERS = threading.local()


def _packer() -> msgpack.Packer:
    """This thread's msgpack packer (same output as :func:`_pack`): ingest decodes every
    entry it receives, on several threads, and making a packer per entry costs about as
    much as packing it."""
    packer: msgpack.Packer | None = getattr(_PACKERS, "packer", None)
    if packer is None:
        packer = _PACKERS.packer = msgpack.Packer(use_bin_type=True)
    return packer


def _check_fields(
    v: Any, author: Any, seq: Any, prev: Any, hlc: Any, kind: Any, body: Any, sig: Any
) -> None:
    """Each decoded field has its type and range; raises :class:`EncodingError` if not."""
    if v != VERSION or isinstance(v, bool):
        raise EncodingError(
            f"unsupported entry version {v!r} (this plurictl reads version {VERSION})"
        )
    if not isinstance(author, bytes) or len(author) != KEY_BYTES:
        raise EncodingError("author must be a 32-byte key")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 1 <= seq <= _FIELD_MAX:
        raise EncodingError("seq must be an integer from 1 to 2**63-1")
    if prev is not None and (not isinstance(prev, bytes) or len(prev) != ID_BYTES):
        raise EncodingError("prev must be a 32-byte id or nil")
    if seq > 1 and prev is None:
        raise EncodingError("prev is nil but seq > 1")
    if not isinstance(hlc, int) or isinstance(hlc, bool) or not 0 <= hlc <= _FIELD_MAX:
        raise EncodingError("hlc must be an integer from 0 to 2**63-1")
    if not isinstance(kind, str) or not KIND_RE.match(kind) or len(kind) > MAX_KIND_LEN:
        raise EncodingError(f"invalid kind {kind!r}")
    if not isinstance(body, dict):
        raise EncodingError("body must be a map")
    if not isinstance(sig, bytes) or len(sig) != SIG_BYTES:
        raise EncodingError("sig must be 64 bytes")


_PLAIN = (str, int, bytes, bool, type(None))


def _decoded_problem(value: Any, depth: int) -> str | None:
    """Why a freshly decoded value is not canonical (None if it is).

    Cheaper than :func:`canonical` on the ingest hot path: it checks in place
    (sorted string keys, finite floats, no ext types, depth); byte-level
    details (shortest ints, float64) are caught by re-encoding and comparing.
    """
    kind = type(value)
    if kind in _PLAIN:
        return None
    if kind is float:
        return None if math.isfinite(value) else "NaN or infinity"
    if depth >= MAX_DEPTH:
        return "nested too deep"
    if kind is list:
        for item in value:
            if type(item) not in _PLAIN:
                problem = _decoded_problem(item, depth + 1)
                if problem:
                    return problem
        return None
    if kind is dict:
        keys = list(value)
        for k in keys:
            if type(k) is not str:
                return "map keys must be strings"
        if keys != sorted(keys):
            return "map keys not sorted"
        for item in value.values():
            if type(item) not in _PLAIN:
                problem = _decoded_problem(item, depth + 1)
                if problem:
                    return problem
        return None
    return f"unsupported type {kind.__name__}"


def unsigned_part(entry: Entry) -> bytes:
    """The signed-over bytes of ``entry`` (without the domain prefix), cut from ``raw``."""
    return b"\x97" + entry.raw[1 : -(2 + SIG_BYTES)]


def signature_valid(entry: Entry) -> bool:
    return _signed(entry.sig, unsigned_part(entry), entry.author)


def signature_valid_raw(raw: bytes) -> bool:
    """``signature_valid(decode(raw))`` for bytes that :func:`decode` accepts, without
    decoding: in canonical form the author is bytes 4-36 (after ``98 01 c4 20``) and the
    signature the last 64 (after ``c4 40``). Only for bytes already decoded elsewhere."""
    return _signed(raw[-SIG_BYTES:], b"\x97" + raw[1 : -(2 + SIG_BYTES)], raw[4:36])


def _signed(sig: bytes, unsigned: bytes, author: bytes) -> bool:
    # imported here: reading a ledger (every read command) needs no crypto library
    import nacl.bindings
    import nacl.exceptions

    try:
        nacl.bindings.crypto_sign_open(sig + DOMAIN + unsigned, author)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        return False
    return True


def verify(entry: Entry) -> Entry:
    """Raise VerificationFailed unless the signature is valid for the author."""
    if not signature_valid(entry):
        raise VerificationFailed(f"bad signature on entry {entry.author.hex()[:12]}#{entry.seq}")
    return entry


def decode_verified(raw: bytes) -> Entry:
    return verify(decode(raw))
