"""What `plurictl node status` and `plurictl peers` show about a running node.

Read-only views over a :class:`mesh.node.Node`; the traffic counters the node
keeps live here too. Every counter is keyed by a fixed word (never by text a
peer chose), so counting cannot grow without bound.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mesh.links import PeerLink, describe
from mesh.peers import peer_row

if TYPE_CHECKING:
    from mesh.node import Node


@dataclass
class Counters:
    bad_messages: int = 0
    unauthorised: int = 0
    dropped_by_faults: int = 0
    dropped_penalised: int = 0
    dropped_over_limit: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    router_rebinds: int = 0
    penalties: int = 0
    dials: int = 0  # outbound connections opened (first dials and re-dials)
    reasons: dict[str, int] = field(default_factory=dict)
    #: message type -> [messages, bytes] sent, for traffic accounting
    sent_by_type: dict[str, list[int]] = field(default_factory=dict)

    def bad(self, reason: str) -> None:
        self.bad_messages += 1
        self.reasons[reason] = self.reasons.get(reason, 0) + 1


def status(node: Node) -> dict[str, Any]:
    live = node.live_peers()
    roster = node.store.roster()
    c = node.counters
    return {
        "name": node.name,
        "key": node.me.hex(),
        "mesh_id": node.mesh_id.hex() if node.mesh_id else None,
        "mesh_name": roster.name,
        "listen": node.listen_endpoint,
        "reach_me": node.exchange.reach_me(),
        "pid": os.getpid(),
        "uptime_s": round(time.time() - node.started, 1),
        "interval_s": node.config.interval,
        "round_interval_s": round(node.round_every, 2),
        "entries": node.store.count(),
        "feeds": len(node.store.heads()),
        "digest": node.store.digest().hex(),
        "peers_live": len(live),
        "connections": {
            "outbound": sum(1 for p in node.links.values() if p.out == "up"),
            "dialling": len(node.dialer.dealers),
            "inbound": sum(1 for p in node.links.values() if p.routing_id is not None),
        },
        "peers_known": len([r for r in node.book.records if r.key]),
        "faults": node.policy.to_json(),
        "traffic": {
            "bytes_in": c.bytes_in,
            "bytes_out": c.bytes_out,
            "bad_messages": c.bad_messages,
            "bad_reasons": dict(c.reasons),
            "unauthorised": c.unauthorised,
            "zap_refused": node.admission.refused,
            "dropped_by_faults": c.dropped_by_faults,
            "dropped_penalised": c.dropped_penalised,
            "dropped_over_limit": c.dropped_over_limit,
            "router_rebinds": c.router_rebinds,
            "penalties": c.penalties,
            "dials": c.dials,
            "udp_answered": node.keys.answered,
            "udp_rate_limited": node.keys.limiter.dropped,
            "sent_by_type": {k: list(v) for k, v in sorted(c.sent_by_type.items())},
        },
        "sync": {
            "accepted": node.engine.stats.accepted,
            "refused": node.engine.stats.refused,
            "duplicates": node.engine.stats.duplicates,
            "forks": node.engine.stats.forks,
            "transfers_aborted": node.engine.stats.transfers_aborted,
            "batches_dropped_queue_full": node.engine.stats.overflow,
            "batches_written": node.engine.stats.batches_written,
            "commits": node.engine.stats.commits,
            "check_seconds": round(node.engine.stats.check_s, 3),
            "write_seconds": round(node.engine.stats.write_s, 3),
        },
    }


def peers_status(node: Node) -> list[dict[str, Any]]:
    now = time.monotonic()
    out = []
    keys = {r.key for r in node.book.records if r.key} | set(node.links)
    for key in sorted(k for k in keys if k and k != node.me):
        out.append(_row(node, key, node.links.get(key) or PeerLink(key), now))
    for addr, state in sorted(node.keys.unresolved.items()):
        note = "asking the address for its key (UDP)"
        if state.error:
            note = f"cannot ask it for its key over UDP: {state.error}"
        out.append(peer_row(addr=addr, state="resolving", note=note))
    return out


def _row(node: Node, key: bytes, p: PeerLink, now: float) -> dict[str, Any]:
    rec = node.book.by_key(key)
    sync_state = node.engine.peers.get(key)
    state, note = describe(p, now, node.fresh, node.fresh_inbound)
    return peer_row(
        key=key.hex(),
        name=p.name or (rec.name if rec else ""),
        addr=p.addr or (rec.addr if rec else None),
        source=rec.source if rec else "inbound",
        state=state,
        note=note,
        links=p.links,
        last_heard_s=None if p.last_heard is None else round(now - p.last_heard, 1),
        behind=sync_state.behind if sync_state else None,
        ahead=sync_state.ahead if sync_state else None,
        in_sync=bool(sync_state and sync_state.in_sync),
        bytes_in=p.bytes_in,
        bytes_out=p.bytes_out,
        bad=p.bad,
        invalid=p.conduct.invalid,
        penalties=p.conduct.penalties,
        retry_in_s=(
            round(max(0.0, p.retry_at - now), 1)
            if p.out == "refused" and p.retry_at is not None
            else None
        ),
    )
