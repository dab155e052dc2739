"""One ed25519 identity per laptop: create, seal, load, fingerprint, CurveZMQ keys.

The key file lives in the home (``identity.json``, mode 0600). Loading refuses a
key file that other users can read: a copied key is a stolen vote. The same
ed25519 key yields the Curve25519 keypair the mesh uses for CurveZMQ, so one
identity serves both signing and transport.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ledger.errors import KeyFileError, NotInitialised, PassphraseError

if TYPE_CHECKING:
    import nacl.signing

# nacl (libsodium) is imported where keys are used, not at the top: commands that only
# read the ledger (most of them) start faster without it.

KEY_FILE = "identity.json"
FORMAT_VERSION = 1
#: argon2id cost for sealing: about a second and 256 MiB on a laptop.
SEAL_OPSLIMIT = 3  # nacl.pwhash.argon2id.OPSLIMIT_MODERATE (a test keeps them equal)
SEAL_MEMLIMIT = 268_435_456  # nacl.pwhash.argon2id.MEMLIMIT_MODERATE (256 MiB)

PassphraseProvider = Callable[[], str | None]


@dataclass(frozen=True)
class Identity:
    """A laptop's signing identity. ``public`` is the 32-byte ed25519 key."""

    name: str
    signing_key: nacl.signing.SigningKey

    @property
    def public(self) -> bytes:
        return bytes(self.signing_key.verify_key)

    @property
    def public_hex(self) -> str:
        return self.public.hex()

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public)

    def sign(self, message: bytes) -> bytes:
        """The 64-byte detached ed25519 signature of ``message``."""
        import nacl.bindings

        return nacl.bindings.crypto_sign(message, self.signing_key._signing_key)[:64]

    def curve_keypair(self) -> tuple[bytes, bytes]:
        """(public, secret) Curve25519 keys for CurveZMQ, Z85-encoded (40 bytes each)."""
        import nacl.bindings

        pk = nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(self.public)
        sk = nacl.bindings.crypto_sign_ed25519_sk_to_curve25519(self.signing_key._signing_key)
        return z85_encode(pk), z85_encode(sk)


def fingerprint(public: bytes) -> str:
    """A short, readable-aloud fingerprint: 16 base32 characters in four groups.

    80 bits of blake2b over the key, domain-separated. Base32 (A-Z, 2-7) has no
    lower case and no 0/1/8/9, so it survives a noisy radio.
    """
    digest = hashlib.blake2b(public, digest_size=10, person=b"plurigrid-fpr").digest()
    text = base64.b32encode(digest).decode("ascii")
    return "-".join(text[i : i + 4] for i in range(0, 16, 4))


def curve_public_from_ed25519(public: bytes) -> bytes:
    """The Z85 CurveZMQ public key of a member, derived from their ed25519 key."""
    import nacl.bindings

    return z85_encode(nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(public))


# --- Z85 (ZeroMQ RFC 32), kept here so the ledger does not import zmq -------------

_Z85 = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
_Z85_INDEX = {c: i for i, c in enumerate(_Z85)}


def z85_encode(data: bytes) -> bytes:
    if len(data) % 4:
        raise ValueError("Z85 needs a multiple of 4 bytes")
    out = bytearray()
    for i in range(0, len(data), 4):
        value = int.from_bytes(data[i : i + 4], "big")
        chunk = bytearray(5)
        for j in range(4, -1, -1):
            value, rem = divmod(value, 85)
            chunk[j] = _Z85[rem]
        out += chunk
    return bytes(out)


def z85_decode(text: bytes) -> bytes:
    if len(text) % 5:
        raise ValueError("Z85 needs a multiple of 5 characters")
    out = bytearray()
    for i in range(0, len(text), 5):
        value = 0
        for c in text[i : i + 5]:
            value = value * 85 + _Z85_INDEX[c]
        out += value.to_bytes(4, "big")
    return bytes(out)


# --- files -------------------------------------------------------------------------


def key_path(home: Path) -> Path:
    return home / KEY_FILE


def create(home: Path, name: str, passphrase: str | None = None) -> Identity:
    """Create a new identity in ``home``; refuses to overwrite an existing key."""
    name = validate_name(name)
    path = key_path(home)
    if path.exists():
        raise KeyFileError(
            f"{path} already exists: this home already has an identity",
            hint="use another --home, or keep the existing key (plurictl whoami)",
        )
    ensure_home(home)
    import nacl.signing

    identity = Identity(name=name, signing_key=nacl.signing.SigningKey.generate())
    save(identity, home, passphrase, overwrite=False)
    return identity


def validate_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 64 or not name.isprintable():
        from ledger.errors import InvalidInput

        raise InvalidInput(
            "a name must be 1-64 printable characters (letters, digits, spaces, punctuation)"
        )
    return name


def ensure_home(home: Path) -> None:
    """Create the home folder, private to this user."""
    try:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as e:
        raise KeyFileError(f"cannot create home folder {home}: {e.strerror}") from e


def save(identity: Identity, home: Path, passphrase: str | None, *, overwrite: bool = True) -> None:
    """Write the key file atomically with mode 0600 (sealed when a passphrase is given)."""
    seed = bytes(identity.signing_key)
    if passphrase:
        secret = _seal(seed, passphrase)
    else:
        secret = {"kind": "plain", "seed": seed.hex()}
    doc = {
        "format": FORMAT_VERSION,
        "name": identity.name,
        "public": identity.public_hex,
        "secret": secret,
    }
    data = (json.dumps(doc, indent=2) + "\n").encode()
    path = key_path(home)
    tmp = path.with_name(path.name + ".tmp")
    try:
        if tmp.exists():
            tmp.unlink()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if not overwrite and path.exists():
            tmp.unlink()
            raise KeyFileError(f"{path} already exists")
        os.replace(tmp, path)
    except OSError as e:
        raise KeyFileError(f"cannot write key file {path}: {e.strerror}") from e


def _seal(seed: bytes, passphrase: str) -> dict[str, object]:
    import nacl.pwhash
    import nacl.secret
    import nacl.utils

    salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
    key = nacl.pwhash.argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE,
        passphrase.encode(),
        salt,
        opslimit=SEAL_OPSLIMIT,
        memlimit=SEAL_MEMLIMIT,
    )
    box = nacl.secret.SecretBox(key).encrypt(seed)
    return {
        "kind": "argon2id-secretbox",
        "salt": salt.hex(),
        "opslimit": SEAL_OPSLIMIT,
        "memlimit": SEAL_MEMLIMIT,
        "box": bytes(box).hex(),
    }


def is_sealed(home: Path) -> bool:
    doc = _read_doc(key_path(home))
    return bool(doc["secret"].get("kind") != "plain")


def load(home: Path, passphrase: str | PassphraseProvider | None = None) -> Identity:
    """Load the identity, refusing key files that other users could read.

    ``passphrase`` may be a string or a callable asked only if the key is sealed.
    """
    import nacl.exceptions
    import nacl.signing

    path = key_path(home)
    if not home.exists():
        raise NotInitialised(
            f"no home folder at {home}", hint="run `plurictl init --name NAME` first"
        )
    if not path.exists():
        raise NotInitialised(f"no identity in {home}", hint="run `plurictl init --name NAME` first")
    check_permissions(path)
    doc = _read_doc(path)
    secret = doc["secret"]
    try:
        if secret.get("kind") == "plain":
            seed = bytes.fromhex(secret["seed"])
        elif secret.get("kind") == "argon2id-secretbox":
            phrase = passphrase() if callable(passphrase) else passphrase
            if not phrase:
                raise PassphraseError(
                    "this key is sealed with a passphrase",
                    hint="set PLURI_PASSPHRASE or run the command in a terminal to be asked",
                )
            seed = _unseal(secret, phrase)
        else:
            raise KeyFileError(f"{path}: unknown secret kind {secret.get('kind')!r}")
        key = nacl.signing.SigningKey(seed)
    except (KeyError, ValueError, TypeError, nacl.exceptions.ValueError) as e:
        raise KeyFileError(f"{path} is damaged: {e}", hint="restore it from your backup") from e
    if bytes(key.verify_key).hex() != doc.get("public"):
        raise KeyFileError(
            f"{path} is damaged: its secret does not match its public key",
            hint="restore it from your backup",
        )
    return Identity(name=str(doc.get("name", "")), signing_key=key)


def _unseal(secret: dict[str, object], passphrase: str) -> bytes:
    import nacl.exceptions
    import nacl.pwhash
    import nacl.secret

    try:
        key = nacl.pwhash.argon2id.kdf(
            nacl.secret.SecretBox.KEY_SIZE,
            passphrase.encode(),
            bytes.fromhex(str(secret["salt"])),
            opslimit=int(secret["opslimit"]),  # type: ignore[call-overload]
            memlimit=int(secret["memlimit"]),  # type: ignore[call-overload]
        )
        return nacl.secret.SecretBox(key).decrypt(bytes.fromhex(str(secret["box"])))
    except nacl.exceptions.CryptoError as e:
        raise PassphraseError("wrong passphrase for this key") from e


def check_permissions(path: Path) -> None:
    """Refuse a key file that group or others can read or write."""
    try:
        mode = path.stat().st_mode
    except OSError as e:
        raise KeyFileError(f"cannot read key file {path}: {e.strerror}") from e
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"{path} can be read by other users (mode {stat.S_IMODE(mode):o}); refusing to use it",
            hint=f"if nobody else copied it, run: chmod 600 {path}",
        )


def _read_doc(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except OSError as e:
        raise KeyFileError(f"cannot read key file {path}: {e.strerror}") from e
    except (ValueError, UnicodeDecodeError) as e:
        raise KeyFileError(
            f"{path} is damaged (not JSON)", hint="restore it from your backup"
        ) from e
    if not isinstance(doc, dict) or not isinstance(doc.get("secret"), dict):
        raise KeyFileError(
            f"{path} is damaged (unexpected layout)", hint="restore it from your backup"
        )
    if doc.get("format") != FORMAT_VERSION:
        raise KeyFileError(f"{path}: unsupported key file format {doc.get('format')!r}")
    return doc


def public_name(home: Path) -> tuple[str, bytes]:
    """Name and public key without unsealing (for display of a sealed key)."""
    path = key_path(home)
    if not path.exists():
        raise NotInitialised(f"no identity in {home}", hint="run `plurictl init --name NAME` first")
    check_permissions(path)
    doc = _read_doc(path)
    try:
        return str(doc.get("name", "")), bytes.fromhex(doc["public"])
    except (KeyError, ValueError) as e:
        raise KeyFileError(f"{path} is damaged: {e}") from e
