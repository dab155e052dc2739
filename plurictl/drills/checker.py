"""The drill checker: Jepsen-style invariants over every node's final ledger.

* every acknowledged entry is on every node (unless the final roster says its
  author's key was revoked before it, or frozen by a fork);
* heads vectors and ledger digests are identical;
* every view (roster, fuel, plans, votes, playbooks) is identical on every node;
* no vote ever has two sealed close sheets;
* at most one FINAL result per vote across all nodes, after EVERY step (not only at
  the end), and a node that showed a FINAL result shows it for ever after
  (:class:`FinalWatch`);
* injected forks are known everywhere, and there are no others.

The checker reads the nodes' ledgers directly: it must be able to fail, and a
deliberately broken node makes it fail.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledger.store import Store

if TYPE_CHECKING:
    from plurictl.drills.runner import DrillRunner

#: fixed "now" for views that show countdowns, so snapshots compare equal
SNAPSHOT_NOW_MS = 0


@dataclass
class Invariant:
    name: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"invariant": self.name, "ok": self.ok, "detail": self.detail}


class FinalWatch:
    """Watches every node's FINAL results after every drill step.

    A vote may show at most one FINAL result (sealed sheet, outcome, winner) over all
    nodes and all steps, and once a node shows it, it keeps showing it. A CONFLICT
    (two sheets sealed) is a violation too.
    """

    def __init__(self) -> None:
        self.results: dict[str, tuple[str | None, ...]] = {}
        self.shown: dict[tuple[str, str], tuple[str | None, ...]] = {}
        self.violations: list[str] = []
        self.observations = 0

    def observe(self, r: DrillRunner, when: str) -> None:
        from ledger.votes.writer import load

        for name, node in sorted(r.cluster.nodes.items()):
            if name in r.expelled or not (node.home / "ledger.db").exists():
                continue
            with Store.open(node.home) as store:
                if store.mesh_id is None:
                    continue
                votes, _ = load(store)
            self.observations += 1
            for vid, vote in votes.votes.items():
                result = None
                if vote.state == "FINAL" and vote.result is not None and vote.sealed_sheet:
                    w = vote.result.winner
                    # the counts and the counted ballots too: a result that kept its
                    # winner but changed its numbers changed all the same
                    counted = hashlib.blake2b(digest_size=6)
                    for b in sorted(x.id for x in vote.result.counted):
                        counted.update(b)
                    result = (
                        vote.sealed_sheet.hex()[:12],
                        vote.result.outcome,
                        w.id if w else None,
                        json.dumps(vote.result.tally.counts, sort_keys=True),
                        counted.hexdigest(),
                    )
                self.record(name, vid.hex()[:12], vote.state, result, when)

    def record(
        self,
        node: str,
        vote: str,
        state: str,
        result: tuple[str | None, ...] | None,
        when: str,
    ) -> None:
        """One node's view of one vote at one moment."""
        if state == "CONFLICT":
            self.violations.append(f"{when}: {node} shows vote {vote} in CONFLICT")
        if (node, vote) in self.shown and result is None:
            self.violations.append(f"{when}: {node} no longer shows vote {vote} FINAL ({state})")
        if result is None:
            return
        first = self.results.setdefault(vote, result)
        if first != result:
            self.violations.append(
                f"{when}: {node} shows vote {vote} FINAL {result}, another node {first}"
            )
        if self.shown.setdefault((node, vote), result) != result:
            self.violations.append(f"{when}: {node} changed vote {vote}'s FINAL result")

    def invariant(self) -> Invariant:
        ok = not self.violations
        detail = (
            f"{len(self.results)} FINAL vote(s), one result each, over {self.observations} "
            "node observations after every step"
            if ok
            else "; ".join(self.violations[:5])
        )
        return Invariant("at most one FINAL result per vote, at every step", ok, detail)


def view_snapshots(store: Store) -> dict[str, Any]:
    """Every view's state as plain JSON (the same on every node after convergence)."""
    from plurictl.views import all_views

    return {name: fn(store) for name, fn in all_views().items()}


def _hash(value: Any) -> str:
    return hashlib.blake2b(
        json.dumps(value, sort_keys=True, default=str).encode(), digest_size=16
    ).hexdigest()


def check_all(r: DrillRunner, *, final: bool = True) -> list[Invariant]:
    """Every invariant after the final heal; mid-drill only those that must hold at any
    moment (during a partition the laptops legitimately differ)."""
    stores = {
        name: Store.open(node.home)
        for name, node in r.cluster.nodes.items()
        if name not in r.expelled
    }
    try:
        checks = _checks(r) if final else [ledgers_verify, single_sealed_sheet]
        return [*(check(stores) for check in checks), r.finals.invariant()]
    finally:
        for s in stores.values():
            s.close()


def ledgers_verify(stores: dict[str, Store]) -> Invariant:
    """Every laptop's ledger re-verifies from its bytes (holds at any moment)."""
    bad = {n: len(s.verify_all().bad) for n, s in stores.items()}
    broken = {n: b for n, b in bad.items() if b}
    return Invariant(
        "every ledger verifies (signatures, chains)",
        not broken,
        f"{len(stores)} ledgers verified" if not broken else json.dumps(broken),
    )


def _checks(r: DrillRunner) -> list[Callable[[dict[str, Store]], Invariant]]:
    return [
        lambda s: converged(s),
        lambda s: acknowledged_everywhere(r, s),
        lambda s: identical_heads(s),
        lambda s: identical_views(s),
        lambda s: single_sealed_sheet(s),
        lambda s: forks_everywhere(r, s),
        lambda s: secret_counts(r, s),
        lambda s: shares_only_on_sealed_sheets(s),
        lambda s: clocks_decide_nothing(r, s),
    ]


def converged(stores: dict[str, Store]) -> Invariant:
    digests = {n: s.digest().hex()[:12] for n, s in stores.items()}
    ok = len(set(digests.values())) == 1
    return Invariant(
        "ledgers converged (same digest)", ok, "all equal" if ok else json.dumps(digests)
    )


def acknowledged_everywhere(r: DrillRunner, stores: dict[str, Store]) -> Invariant:
    missing: list[str] = []
    excused = 0
    for name, store in stores.items():
        roster = store.roster()
        for ack in r.acks:
            if store.get(ack.entry_id) is not None:
                continue
            if not roster.valid(ack.author, ack.seq):
                excused += 1  # revoked or frozen before it: correctly not replicated
                continue
            missing.append(
                f"{name} lacks {ack.kind} {ack.author.hex()[:8]}#{ack.seq} (written on {ack.node})"
            )
    detail = f"{len(r.acks)} acknowledged entries"
    if excused:
        detail += f"; {excused} copies excused (author revoked or frozen before them)"
    if missing:
        detail += f"; {len(missing)} missing: " + "; ".join(missing[:5])
    return Invariant("every acknowledged entry on every node", not missing, detail)


def identical_heads(stores: dict[str, Store]) -> Invariant:
    vectors = {
        n: {a.hex(): (h.seq, h.id.hex()) for a, h in s.heads().items()} for n, s in stores.items()
    }
    hashes = {n: _hash(v) for n, v in vectors.items()}
    ok = len(set(hashes.values())) == 1
    feeds = len(next(iter(vectors.values()))) if vectors else 0
    return Invariant("identical heads vectors", ok, f"{feeds} feeds" if ok else json.dumps(hashes))


def identical_views(stores: dict[str, Store]) -> Invariant:
    snaps = {n: view_snapshots(s) for n, s in stores.items()}
    names = sorted(next(iter(snaps.values())).keys()) if snaps else []
    differing = []
    for view in names:
        if len({_hash(snap[view]) for snap in snaps.values()}) != 1:
            differing.append(view)
    ok = not differing
    return Invariant(
        "identical views on every node",
        ok,
        f"{', '.join(names)} equal" if ok else f"differ: {', '.join(differing)}",
    )


def single_sealed_sheet(stores: dict[str, Store]) -> Invariant:
    from plurictl.views import sealed_sheets

    problems = []
    sealed_any: dict[str, set[str]] = {}
    for name, store in stores.items():
        for vote, sheets in sealed_sheets(store).items():
            if len(sheets) > 1:
                problems.append(f"{name}: vote {vote[:8]} has {len(sheets)} sealed sheets")
            sealed_any.setdefault(vote, set()).update(sheets)
    for vote, sheets in sealed_any.items():
        if len(sheets) > 1:
            problems.append(f"vote {vote[:8]}: nodes sealed different sheets")
    detail = f"{len(sealed_any)} sealed vote(s)" if not problems else "; ".join(problems)
    return Invariant("never two sealed sheets for one vote", not problems, detail)


def forks_everywhere(r: DrillRunner, stores: dict[str, Store]) -> Invariant:
    expected = {r.member_key(n) for n in r.expect_forks}
    problems = []
    for name, store in stores.items():
        have = {p.author for p in store.fork_proofs()}
        for key in expected - have:
            problems.append(f"{name} lacks the fork proof of {store.roster().name_of(key)}")
        for key in have - expected:
            problems.append(f"{name} has an unexpected fork proof of {store.roster().name_of(key)}")
    detail = (
        f"{len(expected)} injected fork(s) known everywhere"
        if not problems
        else "; ".join(problems)
    )
    return Invariant("fork proofs everywhere (and only where injected)", not problems, detail)


def secret_counts(r: DrillRunner, stores: dict[str, Store]) -> Invariant:
    """Every FINAL secret vote's decrypted counts are the plaintext choices the drill cast,
    summed (with roll weights) over the ballots the result counted."""
    from ledger.votes.writer import load

    problems: list[str] = []
    checked = 0
    for name, store in stores.items():
        votes, _ = load(store)
        for vid, vote in votes.votes.items():
            if vote.charter.fields.secret is None or vote.state != "FINAL" or not vote.result:
                continue
            want = {o.id: 0 for o in vote.charter.options}
            for b in vote.result.counted:
                plain = r.named.get(f"plain:{b.id.hex()}")
                if plain is None:
                    problems.append(f"{name}: vote {vid.hex()[:8]} counted a ballot not cast here")
                    continue
                for option in plain:
                    want[option] += vote.charter.roll[b.member]
            if want != vote.result.tally.counts:
                problems.append(
                    f"{name}: vote {vid.hex()[:8]} decrypted {vote.result.tally.counts}, "
                    f"the drill cast {want}"
                )
            checked += 1
    detail = (
        f"{checked} secret result(s) match the plaintext choices"
        if not problems
        else ("; ".join(problems))
    )
    return Invariant("secret votes decrypt to the choices cast", not problems, detail)


def shares_only_on_sealed_sheets(stores: dict[str, Store]) -> Invariant:
    """No decryption share (in a seal or a ``vote.share`` entry) on a sheet that is not
    the vote's sealed sheet on the laptop holding it: seal, then share (a share on the
    other side's sheet would let k - 1 tellers decrypt it)."""
    from ledger.votes.writer import load

    problems: list[str] = []
    shares = 0
    for name, store in stores.items():
        votes, _ = load(store)
        for e in store.entries(kinds=["vote.seal", "vote.share"]):
            if "share" not in e.body or not isinstance(e.body.get("vote"), str):
                continue
            shares += 1
            vote = votes.votes.get(bytes.fromhex(e.body["vote"]))
            sealed = vote.sealed_sheet.hex() if vote and vote.sealed_sheet else None
            if e.body.get("sheet") != sealed:
                who = store.roster().name_of(e.author)
                problems.append(
                    f"{name}: {who}'s decryption share is on sheet {str(e.body.get('sheet'))[:12]}"
                    f", not the sealed sheet ({(sealed or 'none')[:12]})"
                )
    detail = (
        f"{shares} share(s) held, all on sealed sheets" if not problems else "; ".join(problems[:5])
    )
    return Invariant("decryption shares only on the sealed sheet", not problems, detail)


def clocks_decide_nothing(r: DrillRunner, stores: dict[str, Store]) -> Invariant:
    """No entry ordered by a skewed clock changed a decision: every view, folded from the
    same entries with the wrong clocks put right, decides the same (display times aside)."""
    name = "no skewed clock changed a decision"
    if not r.skews or not stores:
        return Invariant(name, True, "no clock was set wrong in this drill")
    store = next(iter(stores.values()))
    entries = store.entries()
    fixed = [
        e._replace(hlc=e.hlc - (r.skews[e.author] << 16)) if e.author in r.skews else e
        for e in entries
    ]
    moved = sum(1 for e in entries if e.author in r.skews)
    as_written, put_right = decisions(entries), decisions(fixed)
    differing = [v for v in as_written if _hash(as_written[v]) != _hash(put_right[v])]
    detail = (
        f"{moved} entries from {len(r.skews)} wrong clock(s): every view decides the same"
        if not differing
        else f"a wrong clock changed: {', '.join(differing)}"
    )
    return Invariant(name, not differing, detail)


def decisions(entries: list[Any]) -> dict[str, Any]:
    """Every view folded from ``entries`` alone, without the times it displays."""
    from ledger.fuel import view as fuel_view
    from ledger.plans import view as plans_view
    from ledger.plans.writer import winners_of
    from ledger.playbooks import view as playbook_view
    from ledger.roster import view as roster_view
    from ledger.votes import view as votes_view
    from ledger.votes.as_json import everything

    roster = roster_view.fold(entries)
    votes = votes_view.fold(entries, roster)
    winners = winners_of(votes)
    return {
        name: _timeless(value)
        for name, value in {
            "roster": roster.to_json(),
            "votes": everything(votes, roster),
            "fuel": fuel_view.fold(entries, roster).to_json(),
            "plans": plans_view.fold(entries, roster, winners).to_json(),
            "playbooks": playbook_view.fold(entries, roster).to_json(SNAPSHOT_NOW_MS),
        }.items()
    }


def _timeless(value: Any) -> Any:
    """The value without display times (keys naming an hlc or a time), lists in a fixed
    order (an order by time is display, not a decision)."""
    if isinstance(value, dict):
        return {
            k: _timeless(v)
            for k, v in value.items()
            if "hlc" not in k and "time" not in k and not k.endswith(("_ms", "_at"))
        }
    if isinstance(value, list | tuple):
        return sorted(
            (_timeless(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True, default=str)
        )
    return value
