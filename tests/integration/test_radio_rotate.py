"""A key rotated (or revoked) while its radio bridge runs: the bridge stops with exit 7
instead of keying up for ever with a key no station hears any more."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ledger.errors import PluriError
from ledger.home import Home
from ledger.roster import writer as trust
from ledger.testing import identity_from_seed
from mesh.radio.bridge import Bridge, read_status
from mesh.radio.links import parse_link
from mesh.radio.testing import founded_pair
from tests.conftest import Invoke

pytestmark = pytest.mark.timeout(120)


class QuietLink:
    """A radio nobody else is on (the bridge's own behaviour is what is tested)."""

    mtu = 200

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed = False

    def describe(self) -> str:
        return "a quiet test link"

    def airtime(self, nbytes: int) -> float:
        return nbytes * 8 / 9600

    def ready(self) -> bool:
        return True

    def send(self, frame: bytes) -> None:
        self.sent.append(frame)

    def receive(self, timeout: float) -> list[bytes]:
        time.sleep(timeout)  # as a real link waits for a frame
        return []

    def close(self) -> None:
        self.closed = True


def _retire(town: Home, valley: Home, how: str) -> None:
    """alice (admin, in town) retires bob's key; the valley laptop hears of it (the mesh)."""
    bob = valley.identity.public
    if how == "rotated":
        new = identity_from_seed("bob-new-laptop").public
        entry = trust.rotate(town.store, town.identity, bob, new).entry
    else:
        entry = trust.revoke(town.store, town.identity, bob, "laptop stolen", at=0).entry
    valley.store.ingest([entry.raw])


@pytest.mark.parametrize("how", ["rotated", "revoked"])
def test_a_running_bridge_stops_when_its_key_is_retired(tmp_path: Path, how: str) -> None:
    town, valley = founded_pair(tmp_path)
    link = QuietLink()
    bridge = Bridge(valley, parse_link("sim:quiet"), link=link)
    bridge.start()
    for _ in range(5):
        bridge.step(max_wait=0.01)
    assert link.sent  # its hello went out
    _retire(town, valley, how)
    deadline = time.monotonic() + 30
    with pytest.raises(PluriError, match=f"key was {how}") as err:
        while time.monotonic() < deadline:  # it notices within a poll (0.25 s)
            bridge.step(max_wait=0.01)
    assert err.value.exit_code == 7
    before = len(link.sent)
    bridge.close()
    assert len(link.sent) == before and link.closed
    assert read_status(valley.path)["stopped"]  # type: ignore[index]
    town.close()
    valley.close()


def test_a_bridge_does_not_start_with_a_retired_key(tmp_path: Path, invoke: Invoke) -> None:
    town, valley = founded_pair(tmp_path)
    _retire(town, valley, "rotated")
    link = QuietLink()
    with pytest.raises(PluriError, match="key was rotated"):
        Bridge(valley, parse_link("sim:quiet"), link=link).start()
    assert not link.sent
    town.close()
    valley.close()
    r = invoke(valley.path, "radio", "up", "--link", "sim:nobody-here")
    assert r.exit_code == 7, r.output  # not 9 "simulator not running": the key comes first
    assert "key was rotated" in r.output and "new laptop" in r.output
