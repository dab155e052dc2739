"""Run epochs: a peer's run is believed on proof only, and a replaced run never comes back."""

from __future__ import annotations

from pathlib import Path

from ledger.store import Store
from ledger.testing import MeshFixture
from mesh.radio.crypto import new_epoch
from mesh.radio.epochs import MAX_CANDIDATES, PeerEpochs
from mesh.radio.ledger_port import LocalLedger
from mesh.radio.sim import SimParams
from mesh.radio.simnet import SimNet
from mesh.radio.station import Station, StationConfig

MESH = MeshFixture.create("alice", {"bob": ["operator"]})
E1, E2, E3 = new_epoch(), new_epoch(), new_epoch()


def test_an_unproven_hello_does_not_replace_a_proven_run() -> None:
    eps = PeerEpochs()
    assert eps.heard_hello(E1, proven=False) == "new"
    assert eps.current is None and eps.order() == [E1]
    assert not eps.promote(E1)  # a frame opened under E1: proven (nothing replaced)
    assert eps.heard_hello(E2, proven=False) == "new"  # a replayed hello, or a restart
    assert eps.current == E1 and eps.order() == [E1, E2]  # still sealing to E1
    assert eps.promote(E2)  # a frame opened under E2: the peer restarted
    assert eps.current == E2 and E1 in eps.retired
    assert eps.heard_hello(E1, proven=True) == "stale"  # never back, even "proven"
    assert eps.heard_hello(E1, proven=False) == "stale"
    assert eps.current == E2


def test_promotion_retires_older_candidates_and_keeps_newer_ones() -> None:
    eps = PeerEpochs(current=E1)
    eps.heard_hello(E2, proven=False)
    eps.heard_hello(E3, proven=False)
    eps.promote(E2)  # a late frame of the run before E3
    assert eps.current == E2 and eps.candidates == [E3] and eps.retired == {E1}
    assert eps.heard_hello(E3, proven=True) == "switched"
    assert eps.current == E3 and eps.retired == {E1, E2}


def test_replayed_old_hellos_cannot_push_a_live_run_out_for_good() -> None:
    """Four hellos of the peer's earlier runs, recorded and played back right after its
    boot hello, pushed the live run out of the candidates *as retired*: its own hellos
    and frames were then refused (stale) for the rest of our run."""
    eps = PeerEpochs(current=E1)
    assert eps.heard_hello(E2, proven=False) == "new"  # the peer restarts: its boot hello
    for _ in range(MAX_CANDIDATES):
        assert eps.heard_hello(new_epoch(), proven=False) == "new"  # old runs, replayed
    assert E2 not in eps.retired
    assert eps.heard_hello(E2, proven=False) == "new"  # its next hello is heard again
    assert eps.heard_hello(E2, proven=True) == "switched"  # and its proof counts
    assert eps.current == E2 and E1 in eps.retired


def _stores(root: Path) -> dict[str, Store]:
    out = {}
    for name in ("alice", "bob"):
        out[name] = Store(root / f"{name}.db", create=True)
        out[name].ingest([e.raw for e in MESH.entries])
    return out


def _restart(net: SimNet, name: str) -> Station:
    node = net.nodes[name]
    node.station = Station(
        LocalLedger(node.store),
        MESH.person(name).signing_key,
        StationConfig(),
        mtu=net.params.mtu,
        airtime=net.params.airtime,
    )
    return node.station


def test_frames_and_hellos_of_a_replaced_run_are_refused(tmp_path: Path) -> None:
    stores = _stores(tmp_path)
    net = SimNet(SimParams(bitrate=1200, mtu=200, latency=0.5))
    for name in ("alice", "bob"):
        net.add(name, stores[name], MESH.person(name).signing_key)
    recorder = net.air.attach("recorder")
    stores["alice"].append(MESH.person("alice"), "note", {"text": "first run"})
    net.run_until(net.in_sync, 600)
    bob = net.nodes["bob"].station
    alice_key = MESH.key("alice")
    old_run = bob.epochs[alice_key].current
    recorded = [f for f in recorder.receive() if f[1:3] == alice_key[:2] or f[1:33] == alice_key]
    assert recorded and old_run is not None

    new_run = _restart(net, "alice").keyring.epoch
    stores["alice"].append(MESH.person("alice"), "note", {"text": "second run"})
    net.run_until(lambda: net.in_sync() and bob.epochs[alice_key].current == new_run, 600)
    before = (bob.drops.stale_epoch, bob.drops.bad_auth)
    for frame in recorded:  # the first run's hello and frames, played back
        recorder.send(frame)
        net.run_for(2)
    hellos = sum(1 for f in recorded if f[0] & 0x03 == 2)
    assert bob.drops.stale_epoch - before[0] == hellos >= 1
    assert bob.drops.bad_auth - before[1] == len(recorded) - hellos
    assert bob.epochs[alice_key].current == new_run  # no roll back
    stores["alice"].append(MESH.person("alice"), "note", {"text": "still talking"})
    net.run_until(net.in_sync, 600)


def test_a_restart_mid_transfer_on_either_side_ends_in_sync(tmp_path: Path) -> None:
    stores = _stores(tmp_path)
    net = SimNet(SimParams(bitrate=1200, mtu=200, latency=0.5, loss=0.1, seed=3))
    for name in ("alice", "bob"):
        net.add(name, stores[name], MESH.person(name).signing_key)
    for i in range(30):
        stores["alice"].append(MESH.person("alice"), "note", {"n": i, "text": "x" * 150})
    for restarting in ("alice", "bob"):
        start = stores["bob"].count()
        net.run_until(lambda s=start: stores["bob"].count() >= s + 5, 900)  # under way
        assert not net.in_sync()
        _restart(net, restarting)  # the bridge stops and starts (a drill, a crash)
        if restarting == "alice":
            for i in range(30, 45):
                stores["alice"].append(MESH.person("alice"), "note", {"n": i, "text": "y" * 150})
    net.run_until(net.in_sync, 1800)
    assert stores["alice"].heads() == stores["bob"].heads()


def test_a_replayed_hello_of_the_current_run_is_not_answered_at_every_copy(
    tmp_path: Path,
) -> None:
    """One recorded hello played back every second must not buy a frame from the victim
    each time (it did: every hello forced a summary, with no rate limit at all)."""
    stores = _stores(tmp_path)
    net = SimNet(SimParams(bitrate=1200, mtu=200, latency=0.5, half_duplex=False))
    for name in ("alice", "bob"):
        net.add(name, stores[name], MESH.person(name).signing_key)
    recorder = net.air.attach("recorder")
    stores["alice"].append(MESH.person("alice"), "note", {"text": "in touch"})
    net.run_until(net.in_sync, 600)
    alice_key = MESH.key("alice")
    hellos = [f for f in recorder.receive() if f[0] & 0x0F == 2 and f[1:33] == alice_key]
    assert hellos  # alice's hello of her current run, recorded off the air
    bob = net.nodes["bob"].station
    net.run_for(5)
    sent, heard = bob.sent.frames, bob.heard.hellos
    for _ in range(60):  # played back once a second for a minute
        recorder.send(hellos[-1])
        net.run_for(1)
    assert bob.heard.hellos - heard >= 50
    # at most one answer (a hello or a summary) per 5 s, plus the usual summary a minute
    assert bob.sent.frames - sent <= 60 / 5 + 2
    stores["alice"].append(MESH.person("alice"), "note", {"text": "still talking"})
    net.run_until(net.in_sync, 600)


def test_a_replayed_boot_hello_of_a_proven_run_gets_no_answering_hello(tmp_path: Path) -> None:
    """A boot hello is the first hello of a run; once that run is proven, the peer knows
    our epoch, so a copy played back needs no answer (it cost one hello every 5 s)."""
    stores = _stores(tmp_path)
    net = SimNet(SimParams(bitrate=1200, mtu=200, latency=0.5, half_duplex=False))
    for name in ("alice", "bob"):
        net.add(name, stores[name], MESH.person(name).signing_key)
    recorder = net.air.attach("recorder")
    stores["alice"].append(MESH.person("alice"), "note", {"text": "in touch"})
    net.run_until(net.in_sync, 600)
    alice_key = MESH.key("alice")
    boots = [f for f in recorder.receive() if f[0] & 0x0F == 2 and f[1:33] == alice_key]
    boots = [f for f in boots if f[53] & 2]
    assert boots
    bob = net.nodes["bob"].station
    net.run_for(5)
    hellos = bob.sent.hellos
    for _ in range(30):
        recorder.send(boots[0])
        net.run_for(1)
    assert bob.sent.hellos == hellos
    stores["alice"].append(MESH.person("alice"), "note", {"text": "still talking"})
    net.run_until(net.in_sync, 600)


def test_a_run_replaced_long_ago_stays_refused_after_many_restarts() -> None:
    """Retired epochs are never forgotten within our run: with a cap, an attacker who
    stuffs recorded hellos before each of a peer's real restarts could push an old run
    out of the list, then replay it (its frames accepted again, the live run locked out)."""
    eps = PeerEpochs()
    first = new_epoch()
    eps.heard_hello(first, proven=True)
    for _ in range(100):  # real restarts, each after MAX_CANDIDATES stuffed old hellos
        for _ in range(MAX_CANDIDATES):
            eps.heard_hello(new_epoch(), proven=False)
        eps.heard_hello(new_epoch(), proven=True)
    assert eps.heard_hello(first, proven=False) == "stale"
    assert eps.heard_hello(first, proven=True) == "stale"
    assert eps.current != first
