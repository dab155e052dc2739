"""Keeping links alive: re-dial refused and silent peers, fall back from hints that lead nowhere.

Run every tick. The rules (timers in :mod:`mesh.config`):

- a peer that refused our handshake is dialled again after its back-off
  (1 s doubling to a minute; at once when it contacts us);
- a peer we sent something to and that said nothing back for half of
  ``silence`` gets a ping; after ``silence`` its link is closed and dialled
  afresh (a new TCP connection does not inherit the old one's retransmission
  back-off, which after a long cut reaches tens of seconds);
- an outbound dial to a suggested address that has not completed a handshake
  in 10 s goes back to the last address that worked; a verified address dead
  for 30 s gives a suggested one a try.

Peers across a simulated partition (the drills' fault layer) are left alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mesh import faults
from mesh.links import PeerLink

if TYPE_CHECKING:
    from mesh.node import Node


def redial(node: Node, key: bytes, reason: str) -> None:
    link = node.link(key)
    addr = node.dialer.addr.get(key) or link.addr
    if addr is None:
        return
    node.events(f"re-dialling {link.name or key.hex()[:12]}: {reason}")
    node.dialer.close(key)
    link.out = "none"
    link.unanswered_since, link.probed = None, False
    node.dial(key, addr, urgent=True)


def keep_links(node: Node, now: float) -> None:
    """Re-dial refused and silent peers; fall back from hints that lead nowhere."""
    silence = node.config.silence
    for key, link in list(node.links.items()):
        if link.fixed or link.conduct.banned(now):
            continue
        if link.out == "refused" and link.retry_at is not None and now >= link.retry_at:
            rec = node.book.by_key(key)
            addr = link.addr or (rec.good_addr or rec.addr if rec else None)
            if addr:
                node.dial(key, addr, urgent=True)
            continue
        waiting = None if link.unanswered_since is None else now - link.unanswered_since
        if waiting is None or not faults.same_side(node.policy, node.name, link.name):
            _fall_back(node, key, link, now)
            continue
        if waiting > silence and key in node.dialer.dealers:
            redial(node, key, f"no answer for {waiting:.0f} s")
        elif waiting > silence / 2 and not link.probed:
            link.probed = True
            node.send(key, "ping", {})


def _fall_back(node: Node, key: bytes, link: PeerLink, now: float) -> None:
    """A dial that has not completed a handshake in 10 s goes back to the good address,
    and a good address dead for 30 s gives a suggested one a try."""
    rec = node.book.by_key(key)
    addr = node.dialer.addr.get(key)
    if rec is None or addr is None or link.out == "up" or link.dialled_at is None:
        return
    stuck = now - link.dialled_at
    if rec.good_addr and rec.good_addr != addr and stuck > 10:
        node.dialer.close(key)
        node.dial(key, rec.good_addr)
    elif rec.hint and rec.hint != addr and stuck > 30:
        node.dialer.close(key)
        node.dial(key, rec.hint)
