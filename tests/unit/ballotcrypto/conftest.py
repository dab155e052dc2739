"""Shared fixtures for the ballot-crypto tests: a deterministic rng and a finished ceremony."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import nacl.signing
import pytest

from ledger.votes.secret import CeremonyParams, CeremonyState, Dealing, deal, fold, teller_secret


def det_rng(seed: bytes) -> Callable[[int], bytes]:
    """A reproducible byte stream (blake2b in counter mode) standing in for os.urandom."""
    counter = 0

    def rng(n: int) -> bytes:
        nonlocal counter
        out = b""
        while len(out) < n:
            out += hashlib.blake2b(seed + counter.to_bytes(8, "little"), digest_size=64).digest()
            counter += 1
        return out[:n]

    return rng


@dataclass
class Ceremony:
    params: CeremonyParams
    keys: list[nacl.signing.SigningKey]
    dealings: list[Dealing]
    state: CeremonyState
    secrets: list[int]


def run_ceremony(n: int, k: int, seed: bytes = b"ceremony") -> Ceremony:
    keys = [nacl.signing.SigningKey(hashlib.sha256(seed + bytes([i])).digest()) for i in range(n)]
    params = CeremonyParams(
        hashlib.sha256(seed).digest(), k, tuple(bytes(s.verify_key) for s in keys)
    )
    rng = det_rng(seed)
    dealings = [deal(params, i + 1, s, rng) for i, s in enumerate(keys)]
    state = fold(params, dealings)
    secrets = [teller_secret(params, t + 1, s, dealings, [], state) for t, s in enumerate(keys)]
    return Ceremony(params, keys, dealings, state, secrets)


@pytest.fixture(scope="session")
def ceremony() -> Ceremony:
    return run_ceremony(5, 3)
