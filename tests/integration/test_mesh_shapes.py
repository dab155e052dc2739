"""Fault shapes on real nodes (loopback, simulated in the nodes): a one-way link, a link
that goes down and up, a restart that keeps its faults, and a node whose clock is wrong."""

from __future__ import annotations

import pytest

from ledger.clock import unpack, wall_ms
from plurictl.cluster import LocalCluster
from tests.integration.test_mesh import cluster, has, stays_absent, wait_for, write

pytestmark = pytest.mark.timeout(120)
__all__ = ["cluster"]  # the fixture


def test_a_one_way_link_carries_one_direction_until_healed(cluster: LocalCluster) -> None:
    for n in "abc":
        cluster.start(n)
    cluster.wait_converged(timeout=20)
    cluster.stop("c")  # two laptops: nothing can go round the cut through a third
    cluster.oneway("a", "b")  # b no longer hears a
    from_b = write(cluster, "b", {"from": "b"})
    from_a = write(cluster, "a", {"from": "a"})
    wait_for(lambda: has(cluster, "a", from_b))  # a still hears b
    stays_absent(cluster, lambda: not has(cluster, "b", from_a), {"a": ("dropped_by_faults", 10)})
    cluster.stop("b")
    cluster.start("b")  # the cut survives a restart: b applies it again
    assert cluster.control("b", "faults.set")["oneway"] == [["a", "b"]]
    stays_absent(cluster, lambda: not has(cluster, "b", from_a), {"a": ("dropped_by_faults", 10)})
    cluster.heal()
    cluster.wait_converged(["a", "b"], timeout=20)


def test_a_link_taken_down_drops_everything_and_comes_back(cluster: LocalCluster) -> None:
    for n in "abc":
        cluster.start(n)
    cluster.wait_converged(timeout=20)
    cluster.link("c", up=False)
    cut_off = write(cluster, "a", {"while": "c down"})
    wait_for(lambda: has(cluster, "b", cut_off))
    stays_absent(cluster, lambda: not has(cluster, "c", cut_off), {"a": ("dropped_by_faults", 5)})
    cluster.link("c", up=True)
    cluster.wait_converged(timeout=20)


def test_a_node_with_a_wrong_clock_stamps_its_entries_with_it(cluster: LocalCluster) -> None:
    nine_hours = 9 * 3600 * 1000
    cluster.clock_offsets["b"] = nine_hours
    for n in "ab":
        cluster.start(n)
    cluster.wait_converged(["a", "b"], timeout=20)
    with cluster.home("b") as h:
        e = h.append("note", {"clock": "wrong"})
    ahead = unpack(e.hlc)[0] - wall_ms()
    assert nine_hours - 60_000 < ahead <= nine_hours + 1000
    cluster.nudge("b")
    wait_for(lambda: has(cluster, "a", e.id))


def test_clocks_years_off_either_way_still_replicate(cluster: LocalCluster) -> None:
    """Clocks two years ahead and three years behind: every entry still reaches every
    laptop (clocks order and display; they never decide what is accepted)."""
    year = 365 * 86_400_000
    cluster.clock_offsets.update({"b": 2 * year, "c": -3 * year})
    for n in "abc":
        cluster.start(n)
    cluster.wait_converged(timeout=20)
    ids = [write(cluster, n, {"clock": n}) for n in "abc"]
    cluster.wait_converged(timeout=30)
    assert all(has(cluster, n, i) for n in "abc" for i in ids)
    with cluster.home("a") as h:
        stamps = {e.body["clock"]: unpack(e.hlc)[0] for e in h.store.entries(kind_prefix="note")}
    assert stamps["b"] - wall_ms() > year  # b's entry carries its wrong clock
    assert stamps["c"] < stamps["a"]  # c's clock is behind everyone's
