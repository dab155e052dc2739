"""Admission and secrecy on the air: pairwise keys from the roster, sealed frames, replay checks.

Every member's ed25519 key converts to an X25519 key (as for CurveZMQ on the
mesh), so two members share a secret that nobody else can compute: the pair
key, bound to the mesh id. Each direction gets its own key derived from it.

* sealed frames: ChaCha20-Poly1305 (IETF) with the frame header as associated
  data and the sender's frame counter as nonce;
* clear frames (``--cleartext``, for amateur bands where encryption is not
  allowed): the records travel readable, followed by the same 16-byte
  Poly1305 tag computed over header and records. Nothing is hidden; a
  non-member still cannot forge a frame;
* hello frames carry the sender's full key and an ed25519 signature, so a
  station can learn who is on the air before any pair key is in use.

Counters never repeat within a run; a receiver keeps, per peer epoch, the
highest counter seen and a 64-frame window (:class:`ReplayWindow`), and drops
anything older or repeated (:mod:`mesh.radio.epochs` decides which epochs count).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import nacl.bindings
import nacl.exceptions
import nacl.signing

from mesh.radio import wire

HELLO_DOMAIN = b"plurigrid/radio-hello/v2\x00"
_PERSON = b"pg-radio-pair-v1"
_RUN_PERSON = b"pg-radio-run-v2"
MESH_PREFIX = 4
EPOCH_BYTES = 8
NO_EPOCH = bytes(EPOCH_BYTES)  # a hello that echoes nobody (the sender knows no peer yet)


class AuthFailed(ValueError):
    """The frame's tag or signature does not check with the keys we hold."""


def key_prefix(key: bytes) -> bytes:
    """The two bytes that name a member in a frame header."""
    return key[:2]


def new_epoch() -> bytes:
    """A fresh random run epoch (never all zeros: that means "none")."""
    while True:
        epoch = os.urandom(EPOCH_BYTES)
        if epoch != NO_EPOCH:
            return epoch


@dataclass
class Hello:
    key: bytes
    epoch: bytes  # the sender's run epoch
    echo: bytes  # the epoch of the station it answers (NO_EPOCH: none)
    mesh_prefix: bytes
    cleartext: bool
    boot: bool  # the first hello since the sender started
    ask: bool = False  # "I cannot read you: say hello" (answered by every peer)


class Keyring:
    """This laptop's keys for the air: pair keys (cached), sealing, hellos."""

    def __init__(
        self, signing_key: nacl.signing.SigningKey, mesh_id: bytes, epoch: bytes | None = None
    ) -> None:
        self.signing_key = signing_key
        self.epoch = epoch or new_epoch()
        self.me = bytes(signing_key.verify_key)
        self.mesh_id = mesh_id
        self._curve_secret = nacl.bindings.crypto_sign_ed25519_sk_to_curve25519(
            signing_key._signing_key
        )
        self._pairs: dict[bytes, tuple[bytes, bytes]] = {}
        self._runs: dict[tuple[bytes, bytes], tuple[bytes, bytes]] = {}

    def pair(self, peer: bytes) -> tuple[bytes, bytes]:
        """(key for frames we send to ``peer``, key for frames ``peer`` sends us)."""
        if peer not in self._pairs:
            try:
                curve_peer = nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(peer)
                shared = nacl.bindings.crypto_scalarmult(self._curve_secret, curve_peer)
            except (nacl.exceptions.CryptoError, ValueError) as e:
                raise AuthFailed("not a usable public key") from e
            low, high = sorted((self.me, peer))
            root = hashlib.blake2b(
                shared + self.mesh_id + low + high, digest_size=32, person=_PERSON
            ).digest()
            tx = hashlib.blake2b(b"dir" + self.me + peer, key=root, digest_size=32).digest()
            rx = hashlib.blake2b(b"dir" + peer + self.me, key=root, digest_size=32).digest()
            self._pairs[peer] = (tx, rx)
        return self._pairs[peer]

    def run_keys(self, peer: bytes, peer_epoch: bytes) -> tuple[bytes, bytes]:
        """(send, receive) keys between this run and ``peer``'s run ``peer_epoch``.

        Both epochs go into each key: ours is fresh at every start, so no key outlives
        the process that used its counters; the peer's is fresh at every start of the
        peer, so frames recorded before either side restarted open under no key in use.
        """
        if (peer, peer_epoch) not in self._runs:
            tx, rx = self.pair(peer)
            mine, theirs = self.epoch, peer_epoch
            send = hashlib.blake2b(
                b"run" + mine + theirs, key=tx, digest_size=32, person=_RUN_PERSON
            )
            recv = hashlib.blake2b(
                b"run" + theirs + mine, key=rx, digest_size=32, person=_RUN_PERSON
            )
            self._runs[(peer, peer_epoch)] = (send.digest(), recv.digest())
        return self._runs[(peer, peer_epoch)]

    def forget(self, peer: bytes) -> None:
        self._pairs.pop(peer, None)
        for k in [k for k in self._runs if k[0] == peer]:
            del self._runs[k]

    # --- sealed and clear frames ----------------------------------------------------

    def seal(
        self,
        peer: bytes,
        peer_epoch: bytes,
        counter: int,
        plaintext: bytes,
        *,
        cleartext: bool = False,
        ack_requested: bool = False,
    ) -> bytes:
        kind = wire.CLEAR if cleartext else wire.SEALED
        header = wire.Header(kind, key_prefix(self.me), key_prefix(peer), counter, ack_requested)
        head = header.pack()
        tx, _ = self.run_keys(peer, peer_epoch)
        nonce = _nonce(counter)
        enc = nacl.bindings.crypto_aead_chacha20poly1305_ietf_encrypt
        if cleartext:
            return head + plaintext + enc(b"", head + plaintext, nonce, tx)
        return head + enc(plaintext, head, nonce, tx)

    def open(self, peer: bytes, peer_epoch: bytes, frame: bytes) -> bytes:
        """The records of a frame from ``peer`` in its run ``peer_epoch``; AuthFailed if
        its tag does not check."""
        header = wire.parse_header(frame)
        head = frame[: wire.HEADER_BYTES]
        _, rx = self.run_keys(peer, peer_epoch)
        nonce = _nonce(header.counter)
        dec = nacl.bindings.crypto_aead_chacha20poly1305_ietf_decrypt
        try:
            if header.kind == wire.CLEAR:
                body, tag = frame[wire.HEADER_BYTES : -wire.TAG_BYTES], frame[-wire.TAG_BYTES :]
                dec(tag, head + body, nonce, rx)
                return body
            return dec(frame[wire.HEADER_BYTES :], head, nonce, rx)
        except nacl.exceptions.CryptoError as e:
            raise AuthFailed("tag does not check") from e

    # --- hello -------------------------------------------------------------------------

    def hello(
        self, *, cleartext: bool, boot: bool = False, echo: bytes = NO_EPOCH, ask: bool = False
    ) -> bytes:
        b0 = (wire.VERSION << 4) | wire.HELLO
        flags = (1 if cleartext else 0) | (2 if boot else 0) | (4 if ask else 0)
        body = (
            bytes([b0]) + self.me + self.epoch + echo + self.mesh_id[:MESH_PREFIX] + bytes([flags])
        )
        sig = self.signing_key.sign(HELLO_DOMAIN + body).signature
        return body + sig


def read_hello(frame: bytes) -> Hello:
    """The fields of a hello frame, signature checked; WireError / AuthFailed otherwise."""
    if wire.frame_kind(frame) != wire.HELLO or len(frame) != wire.HELLO_BYTES:
        raise wire.WireError("not a hello frame")
    body, sig = frame[:-64], frame[-64:]
    key = body[1:33]
    try:
        nacl.bindings.crypto_sign_open(sig + HELLO_DOMAIN + body, key)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError) as e:
        raise AuthFailed("hello signature does not verify") from e
    epoch, echo, mesh, flags = body[33:41], body[41:49], body[49:53], body[53]
    if epoch == NO_EPOCH:
        raise wire.WireError("hello without an epoch")
    return Hello(key, epoch, echo, mesh, bool(flags & 1), bool(flags & 2), bool(flags & 4))


def _nonce(counter: int) -> bytes:
    return counter.to_bytes(8, "big") + b"\x00\x00\x00\x00"


class ReplayWindow:
    """Frame counters seen from one sender: each accepted once, none older than the window."""

    SIZE = 64

    def __init__(self, floor: int = 0) -> None:
        self.high = floor  # counters <= floor were seen in an earlier run
        self.bits = (1 << self.SIZE) - 1 if floor > 0 else 0  # bit i: high-1-i seen
        self.seen_any = floor > 0

    def check(self, counter: int) -> bool:
        """Would ``counter`` be accepted (without recording it)?"""
        if not self.seen_any:
            return True
        if counter > self.high:
            return True
        distance = self.high - 1 - counter
        if counter == self.high or distance >= self.SIZE:
            return False
        return not self.bits >> distance & 1

    def accept(self, counter: int) -> bool:
        """Record ``counter``; False (and nothing recorded) if it is a replay or too old."""
        if not self.check(counter):
            return False
        if not self.seen_any:
            self.high, self.bits, self.seen_any = counter, 0, True
        elif counter > self.high:
            shift = counter - self.high
            self.bits = ((self.bits << shift) | (1 << (shift - 1))) & ((1 << self.SIZE) - 1)
            self.high = counter
        else:
            self.bits |= 1 << (self.high - 1 - counter)
        return True
