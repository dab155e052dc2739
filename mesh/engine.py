"""The sync engine: anti-entropy, catch-up transfers and eager push, without sockets.

It reads and writes the store and returns messages to send; the node (or the
in-memory network in ``mesh.testing``) moves them. Decisions come from the
pure functions in :mod:`mesh.sync`.

Flow control: each outgoing transfer keeps at most ``window`` batches in
flight; the receiver acknowledges each batch after ingesting it. A batch that
is not acknowledged in time (lost to a partition) aborts the transfer; the
next anti-entropy round starts a fresh one from the peer's real heads.

Pipelining (``background_verify``): signatures of an incoming batch are
checked on another thread while the previous batch is written to the store
(:meth:`SyncEngine.finish`). A catch-up then keeps both cores busy instead of
alternating between checking and writing. Batches wait for the checker in one
queue per peer, served round-robin, so a member sending batch after batch gets
its share and no more; each peer's batches are written, and acknowledged, in
the order they arrived, and a peer's queue is bounded (:data:`PEER_QUEUE`):
what is over is dropped (and counted), which bounds the memory one member can
make the node hold.
"""

from __future__ import annotations

import os
import random
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ledger.courier.export import roster_first
from ledger.forks import ForkProof
from ledger.store import Head, Rejection, Store, verify_many
from mesh import sync
from mesh.protocol import BATCH_BYTES, MAX_WANT

#: (peer key, message type, fields)
Out = tuple[bytes, str, dict[str, Any]]
#: what ledger.store.verify_many returns: (entry, None) or (None, why not), per item
Checked = list[tuple[Any, Rejection | None]]
#: Batches handed to the signature checker at once (one being written meanwhile).
CHECKING = 2
#: Batches, entries and bytes one peer may have waiting for the checker: an honest sender
#: has at most its window (3 batches of up to 1,000 entries and ~0.5 MiB) and some small
#: pushes in flight. Bounds the memory one member can make this node hold.
PEER_QUEUE = 64
PEER_QUEUE_ENTRIES = 4000
PEER_QUEUE_BYTES = 4 * 1024 * 1024
#: Rows the damage scan checks per slice (about 50 ms), and per read from the store.
SCAN_ROWS_PER_STEP = 10_000
SCAN_BATCH = 2000


@dataclass
class Transfer:
    """An outgoing catch-up stream to one peer."""

    id: bytes
    ranges: deque[sync.Range]
    cursor: int = 0  # next seq within ranges[0]
    next_batch: int = 0
    inflight: dict[int, float] = field(default_factory=dict)
    sent: int = 0

    @property
    def exhausted(self) -> bool:
        return not self.ranges


@dataclass
class PeerSync:
    """What the engine knows about one peer's ledger."""

    key: bytes
    remote_heads: dict[bytes, Head] | None = None
    in_sync: bool = False
    transfer: Transfer | None = None
    promised: dict[bytes, int] = field(default_factory=dict)
    #: entries the peer has that we lack / we have that it lacks (at the last heads exchange)
    behind: int = 0
    ahead: int = 0
    accepted: int = 0  # entries we took from this peer
    #: what we will have taken from this peer once we hold everything its last heads
    #: announced (accepted so far + behind): the total a progress bar counts towards
    expected: int = 0
    refused: int = 0  # entries from this peer the store refused
    sent_entries: int = 0
    last_sync: float | None = None
    rounds: int = 0
    #: when we last asked this peer for copies of our damaged entries (None: not waiting)
    want_sent: float | None = None
    want_answered: bool = False
    repaired: int = 0  # damaged entries of ours replaced by this peer's copies


@dataclass
class EngineStats:
    accepted: int = 0
    refused: int = 0
    duplicates: int = 0
    forks: int = 0
    transfers_aborted: int = 0
    overflow: int = 0  # batches dropped because their sender's queue was full
    repaired: int = 0
    #: where received batches spend their time (wall seconds), for `node status`: checking
    #: (decode + signatures, on the checker's threads) and writing (the ingest transactions)
    check_s: float = 0.0
    write_s: float = 0.0
    batches_written: int = 0
    commits: int = 0


class SyncEngine:
    """Anti-entropy and eager push for one store."""

    def __init__(
        self,
        store: Store,
        me: bytes,
        *,
        batch_entries: int = 1000,
        window: int = 3,
        transfer_timeout: float = 8.0,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        background_verify: bool = False,
    ) -> None:
        self.store = store
        self.me = me
        self.batch_entries = batch_entries
        self.window = window
        self.transfer_timeout = transfer_timeout
        self.clock = clock
        self.rng = rng or random.Random()
        self.peers: dict[bytes, PeerSync] = {}
        self.stats = EngineStats()
        #: the damage scan, run a slice at a time (None: not started; see advance_scan)
        self._scan: Iterator[int] | None = None
        self._scanned = False
        self._scan_at = 0  # rows checked by the scan so far, at the end of the last slice
        self._pushed_seq = self._own_head()
        #: called with the ingest report of every batch (the node logs / counts)
        self.on_ingest: Callable[[bytes, Any], None] | None = None
        #: called with (peer, category, count) for invalid items that are not entries
        self.on_invalid: Callable[[bytes, str, int], None] | None = None
        self._verifier = (
            ThreadPoolExecutor(1, thread_name_prefix="verify-batches")
            if background_verify
            else None
        )
        #: batches being checked, in the order they were handed to the checker
        self._pending: deque[tuple[bytes, str, dict[str, Any], Future[Checked]]] = deque()
        #: batches waiting for the checker, per peer (served round-robin between peers)
        self._queued: dict[bytes, deque[tuple[str, dict[str, Any]]]] = {}

    # --- helpers ----------------------------------------------------------------

    def peer(self, key: bytes) -> PeerSync:
        if key not in self.peers:
            self.peers[key] = PeerSync(key)
        return self.peers[key]

    def forget(self, key: bytes) -> None:
        self.peers.pop(key, None)
        self._queued.pop(key, None)  # a peer cut off: its unchecked batches go too

    def _own_head(self) -> int:
        head = self.store.stored_heads().get(self.me)
        return head.seq if head else 0

    def _heads(self) -> dict[bytes, Head]:
        return self.store.heads()

    def _fork_index(self) -> dict[bytes, tuple[int, bytes, bytes]]:
        return {p.author: (p.seq, p.a.id, p.b.id) for p in self.store.fork_proofs()}

    def _id_at(self, author: bytes, seq: int) -> bytes | None:
        return self.store.id_at(author, seq)

    # --- anti-entropy -------------------------------------------------------------

    def start_round(self, key: bytes) -> list[Out]:
        """Open an anti-entropy round with ``key``: send our digest (and ask for repairs)."""
        p = self.peer(key)
        p.rounds += 1
        out: list[Out] = [(key, "digest", {"d": self.store.digest()})]
        wanted = self._wanted()
        if wanted:
            p.want_sent = self.clock()
            out.append((key, "want", {"i": wanted}))
        return out

    # --- repair: damaged entries re-requested by id ----------------------------------

    def _wanted(self) -> list[bytes]:
        """Ids of our damaged entries found so far (damage is invisible to heads and
        digests, which still match: a quick scan of every row finds it, a slice a call)."""
        self.advance_scan()
        return self.store.wanted_ids(limit=MAX_WANT)

    def advance_scan(self, rows: int | None = None) -> bool:
        """Check about ``rows`` more stored rows for damage; True once all are checked.

        A slice at a time, so that a node with a million entries keeps answering
        handshakes and peers while it scans (the node calls this between turns)."""
        if self._scanned:
            return True
        if self._scan is None:
            self._scan = self.store.scan_damage_steps(SCAN_BATCH)
        rows = SCAN_ROWS_PER_STEP if rows is None else rows
        for done in self._scan:
            if done - self._scan_at >= rows:
                self._scan_at = done
                return False
        self._scanned = True
        return True

    def repair_pending(self, key: bytes) -> bool:
        """True while we hold damaged entries (or have not checked them all yet) and ``key``
        has not yet answered our request."""
        p = self.peer(key)
        if p.want_sent is not None:
            return True
        if not self.advance_scan():
            return True
        return not p.want_answered and bool(self._wanted())

    def _on_want(self, key: bytes, msg: dict[str, Any]) -> list[Out]:
        raws = self.store.intact_raw(msg["i"][:MAX_WANT])
        chunks = _chunks(raws, len) or [[]]  # an empty push still answers
        for chunk in chunks:
            self.peer(key).sent_entries += len(chunk)
        return [(key, "push", {"b": chunk}) for chunk in chunks]

    def handle(self, key: bytes, msg_type: str, msg: dict[str, Any]) -> list[Out]:
        """React to one sync message from an authenticated peer."""
        handler = getattr(self, f"_on_{msg_type}", None)
        if handler is None:
            return []
        return handler(key, msg)  # type: ignore[no-any-return]

    def _on_digest(self, key: bytes, msg: dict[str, Any]) -> list[Out]:
        mine = self.store.digest()
        p = self.peer(key)
        if msg["d"] == mine:
            self._mark_in_sync(p)
            return [(key, "in_sync", {"d": mine})]
        p.in_sync = False
        return [(key, "heads", self._heads_message(reply=True))]

    def _on_in_sync(self, key: bytes, msg: dict[str, Any]) -> list[Out]:
        if msg["d"] == self.store.digest():
            self._mark_in_sync(self.peer(key))
        return []

    def _mark_in_sync(self, p: PeerSync) -> None:
        p.in_sync = True
        p.behind = p.ahead = 0
        p.last_sync = self.clock()
        if p.transfer is None:
            p.promised.clear()

    def _heads_message(self, *, reply: bool) -> dict[str, Any]:
        forks = [[a, s, x, y] for a, (s, x, y) in sorted(self._fork_index().items())]
        return {
            "h": sync.heads_to_wire(self._heads()),
            "f": forks,
            "d": self.store.digest(),
            "reply": reply,
        }

    def _on_heads(self, key: bytes, msg: dict[str, Any]) -> list[Out]:
        p = self.peer(key)
        remote = sync.heads_from_wire(msg["h"])
        p.remote_heads = remote
        local = self._heads()
        out: list[Out] = []
        # Fork proofs first.
        mine = self._fork_index()
        theirs = {bytes(f[0]): (int(f[1]), bytes(f[2]), bytes(f[3])) for f in msg.get("f", [])}
        send = sync.forks_to_send(mine, theirs)
        if send:
            proofs = [p_ for p_ in self.store.fork_proofs() if p_.author in set(send)]
            for chunk in _chunks(
                [[x.a.raw, x.b.raw] for x in proofs], lambda p: len(p[0]) + len(p[1])
            ):
                out.append((key, "forks", {"p": chunk}))
        if p.transfer is None:
            p.promised.clear()  # start from what the peer really has
        lacking = sync.missing_ranges(local, remote, self._id_at)
        ranges = sync.not_yet_queued(lacking, p.promised)
        p.behind = sync.count_missing(local, remote)
        p.expected = p.accepted + p.behind
        p.ahead = sum(r.count for r in lacking)
        p.in_sync = msg["d"] == self.store.digest()
        if ranges:
            ordered = [
                sync.Range(a, start, end) for a, start, end in roster_first(self.store, ranges)
            ]
            for r in ranges:
                p.promised[r.author] = max(p.promised.get(r.author, 0), r.end)
            if p.transfer is None:
                p.transfer = Transfer(id=os.urandom(8), ranges=deque(ordered))
            else:
                p.transfer.ranges.extend(ordered)
        if msg.get("reply"):
            out.append((key, "heads", self._heads_message(reply=False)))
        out.extend(self._pump_peer(p))
        return out

    def _on_forks(self, key: bytes, msg: dict[str, Any]) -> list[Out]:
        proofs = []
        bad = 0
        for raw_a, raw_b in msg["p"]:
            try:
                proofs.append(ForkProof.from_raw(raw_a, raw_b))
            except Exception:
                bad += 1
        self.stats.refused += bad
        if bad and self.on_invalid is not None:
            self.on_invalid(key, "bad fork proof", bad)
        added = self.store.add_fork_proofs(proofs)
        self.stats.forks += len(added)
        return []

    # --- transfers ------------------------------------------------------------------

    def pump(self) -> list[Out]:
        """Fill every transfer's window; abort transfers whose batches were lost."""
        out: list[Out] = []
        now = self.clock()
        for p in list(self.peers.values()):
            t = p.transfer
            if t is None:
                continue
            if t.inflight and now - min(t.inflight.values()) > self.transfer_timeout:
                p.transfer = None
                p.promised.clear()
                self.stats.transfers_aborted += 1
                continue
            out.extend(self._pump_peer(p))
        return out

    def _pump_peer(self, p: PeerSync) -> list[Out]:
        t = p.transfer
        out: list[Out] = []
        if t is None:
            return out
        while len(t.inflight) < self.window and not t.exhausted:
            batch: list[bytes] = []
            size = 0
            while t.ranges and len(batch) < self.batch_entries and size < BATCH_BYTES:
                r = t.ranges[0]
                start = max(r.start, t.cursor or r.start)
                raws = self.store.range_raw(
                    r.author, start, r.end, limit=self.batch_entries - len(batch)
                )
                for raw in raws:
                    batch.append(raw)
                    size += len(raw)
                    start += 1
                    if size >= BATCH_BYTES:
                        break
                if start > r.end or not raws:
                    t.ranges.popleft()
                    t.cursor = 0
                else:
                    t.cursor = start
            if not batch:
                break
            n = t.next_batch
            t.next_batch += 1
            t.inflight[n] = self.clock()
            t.sent += len(batch)
            p.sent_entries += len(batch)
            out.append((p.key, "entries", {"x": t.id, "n": n, "b": batch, "last": t.exhausted}))
        if t.exhausted and not t.inflight:
            p.transfer = None
        return out

    # --- receiving entries (verified in the background when pipelining) -----------------

    @property
    def backlog(self) -> int:
        """Batches received and not yet written (being checked, or waiting their turn)."""
        return len(self._pending) + sum(len(q) for q in self._queued.values())

    def finish(self) -> list[Out]:
        """Write the batches whose check is done, in the order they were checked; hand the
        checker the next batches, one peer after another; returns the replies."""
        done = []
        while self._pending and self._pending[0][3].done():
            done.append(self._pending.popleft())
        reports = []
        if done:
            # One transaction (one commit, one sync to disk) for every batch checked
            # meanwhile: each commit rewrites the pages the batch touched in the random
            # id index, so fewer, bigger commits write far less. Replies and callbacks
            # come after the commit: a batch is acknowledged only once it is on disk.
            started = time.perf_counter()
            with self.store.transaction():
                for _, _, msg, checked in done:
                    reports.append(self.store.ingest(msg["b"], checked=checked.result()))
            self.stats.write_s += time.perf_counter() - started
            self.stats.commits += 1
            self.stats.batches_written += len(done)
        out: list[Out] = []
        for (key, msg_type, msg, _), report in zip(done, reports, strict=True):
            out.extend(self._received(key, msg_type, msg, report))
        self._feed_checker()
        return out

    def close(self) -> None:
        if self._verifier is not None:
            self._verifier.shutdown(wait=True, cancel_futures=True)

    def _receive(self, key: bytes, msg_type: str, msg: dict[str, Any]) -> list[Out]:
        if self._verifier is None:
            return self._received(key, msg_type, msg, self.store.ingest(msg["b"]))
        queue = self._queued.setdefault(key, deque())
        waiting = sum(len(m["b"]) for _, m in queue) + len(msg["b"])
        size = sum(len(raw) for _, m in queue for raw in m["b"]) + sum(map(len, msg["b"]))
        if len(queue) >= PEER_QUEUE or waiting > PEER_QUEUE_ENTRIES or size > PEER_QUEUE_BYTES:
            # More than any honest sender has in flight: dropped, not charged (valid entries
            # resent cost checking, not a penalty). A transfer's sender retries after its
            # timeout; a push's gap starts a round.
            self.stats.overflow += 1
            return []
        queue.append((msg_type, msg))
        self._feed_checker()
        return []

    def _feed_checker(self) -> None:
        """Keep CHECKING batches with the checker, taking one from each peer in turn: a
        member sending batch after batch gets its share, not the checker."""
        assert self._verifier is not None or not self._queued
        while len(self._pending) < CHECKING and self._queued:
            key = next(iter(self._queued))
            queue = self._queued.pop(key)
            msg_type, msg = queue.popleft()
            if queue:
                self._queued[key] = queue  # back of the line
            job = self._verifier.submit(self._check, list(msg["b"]))  # type: ignore[union-attr]
            self._pending.append((key, msg_type, msg, job))

    def _check(self, raws: list[Any]) -> Checked:
        started = time.perf_counter()
        checked = verify_many(raws)
        self.stats.check_s += time.perf_counter() - started  # one checker thread: no race
        return checked

    def _received(self, key: bytes, msg_type: str, msg: dict[str, Any], report: Any) -> list[Out]:
        """Account for a written batch (``report``: what the store did with it); the replies."""
        self._account(key, report)
        if msg_type == "push":
            p = self.peer(key)
            if p.want_sent is not None:  # the answer to our want, now written
                p.want_sent = None
                p.want_answered = True
            if any("gap" in r.reason for r in report.rejected):
                return self.start_round(key)  # we missed something: catch up now
            return []
        return [
            (
                key,
                "ack",
                {
                    "x": msg["x"],
                    "n": msg["n"],
                    "ok": len(report.accepted),
                    "bad": len(report.rejected),
                },
            )
        ]

    def _on_entries(self, key: bytes, msg: dict[str, Any]) -> list[Out]:
        return self._receive(key, "entries", msg)

    def _on_ack(self, key: bytes, msg: dict[str, Any]) -> list[Out]:
        p = self.peer(key)
        t = p.transfer
        if t is None or t.id != msg["x"]:
            return []  # a stale or replayed ack
        t.inflight.pop(msg["n"], None)
        return self._pump_peer(p)

    # --- eager push -------------------------------------------------------------------

    def local_push(self, live: list[bytes]) -> list[Out]:
        """New entries written on this laptop since the last call, to every live peer."""
        head = self._own_head()
        if head <= self._pushed_seq:
            return []
        raws = self.store.range_raw(self.me, self._pushed_seq + 1, head, limit=256)
        if not raws:
            return []
        self._pushed_seq += len(raws)
        out: list[Out] = []
        for chunk in _chunks(raws, len):
            for key in sorted(live):
                out.append((key, "push", {"b": chunk}))
                self.peer(key).sent_entries += len(chunk)
        return out

    def _on_push(self, key: bytes, msg: dict[str, Any]) -> list[Out]:
        return self._receive(key, "push", msg)

    def _account(self, key: bytes, report: Any) -> None:
        p = self.peer(key)
        p.accepted += len(report.accepted)
        p.refused += len(report.rejected)
        self.stats.accepted += len(report.accepted)
        self.stats.refused += len(report.rejected)
        self.stats.duplicates += report.duplicates
        self.stats.forks += len(report.forks)
        p.repaired += len(report.repaired)
        self.stats.repaired += len(report.repaired)
        if self.on_ingest is not None:
            self.on_ingest(key, report)


def _chunks(
    items: list[Any], size: Callable[[Any], int], limit: int = BATCH_BYTES
) -> list[list[Any]]:
    """Split ``items`` into lists of at most ``limit`` bytes (an item alone may exceed it)."""
    out: list[list[Any]] = [[]]
    total = 0
    for item in items:
        n = size(item)
        if out[-1] and total + n > limit:
            out.append([])
            total = 0
        out[-1].append(item)
        total += n
    return out if out[-1] else []
