"""Typos are refused with a "did you mean" (issue 18 item 4), and a plan from the ledger that
cannot use the ledger's fuel says so loudly (item 3)."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.names import close_matches, did_you_mean, distance
from plurictl.cluster import LocalCluster
from tests.conftest import Invoke, json_out

# --- the pure core -------------------------------------------------------------------------


def reference_distance(a: str, b: str) -> int:
    """Optimal string alignment distance by its recursive definition (slow, obviously right)."""

    @functools.cache
    def d(i: int, j: int) -> int:
        if i == 0 or j == 0:
            return i + j
        best = min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (a[i - 1] != b[j - 1]))
        if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
            best = min(best, d(i - 2, j - 2) + 1)
        return best

    return d(len(a), len(b))


@given(st.text("abcd", max_size=7), st.text("abcd", max_size=7))
def test_distance_matches_its_definition(a: str, b: str) -> None:
    assert distance(a, b) == reference_distance(a, b) == distance(b, a)


@pytest.mark.parametrize(
    ("typed", "known", "expected"),
    [
        ("hospitl", ["hospital", "school"], ["hospital"]),
        ("hsopital", ["hospital"], ["hospital"]),  # swapped letters
        ("Water_Plant", ["water-plant"], ["water-plant"]),  # case and separators
        ("nrth", ["north", "south"], ["north"]),
        ("north", ["south"], []),  # two letters apart in a short name: a different name
        ("depot", ["north", "south"], []),
        ("hospital", ["hospital"], []),  # itself is not a suggestion
    ],
)
def test_close_matches(typed: str, known: list[str], expected: list[str]) -> None:
    assert close_matches(typed, known) == expected
    assert (did_you_mean(typed, known) != "") == bool(expected)


# --- through the command line --------------------------------------------------------------


def test_fuel_report_refuses_a_typo_of_a_known_site(home: Path, invoke: Invoke) -> None:
    assert invoke(home, "fuel", "report", "hospital", "--litres", "1200").exit_code == 0
    r = invoke(home, "fuel", "report", "hospitl", "--litres", "900")
    assert r.exit_code == 5 and "did you mean 'hospital'" in r.stderr and "--new-site" in r.stderr
    r = invoke(home, "fuel", "report", "hospital", "--tank", "mian", "--litres", "900")
    assert r.exit_code == 5 and "did you mean 'main'" in r.stderr and "--new-tank" in r.stderr
    assert [s["site"] for s in json_out(invoke(home, "fuel", "status", "--json"))["sites"]] == [
        "hospital"
    ]  # nothing written
    r = invoke(home, "fuel", "report", "hospitl", "--litres", "900", "--new-site")
    assert r.exit_code == 0, r.output
    assert invoke(home, "fuel", "report", "depot", "--litres", "5").exit_code == 0  # far: new
    r = invoke(home, "fuel", "burn", "hsopital", "--litres-per-hour", "3")
    assert r.exit_code == 5 and "did you mean 'hospital'" in r.stderr


def test_filters_refuse_unknown_names(home: Path, invoke: Invoke) -> None:
    invoke(home, "fuel", "report", "north", "--litres", "1200")
    r = invoke(home, "fuel", "status", "--site", "NOSUCH")
    assert r.exit_code == 5 and "unknown site 'NOSUCH'" in r.stderr and "north" in r.stderr
    r = invoke(home, "fuel", "status", "--site", "nrth")
    assert r.exit_code == 5 and "did you mean 'north'" in r.stderr
    r = invoke(home, "log", "show", "--author", "alcie")
    assert r.exit_code == 5 and "did you mean 'alice'" in r.stderr


def test_orders_site_filter_refuses_unknown_sites(home: Path, invoke: Invoke) -> None:
    invoke(home, "fuel", "report", "alpha", "--litres", "15000")
    r = invoke(home, "plan", "run", "three-bases", "--periods", "2", "--no-ac", "--propose")
    assert r.exit_code == 0, r.output
    plan_id = json_out(invoke(home, "plan", "list", "--json"))["proposals"][0]["id"]
    assert invoke(home, "plan", "adopt", plan_id).exit_code == 0
    sites = {o["site"] for o in json_out(invoke(home, "orders", "--json")) if o.get("site")}
    site = sorted(sites)[0]
    assert json_out(invoke(home, "orders", "--site", site, "--json"))
    r = invoke(home, "orders", "--site", "NOSUCH")
    assert r.exit_code == 5 and "unknown site 'NOSUCH'" in r.stderr and site in r.stderr


def test_names_of_shipped_files_get_a_did_you_mean(home: Path, invoke: Invoke) -> None:
    r = invoke(None, "drill", "run", "quickstrat")
    # the list of shipped drills before it is long: the message wraps where it likes
    assert r.exit_code == 5 and "did you mean 'quickstart'" in " ".join(r.stderr.split())
    r = invoke(home, "plan", "run", "island-microgrd")
    assert r.exit_code == 5 and "did you mean 'island-microgrid'" in r.stderr
    r = invoke(home, "playbook", "start", "microgrid-blackstart")
    assert r.exit_code == 5 and "did you mean 'microgrid-black-start'" in r.stderr


def test_playbook_site_typo_is_refused(home: Path, invoke: Invoke) -> None:
    invoke(home, "fuel", "report", "north", "--litres", "1200")
    r = invoke(home, "playbook", "start", "microgrid-black-start", "--site", "nrth")
    assert r.exit_code == 5 and "did you mean 'north'" in r.stderr
    r = invoke(home, "playbook", "start", "microgrid-black-start", "--site", "north")
    assert r.exit_code == 0, r.output


@pytest.fixture
def one_node(tmp_path: Path) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path, interval=0.3)
    c.init_homes(["alice", "bob", "carol"])
    c.found_mesh("alice", {"alice": ["admin"], "bob": ["operator"], "carol": ["operator"]})
    c.start("alice", peers=[])
    try:
        yield c
    finally:
        c.stop_all()


def test_node_partition_refuses_unknown_members(one_node: LocalCluster, invoke: Invoke) -> None:
    home = one_node.nodes["alice"].home
    r = invoke(home, "node", "partition", "nosuch,bogus", "carol")
    assert r.exit_code == 5 and "unknown member 'nosuch'" in r.stderr
    r = invoke(home, "node", "partition", "alice,bob", "carl")
    assert r.exit_code == 5 and "did you mean 'carol'" in r.stderr
    assert one_node.control("alice", "status")["faults"]["groups"] == []  # nobody cut off
    assert invoke(home, "node", "partition", "alice,bob", "carol").exit_code == 0
    assert one_node.control("alice", "status")["faults"]["groups"] == [["alice", "bob"], ["carol"]]


def test_plan_from_ledger_with_no_common_site_warns_loudly(home: Path, invoke: Invoke) -> None:
    invoke(home, "fuel", "report", "hospital", "--litres", "1200")
    r = invoke(
        home, "plan", "run", "island-microgrid", "--from-ledger", "--periods", "2", "--no-ac"
    )
    assert r.exit_code == 0, r.output
    assert "WARNING" in r.stderr and "NOT used" in r.stderr
    assert "(hospital)" in r.stderr and "east, north, relief-depot, south" in r.stderr
    # also with --json (stdout stays one JSON document; the warning goes to stderr)
    r = invoke(
        home,
        "plan",
        "run",
        "island-microgrid",
        "--from-ledger",
        "--periods",
        "2",
        "--no-ac",
        "--json",
    )
    assert "WARNING" in r.stderr and json.loads(r.stdout)["status"] == "solved"
    # reported under a scenario site: used, no warning
    invoke(home, "fuel", "report", "north", "--litres", "1200")
    r = invoke(
        home, "plan", "run", "island-microgrid", "--from-ledger", "--periods", "2", "--no-ac"
    )
    assert "WARNING" not in r.stderr and "north/main 1,200 L" in r.stderr
