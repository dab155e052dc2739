"""The link faults nodes apply themselves (mesh.faults): one-way links and bandwidth caps."""

from __future__ import annotations

import random

import pytest

from mesh import faults
from mesh.faults import LinkPolicy, RateCap


def test_a_one_way_link_drops_one_direction_only() -> None:
    policy = LinkPolicy(oneway=[["valley", "hq"]])
    rng = random.Random(1)
    # the valley's messages to hq are dropped, on its side and on hq's
    assert faults.outgoing(policy, "valley", "hq", rng) is None
    assert not faults.incoming(policy, "hq", "valley")
    # hq still reaches the valley, and the valley hears it
    assert faults.outgoing(policy, "hq", "valley", rng) == 0
    assert faults.incoming(policy, "valley", "hq")
    # other links are untouched
    assert faults.outgoing(policy, "valley", "depot", rng) == 0
    assert policy.active and not LinkPolicy().active


def test_the_policy_round_trips_and_refuses_bad_fields() -> None:
    policy = LinkPolicy(groups=[["a"], ["b"]], oneway=[["a", "b"]], rate_kbit=64)
    assert LinkPolicy.from_json(policy.to_json()) == policy
    with pytest.raises(ValueError, match="oneway"):
        LinkPolicy.from_json({"oneway": [["a"]]})
    with pytest.raises(ValueError, match="rate_kbit"):
        LinkPolicy.from_json({"rate_kbit": -1})


def test_a_bandwidth_cap_queues_messages_behind_each_other() -> None:
    cap = RateCap()
    # 8 kbit/s: a 1,000-byte message takes 1 s on the wire
    first = cap.delay(b"link", 1000, 0, 8)
    second = cap.delay(b"link", 1000, 0, 8)
    assert 990 <= first <= 1000
    assert 1990 <= second <= 2000  # it waits for the first to go out
    assert cap.delay(b"other", 1000, 0, 8) <= 1000  # caps are per link
    assert cap.delay(b"link", 1000, 250, 0) == 250  # no cap: the policy's delay alone
