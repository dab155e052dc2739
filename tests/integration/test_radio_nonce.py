"""No (key, nonce) pair is ever sealed twice, even when radio-state.json is old.

The attack (hostile review, issue 20): restore an older backup of a laptop's home, or
copy a home to a second laptop, and its frame counters (the ChaCha20-Poly1305 nonces)
start again where the backup left them. Under the protocol 1 pair key, the same
(key, nonce) then sealed different plaintexts: keystream reuse reveals the XOR of the
plaintexts and lets an eavesdropper forge Poly1305 tags. The test watches the AEAD
primitive itself, through two real runs of a station over the simulator.
"""

from __future__ import annotations

from pathlib import Path

import nacl.bindings
import pytest

from ledger.store import Store
from ledger.testing import MeshFixture
from mesh.radio.ledger_port import LocalLedger
from mesh.radio.persist import STATE_FILE, RadioState
from mesh.radio.sim import SimParams
from mesh.radio.simnet import SimNet
from mesh.radio.station import Station, StationConfig

MESH = MeshFixture.create("alice", {"bob": ["operator"]})
PARAMS = SimParams(bitrate=1200, mtu=200, latency=0.5)

Sealed = dict[tuple[bytes, bytes], set[tuple[bytes, bytes]]]


def _spy(monkeypatch: pytest.MonkeyPatch) -> Sealed:
    """Every (key, nonce) the AEAD is called with, and what it sealed under them."""
    sealed: Sealed = {}
    real = nacl.bindings.crypto_aead_chacha20poly1305_ietf_encrypt

    def encrypt(message: bytes, aad: bytes | None, nonce: bytes, key: bytes) -> bytes:
        sealed.setdefault((bytes(key), bytes(nonce)), set()).add((bytes(aad or b""), message))
        return real(message, aad, nonce, key)

    monkeypatch.setattr(nacl.bindings, "crypto_aead_chacha20poly1305_ietf_encrypt", encrypt)
    return sealed


def _run(stores: dict[str, Store], home: Path) -> None:
    """One run of alice's bridge (its counters from ``home``) and bob's, until in sync."""
    net = SimNet(PARAMS)
    alice = net.add("alice", stores["alice"], MESH.person("alice").signing_key)
    alice.station = Station(  # as the bridge builds it: counters reserved in radio-state.json
        LocalLedger(stores["alice"]),
        MESH.person("alice").signing_key,
        StationConfig(),
        mtu=PARAMS.mtu,
        airtime=PARAMS.airtime,
        reserve=RadioState(home).reserve,
    )
    net.add("bob", stores["bob"], MESH.person("bob").signing_key)
    net.run_until(net.in_sync, 900)
    net.run_for(90)  # and the summaries of a link in sync


def test_an_old_radio_state_never_seals_two_frames_under_one_nonce(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restored backup; a copied home starting on a second laptop is the same case
    for the counters (the copy starts from the state it was copied with)."""
    sealed = _spy(monkeypatch)
    stores = {}
    for name in ("alice", "bob"):
        stores[name] = Store(tmp_path / f"{name}.db", create=True)
        stores[name].ingest([e.raw for e in MESH.entries])
    home = tmp_path / "alice-home"
    home.mkdir()
    RadioState(home).save()
    backup = (home / STATE_FILE).read_bytes()  # the backup (or the copy) of alice's home

    stores["alice"].append(MESH.person("alice"), "note", {"text": "before the backup"})
    _run(stores, home)
    (home / STATE_FILE).write_bytes(backup)  # restored (or: the copy starts up elsewhere)
    stores["alice"].append(MESH.person("alice"), "note", {"text": "after the restore"})
    _run(stores, home)

    assert stores["alice"].heads() == stores["bob"].heads()
    assert len(sealed) > 4
    reused = {k: v for k, v in sealed.items() if len(v) > 1}
    assert not reused, (
        f"{len(reused)} (key, nonce) pairs sealed different frames: "
        f"e.g. nonce {next(iter(reused))[1].hex()}"
    )
