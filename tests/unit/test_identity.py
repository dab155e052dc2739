"""Identity files: permissions, sealing, damage, fingerprints, CurveZMQ keys."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nacl.bindings
import nacl.signing
import pytest
import zmq.utils.z85

from ledger import identity as idm
from ledger.errors import KeyFileError, NotInitialised, PassphraseError


def test_create_then_load(tmp_path: Path) -> None:
    made = idm.create(tmp_path / "h", "alice")
    loaded = idm.load(tmp_path / "h")
    assert loaded.public == made.public and loaded.name == "alice"
    mode = (tmp_path / "h" / idm.KEY_FILE).stat().st_mode & 0o777
    assert mode == 0o600
    assert (tmp_path / "h").stat().st_mode & 0o077 == 0


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    idm.create(tmp_path, "a")
    with pytest.raises(KeyFileError, match="already"):
        idm.create(tmp_path, "b")
    assert idm.load(tmp_path).name == "a"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_refuses_key_readable_by_others(tmp_path: Path, mode: int) -> None:
    idm.create(tmp_path, "a")
    os.chmod(tmp_path / idm.KEY_FILE, mode)
    with pytest.raises(KeyFileError, match="read by other users") as err:
        idm.load(tmp_path)
    assert "chmod 600" in (err.value.hint or "")


def test_missing_home_and_key(tmp_path: Path) -> None:
    with pytest.raises(NotInitialised):
        idm.load(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotInitialised):
        idm.load(tmp_path / "empty")


def test_sealed_key(tmp_path: Path) -> None:
    made = idm.create(tmp_path, "a", passphrase="correct horse")
    doc = json.loads((tmp_path / idm.KEY_FILE).read_text())
    assert made.signing_key.encode().hex() not in json.dumps(doc)  # seed never stored in clear
    assert idm.is_sealed(tmp_path)
    with pytest.raises(PassphraseError, match="sealed"):
        idm.load(tmp_path)
    with pytest.raises(PassphraseError, match="wrong passphrase"):
        idm.load(tmp_path, "battery staple")
    assert idm.load(tmp_path, lambda: "correct horse").public == made.public
    # reseal without passphrase
    idm.save(made, tmp_path, None)
    assert not idm.is_sealed(tmp_path)
    assert idm.load(tmp_path).public == made.public


@pytest.mark.parametrize(
    "damage",
    [
        lambda t: "not json",
        lambda t: json.dumps({"format": 1}),
        lambda t: t.replace('"format": 1', '"format": 99'),
        lambda t: json.dumps({**json.loads(t), "public": "00" * 32}),
        lambda t: json.dumps({**json.loads(t), "secret": {"kind": "plain", "seed": "zz"}}),
    ],
)
def test_damaged_key_file(tmp_path: Path, damage) -> None:  # type: ignore[no-untyped-def]
    idm.create(tmp_path, "a")
    path = tmp_path / idm.KEY_FILE
    path.write_text(damage(path.read_text()))
    with pytest.raises(KeyFileError):
        idm.load(tmp_path)


def test_fingerprint_is_readable_and_stable() -> None:
    ident = idm.Identity("x", nacl.signing.SigningKey(bytes(range(32))))
    fp = ident.fingerprint
    groups = fp.split("-")
    assert len(groups) == 4 and all(len(g) == 4 for g in groups)
    assert set(fp.replace("-", "")) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert fp == idm.fingerprint(ident.public)
    other = idm.Identity("y", nacl.signing.SigningKey(bytes(32)))
    assert other.fingerprint != fp


def test_curve_keys_match_libsodium_and_zmq(tmp_path: Path) -> None:
    ident = idm.create(tmp_path, "a")
    public_z85, secret_z85 = ident.curve_keypair()
    assert len(public_z85) == 40 and len(secret_z85) == 40
    pk = zmq.utils.z85.decode(public_z85)
    sk = zmq.utils.z85.decode(secret_z85)
    assert nacl.bindings.crypto_scalarmult_base(sk) == pk  # a real Curve25519 keypair
    assert zmq.utils.z85.encode(pk) == public_z85
    assert idm.curve_public_from_ed25519(ident.public) == public_z85
    data = os.urandom(32)
    assert idm.z85_decode(idm.z85_encode(data)) == data
    assert idm.z85_encode(data) == zmq.utils.z85.encode(data)
